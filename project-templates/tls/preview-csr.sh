#!/usr/bin/env bash
# summary: The preview hosts' wildcard certificate on this server: report it and, when there is none, it does not name *.DOMAIN, two thirds of its lifetime have passed, or FORCE, make a new key (root-only, never leaving the server) and print its CSR for *.DOMAIN
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input DOMAIN [domain]: the production host name (the certificate is for *.DOMAIN)
# input FORCE [text]: yes (a new CSR whatever the certificate) or no (only when due)
set -euo pipefail
[[ "$FORCE" == yes || "$FORCE" == no ]] || { echo "bad FORCE: $FORCE" >&2; exit 2; }
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
if [[ -f "$dir/fullchain.pem" && -f "$dir/key.pem" ]]; then
    names="$(openssl x509 -in "$dir/fullchain.pem" -noout -ext subjectAltName 2>/dev/null | grep -o 'DNS:[^, ]*' | cut -c5- | paste -sd, || true)"
    if start="$(date -d "$(openssl x509 -in "$dir/fullchain.pem" -noout -startdate | cut -d= -f2)" +%s 2>/dev/null)" &&
        end="$(date -d "$(openssl x509 -in "$dir/fullchain.pem" -noout -enddate | cut -d= -f2)" +%s 2>/dev/null)"; then
        renew_at=$((start + (end - start) * 2 / 3))
        if [[ "$names" != "*.$DOMAIN" ]]; then
            reason="it names $names, not *.$DOMAIN"
        elif [[ "$FORCE" == yes ]]; then
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
    echo "PREVIEW-NOT-DUE $(date -u -d "@$renew_at" +%Y-%m-%dT%H:%M:%SZ)"
    exit 0
fi
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/pending.key.tmp" \
    -subj "/CN=*.$DOMAIN" -addext "subjectAltName=DNS:*.$DOMAIN" -out "$dir/pending.csr" 2>/dev/null
mv -f -- "$dir/pending.key.tmp" "$dir/pending.key"
echo "PREVIEW-DUE $reason"
sed 's/^/PREVIEW-CSR /' "$dir/pending.csr"
