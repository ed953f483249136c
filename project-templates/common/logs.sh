#!/usr/bin/env bash
# summary: Show an environment's deploy log and the tails of its nginx and PHP error logs, optionally following them
# input ROOT [text]: the environment's directory on the server
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input SITE_USER [unix_user]: the environment's site user (its PHP log is named after it)
# input LINES [text]: how many lines of each log
# input? FOLLOW [text]: yes to keep following (until the client disconnects)
set -euo pipefail
[[ "$LINES" =~ ^[0-9]{1,5}$ ]] || { echo "bad line count: $LINES" >&2; exit 2; }
logs=("$ROOT/metadata/log.jsonl" "/var/log/nginx/pond-$PROJECT-$ENV.error.log" "/var/log/php-fpm/$SITE_USER.log")
for log in "${logs[@]}"; do
    echo "==> $log <=="
    if [[ -f "$log" ]]; then tail -n "$LINES" "$log"; else echo "(none yet)"; fi
done
if [[ "$FOLLOW" == yes ]]; then
    existing=()
    for log in "${logs[@]}"; do [[ -f "$log" ]] && existing+=("$log"); done
    # Ends when the connection closes (tail gets SIGPIPE on its next write).
    exec tail -n 0 -F "${existing[@]}"
fi
