#!/usr/bin/env bash
# summary: Make the environment's systemd units match what the live release declares (.pond/processes.list): one template unit per process (count instances, as the site user, in the live release, stopped by SIGTERM then killed after its stop timeout) and the every-minute schedule timer; new or changed units (re)start, removed ones stop and go
# input ROOT [text]: the environment's directory on the server
# input UNITS [text]: the prefix of the environment's unit names (pond-<project>_<env>)
# input SITE_USER [unix_user]: the environment's site user: processes run as it
# input DEPLOY_USER [unix_user]: the user owning the releases (the declarations are read as it)
set -euo pipefail
[[ "$UNITS" =~ ^pond-[a-z0-9-]+_[a-z0-9-]+$ ]] || { echo "bad unit prefix: $UNITS" >&2; exit 2; }
[[ "$ROOT" =~ ^/var/www/pond/projects/[a-z0-9-]+/[a-z0-9-]+$ ]] || { echo "bad environment directory: $ROOT" >&2; exit 2; }
cd "$ROOT"
[[ -L current ]] || { echo "$ROOT has no live colour yet" >&2; exit 3; }
live="$(readlink current)"
[[ "$live" == blue || "$live" == green ]] || { echo "current points at $live" >&2; exit 3; }
release="$(readlink "$live")"
[[ "$release" =~ ^releases/[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$ && -d "$release" && ! -L "$release" ]] ||
    { echo "$live points at $release, not a release" >&2; exit 3; }
unit_dir=/etc/systemd/system

# What the live release declares, read as its owner and checked line by line.
declared="$(runuser -u "$DEPLOY_USER" -- cat -- "$release/.pond/processes.list" 2>/dev/null || true)"
names=()
schedule=no
while read -r kind name count stop; do
    [[ -n "$kind" ]] || continue
    case "$kind" in
        process)
            if ! [[ "$name" =~ ^[a-z][a-z0-9-]{0,29}$ && "$count" =~ ^[0-9]{1,2}$ && "$stop" =~ ^[0-9]{1,4}$ ]] ||
                ((count < 1 || count > 16 || stop < 1 || stop > 3600)); then
                echo "bad process line in $release/.pond/processes.list: $kind $name $count $stop" >&2
                exit 3
            fi
            names+=("$name:$count:$stop") ;;
        schedule) schedule=yes ;;
        *) echo "bad line in $release/.pond/processes.list: $kind" >&2; exit 3 ;;
    esac
done <<< "$declared"

changed=()
write_unit() { # file, text: written only when it differs; remembers the change
    local file="$1" text="$2"
    if [[ ! -f "$file" || -L "$file" || "$(cat -- "$file")" != "$text" ]]; then
        rm -f -- "$file"
        printf '%s\n' "$text" > "$file.tmp"
        chmod 0644 "$file.tmp"
        mv -f -- "$file.tmp" "$file"
        changed+=("${file##*/}")
    fi
}
# Shared by every unit: the site user, in the live release (resolved when
# the unit starts), writing only the shared paths and tmp/.
sandbox="User=$SITE_USER
Group=$SITE_USER
WorkingDirectory=$ROOT/current
UMask=0007
StandardInput=null
NoNewPrivileges=yes
PrivateTmp=yes
ProtectHome=yes
ProtectSystem=strict
ReadWritePaths=-$ROOT/shared -$ROOT/tmp
Environment=POND_ENV_DIR=$ROOT"

keep=" "
for entry in "${names[@]}"; do
    IFS=: read -r name count stop <<< "$entry"
    unit="${UNITS}_proc_$name@.service"
    keep+="$unit "
    write_unit "$unit_dir/$unit" "# Written by Pond (common/processes) for $ROOT; pond.json's processes.
[Unit]
Description=Pond ${ROOT#/var/www/pond/projects/} process $name (%i)
After=network-online.target mariadb.service
StartLimitIntervalSec=60
StartLimitBurst=10

[Service]
Type=exec
$sandbox
ExecStart=/bin/bash -- .pond/process-$name.sh
Restart=always
RestartSec=2
KillSignal=SIGTERM
TimeoutStopSec=$stop
SyslogIdentifier=${UNITS}_$name

[Install]
WantedBy=multi-user.target"
done
if [[ "$schedule" == yes ]]; then
    keep+="${UNITS}_schedule.service ${UNITS}_schedule.timer "
    install -d -m 0755 /usr/local/lib/pond
    recorder="$(cat <<'RECORDER'
#!/bin/bash
# Written by Pond (common/processes): records one run of an environment's
# schedule (systemd passes its result) in its root-owned metadata/.
set -euo pipefail
[[ "$1" =~ ^/var/www/pond/projects/[a-z0-9-]+/[a-z0-9-]+$ ]] || exit 2
log="$1/metadata/schedule.log"
[[ -d "$1/metadata" && ! -L "$1/metadata" && ! -L "$log" ]] || exit 3
printf "%s %s %s %s\n" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${SERVICE_RESULT:-unknown}" "${EXIT_CODE:-unknown}" "${EXIT_STATUS:-unknown}" >> "$log"
if (($(wc -l < "$log") > 2000)); then
    tail -n 1440 "$log" > "$log.tmp" && mv -f "$log.tmp" "$log"
fi
RECORDER
)"
    write_unit /usr/local/lib/pond/record-schedule-run "$recorder"
    chmod 0755 /usr/local/lib/pond/record-schedule-run
    write_unit "$unit_dir/${UNITS}_schedule.service" "# Written by Pond (common/processes) for $ROOT; pond.json's schedule.
[Unit]
Description=Pond ${ROOT#/var/www/pond/projects/} schedule

[Service]
Type=oneshot
$sandbox
ExecStart=/bin/bash -- .pond/schedule.sh
ExecStopPost=+/usr/local/lib/pond/record-schedule-run $ROOT
TimeoutStartSec=3600
SyslogIdentifier=${UNITS}_schedule"
    write_unit "$unit_dir/${UNITS}_schedule.timer" "# Written by Pond (common/processes) for $ROOT; pond.json's schedule.
[Unit]
Description=Pond ${ROOT#/var/www/pond/projects/} schedule, every minute

[Timer]
OnCalendar=*-*-* *:*:00
AccuracySec=1s

[Install]
WantedBy=timers.target"
fi

# Units of this environment the live release no longer declares.
removed=()
for file in "$unit_dir/${UNITS}"_proc_*@.service "$unit_dir/${UNITS}"_schedule.service "$unit_dir/${UNITS}"_schedule.timer; do
    [[ -e "$file" || -L "$file" ]] || continue
    unit="${file##*/}"
    [[ "$keep" == *" $unit "* ]] && continue
    case "$unit" in
        *@.service)
            mapfile -t running < <(systemctl list-units --all --plain --no-legend "${unit%@.service}@*.service" | awk '{ print $1 }')
            ((${#running[@]} == 0)) || systemctl disable --now --quiet "${running[@]}" || true
            rm -f "$unit_dir/multi-user.target.wants/${unit%@.service}"@*.service ;;
        *) systemctl disable --now --quiet "$unit" 2>/dev/null || true ;;
    esac
    rm -f -- "$file"
    removed+=("$unit")
done
((${#changed[@]} + ${#removed[@]} == 0)) || systemctl daemon-reload

for entry in "${names[@]}"; do
    IFS=: read -r name count stop <<< "$entry"
    unit="${UNITS}_proc_$name@.service"
    for ((i = 1; i <= 16; i++)); do
        instance="${UNITS}_proc_$name@$i.service"
        if ((i <= count)); then
            systemctl enable --quiet "$instance"
            if [[ " ${changed[*]} " == *" $unit "* ]]; then
                systemctl restart --no-block "$instance"
            else
                systemctl start --no-block "$instance"
            fi
        elif systemctl is-enabled --quiet "$instance" 2>/dev/null || systemctl is-active --quiet "$instance"; then
            systemctl disable --now --quiet "$instance"
        fi
    done
    echo "process $name: $count running from the live release"
done
if [[ "$schedule" == yes ]]; then
    systemctl enable --now --quiet "${UNITS}_schedule.timer"
    echo "schedule: every minute from the live release"
fi
((${#removed[@]} == 0)) || echo "removed: ${removed[*]}"
echo "processes: ${#names[@]}; schedule: $schedule"
