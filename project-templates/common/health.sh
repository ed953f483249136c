#!/usr/bin/env bash
# summary: GET the health path of a colour through its preview host on the server itself; on failure show the body and error logs
# input HOST [text]: the preview host name to send as Host
# input HEALTH_PATH [http_path]: the path to fetch
# input PROJECT [project_name]: project name (for log file names)
# input ENV [env_name]: environment name
# input SITE_USER [unix_user]: the environment's site user (its PHP log is named after it)
set -euo pipefail
body="$(mktemp)"
trap 'rm -f "$body"' EXIT
code=000
for attempt in 1 2 3 4 5; do
    code="$(curl -g -s -o "$body" -w '%{http_code}' --max-time 10 -H "Host: $HOST" "http://127.0.0.1$HEALTH_PATH" || true)"
    [[ "$code" =~ ^[23] ]] && break
    sleep "0.$attempt"
done
report health code "$code"
if [[ "$code" =~ ^[23] ]]; then
    exit 0
fi
echo "--- body (first 20 lines)"
head -n 20 "$body"
echo "--- nginx error log (last 20 lines)"
tail -n 20 "/var/log/nginx/pond-$PROJECT-$ENV.error.log" 2>/dev/null || true
echo "--- php-fpm log (last 20 lines)"
tail -n 20 "/var/log/php-fpm/$SITE_USER.log" 2>/dev/null || true
exit 1
