#!/usr/bin/env bash
# summary: Take the environment's deploy lock and hold it until the client closes the channel or the connection drops
# input ROOT [text]: the environment's directory on the server
# input HOLDER [text]: who holds the lock (JSON: user, host, pid, started)
# input? BREAK [text]: yes to end a stuck holder first
set -euo pipefail
lock="$ROOT/metadata/lock"
install -d -o pond -g pond "$ROOT/metadata"
exec 9<>"$lock"
if ! flock -n 9; then
    if [[ "$BREAK" == yes ]]; then
        holder_pid="$(sed -n 's/.*"remote_pid": *\([0-9][0-9]*\).*/\1/p' "$lock" | head -n1)"
        if [[ -n "$holder_pid" ]]; then
            echo "breaking the lock held by remote pid $holder_pid" >&2
            pkill -TERM -P "$holder_pid" 2>/dev/null || true
            kill -TERM "$holder_pid" 2>/dev/null || true
        fi
        flock -w 10 9 || { echo "LOCK-HELD"; cat "$lock"; exit 75; }
    else
        echo "LOCK-HELD"
        cat "$lock"
        exit 75
    fi
fi
truncate -s 0 "$lock"
printf '%s, "remote_pid": %s}\n' "${HOLDER%\}}" "$$" >&9
echo "LOCKED"
# Hold the lock until stdin ends: the client closes it when done, and a
# dropped connection closes it too, so a lost client never leaves it held.
cat >/dev/null || true
