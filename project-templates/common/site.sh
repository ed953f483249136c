#!/usr/bin/env bash
# summary: Directory layout and nginx vhosts of one environment: the domain serves current (over HTTPS, HTTP redirecting, once tls/renew made its certificate), preview hosts serve the colours
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input DOMAIN [domain]: the production host name
# input SECRET_PREFIX [secret_prefix]: first label of the preview hosts
# input STACK [text]: php, static or wordpress
# input? WEB_ROOT [web_root]: directory inside a release that nginx serves (empty: the release itself)
# input SITE_USER [unix_user]: the environment's site user (its PHP-FPM pool's socket is named after it)
# input DEPLOY_USER [unix_user]: the user owning the environment's releases
# input HTTPS [text]: yes (serve the domain over HTTPS once its certificate exists) or no
# input HSTS [text]: yes (send Strict-Transport-Security over HTTPS) or no
# input BALANCER_HTTPS [text]: yes (behind a load balancer ending TLS: a request it marks X-Forwarded-Proto https is HTTPS to PHP, and gets HSTS when asked) or no
set -euo pipefail
[[ "$HTTPS" == yes || "$HTTPS" == no ]] || { echo "bad HTTPS: $HTTPS" >&2; exit 2; }
[[ "$HSTS" == yes || "$HSTS" == no ]] || { echo "bad HSTS: $HSTS" >&2; exit 2; }
[[ "$BALANCER_HTTPS" == yes || "$BALANCER_HTTPS" == no ]] || { echo "bad BALANCER_HTTPS: $BALANCER_HTTPS" >&2; exit 2; }

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

# The certificate tls/renew keeps (certbot's lineage, all root's), used
# only when it names the domain. Its lock keeps a renewal from switching
# vhosts while they are rewritten here.
cert="/etc/letsencrypt/live/pond-${PROJECT}_$ENV"
tls_state="/var/lib/pond/tls/${PROJECT}_$ENV"
if [[ -L /var/lib/pond || -L /var/lib/pond/tls || -L "$tls_state" || -L "$tls_state/lock" ]]; then
    echo "$tls_state (or a directory above it) is a link; refusing to follow it" >&2
    exit 3
fi
install -d -o root -g root -m 0700 /var/lib/pond/tls "$tls_state"
exec 8>"$tls_state/lock"
flock -w 300 8 || { echo "a certificate renewal holds $tls_state/lock; try again" >&2; exit 75; }
tls=no
if [[ "$HTTPS" == yes && -f "$cert/fullchain.pem" && -f "$cert/privkey.pem" ]] &&
    openssl x509 -in "$cert/cert.pem" -noout -ext subjectAltName 2>/dev/null | grep -o 'DNS:[^, ]*' | cut -c5- | grep -qxF "$DOMAIN"; then
    tls=yes
fi
# The preview hosts' wildcard certificate (tls/preview-install), used only
# when it names *.DOMAIN.
previews="$tls_state/previews"
preview_tls=no
if [[ "$HTTPS" == yes && -f "$previews/fullchain.pem" && -f "$previews/key.pem" && ! -L "$previews" ]] &&
    [[ "$(openssl x509 -in "$previews/fullchain.pem" -noout -ext subjectAltName 2>/dev/null | grep -o 'DNS:[^, ]*' | cut -c5- | paste -sd, || true)" == "*.$DOMAIN" ]]; then
    preview_tls=yes
fi
# nginx 1.25.1 moved HTTP/2 from `listen` to its own directive.
read -r nginx_major nginx_minor nginx_patch < <(nginx -v 2>&1 | sed -n 's|.*nginx/\([0-9]*\)\.\([0-9]*\)\.\([0-9]*\).*|\1 \2 \3|p')
if ((nginx_major > 1 || nginx_minor > 25 || (nginx_minor == 25 && nginx_patch >= 1))); then
    listen_tls="listen 443 ssl;
    http2 on;"
else
    listen_tls="listen 443 ssl http2;"
fi
# Mozilla's "intermediate" TLS settings (TLS 1.2 and 1.3), shared by every
# Pond vhost; DHE suites left out (no dhparam file).
cat > /etc/nginx/pond-tls.conf.new <<'CONF'
# Written by Pond (common/site): Mozilla's intermediate TLS configuration.
ssl_protocols TLSv1.2 TLSv1.3;
ssl_ecdh_curve X25519:prime256v1:secp384r1;
ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
ssl_prefer_server_ciphers off;
ssl_session_timeout 1d;
ssl_session_cache shared:pond_tls:10m;
ssl_session_tickets off;
CONF
mv -f /etc/nginx/pond-tls.conf.new /etc/nginx/pond-tls.conf
# HTTPS for a host no environment here serves (a domain whose environment
# went, or one on HTTP only) is refused at the handshake rather than
# answered with another site's certificate — unless the server already
# has a default HTTPS server of its own.
default_tls=/etc/nginx/conf.d/pond-tls-default.conf
if ! grep -RlsE '^[^#]*listen[^;]*443[^;]*default_server' /etc/nginx/sites-enabled/ /etc/nginx/conf.d/ | grep -qvxF "$default_tls"; then
    printf '%s\n' "# Written by Pond (common/site): refuse TLS for hosts no vhost names." \
        "server { listen 443 ssl default_server; server_name _; ssl_reject_handshake on; }" > "$default_tls.new"
    mv -f "$default_tls.new" "$default_tls"
fi
# Certificates are loaded per TLS handshake from one file each (chain and
# key, replaced by a rename), so a renewal needs no nginx reload — a
# reload closes kept-alive connections under their clients. nginx's
# workers read them: root's files, group www-data, in a directory only
# they enter.
cat > /etc/nginx/conf.d/pond-tls-load.conf.new <<'CONF'
# Written by Pond (common/site): empty, but a variable in ssl_certificate
# makes nginx load the certificate at each handshake.
map $ssl_server_name $pond_per_handshake { default ""; }
CONF
mv -f /etc/nginx/conf.d/pond-tls-load.conf.new /etc/nginx/conf.d/pond-tls-load.conf
# Behind a load balancer that ends TLS, what it says the client used
# (only vhosts with BALANCER_HTTPS=yes read these).
cat > /etc/nginx/conf.d/pond-forwarded.conf.new <<'CONF'
# Written by Pond (common/site): HTTPS as a load balancer reports it.
map $http_x_forwarded_proto $pond_forwarded_https { default ""; https on; }
map $http_x_forwarded_proto $pond_forwarded_hsts { default ""; https "max-age=63072000"; }
CONF
mv -f /etc/nginx/conf.d/pond-forwarded.conf.new /etc/nginx/conf.d/pond-forwarded.conf
certs=/etc/nginx/pond-certs
[[ ! -L "$certs" ]] || { echo "$certs is a link; refusing to follow it" >&2; exit 3; }
install -d -o root -g www-data -m 0750 "$certs"
publish() { # source chain, source key, bundle name: chain and key as one file nginx's workers read
    [[ -f "$1" && -f "$2" ]] || return 0
    # nginx checks a certificate it loads per handshake only then: a chain
    # that does not parse or does not match its key is not published.
    local cert_key our_key
    cert_key="$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null | sha256sum)"
    our_key="$(openssl pkey -in "$2" -pubout 2>/dev/null | sha256sum)"
    if [[ "$cert_key" != "$our_key" ]] || ! openssl x509 -in "$1" -noout 2>/dev/null; then
        echo "$1 does not match $2; not served" >&2
        return 1
    fi
    cat -- "$1" "$2" > "$certs/$3.tmp"
    chown root:www-data "$certs/$3.tmp"
    chmod 0640 "$certs/$3.tmp"
    mv -f -- "$certs/$3.tmp" "$certs/$3"
}
bundle="$certs/${PROJECT}_$ENV.pem"
preview_bundle="$certs/${PROJECT}_$ENV.previews.pem"
# (A bundle no vhost uses any more goes at the end, after nginx's reload.)
if [[ "$tls" == yes ]] && ! publish "$cert/fullchain.pem" "$cert/privkey.pem" "${PROJECT}_$ENV.pem"; then
    tls=no
fi
if [[ "$preview_tls" == yes ]] && ! publish "$previews/fullchain.pem" "$previews/key.pem" "${PROJECT}_$ENV.previews.pem"; then
    preview_tls=no
fi
acme_location='    # ACME HTTP-01 challenges (tls/renew), from a directory only root writes.
    location ^~ /.well-known/acme-challenge/ { root /var/lib/pond/acme-challenge; default_type text/plain; }'

redirect_block() { # server names: HTTP answers ACME challenges, else redirects to HTTPS
    cat <<CONF
server {
    listen 80;
    server_name $1;
$acme_location
    location / { return 301 https://\$host\$request_uri; }
}
CONF
}

server_block() { # server names, link name, http, https (the domain's certificate) or previews (the wildcard)
    local listen="listen 80;"
    [[ "$3" == http ]] || listen="$listen_tls"
    cat <<CONF
server {
    $listen
    server_name $1;
    root $(docroot "$2");
    access_log /var/log/nginx/pond-$PROJECT-$ENV.access.log;
    error_log /var/log/nginx/pond-$PROJECT-$ENV.error.log;
    location ~ /\.(?!well-known) { deny all; }
    # A symlink in a release may only point at files its owner owns: a link
    # to /etc/passwd committed to the project is not served.
    # Checked from the colour link on, the web root included (a release
    # whose web root is a link out of it is refused too).
    disable_symlinks if_not_owner from=$root/$2;
CONF
    if [[ "$3" == https ]]; then
        # shellcheck disable=SC2016 # $pond_per_handshake is nginx's
        printf '    ssl_certificate %s$pond_per_handshake;\n    ssl_certificate_key %s$pond_per_handshake;\n    include /etc/nginx/pond-tls.conf;\n' "$bundle" "$bundle"
        [[ "$HSTS" == no ]] || printf '    add_header Strict-Transport-Security "max-age=63072000" always;\n'
    elif [[ "$3" == previews ]]; then
        # shellcheck disable=SC2016 # $pond_per_handshake is nginx's
        printf '    ssl_certificate %s$pond_per_handshake;\n    ssl_certificate_key %s$pond_per_handshake;\n    include /etc/nginx/pond-tls.conf;\n' "$preview_bundle" "$preview_bundle"
    elif [[ "$2" == current ]]; then
        printf '%s\n' "$acme_location"
    fi
    if [[ "$3" == http && "$BALANCER_HTTPS" == yes && "$HSTS" == yes ]]; then
        # shellcheck disable=SC2016 # $pond_forwarded_hsts is nginx's (empty: no header)
        printf '    add_header Strict-Transport-Security $pond_forwarded_hsts always;\n'
    fi
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
CONF
        printf '        disable_symlinks on from=%s/%s;\n' "$root" "$2"
        cat <<'CONF'
        try_files $fastcgi_script_name =404;
        include fastcgi_params;
        # Resolve the colour symlinks per request: every release has its
        # own real path, so OPcache never serves a previous build.
        fastcgi_param SCRIPT_FILENAME $realpath_root$fastcgi_script_name;
        fastcgi_param DOCUMENT_ROOT $realpath_root;
CONF
        if [[ "$3" == http && "$BALANCER_HTTPS" == yes ]]; then
            # shellcheck disable=SC2016 # $pond_forwarded_https is nginx's
            printf '        fastcgi_param HTTPS $pond_forwarded_https if_not_empty;\n'
        fi
        printf '        fastcgi_pass unix:/run/php/%s.sock;\n    }\n}\n' "$SITE_USER"
    fi
}

conf="/etc/nginx/sites-available/pond-$PROJECT-$ENV.conf"
# The same vhosts with the domain on HTTPS: enabled instead of $conf once
# the certificate exists (here, or by tls/renew when it makes the first one).
conf_https="/etc/nginx/sites-available/pond-$PROJECT-$ENV.https.conf"
enabled="/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.conf"
# Another project's environment may have made a file of this name (acme's
# shop-live and acme-shop's live both give pond-acme-shop-live.conf).
header="# Written by Pond for $PROJECT/$ENV;"
for file in "$conf" "$conf_https"; do
    if [[ -e "$file" && "$(head -n 1 "$file")" != "$header"* ]]; then
        echo "$file belongs to another environment ($(head -n 1 "$file" | cut -c1-80)); rename this environment or project" >&2
        exit 3
    fi
done
vhosts() { # http or https: how the domain is served
    echo "$header \`pond provision\` rewrites it."
    if [[ "$1" == https ]]; then
        redirect_block "$DOMAIN www.$DOMAIN"
        server_block "$DOMAIN www.$DOMAIN" current https
    else
        server_block "$DOMAIN www.$DOMAIN" current http
    fi
    server_block "$SECRET_PREFIX.$DOMAIN" preview http
    server_block "$SECRET_PREFIX-blue.$DOMAIN" blue http
    server_block "$SECRET_PREFIX-green.$DOMAIN" green http
}
vhosts http > "$conf.new"
mv "$conf.new" "$conf"
# The preview hosts over HTTPS (their wildcard certificate), enabled next to
# the vhosts above once tls/preview-install put one here.
conf_previews="/etc/nginx/sites-available/pond-$PROJECT-$ENV.previews.conf"
enabled_previews="/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.previews.conf"
if [[ -e "$conf_previews" && "$(head -n 1 "$conf_previews")" != "$header"* ]]; then
    echo "$conf_previews belongs to another environment; rename this environment or project" >&2
    exit 3
fi
if [[ "$HTTPS" == yes ]]; then
    {
        echo "$header \`pond provision\` rewrites it."
        server_block "$SECRET_PREFIX.$DOMAIN" preview previews
        server_block "$SECRET_PREFIX-blue.$DOMAIN" blue previews
        server_block "$SECRET_PREFIX-green.$DOMAIN" green previews
    } > "$conf_previews.new"
    mv "$conf_previews.new" "$conf_previews"
else
    rm -f -- "$enabled_previews" "$conf_previews"
fi
if [[ "$preview_tls" == yes ]]; then
    ln -sfn "$conf_previews" "$enabled_previews.tmp"
    mv -T "$enabled_previews.tmp" "$enabled_previews"
else
    rm -f -- "$enabled_previews"
fi
if [[ "$HTTPS" == yes ]]; then
    vhosts https > "$conf_https.new"
    mv "$conf_https.new" "$conf_https"
else
    rm -f -- "$conf_https"
fi
if [[ "$tls" == yes ]]; then
    ln -sfn "$conf_https" "$enabled.tmp"
else
    ln -sfn "$conf" "$enabled.tmp"
fi
mv -T "$enabled.tmp" "$enabled"
if [[ "$tls" == yes || "$preview_tls" == yes ]] && ! nginx -t -q 2>/dev/null; then
    echo "nginx refused the HTTPS vhosts ($(nginx -t 2>&1 | grep -m1 emerg || true)); serving $DOMAIN and the previews over HTTP" >&2
    tls=no
    ln -sfn "$conf" "$enabled.tmp"
    mv -T "$enabled.tmp" "$enabled"
    rm -f -- "$enabled_previews"
fi
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
# Bundles no vhost uses any more (HTTPS off, another domain), now that
# nginx no longer names them.
[[ "$tls" == yes ]] || rm -f -- "$bundle"
[[ "$preview_tls" == yes ]] || rm -f -- "$preview_bundle"
scheme=http
[[ "$tls" == yes ]] && scheme=https
echo "site: $scheme://$DOMAIN -> $root/current; previews on ${SECRET_PREFIX}[-blue|-green].$DOMAIN"
