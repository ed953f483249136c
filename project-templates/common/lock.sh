#!/usr/bin/env bash
# summary: Take the environment's deploy lock and hold it until the client closes the channel or the connection drops; breaking a stuck lock ends its holder and the work that joined it
# input ROOT [text]: the environment's directory on the server
# input HOLDER [text]: who holds the lock (JSON: user, host, pid, started)
# input? BREAK [text]: yes to end a stuck holder first
# input DEPLOY_USER [unix_user]: the environment's deploy user (its hook units are ended with the work that started them)
set -euo pipefail
lock="$ROOT/metadata/lock"
# Scripts doing work under this lock record their PIDs here (root's own
# tmpfs, never the site's), one file per holder; see deploy-apply.
workers="/run/pond/locks/${ROOT#/var/www/pond/projects/}"
# (Tests without a fork where they can: every deploy waits for this.)
[[ -d "$ROOT/metadata" && ! -L "$ROOT/metadata" && -O "$ROOT/metadata" ]] ||
    { echo "$ROOT/metadata is not root's directory (provisioned by an older Pond?); run pond provision first" >&2; exit 3; }
[[ -d "$workers" && ! -L "$workers" ]] || install -d -m 0700 "$workers"
# Never through a link (a holder check below compares open files with it).
if [[ -L "$lock" ]] || { [[ -e "$lock" ]] && [[ ! -f "$lock" ]]; }; then
    echo "$lock is not a plain file (a link?); refusing to use it. Check the server: this is not Pond's doing" >&2
    exit 3
fi
exec 9<>"$lock"

# The holder's PID as its record says, if that process really holds the
# lock file open on fd 9 (the record is only a claim).
real_holder() {
    local pid
    pid="$(sed -n 's/.*"remote_pid": *\([0-9][0-9]*\).*/\1/p' "$lock" | head -n1)"
    [[ -n "$pid" && -e "/proc/$pid/fd/9" ]] || return 1
    # A lock holder is a root bash running this script.
    [[ "$(stat -c %u "/proc/$pid")" == 0 && "$(readlink "/proc/$pid/exe")" == */bash ]] || return 1
    [[ "$(stat -L -c '%d:%i' "/proc/$pid/fd/9" 2>/dev/null)" == "$(stat -L -c '%d:%i' "$lock")" ]] || return 1
    printf '%s' "$pid"
}

if ! flock -n 9; then
    if [[ "$BREAK" != yes ]]; then
        report lock-held holder "$(head -c 4096 "$lock")"
        exit 75
    fi
    record="$(tr -d '\n' < "$lock")"
    if holder_pid="$(real_holder)"; then
        report lock-ended holder "$record"
        # The holder is its SSH channel's session leader: end its group
        # (the holder and the cat it waits on).
        kill -TERM -- "-$holder_pid" 2>/dev/null || kill -TERM "$holder_pid" 2>/dev/null || true
    fi
    flock -w 10 9 || { report lock-held holder "$(head -c 4096 "$lock")"; exit 75; }
fi
# Work that joined an earlier holder's lock and outlived it (a broken lock,
# or a client whose connection dropped while a hook ran) is ended before
# this holder starts: each is its channel's session leader, so its group
# takes tar, hooks and the rest. A PID is only trusted with its start time.
alive() { # pid, start time: that very process still runs
    local stat
    [[ "$1" =~ ^[0-9]+$ ]] && { read -r stat < "/proc/$1/stat"; } 2>/dev/null || return 1
    # The fields after the command name (which may hold spaces): the
    # start time is the 22nd field, the 20th after it.
    read -ra stat <<< "${stat##*) }"
    [[ "${stat[19]}" == "$2" ]]
}
end_workers() { # signal (0 only asks); returns whether any still ran
    local list worker started any=1
    for list in "$workers"/*; do
        [[ -f "$list" ]] || continue
        while read -r worker started; do
            if alive "$worker" "$started"; then
                any=0
                kill "-$1" -- "-$worker" 2>/dev/null || true
            fi
        done < "$list"
    done
    return "$any"
}
# A worker's record is removed by the worker itself when it ends with no
# hook of its own still running (deploy-apply's exit), so a record left
# is work cut off or still running.
# Hooks run in units of their own: one still running here was started by
# work that has just been ended (or was cut off), so it ends too. Asked
# whenever a record was left, even with no unit seen (a unit whose start
# was requested just before its starter ended may not be on disk yet;
# systemd queues this behind that request); else when a hook unit is
# there (a transient unit's file lives in /run/systemd/transient while it
# is loaded): one a swap or provision cut off started (those keep no
# record).
stop_hooks=no
if compgen -G "$workers/*" >/dev/null; then
    if end_workers TERM; then
        for ((i = 0; i < 50; i++)); do
            end_workers 0 || break
            sleep 0.1
        done
        end_workers KILL || true
    fi
    rm -f "$workers"/*
    stop_hooks=yes
elif compgen -G "/run/systemd/transient/pond-hook-$DEPLOY_USER.*.service" >/dev/null; then
    stop_hooks=yes
fi
[[ "$stop_hooks" == no ]] || systemctl stop "pond-hook-$DEPLOY_USER.*.service" 2>/dev/null || true
# Emptied without a fork (fd 9 stays at offset 0: nothing read it).
: > "$lock"
printf '%s, "remote_pid": %s}\n' "${HOLDER%\}}" "$$" >&9
report locked pid "$$"
# Hold the lock until stdin ends: the client closes it when done, and a
# dropped connection closes it too, so a lost client never leaves it held.
cat >/dev/null || true
