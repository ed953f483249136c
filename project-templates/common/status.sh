#!/usr/bin/env bash
# summary: Report an environment's state in one round trip: state.json, links, last log line, services, disk
# input ROOT [text]: the environment's directory on the server
# input? SITE_USER [unix_user]: the environment's site user (its PHP-FPM pool is named after it; empty: PHP-FPM is not reported)
# input? PROJECT [project_name]: the project (its block of team keys is reported; empty: not reported)
# input? RECORD [text]: the environment's provisioning record (common/record); empty: not compared
# input? UNITS [text]: the prefix of the environment's unit names (pond-<project>_<env>); its processes, schedule and backups are reported
# input? DEPLOY_USER [unix_user]: the environment's deploy user (the live release's declared processes are read as it)
set -euo pipefail
report live target "$(readlink "$ROOT/current" 2>/dev/null || echo -)"
for colour in blue green; do
    report link colour "$colour" target "$(readlink "$ROOT/$colour" 2>/dev/null || echo -)"
done
# Only names Pond makes.
if [[ -d "$ROOT/releases" && ! -L "$ROOT/releases" ]]; then
    report releases ids "$(find "$ROOT/releases" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' ! -name '00000000T000000Z-empty' -printf '%f\n' | grep -xE '[0-9A-Za-z._-]+' | tr '\n' ' ' || true)"
fi
# Read only regular files, not links, and at most 64 KiB of each.
regular() { [[ -f "$1" && ! -L "$1" && ! -L "$(dirname "$1")" ]]; }
if regular "$ROOT/metadata/state.json"; then
    report state json "$(head -c 65536 "$ROOT/metadata/state.json")"
fi
if regular "$ROOT/metadata/log.jsonl"; then
    report last-log json "$(tail -c 65536 "$ROOT/metadata/log.jsonl" | tail -n 1)"
fi
units() { # installed unit files matching a pattern, one name per line (none is not an error)
    systemctl list-unit-files --no-legend "$1" 2>/dev/null | awk '{ print $1 }' || true
}
service_state() { # shown name, systemd unit; silent when the unit is not installed
    [[ -n "$(units "$2.service")" ]] || return 0
    if systemctl is-active --quiet "$2"; then report service name "$1" running yes; else report service name "$1" running no; fi
}
service_state nginx nginx
# PHP-FPM as this environment uses it: the version with its pool, running,
# with the pool's socket there (another environment's pool is not its).
pond_pool=""
[[ -z "$SITE_USER" ]] || pond_pool="$(compgen -G "/etc/php/*/fpm/pool.d/$SITE_USER.conf" | head -n 1 || true)"
if [[ -n "$pond_pool" ]]; then
    php_version="${pond_pool#/etc/php/}"
    php_version="${php_version%%/*}"
    if systemctl is-active --quiet "php$php_version-fpm" && [[ -S "/run/php/$SITE_USER.sock" ]]; then
        report service name php-fpm running yes
    else
        report service name php-fpm running no
    fi
fi
service_state mariadb mariadb

# The keys in this project's block of authorized_keys (their blobs only),
# and how many keys lie outside every project's block.
if [[ -n "$PROJECT" && -f "$HOME/.ssh/authorized_keys" && ! -L "$HOME/.ssh/authorized_keys" ]]; then
    # An older Pond's unnamed block is this project's only while no other
    # project lives here (common/access takes it over under the same rule).
    legacy=no
    [[ -z "$(find /var/www/pond/projects -mindepth 1 -maxdepth 1 ! -name "$PROJECT" -print -quit 2>/dev/null)" ]] && legacy=yes
    report access-keys blobs "$(awk -v mine="# BEGIN Pond-managed keys of $PROJECT (" -v mine_end="# END Pond-managed keys of $PROJECT" -v legacy="$legacy" '
        index($0, mine) == 1 || (legacy == "yes" && index($0, "# BEGIN Pond-managed keys (") == 1) { ours = 1; next }
        ours && ($0 == mine_end || $0 == "# END Pond-managed keys") { ours = 0; next }
        ours && NF >= 2 && $2 ~ /^[A-Za-z0-9+\/=]+$/ { printf "%s ", $2 }' "$HOME/.ssh/authorized_keys")"
    report access-outside count "$(awk 'index($0, "# BEGIN Pond-managed keys") == 1 { inside = 1; next }
        inside { if (index($0, "# END Pond-managed keys") == 1) inside = 0; next }
        NF >= 2 && $1 !~ /^#/ { n++ } END { print n + 0 }' "$HOME/.ssh/authorized_keys")"
fi

# Every environment this server hosts: its directory, or the record
# provisioning left (a database server has only that). Names Pond makes only.
report hosted envs "$({
    find /var/www/pond/projects -mindepth 2 -maxdepth 2 -type d -printf '%P\n' 2>/dev/null || true
    find /etc/pond/provisioned -mindepth 1 -maxdepth 1 -type f -printf '%f\n' 2>/dev/null | tr '_' '/' || true
} | grep -xE '[a-z0-9-]+/[a-z0-9-]+' | sort -u | tr '\n' ' ' || true)"

# What provisioning recorded (common/record), compared with what is there.
if [[ -n "$RECORD" ]]; then
    if regular "$RECORD" && [[ -r "$RECORD" ]]; then
        report provisioned digest "$(awk '$1 == "DIGEST" { print $2 }' "$RECORD")" at "$(awk '$1 == "AT" { print $2 }' "$RECORD")"
        while read -r kind first second; do
            case "$kind" in
                FILE)
                    if [[ ! -f "$second" || -L "$second" ]]; then
                        report drift what "$second is missing"
                    elif [[ "$(sha256sum < "$second" | cut -d' ' -f1)" != "$first" ]]; then
                        report drift what "$second was changed since it was provisioned"
                    fi ;;
                LINK) [[ "$(readlink "$second" 2>/dev/null || true)" == "$first" ]] || report drift what "$second no longer links to $first" ;;
                VHOSTLINK)
                    target="$(readlink "$second" 2>/dev/null || true)"
                    [[ "$target" == "$first" || "$target" == "${first%.conf}.https.conf" ]] ||
                        report drift what "$second no longer links to $first (or its HTTPS twin)" ;;
                USER) id -u "$first" >/dev/null 2>&1 || report drift what "user $first is missing" ;;
                PACKAGE)
                    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$first" 2>/dev/null || true)" == installed ]] ||
                        report drift what "package $first is not installed" ;;
            esac
        done < "$RECORD"
        if grep -q '^FILE [0-9a-f]* /etc/nftables.conf$' "$RECORD" && ! nft list chain inet filter input >/dev/null 2>&1; then
            report drift what "the firewall's rules are not loaded"
        fi
    else
        report provisioned digest "" at ""
    fi
fi

# The environment's processes (common/processes): each instance's state,
# its sub-state, since when (unix time), restarts and the release it runs; the schedule's
# timer and its last recorded run.
if [[ "$UNITS" =~ ^pond-[a-z0-9-]+_[a-z0-9-]+$ ]]; then
    while read -r unit _; do
        [[ "$unit" =~ ^${UNITS}_proc_([a-z][a-z0-9-]*)@([0-9]+)\.service$ ]] || continue
        name="${BASH_REMATCH[1]}"
        instance="${BASH_REMATCH[2]}"
        state=unknown sub=unknown since=0 restarts=0 pid=0
        while IFS='=' read -r key value; do
            case "$key" in
                ActiveState) [[ "$value" =~ ^[a-z-]+$ ]] && state="$value" ;;
                SubState) [[ "$value" =~ ^[a-z-]+$ ]] && sub="$value" ;;
                ActiveEnterTimestamp) [[ "${value#@}" =~ ^[0-9]+$ ]] && since="${value#@}" ;;
                NRestarts) [[ "$value" =~ ^[0-9]+$ ]] && restarts="$value" ;;
                MainPID) [[ "$value" =~ ^[0-9]+$ ]] && pid="$value" ;;
            esac
        done < <(systemctl show "$unit" --timestamp=unix -p ActiveState -p SubState -p ActiveEnterTimestamp -p NRestarts -p MainPID 2>/dev/null || true)
        release=""
        if [[ "$pid" =~ ^[1-9][0-9]*$ ]]; then
            cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null || true)"
            [[ "$cwd" == "$ROOT/releases/"* ]] && release="${cwd#"$ROOT/releases/"}"
            [[ "$release" =~ ^[0-9A-Za-z._-]+$ ]] || release=""
        fi
        report process name "$name" instance "$instance" state "$state" sub_state "$sub" since "$since" restarts "$restarts" release "$release"
    done < <(systemctl list-units --all --plain --no-legend "${UNITS}_proc_*@*.service" 2>/dev/null || true)
    # What the live release declares (read as its owner), so a copy that
    # never started shows too.
    if [[ -n "$DEPLOY_USER" && -L "$ROOT/current" ]] && id -u "$DEPLOY_USER" >/dev/null 2>&1; then
        while read -r name count; do
            report declared name "$name" count "$count"
        done < <(runuser -u "$DEPLOY_USER" -- cat -- "$ROOT/current/.pond/processes.list" 2>/dev/null |
            awk '$1 == "process" && $2 ~ /^[a-z][a-z0-9-]*$/ && $3 ~ /^[0-9]+$/ && length($3) <= 4 { print $2, $3 }' || true)
    fi
    if [[ -f "/etc/systemd/system/${UNITS}_schedule.timer" ]]; then
        timer=no
        systemctl is-active --quiet "${UNITS}_schedule.timer" && timer=yes
        at="" result="" code="" status=""
        if regular "$ROOT/metadata/schedule.log"; then
            read -r at result code status < <(tail -n 1 "$ROOT/metadata/schedule.log" | grep -xE '[0-9TZ:-]+ [a-z-]+ [a-z]+ [0-9A-Za-z]+') || true
        fi
        report schedule running "$timer" at "$at" result "$result" code "$code" status "$status"
    fi
    # The last backup run here (common/backup), and the backups' timer.
    backups="/var/lib/pond/backups/${UNITS#pond-}"
    if regular "$backups/last-run"; then
        report backup-run at "$(awk '$1 == "AT" { print $2 }' "$backups/last-run" | tr -cd '0-9TZ:-')" \
            result "$(awk '$1 == "RESULT" { print $2 }' "$backups/last-run" | tr -cd '[:lower:]')" \
            detail "$(sed -n 's/^DETAIL //p' "$backups/last-run" | tr -cd '[:print:]' | head -c 300)"
    fi
    if [[ -f "/etc/systemd/system/${UNITS}_backup.timer" ]]; then
        every="$(sed -n 's/^OnCalendar=//p' "/etc/systemd/system/${UNITS}_backup.timer" | tr -cd '[:lower:]')"
        running=no
        systemctl is-active --quiet "${UNITS}_backup.timer" && running=yes
        report backup-timer running "$running" every "$every"
    fi
fi

# The environment's certificate (tls/renew): validity (unix time), names,
# issuer; whether nginx serves it; the renewal timer; the last run and the
# last failure not followed by a success.
if [[ "$UNITS" =~ ^pond-[a-z0-9-]+_[a-z0-9-]+$ ]]; then
    cert="/etc/letsencrypt/live/$UNITS/cert.pem"
    if [[ -f "$cert" ]]; then
        from="$(date -d "$(openssl x509 -in "$cert" -noout -startdate | cut -d= -f2)" +%s 2>/dev/null || echo 0)"
        to="$(date -d "$(openssl x509 -in "$cert" -noout -enddate | cut -d= -f2)" +%s 2>/dev/null || echo 0)"
        names="$(openssl x509 -in "$cert" -noout -ext subjectAltName 2>/dev/null | grep -o 'DNS:[^, ]*' | cut -c5- | grep -xE '[A-Za-z0-9.*-]+' | paste -sd, || true)"
        issuer="$(openssl x509 -in "$cert" -noout -issuer -nameopt multiline 2>/dev/null | sed -n 's/^ *commonName *= *//p' | tr -cd '[:print:]' | head -c 120 || true)"
        report tls-cert from "$from" to "$to" names "$names" issuer "$issuer"
    fi
    # Served over HTTPS: the enabled vhost is this environment's HTTPS twin
    # (another environment may share the file name; its header says whose).
    if [[ -n "$PROJECT" ]]; then
        env_name="${UNITS#pond-"${PROJECT}"_}"
        vhost="/etc/nginx/sites-enabled/pond-$PROJECT-$env_name.conf"
        if [[ -L "$vhost" ]]; then
            target="$(readlink "$vhost")"
            if [[ "$target" == *.https.conf && "$(head -n 1 "$target" 2>/dev/null)" == "# Written by Pond for $PROJECT/$env_name;"* ]]; then
                report tls-serving serving yes
            else
                report tls-serving serving no
            fi
        fi
    fi
    if [[ -f "/etc/systemd/system/${UNITS}_tls.timer" ]]; then
        if systemctl is-active --quiet "${UNITS}_tls.timer"; then report tls-timer running yes; else report tls-timer running no; fi
    fi
    tls_state="/var/lib/pond/tls/${UNITS#pond-}"
    preview_cert="$tls_state/previews/fullchain.pem"
    if regular "$preview_cert"; then
        from="$(date -d "$(openssl x509 -in "$preview_cert" -noout -startdate | cut -d= -f2)" +%s 2>/dev/null || echo 0)"
        to="$(date -d "$(openssl x509 -in "$preview_cert" -noout -enddate | cut -d= -f2)" +%s 2>/dev/null || echo 0)"
        names="$(openssl x509 -in "$preview_cert" -noout -ext subjectAltName 2>/dev/null | grep -o 'DNS:[^, ]*' | cut -c5- | grep -xE '[A-Za-z0-9.*-]+' | paste -sd, || true)"
        issuer="$(openssl x509 -in "$preview_cert" -noout -issuer -nameopt multiline 2>/dev/null | sed -n 's/^ *commonName *= *//p' | tr -cd '[:print:]' | head -c 120 || true)"
        serving=no
        [[ -n "$PROJECT" && -L "/etc/nginx/sites-enabled/pond-$PROJECT-${UNITS#pond-"${PROJECT}"_}.previews.conf" ]] && serving=yes
        report tls-preview serving "$serving" from "$from" to "$to" names "$names" issuer "$issuer"
    fi
    for kind in run failure; do
        file="$tls_state/last-$kind"
        regular "$file" || continue
        report "tls-$kind" at "$(awk '$1 == "AT" { print $2 }' "$file" | tr -cd '0-9TZ:-')" \
            result "$(awk '$1 == "RESULT" { print $2 }' "$file" | tr -cd '[:lower:]-')" \
            detail "$(sed -n 's/^DETAIL //p' "$file" | tr -cd '[:print:]' | head -c 400)"
    done
fi

# Bytes free and total of the root file system (printf: no exponent notation).
read -r free total < <(df -P / | awk 'NR == 2 { printf "%.0f %.0f\n", $4 * 1024, $2 * 1024 }')
report disk free "$free" total "$total"
