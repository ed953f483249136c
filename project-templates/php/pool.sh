#!/usr/bin/env bash
# summary: The environment's own PHP-FPM pool: runs as its site user, socket reachable only by nginx, PHP confined to the environment's directory and tmp
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input SITE_USER [unix_user]: the user the pool runs as (made by common/env-users)
set -euo pipefail
root="/var/www/pond/projects/$PROJECT/$ENV"
id -u "$SITE_USER" >/dev/null 2>&1 || { echo "user $SITE_USER is missing (common/env-users makes it)" >&2; exit 3; }
php_version="$(php -r 'echo PHP_MAJOR_VERSION.".".PHP_MINOR_VERSION;')"
pool_dir="/etc/php/$php_version/fpm/pool.d"
pool="$pool_dir/$SITE_USER.conf"
log="/var/log/php-fpm/$SITE_USER.log"
desired="$(cat <<CONF
; Written by Pond for $PROJECT/$ENV: \`pond provision\` rewrites it.
[$SITE_USER]
user = $SITE_USER
group = $SITE_USER
listen = /run/php/$SITE_USER.sock
listen.owner = www-data
listen.group = www-data
listen.mode = 0660
pm = ondemand
pm.max_children = 10
pm.process_idle_timeout = 60s
security.limit_extensions = .php
php_admin_value[open_basedir] = $root/:/usr/share/php/
php_admin_value[sys_temp_dir] = $root/tmp
php_admin_value[upload_tmp_dir] = $root/tmp
php_admin_value[session.save_path] = $root/tmp
php_admin_value[error_log] = $log
php_admin_flag[log_errors] = on
catch_workers_output = yes
CONF
)"
# The log is the site user's to write, in a directory only root writes.
install -d -o root -g root -m 0755 /var/log/php-fpm
[[ ! -L "$log" ]] || rm -f "$log"
[[ -f "$log" ]] || install -o "$SITE_USER" -g "$SITE_USER" -m 0640 /dev/null "$log"
# A changed pool is marked pending before it is written and unmarked after
# the reload: a run cut in between reloads on the next run.
if [[ ! -f "$pool" ]] || [[ "$(cat "$pool")" != "$desired" ]]; then
    touch "$pool.pending"
    printf '%s\n' "$desired" > "$pool"
fi
# The package's own pool runs as www-data, which reads every environment:
# gone once a Pond pool exists (PHP-FPM needs at least one).
if [[ -e "$pool_dir/www.conf" ]]; then
    touch "$pool.pending"
    rm -f "$pool_dir/www.conf"
fi
systemctl enable --quiet --now "php$php_version-fpm"
if [[ -e "$pool.pending" ]]; then
    systemctl reload-or-restart "php$php_version-fpm"
    rm -f "$pool.pending"
fi
for _ in $(seq 50); do
    [[ -S "/run/php/$SITE_USER.sock" ]] && break
    sleep 0.1
done
[[ -S "/run/php/$SITE_USER.sock" ]] || { echo "PHP-FPM did not open /run/php/$SITE_USER.sock" >&2; exit 1; }
echo "php pool: $SITE_USER on /run/php/$SITE_USER.sock (PHP $php_version)"
