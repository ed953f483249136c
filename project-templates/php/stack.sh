#!/usr/bin/env bash
# summary: nginx and PHP-FPM with the extensions Laravel, October CMS and WordPress need; a PHP-FPM pool running as pond
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    nginx php-fpm php-cli php-mysql php-mbstring php-xml php-curl php-zip php-gd php-intl php-bcmath

php_version="$(php -r 'echo PHP_MAJOR_VERSION.".".PHP_MINOR_VERSION;')"
pool="/etc/php/$php_version/fpm/pool.d/pond.conf"
desired="$(cat <<CONF
; Written by Pond: the pool that runs the apps, as the web user.
[pond]
user = pond
group = pond
listen = /run/php/pond.sock
listen.owner = www-data
listen.group = www-data
listen.mode = 0660
pm = dynamic
pm.max_children = 10
pm.start_servers = 2
pm.min_spare_servers = 1
pm.max_spare_servers = 3
php_admin_value[error_log] = /var/log/php-fpm-pond.log
php_admin_flag[log_errors] = on
catch_workers_output = yes
CONF
)"
# A changed pool is marked pending before it is written and unmarked after
# the restart: a run cut in between restarts on the next run.
if [[ ! -f "$pool" ]] || [[ "$(cat "$pool")" != "$desired" ]]; then
    touch "$pool.pending"
    printf '%s\n' "$desired" > "$pool"
fi
touch /var/log/php-fpm-pond.log
chown pond:pond /var/log/php-fpm-pond.log
systemctl enable --quiet --now "php$php_version-fpm"
if [[ -e "$pool.pending" ]]; then
    systemctl restart "php$php_version-fpm"
    rm -f "$pool.pending"
fi
rm -f /etc/nginx/sites-enabled/default
systemctl enable --quiet --now nginx
echo "php stack: PHP $php_version, pool /run/php/pond.sock"
