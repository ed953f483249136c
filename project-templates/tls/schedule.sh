#!/usr/bin/env bash
# summary: Install (or remove) an environment's certificate renewal on this server: the rendered tls/renew script as a root-only file, run twice a day by a systemd timer (Persistent, randomized); removing also deletes the certificates (the domain's and the previews')
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input? SCRIPT [text]: the rendered tls/renew script (FORCE no) the timer runs (empty: no HTTPS; the timer and the certificate are removed)
set -euo pipefail
units="pond-${PROJECT}_$ENV"
script="/usr/local/lib/pond/tls-renew-${PROJECT}_$ENV"
service="/etc/systemd/system/${units}_tls.service"
timer="/etc/systemd/system/${units}_tls.timer"
state="/var/lib/pond/tls/${PROJECT}_$ENV"
if [[ -z "$SCRIPT" ]]; then
    # Not under a renewal that runs now (the timer's, or `pond tls`).
    systemctl stop "${units}_tls.service" 2>/dev/null || true
    if [[ -d "$state" && ! -L "$state" && ! -L "$state/lock" ]]; then
        exec 8>"$state/lock"
        flock -w 300 8 || { echo "a renewal holds $state/lock; try again" >&2; exit 75; }
    fi
    if [[ -e "$timer" || -e "$service" || -e "$script" ]]; then
        systemctl disable --now --quiet "${units}_tls.timer" 2>/dev/null || true
        rm -f -- "$timer" "$service" "$script"
        systemctl daemon-reload
        echo "certificate renewal removed"
    fi
    # nginx must stop using the certificate before it goes: back to the
    # HTTP vhosts (common/site's, when this environment's), checked, reloaded.
    site="/etc/nginx/sites-available/pond-$PROJECT-$ENV"
    enabled="/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.conf"
    reload=no
    if [[ -L "/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.previews.conf" ]]; then
        rm -f -- "/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.previews.conf"
        reload=yes
    fi
    if [[ "$(readlink "$enabled" 2>/dev/null || true)" == "$site.https.conf" ]]; then
        reload=yes
        if [[ -f "$site.conf" && ! -L "$site.conf" && "$(head -n 1 "$site.conf")" == "# Written by Pond for $PROJECT/$ENV;"* ]]; then
            ln -sfn "$site.conf" "$enabled.tmp"
            mv -T "$enabled.tmp" "$enabled"
        else
            rm -f -- "$enabled"
        fi
    fi
    if [[ "$reload" == yes ]]; then
        nginx -t -q
        systemctl reload nginx
    fi
    if [[ -d "/etc/letsencrypt/live/$units" ]] && command -v certbot >/dev/null; then
        flock -w 600 /var/lib/pond/tls/.certbot.lock certbot delete --non-interactive --cert-name "$units" >/dev/null ||
            { echo "certbot could not delete the certificate $units; run this again" >&2; exit 1; }
        echo "certificate $units deleted"
    fi
    rm -rf -- "$state"
    rm -f -- "/etc/nginx/pond-certs/${PROJECT}_$ENV.pem" "/etc/nginx/pond-certs/${PROJECT}_$ENV.previews.pem"
    exit 0
fi
install -d -o root -g root -m 0755 /usr/local/lib/pond
changed=no
write() { # file, mode, text: only when it differs
    if [[ ! -f "$1" || -L "$1" || "$(cat -- "$1")" != "$3" ]]; then
        local tmp="$1.tmp.$$"
        printf '%s\n' "$3" > "$tmp"
        chmod "$2" "$tmp"
        mv -f -- "$tmp" "$1"
        changed=yes
    fi
}
write "$script" 0700 "$SCRIPT"
write "$service" 0644 "# Written by Pond (tls/schedule) for $PROJECT/$ENV; pond.json's https.
[Unit]
Description=Pond $PROJECT/$ENV certificate renewal
After=network-online.target nginx.service
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=/bin/bash $script
TimeoutStartSec=15min"
write "$timer" 0644 "# Written by Pond (tls/schedule) for $PROJECT/$ENV; pond.json's https.
[Unit]
Description=Pond $PROJECT/$ENV certificate renewal, twice a day

[Timer]
OnCalendar=*-*-* 00/12:00:00
Persistent=true
RandomizedDelaySec=1h

[Install]
WantedBy=timers.target"
[[ "$changed" == no ]] || systemctl daemon-reload
systemctl enable --now --quiet "${units}_tls.timer"
echo "certificate renewal: twice a day on this server"
