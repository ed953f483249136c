#!/usr/bin/env bash
# summary: Remove an environment's Pond layout and vhosts from a server (the server itself stays)
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input SITE_USER [unix_user]: the environment's site user (its pool, processes and account go)
# input DEPLOY_USER [unix_user]: the environment's deploy user (its processes and account go)
set -euo pipefail
root="/var/www/pond/projects/$PROJECT/$ENV"
# Never under a running deploy or swap: take the environment's lock first.
if [[ -d "$root/metadata" ]]; then
    [[ ! -L "$root/metadata" && ! -L "$root/metadata/lock" ]] || { echo "$root/metadata/lock is a link; refusing to follow it" >&2; exit 3; }
    exec 9<>"$root/metadata/lock"
    flock -n 9 || { echo "a deploy or swap holds the lock on $root ($(head -c 4096 "$root/metadata/lock" | tr -d '\n')); nothing was removed. Try again when it is done" >&2; exit 75; }
fi
# The environment's processes, schedule (common/processes), scheduled
# backups (common/backup-schedule) and certificate renewal (tls/schedule);
# backups already taken stay in /var/lib/pond/backups.
units="pond-${PROJECT}_$ENV"
mapfile -t loaded < <(systemctl list-units --all --plain --no-legend "${units}_proc_*@*.service" "${units}_schedule.*" "${units}_backup.*" "${units}_tls.*" | awk '{ print $1 }')
((${#loaded[@]} == 0)) || systemctl disable --now --quiet "${loaded[@]}" 2>/dev/null || true
systemctl disable --now --quiet "${units}_schedule.timer" "${units}_backup.timer" "${units}_tls.timer" 2>/dev/null || true
rm -f "/usr/local/lib/pond/backup-${PROJECT}_$ENV" "/usr/local/lib/pond/tls-renew-${PROJECT}_$ENV"
removed_units=no
for file in /etc/systemd/system/"${units}"_proc_*@.service /etc/systemd/system/"${units}"_schedule.service /etc/systemd/system/"${units}"_schedule.timer \
    /etc/systemd/system/"${units}"_backup.service /etc/systemd/system/"${units}"_backup.timer \
    /etc/systemd/system/"${units}"_tls.service /etc/systemd/system/"${units}"_tls.timer; do
    [[ -e "$file" || -L "$file" ]] || continue
    rm -f -- "$file"
    removed_units=yes
done
rm -f /etc/systemd/system/multi-user.target.wants/"${units}"_proc_*@*.service
[[ "$removed_units" == no ]] || systemctl daemon-reload
# The vhost only when it is this environment's (another project's may
# carry the same file name).
conf="/etc/nginx/sites-available/pond-$PROJECT-$ENV.conf"
if [[ "$(head -n 1 "$conf" 2>/dev/null)" == "# Written by Pond for $PROJECT/$ENV;"* ]]; then
    rm -f "/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.conf" "/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.previews.conf" \
        "$conf" "${conf%.conf}.https.conf" "${conf%.conf}.previews.conf"
fi
# Its certificate (tls/renew) and the record of its renewals, not under a
# renewal that runs now.
tls_state="/var/lib/pond/tls/${PROJECT}_$ENV"
systemctl stop "${units}_tls.service" 2>/dev/null || true
if [[ -d "$tls_state" && ! -L "$tls_state" && ! -L "$tls_state/lock" ]]; then
    exec 8>"$tls_state/lock"
    flock -w 300 8 || { echo "a certificate renewal holds $tls_state/lock; try again" >&2; exit 75; }
fi
if [[ -d "/etc/letsencrypt/live/$units" ]] && command -v certbot >/dev/null; then
    flock -w 600 /var/lib/pond/tls/.certbot.lock certbot delete --non-interactive --cert-name "$units" >/dev/null ||
        { echo "certbot could not delete the certificate $units; run this again" >&2; exit 1; }
fi
rm -rf -- "$tls_state"
rm -f -- "/etc/nginx/pond-certs/${PROJECT}_$ENV.pem" "/etc/nginx/pond-certs/${PROJECT}_$ENV.previews.pem"
rm -f "/etc/pond/provisioned/${PROJECT}_$ENV"
if nginx -t -q 2>/dev/null; then systemctl reload nginx || true; fi
# The environment's PHP-FPM pool; PHP-FPM stops when no pool is left.
for pool in /etc/php/*/fpm/pool.d/"$SITE_USER".conf; do
    [[ -e "$pool" ]] || continue
    pool_dir="$(dirname "$pool")"
    php_version="${pool#/etc/php/}"
    php_version="${php_version%%/*}"
    rm -f "$pool" "$pool.pending"
    if compgen -G "$pool_dir/*.conf" >/dev/null; then
        systemctl reload-or-restart "php$php_version-fpm" || true
    else
        systemctl stop "php$php_version-fpm" || true
    fi
done
systemctl stop "pond-hook-$DEPLOY_USER.*.service" "pond-spare-$DEPLOY_USER.*.service" 2>/dev/null || true
# A copy for the next deploy started meanwhile (by a swap that had just
# released the lock) waits here, then finds nothing to copy.
if [[ -d "$root/metadata" && ! -L "$root/metadata" && ! -L "$root/metadata/spare.lock" ]]; then
    exec 7<>"$root/metadata/spare.lock"
    flock -w 60 7 || true
fi
rm -rf -- "$root"
rmdir "/var/www/pond/projects/$PROJECT" 2>/dev/null || true
# Its users go with it, and whatever still runs as them.
comment="pond $PROJECT/$ENV"
for user in "$SITE_USER" "$DEPLOY_USER"; do
    if entry="$(getent passwd "$user")" && [[ "$(cut -d: -f5 <<< "$entry")" == "$comment" ]]; then
        pkill -KILL -u "$user" 2>/dev/null || true
        userdel "$user" 2>/dev/null || echo "could not remove user $user" >&2
    fi
done
if getent group "$SITE_USER" >/dev/null && [[ -z "$(getent group "$SITE_USER" | cut -d: -f4 | sed 's/www-data//; s/,//g')" ]]; then
    groupdel "$SITE_USER" 2>/dev/null || true
fi
rm -rf -- "/var/lib/pond/deploy/$DEPLOY_USER" "/var/log/php-fpm/$SITE_USER.log"
# The project's team keys go with its last environment on this server.
keys="$HOME/.ssh/authorized_keys"
if [[ ! -e "/var/www/pond/projects/$PROJECT" ]] && ! compgen -G "/etc/pond/provisioned/${PROJECT}_*" >/dev/null &&
    [[ -f "$keys" && ! -L "$keys" ]] && grep -qxF "# END Pond-managed keys of $PROJECT" "$keys"; then
    exec 8> "$HOME/.ssh/.pond-access.lock"
    flock -w 60 8
    tmp="$(mktemp "$keys.XXXXXX")"
    awk -v mine="# BEGIN Pond-managed keys of $PROJECT (" -v mine_end="# END Pond-managed keys of $PROJECT" '
        index($0, mine) == 1 { ours = 1; next }
        ours { if ($0 == mine_end) ours = 0; next }
        { print }' "$keys" > "$tmp"
    chmod 0600 "$tmp"
    mv -f -- "$tmp" "$keys"
    rm -f -- "$HOME/.ssh/.pond-access.$PROJECT.stamp"
    echo "removed $PROJECT's team keys (no environment of it is left here)"
fi
echo "removed $root, its vhosts, pool and users"
if [[ -d "/var/lib/pond/backups/${PROJECT}_$ENV" ]]; then
    echo "its backups stay in /var/lib/pond/backups/${PROJECT}_$ENV (remove them by hand when no longer needed)"
fi
