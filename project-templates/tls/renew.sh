#!/usr/bin/env bash
# summary: Obtain or renew an environment's HTTPS certificate with certbot (HTTP-01 through the vhost's acme-challenge location) when there is none, its names changed, two thirds of its lifetime have passed, or FORCE; publish it for nginx (loaded per handshake: no reload, except to enable HTTPS the first time); record the outcome
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input DOMAIN [domain]: the production host name (www.DOMAIN is added when it resolves to this server)
# input DIRECTORY [text]: the ACME directory URL (the account's CA)
# input? CA_PEM [text]: a PEM the ACME client trusts to reach DIRECTORY (the lab's CA; empty: the system's)
# input FORCE [text]: yes (renew now) or no (only when due)
set -euo pipefail
# The ERR trap below also covers functions and command substitutions.
set -E
# A cut connection must not stop it half-way (a certificate obtained but
# not published): finish, whoever still listens.
trap '' HUP PIPE
[[ "$FORCE" == yes || "$FORCE" == no ]] || { echo "bad FORCE: $FORCE" >&2; exit 2; }
[[ "$DIRECTORY" =~ ^https://[A-Za-z0-9.:/_-]+$ && "$DIRECTORY" != *..* ]] || { echo "bad ACME directory: $DIRECTORY" >&2; exit 2; }
name="pond-${PROJECT}_$ENV"
state="/var/lib/pond/tls/${PROJECT}_$ENV"
webroot=/var/lib/pond/acme-challenge
live="/etc/letsencrypt/live/$name"
mkdir -p /var/lib/pond
# Everything below is root's: refuse a link or another owner anywhere.
for dir in /var/lib/pond "$webroot" /var/lib/pond/tls "$state"; do
    if [[ -L "$dir" || (-e "$dir" && "$(stat -c %U "$dir")" != root) ]]; then
        echo "$dir is a link or not root's; refusing to use it" >&2
        exit 3
    fi
done
install -d -o root -g root -m 0755 "$webroot"
install -d -o root -g root -m 0700 /var/lib/pond/tls "$state"
[[ ! -L "$state/lock" ]] || { echo "$state/lock is a link; refusing to follow it" >&2; exit 3; }
exec 8>"$state/lock"
flock -w 300 8 || { echo "another run for $name holds $state/lock" >&2; exit 75; }

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
sans() { # the DNS names of the live certificate, one per line
    openssl x509 -in "$live/cert.pem" -noout -ext subjectAltName 2>/dev/null | grep -o 'DNS:[^, ]*' | cut -c5- || true
}
names_domain() { sans | grep -qxF "$DOMAIN"; }
printable() { printf '%s' "$1" | tr -cd '[:print:]' | head -c 400 || true; }
record() { # file (last-run or last-failure), result, detail
    printf 'AT %s\nRESULT %s\nDETAIL %s\n' "$(now)" "$2" "$(printable "$3")" > "$state/$1.tmp"
    mv -f -- "$state/$1.tmp" "$state/$1"
}
# Any other failure on the way is recorded too: never a silent stop.
step="checking the certificate"
on_error() {
    record last-run failed "failed while $step"
    record last-failure failed "failed while $step"
    report tls-failed detail "failed while $step"
}
trap on_error ERR

# The names: the domain, and www.<domain> when it resolves to an address
# of this server (else validation for it would fail the whole order).
names=("$DOMAIN")
own=" $(hostname -I 2>/dev/null || true) "
for address in $(getent ahostsv4 "www.$DOMAIN" 2>/dev/null | awk '{ print $1 }' | sort -u || true); do
    if [[ "$own" == *" $address "* ]]; then names+=("www.$DOMAIN"); break; fi
done

# nginx serves the certificate: the first time, enable the vhosts
# common/site wrote for HTTPS — this environment's, for a certificate that
# names the domain — switching back if nginx rejects them; then a graceful
# reload, waiting for the old workers (so what this reports is what answers).
serve_https() {
    step="publishing the certificate for nginx"
    # The chain and key as one file nginx's workers load at each handshake
    # (common/site points the HTTPS vhosts at it): replaced by a rename, so
    # a renewal needs no reload.
    local certs=/etc/nginx/pond-certs bundle="${PROJECT}_$ENV.pem"
    if [[ -d "$certs" && ! -L "$certs" && -f "$live/fullchain.pem" && -f "$live/privkey.pem" ]] && names_domain; then
        # nginx checks it only at a handshake: it must parse and match its key.
        [[ "$(openssl x509 -in "$live/fullchain.pem" -noout -pubkey | sha256sum)" == "$(openssl pkey -in "$live/privkey.pem" -pubout | sha256sum)" ]]
        cat -- "$live/fullchain.pem" "$live/privkey.pem" > "$certs/$bundle.tmp"
        chown root:www-data "$certs/$bundle.tmp"
        chmod 0640 "$certs/$bundle.tmp"
        mv -f -- "$certs/$bundle.tmp" "$certs/$bundle"
    fi
    step="enabling the certificate in nginx"
    local site="/etc/nginx/sites-available/pond-$PROJECT-$ENV"
    local enabled="/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.conf"
    local switched=no
    if [[ -f "$site.https.conf" && ! -L "$site.https.conf" && "$(head -n 1 "$site.https.conf")" == "# Written by Pond for $PROJECT/$ENV;"* &&
        "$(readlink "$enabled" 2>/dev/null || true)" == "$site.conf" ]] && names_domain; then
        ln -sfn "$site.https.conf" "$enabled.tmp"
        mv -T "$enabled.tmp" "$enabled"
        if ! nginx -t -q; then
            ln -sfn "$site.conf" "$enabled.tmp"
            mv -T "$enabled.tmp" "$enabled"
            false # recorded by on_error: the domain stays on HTTP
        fi
        switched=yes
    fi
    [[ "$(readlink "$enabled" 2>/dev/null || true)" == "$site.https.conf" ]] || return 0
    # Served already: nginx loads the new file at the next handshake —
    # unless the vhosts predate that (they name certbot's files; `pond
    # provision` rewrites them), which only a reload updates.
    if [[ "$switched" == no ]]; then
        grep -q pond_per_handshake "$site.https.conf" && return 0
        [[ "$1" == renewed ]] || return 0
    fi
    step="reloading nginx"
    nginx -t -q
    local master old_workers="" remaining
    master="$(cat /run/nginx.pid 2>/dev/null || true)"
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
    [[ "$switched" == no ]] || echo "serving https://$DOMAIN"
}

due=no reason=""
if [[ "$FORCE" == yes ]]; then
    due=yes reason="asked for"
elif [[ ! -f "$live/cert.pem" || ! -f "$live/privkey.pem" ]]; then
    due=yes reason="no certificate yet"
elif ! start="$(date -d "$(openssl x509 -in "$live/cert.pem" -noout -startdate | cut -d= -f2)" +%s 2>/dev/null)" ||
    ! end="$(date -d "$(openssl x509 -in "$live/cert.pem" -noout -enddate | cut -d= -f2)" +%s 2>/dev/null)"; then
    due=yes reason="the certificate there cannot be read"
elif [[ -e "$state/directory" && "$(cat "$state/directory")" != "$DIRECTORY" ]]; then
    due=yes reason="the account's CA changed to $DIRECTORY"
else
    have="$(sans | sort | tr '\n' ' ')"
    want="$(printf '%s\n' "${names[@]}" | sort | tr '\n' ' ')"
    renew_at=$((start + (end - start) * 2 / 3))
    if [[ "$have" != "$want" ]]; then
        due=yes reason="its names change from ${have% } to ${want% }"
    elif (($(date +%s) >= renew_at)); then
        due=yes reason="two thirds of its lifetime have passed"
    fi
fi
if [[ "$due" == no ]]; then
    serve_https not-due
    trap - ERR
    record last-run not-due "renews after $(date -u -d "@$renew_at" +%Y-%m-%dT%H:%M:%SZ)"
    report tls-not-due names "${names[*]}" after "$(date -u -d "@$renew_at" +%Y-%m-%dT%H:%M:%SZ)"
    exit 0
fi

step="installing certbot"
if ! command -v certbot >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 certbot >/dev/null
fi
if [[ -n "$CA_PEM" ]]; then
    printf '%s\n' "$CA_PEM" > "$state/acme-ca.pem"
    export REQUESTS_CA_BUNDLE="$state/acme-ca.pem"
fi
domains=()
for n in "${names[@]}"; do domains+=(-d "$n"); done
echo "requesting a certificate for ${names[*]} ($reason)"
step="requesting the certificate"
log="$state/certbot.log"
# certbot allows one run per machine (other environments' included): queue.
# Pond's timer renews its certificates (--no-autorenew keeps certbot's own
# timer, which may renew the machine's other certificates, off them).
request() {
    flock -w 600 /var/lib/pond/tls/.certbot.lock \
        certbot certonly --non-interactive --agree-tos --register-unsafely-without-email \
        --server "$DIRECTORY" --webroot -w "$webroot" --cert-name "$name" --no-autorenew \
        --key-type ecdsa --force-renewal --no-eff-email "${domains[@]}" > "$log" 2>&1
}
ok=yes
request || ok=no
if [[ "$ok" == no ]] && grep -q accountDoesNotExist "$log"; then
    # The CA forgot the account (the lab's CA restarted): register anew.
    rm -rf -- "/etc/letsencrypt/accounts/${DIRECTORY#https://}"
    ok=yes
    request || ok=no
fi
if [[ "$ok" == no ]]; then
    trap - ERR
    detail="$(grep -E '^ *(Detail|Type):|Error|error:' "$log" | tail -n 4 | tr '\n' ' ' || true)"
    [[ -n "$detail" ]] || detail="$(tail -n 3 "$log" | tr '\n' ' ')"
    record last-run failed "$detail"
    record last-failure failed "$detail"
    tr -cd '[:print:]\n' < "$log" >&2
    report tls-failed detail "$(printable "$detail")"
    exit 1
fi
serve_https renewed
trap - ERR
printf '%s\n' "$DIRECTORY" > "$state/directory"
rm -f -- "$state/last-failure"
record last-run renewed "${names[*]}"
report tls-renewed names "${names[*]}"
