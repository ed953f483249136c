#!/usr/bin/env bash
# summary: nginx, PHP-FPM with the extensions Laravel, October CMS and WordPress need (each environment's pool is php/pool), and Composer for hooks
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    nginx php-fpm php-cli php-mysql php-mbstring php-xml php-curl php-zip php-gd php-intl php-bcmath composer

php_version="$(php -r 'echo PHP_MAJOR_VERSION.".".PHP_MINOR_VERSION;')"
# Each environment gets its own pool (php/pool), which starts PHP-FPM;
# PHP-FPM with no pool at all (the last environment unbound) cannot start.
systemctl enable --quiet "php$php_version-fpm"
if compgen -G "/etc/php/$php_version/fpm/pool.d/*.conf" >/dev/null; then
    systemctl start "php$php_version-fpm"
fi
rm -f /etc/nginx/sites-enabled/default
systemctl enable --quiet --now nginx
echo "php stack: PHP $php_version"
