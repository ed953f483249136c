#!/usr/bin/env bash
# summary: Install (or remove) an environment's scheduled backups on this server: the rendered common/backup script as a root-only file, run by a systemd timer (Persistent, so a missed run happens at boot), keeping the newest scheduled ones
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input? SCHEDULE [text]: hourly, daily or weekly (empty: no scheduled backups; any installed are removed)
# input? SCRIPT [text]: the rendered common/backup script (ACTION scheduled) the timer runs
set -euo pipefail
units="pond-${PROJECT}_$ENV"
script="/usr/local/lib/pond/backup-${PROJECT}_$ENV"
service="/etc/systemd/system/${units}_backup.service"
timer="/etc/systemd/system/${units}_backup.timer"
if [[ -z "$SCHEDULE" ]]; then
    if [[ -e "$timer" || -e "$service" || -e "$script" ]]; then
        systemctl disable --now --quiet "${units}_backup.timer" 2>/dev/null || true
        rm -f -- "$timer" "$service" "$script"
        systemctl daemon-reload
        echo "scheduled backups removed"
    fi
    exit 0
fi
[[ "$SCHEDULE" == hourly || "$SCHEDULE" == daily || "$SCHEDULE" == weekly ]] || { echo "bad schedule: $SCHEDULE" >&2; exit 2; }
[[ -n "$SCRIPT" ]] || { echo "no backup script given" >&2; exit 2; }
install -d -o root -g root -m 0755 /usr/local/lib/pond
changed=no
write() { # file, mode, text: only when it differs
    if [[ ! -f "$1" || -L "$1" || "$(cat -- "$1")" != "$3" ]]; then
        rm -f -- "$1"
        printf '%s\n' "$3" > "$1.tmp"
        chmod "$2" "$1.tmp"
        mv -f -- "$1.tmp" "$1"
        changed=yes
    fi
}
write "$script" 0700 "$SCRIPT"
write "$service" 0644 "# Written by Pond (common/backup-schedule) for $PROJECT/$ENV; pond.json's backups.
[Unit]
Description=Pond $PROJECT/$ENV scheduled backup
After=mariadb.service

[Service]
Type=oneshot
ExecStart=/bin/bash $script
TimeoutStartSec=6h
Nice=10
IOSchedulingClass=idle"
write "$timer" 0644 "# Written by Pond (common/backup-schedule) for $PROJECT/$ENV; pond.json's backups.
[Unit]
Description=Pond $PROJECT/$ENV backups, $SCHEDULE

[Timer]
OnCalendar=$SCHEDULE
Persistent=true
RandomizedDelaySec=10min

[Install]
WantedBy=timers.target"
[[ "$changed" == no ]] || systemctl daemon-reload
systemctl enable --now --quiet "${units}_backup.timer"
echo "backups: $SCHEDULE on this server"
