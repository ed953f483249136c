#!/usr/bin/env bash
# summary: Start, in the background, the copy of the release the next deploy starts from (the newer colour's, as deploy-prepare picks it) (releases/.spare-<id>), so a deploy renames it instead of copying on its critical path
# input ROOT [text]: the environment's directory on the server
# input KEEP_BUILDS [text]: how many releases are kept (at 2 or fewer a deploy renames the inactive release instead; no copy is needed unless it is the live one)
# input SITE_USER [unix_user]: the environment's site user (group of the release trees)
# input DEPLOY_USER [unix_user]: the user owning the release trees; the copy is made as this user
# input? AFTER_PID [text]: the process holding this environment's deploy lock (common/lock), when the copy is started while a deploy runs: the copy waits until it has ended
set -euo pipefail
[[ "$KEEP_BUILDS" =~ ^[0-9]+$ ]] || { echo "bad keep count" >&2; exit 2; }
[[ "$AFTER_PID" =~ ^[0-9]*$ ]] || { echo "bad lock holder pid: $AFTER_PID" >&2; exit 2; }
cd "$ROOT"
[[ -d releases && ! -L releases && -d metadata && ! -L metadata ]] || { echo "$ROOT is not provisioned" >&2; exit 3; }

# The lock holder, known by its start time too (a PID reused later is
# never waited for), and only if it really holds this environment's lock.
after_start=""
if [[ -n "$AFTER_PID" && "$(stat -L -c '%d:%i' "/proc/$AFTER_PID/fd/9" 2>/dev/null)" == "$(stat -L -c '%d:%i' metadata/lock)" ]] &&
    { read -r line < "/proc/$AFTER_PID/stat"; } 2>/dev/null; then
    # Fields after "pid (name) ", parsed as the wait below parses them.
    read -ra fields <<< "${line##*) }"
    after_start="${fields[19]}"
fi

# Runs as root in a unit of its own, after this script has returned. Under
# metadata/spare.lock (which deploy-apply takes before it looks for a copy,
# so it waits for one being made rather than using half of it): copy the
# release deploy-prepare would start from now, as the deploy user, into a directory only
# that user can enter, and rename it into place when complete. Any other
# copy (of a release no colour points at any more) is deleted.
make_spare() {
    set -euo pipefail
    cd "$POND_ROOT"
    # Started while a deploy runs: after its lock holder has ended (the
    # deploy's work is done then), polled without a fork, for an hour at
    # most (then no copy: the next deploy makes its own).
    # (A builtin read: a failed $(< file) would end the script under -e.)
    local line fields waited_until=$((SECONDS + 3600)) never=""
    # (read -t on a pipe nothing writes to is the sleep.)
    [[ -z "$POND_AFTER_START" ]] || exec {never}<> <(:)
    while [[ -n "$POND_AFTER_START" ]] && { read -r line < "/proc/$POND_AFTER_PID/stat"; } 2>/dev/null; do
        read -ra fields <<< "${line##*) }"
        [[ "${fields[19]}" == "$POND_AFTER_START" && "${fields[0]}" != Z ]] || break
        ((SECONDS < waited_until)) || return 0
        read -r -t 0.05 -u "$never" _ || true
    done
    [[ -z "$never" ]] || exec {never}>&-
    exec 8<>metadata/spare.lock
    flock 8
    local live next from id spare old live_release
    live="$(readlink current)"
    case "$live" in blue) next=green ;; green) next=blue ;; *) return 0 ;; esac
    # What deploy-prepare starts from: the newer colour's release.
    from="$(readlink "$next")"
    live_release="$(readlink "$live")"
    [[ "$live_release" == releases/00000000T000000Z-empty || ! "$live_release" > "$from" ]] || from="$live_release"
    id="${from#releases/}"
    [[ "$from" == "releases/$id" && "$id" =~ ^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$ ]] || return 0
    [[ "$id" != 00000000T000000Z-empty && -d "$from" && ! -L "$from" ]] || return 0
    # Other copies: their .stale record first (a copy without one is never
    # used), then renamed out of the way and deleted.
    for old in releases/.spare-*.stale; do
        if [[ -f "$old" && "$old" != "releases/.spare-$id.stale" ]]; then rm -f -- "$old"; fi
    done
    for old in releases/.spare-*; do
        if [[ -e "$old" && "$old" != "releases/.spare-$id" && "$old" != "releases/.spare-$id.stale" ]]; then
            mv -T "$old" "releases/.old-${old#releases/.}.$$"
            rm -rf -- "releases/.old-${old#releases/.}.$$"
        fi
    done
    # A deploy renames an inactive release it need not keep: no copy then.
    if [[ "$from" != "$live_release" && "$POND_KEEP_BUILDS" -le 2 ]]; then
        return 0
    fi
    spare="releases/.spare-$id"
    # Complete: the directory and its record (written before it is renamed
    # into place, deleted before it is).
    [[ ! -d "$spare" || ! -f "$spare.stale" ]] || return 0
    rm -rf -- "$spare" "$spare.stale"
    # Copied inside a directory only the deploy user can enter: cp -a
    # gives the copy's top the release's own mode (0750) when it ends, and
    # the site user must never open anything in the copy meanwhile.
    install -d -o "$POND_DEPLOY_USER" -g "$POND_SITE_USER" -m 0700 "$spare.copying"
    # A full copy, never hard links: whatever deploy uses it may run hooks
    # that rewrite files in place. A copy cut short (disk full) is deleted.
    trap 'rm -rf -- "$spare.copying"' ERR
    runuser -u "$POND_DEPLOY_USER" -- cp -a --reflink=auto "$from" "$spare.copying/tree"
    runuser -u "$POND_DEPLOY_USER" -- chmod 0700 "$spare.copying/tree"
    # What deploy-prepare would report as changed on the server since the
    # release was built, found now rather than while a deploy waits: the
    # copy's files against its record (cp -a kept sizes and times). Only
    # root and the deploy user can change the copy after this.
    (cd "$spare.copying/tree" && find . -path ./.pond -prune -o -type f -printf '%P\t%s\t%T@\n') | LC_ALL=C sort > "$spare.now"
    # (The record only where it is a plain file: one reached through a
    # link counts as empty, so every file is found changed and sent again.)
    : > "$spare.then"
    if [[ ! -L "$spare.copying/tree/.pond" && ! -L "$spare.copying/tree/.pond/stat" ]]; then
        runuser -u "$POND_DEPLOY_USER" -- timeout 60 cat "$spare.copying/tree/.pond/stat" 2>/dev/null | LC_ALL=C sort > "$spare.then" || true
    fi
    LC_ALL=C comm -3 "$spare.now" "$spare.then" | sed 's/^\t//' | cut -f1 | uniq > "$spare.stale.new"
    rm -f -- "$spare.now" "$spare.then"
    mv -T "$spare.stale.new" "$spare.stale"
    # Moved out of the deploy user's directory into root's: refused later
    # unless it is still a directory (deploy-prepare, deploy-apply).
    mv -T "$spare.copying/tree" "$spare"
    rm -rf -- "$spare.copying"
}

# The unit stops after 15 minutes; one that first waits (an hour at most)
# for a deploy to end, after 75.
runtime=900
[[ -z "$after_start" ]] || runtime=4500

# Named after the deploy it waits for, if any (that deploy never stops it).
unit="pond-spare-$DEPLOY_USER.$$-$RANDOM"
[[ -z "$after_start" ]] || unit="pond-spare-$DEPLOY_USER.after$AFTER_PID-$$-$RANDOM"

# systemd expands ${...} in a command line, never inside the environment,
# so the function travels in a variable.
# shellcheck disable=SC2016 # expanded by the unit's bash, not here
systemd-run --quiet --no-block --collect --unit="$unit" \
    -p Nice=10 -p IOSchedulingClass=best-effort -p IOSchedulingPriority=7 -p UMask=0077 -p RuntimeMaxSec="$runtime" \
    -E POND_SPARE="$(declare -f make_spare)" -E POND_ROOT="$ROOT" -E POND_KEEP_BUILDS="$KEEP_BUILDS" \
    -E POND_SITE_USER="$SITE_USER" -E POND_DEPLOY_USER="$DEPLOY_USER" \
    -E POND_AFTER_PID="$AFTER_PID" -E POND_AFTER_START="$after_start" \
    /bin/bash -c 'eval "$POND_SPARE"; make_spare'
echo "preparing the next deploy's copy in the background"
