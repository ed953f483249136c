#!/usr/bin/env bash
# summary: Show an environment's deploy log and the tails of its nginx and PHP error logs, or one of its processes' (or the schedule's) journal, optionally following them
# input ROOT [text]: the environment's directory on the server
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input SITE_USER [unix_user]: the environment's site user (its PHP log is named after it)
# input LINES [text]: how many lines of each log
# input? FOLLOW [text]: yes to keep following (until the client disconnects)
# input? PROCESS [text]: a process name (pond.json processes) or "schedule": its journal instead
# input? UNITS [text]: the prefix of the environment's unit names (with PROCESS)
set -euo pipefail
[[ "$LINES" =~ ^[0-9]{1,5}$ ]] || { echo "bad line count: $LINES" >&2; exit 2; }
if [[ -n "$PROCESS" ]]; then
    [[ "$PROCESS" =~ ^[a-z][a-z0-9-]{0,29}$ && "$UNITS" =~ ^pond-[a-z0-9-]+_[a-z0-9-]+$ ]] || { echo "bad process: $PROCESS" >&2; exit 2; }
    if [[ "$PROCESS" == schedule ]]; then
        unit="${UNITS}_schedule.service"
        [[ -f "/etc/systemd/system/$unit" ]] || { echo "$ENV has no schedule on this server" >&2; exit 3; }
    else
        unit="${UNITS}_proc_$PROCESS@*.service"
        [[ -f "/etc/systemd/system/${UNITS}_proc_$PROCESS@.service" ]] || { echo "$ENV runs no process $PROCESS on this server (is it in pond.json's processes, deployed and swapped in?)" >&2; exit 3; }
    fi
    journal_follow=()
    [[ "$FOLLOW" == yes ]] && journal_follow=(--follow)
    # Ends when the connection closes, as tail does.
    exec journalctl --no-pager --output=short-iso -n "$LINES" "${journal_follow[@]}" -u "$unit"
fi
logs=("$ROOT/metadata/log.jsonl" "/var/log/nginx/pond-$PROJECT-$ENV.error.log" "/var/log/php-fpm/$SITE_USER.log")
for log in "${logs[@]}"; do
    echo "==> $log <=="
    # Each line cut at 4 KiB: the site user writes its PHP log freely, and
    # one endless line must not fill the client's memory.
    if [[ -f "$log" ]]; then tail -n "$LINES" "$log" | cut -b1-4096; else echo "(none yet)"; fi
done
if [[ "$FOLLOW" == yes ]]; then
    existing=()
    for log in "${logs[@]}"; do [[ -f "$log" ]] && existing+=("$log"); done
    # tail itself writes to the connection: it ends as soon as the client
    # goes (a filter between them would keep it until the next line). New
    # lines are cut by the client instead.
    exec tail -n 0 -F "${existing[@]}"
fi
