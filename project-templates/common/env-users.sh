#!/usr/bin/env bash
# summary: The environment's own users and directories: a site user PHP runs as (it writes only shared paths and tmp), a deploy user owning the releases and running hooks, both in the site user's group with nginx; root owns the environment's directory, releases/, links, metadata/ and config/
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input SITE_USER [unix_user]: the user PHP-FPM runs as; also the environment's group
# input DEPLOY_USER [unix_user]: the user owning the release trees and running hooks
set -euo pipefail
cd /  # the site user's commands below cannot enter root's home
root="/var/www/pond/projects/$PROJECT/$ENV"
comment="pond $PROJECT/$ENV"

# A name made for another environment, or not by Pond, is never taken over.
for user in "$SITE_USER" "$DEPLOY_USER"; do
    if entry="$(getent passwd "$user")" && [[ "$(cut -d: -f5 <<< "$entry")" != "$comment" ]]; then
        echo "user $user already exists on this server and is not Pond's user for $PROJECT/$ENV; refusing to share it" >&2
        exit 3
    fi
done
getent group "$SITE_USER" >/dev/null || groupadd --system "$SITE_USER"
id -u "$SITE_USER" >/dev/null 2>&1 || useradd --system --gid "$SITE_USER" --comment "$comment" \
    --home-dir "$root/tmp" --no-create-home --shell /usr/sbin/nologin "$SITE_USER"
id -u "$DEPLOY_USER" >/dev/null 2>&1 || useradd --system --gid "$SITE_USER" --comment "$comment" \
    --home-dir "/var/lib/pond/deploy/$DEPLOY_USER" --no-create-home --shell /usr/sbin/nologin "$DEPLOY_USER"
# nginx reads static files of the releases through the group (its workers
# pick the group up at the next reload).
id -nG www-data | tr ' ' '\n' | grep -qxF "$SITE_USER" || usermod -a -G "$SITE_USER" www-data

# Root's directories: never through a link (an older layout let the web
# user own some of them).
for dir in /var/www/pond /var/www/pond/projects "/var/www/pond/projects/$PROJECT" "$root" \
    "$root/releases" "$root/shared" "$root/config" "$root/metadata" /var/lib/pond /var/lib/pond/deploy; do
    [[ ! -L "$dir" ]] || { echo "$dir is a symbolic link; refusing to follow it. Check the server: this is not Pond's doing" >&2; exit 3; }
done
install -d -o root -g root -m 0755 /var/www/pond /var/www/pond/projects "/var/www/pond/projects/$PROJECT" \
    /var/lib/pond /var/lib/pond/deploy
install -d -o root -g "$SITE_USER" -m 0750 "$root" "$root/releases" "$root/shared" "$root/config"
install -d -o root -g root -m 0700 "$root/metadata"
# Older layouts, where the web user owned metadata/: never under a running
# deploy of an older client (its lock is taken first), links go; the
# records Pond needs are rewritten as root's own files (their content kept,
# so a rollback still knows its target); anything else it made goes.
find "$root/metadata" -mindepth 1 -type l -delete
if [[ -f "$root/metadata/lock" ]]; then
    exec 9<>"$root/metadata/lock"
    flock -n 9 || { echo "a deploy or swap holds the lock on $root; nothing was changed. Try again when it is done" >&2; exit 75; }
    chown root:root "$root/metadata/lock"
fi
for record in state.json log.jsonl; do
    f="$root/metadata/$record"
    if [[ -f "$f" && ! -L "$f" && "$(stat -c %U "$f")" != root ]]; then
        copy="$(mktemp "$root/metadata/.migrate.XXXXXX")"
        head -c 16777216 -- "$f" > "$copy"
        mv -f "$copy" "$f"
    fi
done
find "$root/metadata" -mindepth 1 ! -user root -delete
chmod -R go-rwx "$root/metadata"
# The colour links are root's and point where Pond points them.
for link in blue green current preview; do
    [[ -e "$root/$link" || -L "$root/$link" ]] || continue
    target="$(readlink "$root/$link" || true)"
    if [[ ! -L "$root/$link" ]] || ! [[ "$target" =~ ^(releases/[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}|blue|green)$ ]]; then
        echo "$root/$link is not a link Pond made (it points at ${target:-nothing}); refusing to continue. Check the server" >&2
        exit 3
    fi
    chown -h root:root "$root/$link"
done
[[ -L "$root/tmp" ]] && rm -f "$root/tmp"
install -d -o "$SITE_USER" -g "$SITE_USER" -m 2770 "$root/tmp"
[[ -L "/var/lib/pond/deploy/$DEPLOY_USER" ]] && rm -f "/var/lib/pond/deploy/$DEPLOY_USER"
install -d -o "$DEPLOY_USER" -g "$SITE_USER" -m 0700 "/var/lib/pond/deploy/$DEPLOY_USER"

# Shared paths from a layout where the web user owned them pass to the
# site user, setgid with the default ACL (as deploy-apply seeds them).
find "$root/shared" -mindepth 1 -maxdepth 1 ! -user root ! -user "$SITE_USER" ! -type l -print0 |
    while IFS= read -r -d '' kept; do
        chown -R -P "$SITE_USER:$SITE_USER" "$kept"
        runuser -u "$SITE_USER" -- find "$kept" -type d -exec chmod g+rwxs {} + -exec setfacl -d -m u::rwX,g::rwX,o::- {} +
        runuser -u "$SITE_USER" -- find "$kept" -type f -exec chmod g+rw {} +
    done
# Releases from a layout where the web user owned them pass to the deploy
# user, unwritable by the group (chown -R and chmod -R follow no links).
find "$root/releases" -mindepth 1 -maxdepth 1 ! -user "$DEPLOY_USER" ! -type l -print0 |
    while IFS= read -r -d '' release; do
        chown -R -P "$DEPLOY_USER:$SITE_USER" "$release"
        chmod -R g-w,o-rwx "$release"
        # Its links into shared/ are the site user's, as deploy-apply makes them.
        while IFS= read -r -d '' link; do
            if [[ "$(readlink -f -- "$link")" == "$root/shared/"* ]]; then chown -h "$SITE_USER" -- "$link"; fi
        done < <(find "$release" -type l -print0)
    done
echo "users: $SITE_USER runs the site, $DEPLOY_USER owns its releases"
