#!/usr/bin/env bash
# summary: The preview hosts' wildcard certificate on this server: report it and, when due (none, not naming *.DOMAIN, from another CA, two thirds of its lifetime passed) or forced, make a new key (root-only, never leaving the server) and print its CSR for *.DOMAIN
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input DOMAIN [domain]: the production host name (the certificate is for *.DOMAIN)
# input DIRECTORY [text]: the ACME directory the certificate must come from
# input MODE [text]: force (a new CSR whatever the certificate), due (when due, or none yet) or renew (only a certificate there that is due)
set -euo pipefail
[[ "$MODE" == force || "$MODE" == due || "$MODE" == renew ]] || { echo "bad MODE: $MODE" >&2; exit 2; }
mkdir -p /var/lib/pond
state="/var/lib/pond/tls/${PROJECT}_$ENV"
dir="$state/previews"
for d in /var/lib/pond /var/lib/pond/tls "$state" "$dir"; do
    if [[ -L "$d" || (-e "$d" && "$(stat -c %U "$d")" != root) ]]; then
        echo "$d is a link or not root's; refusing to use it" >&2
        exit 3
    fi
done
install -d -o root -g root -m 0700 /var/lib/pond/tls "$state" "$dir"
[[ ! -L "$state/lock" ]] || { echo "$state/lock is a link; refusing to follow it" >&2; exit 3; }
exec 8>"$state/lock"
flock -w 300 8 || { echo "another run for $PROJECT/$ENV holds $state/lock" >&2; exit 75; }
umask 077
due=yes reason="no certificate yet"
if [[ "$MODE" == renew && ! -f "$dir/fullchain.pem" ]]; then
    report preview-none
    exit 0
fi
if [[ -f "$dir/fullchain.pem" && -f "$dir/key.pem" ]]; then
    names="$(openssl x509 -in "$dir/fullchain.pem" -noout -ext subjectAltName 2>/dev/null | grep -o 'DNS:[^, ]*' | cut -c5- | paste -sd, || true)"
    if start="$(date -d "$(openssl x509 -in "$dir/fullchain.pem" -noout -startdate | cut -d= -f2)" +%s 2>/dev/null)" &&
        end="$(date -d "$(openssl x509 -in "$dir/fullchain.pem" -noout -enddate | cut -d= -f2)" +%s 2>/dev/null)"; then
        renew_at=$((start + (end - start) * 2 / 3))
        if [[ "$names" != "*.$DOMAIN" ]]; then
            reason="it names $names, not *.$DOMAIN"
        elif [[ "$(cat "$dir/directory" 2>/dev/null || true)" != "$DIRECTORY" ]]; then
            reason="it comes from another CA than $DIRECTORY"
        elif [[ "$MODE" == force ]]; then
            reason="asked for"
        elif (($(date +%s) < renew_at)); then
            due=no
        else
            reason="two thirds of its lifetime have passed"
        fi
    else
        reason="the certificate there cannot be read"
    fi
fi
if [[ "$due" == no ]]; then
    report preview-not-due after "$(date -u -d "@$renew_at" +%Y-%m-%dT%H:%M:%SZ)"
    exit 0
fi
# Each pending key is named after its public key, so the chain of an
# order finished later (two runs at once, a cut connection) still finds it;
# pending keys older than a day go.
find "$dir" -maxdepth 1 -name 'pending-*.key' -type f -mmin +1440 -delete
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/pending.key.tmp" \
    -subj "/CN=*.$DOMAIN" -addext "subjectAltName=DNS:*.$DOMAIN" -out "$dir/pending.csr.tmp" 2>/dev/null
id="$(openssl pkey -in "$dir/pending.key.tmp" -pubout | sha256sum | cut -c1-16)"
mv -f -- "$dir/pending.key.tmp" "$dir/pending-$id.key"
report preview-due reason "$reason" csr "$(cat "$dir/pending.csr.tmp")"
rm -f -- "$dir/pending.csr.tmp"
