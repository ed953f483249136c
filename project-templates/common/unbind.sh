#!/usr/bin/env bash
# summary: Remove an environment's Pond layout and vhosts from a server (the server itself stays)
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
set -euo pipefail
root="/var/www/pond/projects/$PROJECT/$ENV"
# Never under a running deploy or swap: take the environment's lock first.
if [[ -d "$root/metadata" ]]; then
    [[ ! -L "$root/metadata" && ! -L "$root/metadata/lock" ]] || { echo "$root/metadata/lock is a link; refusing to follow it" >&2; exit 3; }
    exec 9<>"$root/metadata/lock"
    flock -n 9 || { echo "LOCK-HELD"; cat "$root/metadata/lock"; echo "a deploy or swap holds the lock on $root; nothing was removed. Try again when it is done" >&2; exit 75; }
fi
rm -f "/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.conf" "/etc/nginx/sites-available/pond-$PROJECT-$ENV.conf"
if nginx -t -q 2>/dev/null; then systemctl reload nginx || true; fi
rm -rf -- "$root"
rmdir "/var/www/pond/projects/$PROJECT" 2>/dev/null || true
echo "removed $root and its vhosts"
