#!/usr/bin/env bash
# summary: Install the preview hosts' wildcard certificate: the chain the CA issued for this server's pending CSR (its key never left), checked against the key and *.DOMAIN, published for nginx (loaded per handshake), and the preview hosts' HTTPS vhosts enabled the first time (a graceful reload)
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input DOMAIN [domain]: the production host name (the certificate is for *.DOMAIN)
# input DIRECTORY [text]: the ACME directory that issued it (recorded)
# input CHAIN [text]: the certificate chain (PEM) the CA issued
set -euo pipefail
# A cut connection must not stop it between the key and nginx.
trap '' HUP PIPE
state="/var/lib/pond/tls/${PROJECT}_$ENV"
dir="$state/previews"
for d in /var/lib/pond /var/lib/pond/tls "$state" "$dir"; do
    if [[ -L "$d" || ! -d "$d" || "$(stat -c %U "$d")" != root ]]; then
        echo "$d is missing, a link or not root's (tls/preview-csr makes it)" >&2
        exit 3
    fi
done
[[ ! -L "$state/lock" ]] || { echo "$state/lock is a link; refusing to follow it" >&2; exit 3; }
exec 8>"$state/lock"
flock -w 300 8 || { echo "another run for $PROJECT/$ENV holds $state/lock" >&2; exit 75; }
umask 077
printf '%s\n' "$CHAIN" > "$dir/fullchain.pem.new"
names="$(openssl x509 -in "$dir/fullchain.pem.new" -noout -ext subjectAltName 2>/dev/null | grep -o 'DNS:[^, ]*' | cut -c5- | paste -sd, || true)"
[[ "$names" == "*.$DOMAIN" ]] || { rm -f -- "$dir/fullchain.pem.new"; echo "the chain names $names, not *.$DOMAIN" >&2; exit 3; }
# The pending key this chain is for (named after its public key).
id="$(openssl x509 -in "$dir/fullchain.pem.new" -noout -pubkey | sha256sum | cut -c1-16)"
key="$dir/pending-$id.key"
if [[ ! -f "$key" || -L "$key" ]] || [[ "$(openssl pkey -in "$key" -pubout | sha256sum | cut -c1-16)" != "$id" ]]; then
    rm -f -- "$dir/fullchain.pem.new"
    echo "the chain is for no pending key of this server (made more than a day ago, or elsewhere)" >&2
    exit 3
fi
# The key and the chain change together for nginx (it reads both on reload).
mv -f -- "$key" "$dir/key.pem"
mv -f -- "$dir/fullchain.pem.new" "$dir/fullchain.pem"
printf '%s\n' "$DIRECTORY" > "$dir/directory"
# The chain and key as one file nginx's workers load at each handshake:
# replaced by a rename, so a renewal needs no reload.
certs=/etc/nginx/pond-certs
if [[ -d "$certs" && ! -L "$certs" ]]; then
    cat -- "$dir/fullchain.pem" "$dir/key.pem" > "$certs/${PROJECT}_$ENV.previews.pem.tmp"
    chown root:www-data "$certs/${PROJECT}_$ENV.previews.pem.tmp"
    chmod 0640 "$certs/${PROJECT}_$ENV.previews.pem.tmp"
    mv -f -- "$certs/${PROJECT}_$ENV.previews.pem.tmp" "$certs/${PROJECT}_$ENV.previews.pem"
fi
# The preview vhosts common/site wrote for HTTPS: enable them, checked.
site="/etc/nginx/sites-available/pond-$PROJECT-$ENV.previews.conf"
enabled="/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.previews.conf"
if [[ -L "$enabled" && "$(readlink "$enabled")" == "$site" ]]; then
    served=yes # already: nginx loads the new file at the next handshake
elif [[ -f "$site" && ! -L "$site" && "$(head -n 1 "$site")" == "# Written by Pond for $PROJECT/$ENV;"* ]]; then
    served=yes
    ln -sfn "$site" "$enabled.tmp"
    mv -T "$enabled.tmp" "$enabled"
    if ! nginx -t -q; then
        rm -f -- "$enabled"
        echo "nginx rejected $site; the preview hosts stay on HTTP" >&2
        exit 1
    fi
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
fi
if [[ "${served:-no}" == no ]]; then
    report preview-not-served reason "$site is missing: \`pond provision\` writes it"
fi
echo "installed *.$DOMAIN until $(openssl x509 -in "$dir/fullchain.pem" -noout -enddate | cut -d= -f2)"
