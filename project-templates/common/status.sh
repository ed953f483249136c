#!/usr/bin/env bash
# summary: Report an environment's state in one round trip: state.json, links, last log line, services, disk
# input ROOT [text]: the environment's directory on the server
# input? SITE_USER [unix_user]: the environment's site user (its PHP-FPM pool is named after it; empty: PHP-FPM is not reported)
# input? PROJECT [project_name]: the project (its block of team keys is reported; empty: not reported)
# input? RECORD [text]: the environment's provisioning record (common/record); empty: not compared
# input? UNITS [text]: the prefix of the environment's unit names (pond-<project>_<env>); its processes, schedule and backups are reported
# input? DEPLOY_USER [unix_user]: the environment's deploy user (the live release's declared processes are read as it)
set -euo pipefail
# `pond status` asks every server of every environment at once, so this
# script forks only where a command does what bash cannot: one systemctl
# for the services' and timers' states (and two more where the
# environment has processes), one sha256sum, one dpkg-query, one openssl
# per certificate (each a few ms of a small droplet's CPU, twenty servers
# at a time on a laptop's lab).

# The links, read at once (a name that is not a link reads as -).
declare -A link=()
while IFS=$'\t' read -r name to; do
    link[$name]="$to"
done < <(cd "$ROOT" 2>/dev/null || exit 0; find current blue green -maxdepth 0 -type l -printf '%p\t%l\n' 2>/dev/null || true)
report live target "${link[current]:--}"
for colour in blue green; do
    report link colour "$colour" target "${link[$colour]:--}"
done
# Only names Pond makes; directories, not links.
shopt -s nullglob
if [[ -d "$ROOT/releases" && ! -L "$ROOT/releases" ]]; then
    ids=""
    for dir in "$ROOT"/releases/[0-9]*; do
        name="${dir##*/}"
        if [[ -d "$dir" && ! -L "$dir" && "$name" != 00000000T000000Z-empty && "$name" =~ ^[0-9A-Za-z._-]+$ ]]; then
            ids+="$name "
        fi
    done
    report releases ids "$ids"
fi
# Read only regular files, not links, and at most 64 KiB of each.
regular() { [[ -f "$1" && ! -L "$1" && ! -L "${1%/*}" ]]; }
first_64k() { # file: its first 64 KiB, in $text (read by bash itself)
    text=""
    IFS= read -r -d '' -N 65536 text < "$1" || true
}
if regular "$ROOT/metadata/state.json"; then
    first_64k "$ROOT/metadata/state.json"
    report state json "$text"
fi
if regular "$ROOT/metadata/log.jsonl"; then
    report last-log json "$(tail -c 65536 "$ROOT/metadata/log.jsonl" | tail -n 1)"
fi
# Users from /etc/passwd without a fork (id for users that live elsewhere).
declare -A primary_gid=()
while IFS=: read -r name _ _ gid _; do
    [[ -z "$name" ]] || primary_gid[$name]="$gid"
done < /etc/passwd
is_user() { [[ -n "$1" ]] && { [[ -n "${primary_gid[$1]+set}" ]] || id -u "$1" >/dev/null 2>&1; }; }

# The state of the services and timers this reports on, asked once:
# loaded (installed) and active (what is-active counts as active).
pools=()
[[ -z "$SITE_USER" ]] || pools=(/etc/php/*/fpm/pool.d/"$SITE_USER".conf)
php_unit=""
if ((${#pools[@]})); then
    php_version="${pools[0]#/etc/php/}"
    php_unit="php${php_version%%/*}-fpm.service"
fi
asked=(nginx.service mariadb.service)
[[ -z "$php_unit" ]] || asked+=("$php_unit")
if [[ "$UNITS" =~ ^pond-[a-z0-9-]+_[a-z0-9-]+$ ]]; then
    asked+=("${UNITS}_schedule.timer" "${UNITS}_backup.timer" "${UNITS}_tls.timer")
fi
declare -A loaded=() active=()
unit="" load="" state=""
while IFS='=' read -r key value; do
    case "$key" in
        Id) unit="$value" ;;
        LoadState) load="$value" ;;
        ActiveState) state="$value" ;;
        "")
            if [[ -n "$unit" ]]; then
                [[ "$load" == not-found ]] || loaded[$unit]=yes
                [[ "$state" != active && "$state" != reloading && "$state" != refreshing ]] || active[$unit]=yes
            fi
            unit="" load="" state=""
            ;;
    esac
done < <(systemctl show -p Id -p LoadState -p ActiveState -- "${asked[@]}" 2>/dev/null || true; echo)
running() { # unit: yes or no, in $run
    run=no
    [[ -z "${active[$1]:-}" ]] || run=yes
}
service_state() { # shown name, systemd unit; silent when the unit is not installed
    [[ -n "${loaded[$2.service]:-}" ]] || return 0
    running "$2.service"
    report service name "$1" running "$run"
}
service_state nginx nginx
# PHP-FPM as this environment uses it: the version with its pool, running,
# with the pool's socket there (another environment's pool is not its).
if [[ -n "$php_unit" ]]; then
    if [[ -n "${active[$php_unit]:-}" && -S "/run/php/$SITE_USER.sock" ]]; then
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
    legacy=yes
    shopt -s dotglob
    for dir in /var/www/pond/projects/*; do
        [[ "${dir##*/}" == "$PROJECT" ]] || legacy=no
    done
    shopt -u dotglob
    # Both in one pass: this block's blobs, then the count outside all.
    blobs="" outside=""
    { IFS= read -r blobs && read -r outside; } < <(awk -v mine="# BEGIN Pond-managed keys of $PROJECT (" -v mine_end="# END Pond-managed keys of $PROJECT" -v legacy="$legacy" '
        { edge = 0 }
        index($0, mine) == 1 || (legacy == "yes" && index($0, "# BEGIN Pond-managed keys (") == 1) { ours = 1; edge = 1 }
        !edge && ours && ($0 == mine_end || $0 == "# END Pond-managed keys") { ours = 0; edge = 1 }
        !edge && ours && NF >= 2 && $2 ~ /^[A-Za-z0-9+\/=]+$/ { blobs = blobs $2 " " }
        index($0, "# BEGIN Pond-managed keys") == 1 { inside = 1; next }
        inside { if (index($0, "# END Pond-managed keys") == 1) inside = 0; next }
        NF >= 2 && $1 !~ /^#/ { n++ }
        END { print blobs; print n + 0 }' "$HOME/.ssh/authorized_keys") || true
    report access-keys blobs "$blobs"
    report access-outside count "$outside"
fi

# Every environment this server hosts: its directory, or the record
# provisioning left (a database server has only that). Names Pond makes only.
declare -A hosted=()
for dir in /var/www/pond/projects/*/*; do
    [[ -d "$dir" && ! -L "$dir" && ! -L "${dir%/*}" ]] && hosted["${dir#/var/www/pond/projects/}"]=1
done
for file in /etc/pond/provisioned/*; do
    [[ -f "$file" && ! -L "$file" ]] && hosted["${file##*/}"]=1
done
envs=""
for name in "${!hosted[@]}"; do
    name="${name/_//}"
    [[ ! "$name" =~ ^[a-z0-9-]+/[a-z0-9-]+$ || "$envs" == *" $name "* ]] || envs+=" $name "
done
report hosted envs "$envs"

# What provisioning recorded (common/record), compared with what is there:
# read once for the commands that check many things at a time, then each
# line in its order.
drift() {
    local kind first second digest="" at="" files=() links=() packages=() nft=no
    local -A sha=() target=() package_state=()
    while read -r kind first second; do
        case "$kind" in
            DIGEST) [[ -n "$digest" ]] || digest="$first" ;;
            AT) [[ -n "$at" ]] || at="$first" ;;
            FILE)
                [[ ! -f "$second" || -L "$second" ]] || files+=("$second")
                [[ "$second" != /etc/nftables.conf ]] || nft=yes
                ;;
            LINK | VHOSTLINK) [[ -z "$second" ]] || links+=("$second") ;;
            PACKAGE) [[ -z "$first" ]] || packages+=("$first") ;;
        esac
    done < "$RECORD"
    report provisioned digest "$digest" at "$at"
    local hash path state
    if ((${#files[@]})); then
        while read -r hash path; do
            sha[${path#\*}]="$hash"
        done < <(sha256sum -- "${files[@]}" 2>/dev/null || true)
    fi
    if ((${#links[@]})); then
        while IFS=$'\t' read -r path to; do
            target[$path]="$to"
        done < <(find "${links[@]}" -maxdepth 0 -type l -printf '%p\t%l\n' 2>/dev/null || true)
    fi
    if ((${#packages[@]})); then
        while IFS=$'\t' read -r path state; do
            package_state[$path]="$state"
        done < <(dpkg-query -W -f='${Package}\t${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)
    fi
    local now
    while read -r kind first second; do
        now=""
        case "$kind" in
            LINK | VHOSTLINK) [[ -z "$second" ]] || now="${target[$second]:-}" ;;
            PACKAGE) [[ -z "$first" ]] || now="${package_state[$first]:-}" ;;
        esac
        case "$kind" in
            FILE)
                if [[ ! -f "$second" || -L "$second" ]]; then
                    report drift what "$second is missing"
                elif [[ "${sha[$second]:-}" != "$first" ]]; then
                    report drift what "$second was changed since it was provisioned"
                fi ;;
            LINK) [[ "$now" == "$first" ]] || report drift what "$second no longer links to $first" ;;
            VHOSTLINK)
                [[ "$now" == "$first" || "$now" == "${first%.conf}.https.conf" ]] ||
                    report drift what "$second no longer links to $first (or its HTTPS twin)" ;;
            USER) is_user "$first" || report drift what "user $first is missing" ;;
            PACKAGE)
                [[ "$now" == installed ]] ||
                    report drift what "package $first is not installed" ;;
        esac
    done < "$RECORD"
    if [[ "$nft" == yes ]] && ! nft list chain inet filter input >/dev/null 2>&1; then
        report drift what "the firewall's rules are not loaded"
    fi
}
if [[ -n "$RECORD" ]]; then
    if regular "$RECORD" && [[ -r "$RECORD" ]]; then
        drift
    else
        report provisioned digest "" at ""
    fi
fi

# A last run's record (NAME VALUE lines, the first of each name counts;
# nothing if it went meanwhile), reported as KIND: its time, its result
# without the characters the pattern matches, its detail printable and
# cut to a length.
last_run() { # kind, file, pattern of result characters to drop, detail's length
    local name value at result detail
    local -A field=()
    { while read -r name value; do
        [[ -z "$name" || -n "${field[$name]+set}" ]] || field[$name]="$value"
    done; } 2>/dev/null < "$2" || true
    at="${field[AT]:-}"
    result="${field[RESULT]:-}"
    detail="${field[DETAIL]:-}"
    detail="${detail//[^[:print:]]/}"
    report "$1" at "${at//[^0-9TZ:-]/}" result "${result//$3/}" detail "${detail:0:$4}"
}

# The environment's processes (common/processes): each instance's state,
# its sub-state, since when (unix time), restarts and the release it runs; the schedule's
# timer and its last recorded run.
if [[ "$UNITS" =~ ^pond-[a-z0-9-]+_[a-z0-9-]+$ ]]; then
    # (Asked only where common/processes installed a process's unit: the
    # instances of a process it has removed are stopped first.)
    instances=()
    templates=(/etc/systemd/system/"${UNITS}"_proc_*@.service)
    if ((${#templates[@]})); then
        while read -r unit _; do
            [[ "$unit" =~ ^${UNITS}_proc_([a-z][a-z0-9-]*)@([0-9]+)\.service$ ]] && instances+=("$unit")
        done < <(systemctl list-units --all --plain --no-legend "${UNITS}_proc_*@*.service" 2>/dev/null || true)
    fi
    process_report() { # unit: its report, from the properties read
        [[ "$1" =~ ^${UNITS}_proc_([a-z][a-z0-9-]*)@([0-9]+)\.service$ ]] || return 0
        local name="${BASH_REMATCH[1]}" instance="${BASH_REMATCH[2]}" release="" cwd
        if [[ "$pid" =~ ^[1-9][0-9]*$ ]]; then
            cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null || true)"
            [[ "$cwd" == "$ROOT/releases/"* ]] && release="${cwd#"$ROOT/releases/"}"
            [[ "$release" =~ ^[0-9A-Za-z._-]+$ ]] || release=""
        fi
        report process name "$name" instance "$instance" state "$state" sub_state "$sub" since "$since" restarts "$restarts" release "$release"
    }
    if ((${#instances[@]})); then
        unit="" state=unknown sub=unknown since=0 restarts=0 pid=0
        while IFS='=' read -r key value; do
            case "$key" in
                Id) unit="$value" ;;
                ActiveState) [[ "$value" =~ ^[a-z-]+$ ]] && state="$value" ;;
                SubState) [[ "$value" =~ ^[a-z-]+$ ]] && sub="$value" ;;
                ActiveEnterTimestamp) [[ "${value#@}" =~ ^[0-9]+$ ]] && since="${value#@}" ;;
                NRestarts) [[ "$value" =~ ^[0-9]+$ ]] && restarts="$value" ;;
                MainPID) [[ "$value" =~ ^[0-9]+$ ]] && pid="$value" ;;
                "")
                    [[ -z "$unit" ]] || process_report "$unit"
                    unit="" state=unknown sub=unknown since=0 restarts=0 pid=0
                    ;;
            esac
        done < <(systemctl show --timestamp=unix -p Id -p ActiveState -p SubState -p ActiveEnterTimestamp -p NRestarts -p MainPID -- "${instances[@]}" 2>/dev/null || true; echo)
    fi
    # What the live release declares (read as its owner, its first 64 KiB:
    # root never looks into the release itself), so a copy that never
    # started shows too (its unit not even written: a cut after the swap).
    if [[ -n "$DEPLOY_USER" && -L "$ROOT/current" ]] && is_user "$DEPLOY_USER"; then
        deploy_gid="${primary_gid[$DEPLOY_USER]:-}"
        [[ -n "$deploy_gid" ]] || deploy_gid="$(id -g "$DEPLOY_USER")"
        while read -r kind name count _; do
            [[ "$kind" == process && "$name" =~ ^[a-z][a-z0-9-]*$ && "$count" =~ ^[0-9]{1,4}$ ]] || continue
            report declared name "$name" count "$count"
        done < <(setpriv --reuid="$DEPLOY_USER" --regid="$deploy_gid" --init-groups --reset-env -- head -c 65536 -- "$ROOT/current/.pond/processes.list" 2>/dev/null || true)
    fi
    if [[ -f "/etc/systemd/system/${UNITS}_schedule.timer" ]]; then
        at="" result="" code="" status=""
        if regular "$ROOT/metadata/schedule.log"; then
            last="$(tail -n 1 "$ROOT/metadata/schedule.log")"
            [[ ! "$last" =~ ^[0-9TZ:-]+\ [a-z-]+\ [a-z]+\ [0-9A-Za-z]+$ ]] || read -r at result code status <<< "$last"
        fi
        running "${UNITS}_schedule.timer"
        report schedule running "$run" at "$at" result "$result" code "$code" status "$status"
    fi
    # The last backup run here (common/backup), and the backups' timer.
    backups="/var/lib/pond/backups/${UNITS#pond-}"
    if regular "$backups/last-run"; then
        last_run backup-run "$backups/last-run" '[^[:lower:]]' 300
    fi
    if [[ -f "/etc/systemd/system/${UNITS}_backup.timer" ]]; then
        every=""
        while IFS= read -r line; do
            [[ "$line" != OnCalendar=* || -n "$every" ]] || every="${line#OnCalendar=}"
        done < "/etc/systemd/system/${UNITS}_backup.timer"
        running "${UNITS}_backup.timer"
        report backup-timer running "$run" every "${every//[^[:lower:]]/}"
    fi
fi

# A certificate's validity (unix times), DNS names and issuer, in
# $from, $to, $names, $issuer: one openssl and one date for all of it.
certificate() { # PEM file
    local line dates=() in_names=no
    from=0 to=0 names="" issuer=""
    while IFS= read -r line; do
        case "$line" in
            notBefore=* | notAfter=*) dates+=("${line#*=}") ;;
            *"Subject Alternative Name"*) in_names=yes; continue ;;
            *commonName*=*) [[ -n "$issuer" ]] || { issuer="${line#*= }"; issuer="${issuer//[^[:print:]]/}"; issuer="${issuer:0:120}"; } ;;
        esac
        if [[ "$in_names" == yes ]]; then
            in_names=no
            local name parts=()
            IFS=$', \t' read -ra parts <<< "$line"
            for name in "${parts[@]}"; do
                [[ "$name" == DNS:* && "${name#DNS:}" =~ ^[A-Za-z0-9.*-]+$ ]] && names+="${names:+,}${name#DNS:}"
            done
        fi
    done < <(openssl x509 -in "$1" -noout -startdate -enddate -ext subjectAltName -issuer -nameopt multiline 2>/dev/null || true)
    if ((${#dates[@]} == 2)); then
        { read -r from && read -r to; } < <(printf '%s\n' "${dates[@]}" | date -u -f - +%s 2>/dev/null) || true
    fi
    [[ "$from" =~ ^[0-9]+$ ]] || from=0
    [[ "$to" =~ ^[0-9]+$ ]] || to=0
}

# The environment's certificate (tls/renew): validity (unix time), names,
# issuer; whether nginx serves it; the renewal timer; the last run and the
# last failure not followed by a success.
if [[ "$UNITS" =~ ^pond-[a-z0-9-]+_[a-z0-9-]+$ ]]; then
    cert="/etc/letsencrypt/live/$UNITS/cert.pem"
    if [[ -f "$cert" ]]; then
        certificate "$cert"
        report tls-cert from "$from" to "$to" names "$names" issuer "$issuer"
    fi
    # Served over HTTPS: the enabled vhost is this environment's HTTPS twin
    # (another environment may share the file name; its header says whose).
    if [[ -n "$PROJECT" ]]; then
        env_name="${UNITS#pond-"${PROJECT}"_}"
        vhost="/etc/nginx/sites-enabled/pond-$PROJECT-$env_name.conf"
        if [[ -L "$vhost" ]]; then
            vhost_target=""
            IFS=$'\t' read -r _ vhost_target < <(find "$vhost" -maxdepth 0 -type l -printf '%p\t%l\n' 2>/dev/null || true) || true
            header=""
            [[ "$vhost_target" != *.https.conf ]] || { IFS= read -r header < "$vhost_target"; } 2>/dev/null || true
            if [[ "$header" == "# Written by Pond for $PROJECT/$env_name;"* ]]; then
                report tls-serving serving yes
            else
                report tls-serving serving no
            fi
        fi
    fi
    if [[ -f "/etc/systemd/system/${UNITS}_tls.timer" ]]; then
        running "${UNITS}_tls.timer"
        report tls-timer running "$run"
    fi
    tls_state="/var/lib/pond/tls/${UNITS#pond-}"
    preview_cert="$tls_state/previews/fullchain.pem"
    if regular "$preview_cert"; then
        certificate "$preview_cert"
        serving=no
        [[ -n "$PROJECT" && -L "/etc/nginx/sites-enabled/pond-$PROJECT-${UNITS#pond-"${PROJECT}"_}.previews.conf" ]] && serving=yes
        report tls-preview serving "$serving" from "$from" to "$to" names "$names" issuer "$issuer"
    fi
    for kind in run failure; do
        file="$tls_state/last-$kind"
        regular "$file" || continue
        last_run "tls-$kind" "$file" '[^[:lower:]-]' 400
    done
fi

# Bytes free and total of the root file system (df's 1024-byte blocks).
mapfile -t lines < <(df -P / 2>/dev/null || true)
total="" free=""
((${#lines[@]} < 2)) || read -r _ total _ free _ <<< "${lines[1]}"
if [[ "$free" =~ ^[0-9]+$ && "$total" =~ ^[0-9]+$ ]]; then
    report disk free "$((free * 1024))" total "$((total * 1024))"
fi
