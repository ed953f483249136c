#!/usr/bin/env bash
# summary: Report an environment's state in one round trip: state.json, links, last log line, services, disk
# input ROOT [text]: the environment's directory on the server
set -euo pipefail
echo "LIVE $(readlink "$ROOT/current" 2>/dev/null || echo -)"
for colour in blue green; do
    echo "LINK $colour $(readlink "$ROOT/$colour" 2>/dev/null || echo -)"
done
if [[ -d "$ROOT/releases" ]]; then
    printf 'RELEASES %s\n' "$(find "$ROOT/releases" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' ! -name '00000000T000000Z-empty' -printf '%f ' | tr -s ' ')"
fi
if [[ -f "$ROOT/metadata/state.json" ]]; then
    printf 'STATE %s\n' "$(tr -d '\n' < "$ROOT/metadata/state.json")"
fi
if [[ -f "$ROOT/metadata/log.jsonl" ]]; then
    printf 'LAST %s\n' "$(tail -n 1 "$ROOT/metadata/log.jsonl")"
fi
service_state() { # name, pgrep pattern, installed-binary glob; silent when not installed
    compgen -G "$3" >/dev/null || return 0
    if pgrep -f "$2" >/dev/null; then echo "SERVICE $1 running"; else echo "SERVICE $1 stopped"; fi
}
service_state nginx '^nginx: master' '/usr/sbin/nginx'
service_state php-fpm '^php-fpm: master' '/usr/sbin/php-fpm*'
service_state mariadb '^/usr/sbin/(mariadbd|mysqld)' '/usr/sbin/mariadbd'

# Bytes free and total of the root file system (printf: no exponent notation).
echo "DISK $(df -P / | awk 'NR == 2 { printf "%.0f %.0f", $4 * 1024, $2 * 1024 }')"
