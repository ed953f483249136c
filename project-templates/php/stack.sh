#!/usr/bin/env bash
# summary: nginx and PHP-FPM with the extensions Laravel, October CMS and WordPress need (each environment's pool is php/pool)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    nginx php-fpm php-cli php-mysql php-mbstring php-xml php-curl php-zip php-gd php-intl php-bcmath

php_version="$(php -r 'echo PHP_MAJOR_VERSION.".".PHP_MINOR_VERSION;')"
# Each environment gets its own pool (php/pool); until one exists PHP-FPM
# runs the package's pool, which no vhost uses.
systemctl enable --quiet --now "php$php_version-fpm"
rm -f /etc/nginx/sites-enabled/default
systemctl enable --quiet --now nginx
echo "php stack: PHP $php_version"
