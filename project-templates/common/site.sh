#!/usr/bin/env bash
# summary: Directory layout and nginx vhosts of one environment: the domain serves current, preview hosts serve the colours
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input DOMAIN [domain]: the production host name
# input SECRET_PREFIX [secret_prefix]: first label of the preview hosts
# input STACK [text]: php, static or wordpress
# input? WEB_ROOT [web_root]: directory inside a release that nginx serves (empty: the release itself)
# input SITE_USER [unix_user]: the environment's site user (its PHP-FPM pool's socket is named after it)
# input DEPLOY_USER [unix_user]: the user owning the environment's releases
set -euo pipefail

case "$STACK" in php | static | wordpress) ;; *) echo "unknown stack: $STACK" >&2; exit 2 ;; esac
if [[ ! "$WEB_ROOT" =~ ^[A-Za-z0-9._/-]*$ ]]; then
    echo "web root has characters nginx config cannot hold: $WEB_ROOT" >&2
    exit 2
fi
root="/var/www/pond/projects/$PROJECT/$ENV"
[[ -d "$root/releases" && ! -L "$root/releases" && "$(stat -c %U "$root/releases")" == root ]] ||
    { echo "$root/releases is missing or not root's (common/env-users makes it)" >&2; exit 3; }

# Until the first deploy, both colours point at a placeholder release (the
# deploy user's, like every release; the links are root's).
if [[ ! -L "$root/current" ]]; then
    empty="$root/releases/00000000T000000Z-empty"
    rm -rf -- "$empty"
    install -d -o "$DEPLOY_USER" -g "$SITE_USER" -m 0750 "$empty"
    # shellcheck disable=SC2016 # the inner script expands its own arguments
    printf '<!doctype html><title>Pond</title><p>%s/%s: nothing deployed yet.</p>\n' "$PROJECT" "$ENV" |
        runuser -u "$DEPLOY_USER" -- sh -c 'umask 027; mkdir -p -- "$1" && cat > "$1/index.html"' sh "$empty/${WEB_ROOT:-.}"
    for link in blue green; do
        ln -sfn "releases/00000000T000000Z-empty" "$root/$link"
    done
    ln -sfn blue "$root/preview.tmp" && mv -T "$root/preview.tmp" "$root/preview"
    ln -sfn blue "$root/current.tmp" && mv -T "$root/current.tmp" "$root/current"
fi

docroot() { # link name -> the path nginx serves
    if [[ -n "$WEB_ROOT" ]]; then printf '%s/%s/%s' "$root" "$1" "$WEB_ROOT"; else printf '%s/%s' "$root" "$1"; fi
}

server_block() { # server names, link name
    cat <<CONF
server {
    listen 80;
    server_name $1;
    root $(docroot "$2");
    access_log /var/log/nginx/pond-$PROJECT-$ENV.access.log;
    error_log /var/log/nginx/pond-$PROJECT-$ENV.error.log;
    location ~ /\.(?!well-known) { deny all; }
    # A symlink in a release may only point at files its owner owns: a link
    # to /etc/passwd committed to the project is not served.
    disable_symlinks if_not_owner from=\$document_root;
CONF
    if [[ "$STACK" == static ]]; then
        cat <<'CONF'
    index index.html index.htm;
    location / { try_files $uri $uri/ =404; }
}
CONF
    else
        cat <<'CONF'
    index index.php index.html;
    client_max_body_size 64m;
    location / { try_files $uri $uri/ /index.php?$query_string; }
    location ~ \.php$ {
        # Only scripts of the release itself run: never one reached through
        # a link, such as an upload under a shared path.
        disable_symlinks on from=$document_root;
        try_files $fastcgi_script_name =404;
        include fastcgi_params;
        # Resolve the colour symlinks per request: every release has its
        # own real path, so OPcache never serves a previous build.
        fastcgi_param SCRIPT_FILENAME $realpath_root$fastcgi_script_name;
        fastcgi_param DOCUMENT_ROOT $realpath_root;
CONF
        printf '        fastcgi_pass unix:/run/php/%s.sock;\n    }\n}\n' "$SITE_USER"
    fi
}

conf="/etc/nginx/sites-available/pond-$PROJECT-$ENV.conf"
# Another project's environment may have made a file of this name (acme's
# shop-live and acme-shop's live both give pond-acme-shop-live.conf).
header="# Written by Pond for $PROJECT/$ENV;"
if [[ -e "$conf" && "$(head -n 1 "$conf")" != "$header"* ]]; then
    echo "$conf belongs to another environment ($(head -n 1 "$conf" | cut -c1-80)); rename this environment or project" >&2
    exit 3
fi
{
    echo "# Written by Pond for $PROJECT/$ENV; \`pond provision\` rewrites it."
    server_block "$DOMAIN www.$DOMAIN" current
    server_block "$SECRET_PREFIX.$DOMAIN" preview
    server_block "$SECRET_PREFIX-blue.$DOMAIN" blue
    server_block "$SECRET_PREFIX-green.$DOMAIN" green
} > "$conf.new"
mv "$conf.new" "$conf"
ln -sfn "$conf" "/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.conf"
nginx -t -q
# `reload` returns before new workers serve: wait for the old ones to go.
master="$(cat /run/nginx.pid 2>/dev/null || true)"
old_workers=""
if [[ -n "$master" ]]; then old_workers="$(pgrep -P "$master" || true)"; fi
systemctl reload nginx
for _ in $(seq 100); do
    remaining=0
    for pid in $old_workers; do
        kill -0 "$pid" 2>/dev/null && remaining=1
    done
    [[ "$remaining" == 0 ]] && break
    sleep 0.1
done
# The single PHP-FPM pool of older Pond versions (user pond) goes once no
# vhost uses it any more, and whatever still runs as that user with it.
if compgen -G '/etc/php/*/fpm/pool.d/pond.conf' >/dev/null &&
    ! grep -qs 'unix:/run/php/pond.sock' /etc/nginx/sites-available/*; then
    for legacy in /etc/php/*/fpm/pool.d/pond.conf; do
        php_version="${legacy#/etc/php/}"
        php_version="${php_version%%/*}"
        rm -f "$legacy"
        systemctl reload-or-restart "php$php_version-fpm" || true
    done
    if id -u pond >/dev/null 2>&1; then
        pkill -KILL -u pond 2>/dev/null || true
        echo "removed the older single PHP-FPM pool (user pond)"
    fi
fi
echo "site: $DOMAIN -> $root/current; previews on ${SECRET_PREFIX}[-blue|-green].$DOMAIN"
