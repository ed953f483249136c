#!/usr/bin/env bash
# summary: Take the environment's deploy lock and hold it until the client closes the channel or the connection drops; breaking a stuck lock ends its holder and the work that joined it
# input ROOT [text]: the environment's directory on the server
# input HOLDER [text]: who holds the lock (JSON: user, host, pid, started)
# input? BREAK [text]: yes to end a stuck holder first
set -euo pipefail
lock="$ROOT/metadata/lock"
# Scripts doing work under this lock record their PIDs here (root's own
# tmpfs, never the site's), one file per holder; see deploy-apply.
workers="/run/pond/locks/${ROOT#/var/www/pond/projects/}"
install -d -o pond -g pond "$ROOT/metadata"
install -d -m 0700 "$workers"
exec 9<>"$lock"

# The holder's PID as its record says, if that process really holds the
# lock file open on fd 9 (the record is only a claim).
real_holder() {
    local pid
    pid="$(sed -n 's/.*"remote_pid": *\([0-9][0-9]*\).*/\1/p' "$lock" | head -n1)"
    [[ -n "$pid" && -e "/proc/$pid/fd/9" ]] || return 1
    [[ "$(stat -L -c '%d:%i' "/proc/$pid/fd/9" 2>/dev/null)" == "$(stat -L -c '%d:%i' "$lock")" ]] || return 1
    printf '%s' "$pid"
}

if ! flock -n 9; then
    if [[ "$BREAK" != yes ]]; then
        echo "LOCK-HELD"
        cat "$lock"
        exit 75
    fi
    record="$(tr -d '\n' < "$lock")"
    if holder_pid="$(real_holder)"; then
        echo "ENDED $record"
        # The holder is its SSH channel's session leader: end its group
        # (the holder and the cat it waits on).
        kill -TERM -- "-$holder_pid" 2>/dev/null || kill -TERM "$holder_pid" 2>/dev/null || true
    fi
    flock -w 10 9 || { echo "LOCK-HELD"; cat "$lock"; exit 75; }
    # The holder is gone; end the work that joined its lock (each a session
    # leader of its own channel: the group takes tar, hooks and the rest).
    if [[ -n "${holder_pid:-}" && -f "$workers/$holder_pid" ]]; then
        while IFS= read -r worker; do
            [[ "$worker" =~ ^[0-9]+$ ]] || continue
            kill -TERM -- "-$worker" 2>/dev/null || true
        done < "$workers/$holder_pid"
    fi
fi
rm -f "$workers"/*
truncate -s 0 "$lock"
printf '%s, "remote_pid": %s}\n' "${HOLDER%\}}" "$$" >&9
echo "LOCKED $$"
# Hold the lock until stdin ends: the client closes it when done, and a
# dropped connection closes it too, so a lost client never leaves it held.
cat >/dev/null || true
