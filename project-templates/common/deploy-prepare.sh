#!/usr/bin/env bash
# summary: Report, changing nothing, what a deploy to the inactive colour starts from: the target colour, the release it will be built from (the newer of the two colours' releases) and that release's manifest, minus files changed on the server since
# input ROOT [text]: the environment's directory on the server
# input DEPLOY_USER [unix_user]: the user owning the release trees (their records are read as it)
# input? KEEP_BUILDS [text]: how many releases are kept (at 2 or fewer, with no copy of the live release ready, the inactive one is started from: it can be renamed)
# input? LOCK_TOKEN [text]: sent alongside common/lock: nothing is read until the lock's record carries this token (the lock is this deploy's), 30 s at most
set -euo pipefail
[[ "$KEEP_BUILDS" =~ ^[0-9]*$ ]] || { echo "bad keep count: $KEEP_BUILDS" >&2; exit 2; }
[[ "$LOCK_TOKEN" =~ ^([0-9a-f]{32})?$ ]] || { echo "bad lock token: $LOCK_TOKEN" >&2; exit 2; }

# Started alongside the lock (one round trip saved): wait, polling root's
# own record every 2 ms without a fork (read -t on a pipe nothing writes
# to is the sleep), until this deploy holds it.
if [[ -n "$LOCK_TOKEN" ]]; then
    held=no
    exec {never}<> <(:)
    for ((i = 0; i < 15000; i++)); do
        record=""
        { read -r record < "$ROOT/metadata/lock"; } 2>/dev/null || true
        if [[ "$record" == *"\"token\":\"$LOCK_TOKEN\""* ]]; then
            held=yes
            break
        fi
        read -r -t 0.002 -u "$never" _ || true
    done
    exec {never}>&-
    [[ "$held" == yes ]] || { echo "this deploy's lock on $ROOT was not taken within 30 s; nothing was read" >&2; exit 75; }
fi
# The deploy user's group, from /etc/passwd without a fork (id for users
# that live elsewhere); the release's records are read as that user.
deploy_gid=""
while IFS=: read -r name _x _uid gid _; do
    if [[ "$name" == "$DEPLOY_USER" ]]; then
        deploy_gid="$gid"
        break
    fi
done < /etc/passwd
[[ -n "$deploy_gid" ]] || deploy_gid="$(id -g "$DEPLOY_USER" 2>/dev/null)" ||
    { echo "$ROOT was set up by an older Pond (no user $DEPLOY_USER); run pond provision for it first" >&2; exit 3; }
as_deploy() { setpriv --reuid="$DEPLOY_USER" --regid="$deploy_gid" --init-groups --reset-env -- "$@"; }
cd "$ROOT"
[[ -L current ]] || { echo "$ROOT is not provisioned (no current link); run pond provision first" >&2; exit 3; }
# The three links, read at once.
declare -A link=()
while IFS=$'\t' read -r name to; do
    link[$name]="$to"
done < <(find current blue green -maxdepth 0 -type l -printf '%p\t%l\n' 2>/dev/null || true)
live="${link[current]:-}"
case "$live" in blue) target=green ;; green) target=blue ;; *) echo "current points at $live, expected blue or green" >&2; exit 3 ;; esac
live_release="${link[$live]:-}"
base="${link[$target]:-}"
first=no
[[ "$live_release" == releases/00000000T000000Z-empty ]] && first=yes

# Start from the newer of the two colours' releases (ids sort by time):
# after a swap the live one, after a deploy not swapped yet the inactive
# one, so the upload is this change alone. The live release is copied,
# never moved (deploy-apply; common/spare copies it ahead of time).
from=""
if [[ -n "$base" && -d "$base" && "$base" != releases/00000000T000000Z-empty ]]; then
    from="$base"
fi
if [[ "$first" == no && -d "$live_release" && ( -z "$from" || "$live_release" > "$from" ) ]]; then
    # Unless the inactive one can be renamed and the live one has no copy
    # ready: then renaming (and sending two changes) is quicker.
    if [[ -z "$from" || ! "${KEEP_BUILDS:-5}" -le 2 || -f "releases/.spare-${live_release#releases/}.stale" ]]; then
        from="$live_release"
    fi
fi

# The manifest of what the client uploaded last time, minus every file
# whose size or mtime changed on the server since: those are listed as
# stale (S) and the client resends or deletes them. When common/spare has
# copied the release already, it found them then (and deploy-apply must
# start from that copy).
spare="releases/.spare-${from#releases/}"
made_ahead=no
# The manifest's lines for the client, given the stale list and the
# command that prints the manifest: the stale paths (S) and the other
# entries (F); with nothing stale (the usual case), the manifest's own
# lines as they are, which the client reads as entries too (awk would
# take ~10 ms more for a few thousand files, which every deploy waits for).
manifest_lines() { # stale list, command...
    local stale="$1"
    shift
    if [[ -s "$stale" ]]; then
        "$@" | awk -F'\t' 'FILENAME == ARGV[1] { stale[$1] = 1; print "S\t" $1; next } !($4 in stale) { print "F\t" $0 }' "$stale" -
    else
        "$@"
    fi
}
# (A release's records are read only where they are plain files, never
# through a link: the seal writes them so; and as their owner, never as
# root.)
if [[ -n "$from" && -d "$spare" && ! -L "$spare" && -f "$spare.stale" && ! -L "$spare.stale" &&
    ! -L "$spare/.pond" && -f "$spare/.pond/manifest" && ! -L "$spare/.pond/manifest" ]]; then
    made_ahead=yes
    manifest_lines "$spare.stale" as_deploy cat "$spare/.pond/manifest"
elif [[ -n "$from" && ! -L "$from/.pond" && -f "$from/.pond/manifest" && ! -L "$from/.pond/manifest" &&
    -f "$from/.pond/stat" && ! -L "$from/.pond/stat" ]]; then
    tmp="$(mktemp -d)"
    (cd "$from" && find . -path ./.pond -prune -o -type f -printf '%P\t%s\t%T@\n') | LC_ALL=C sort > "$tmp/now"
    as_deploy cat "$from/.pond/stat" | LC_ALL=C sort > "$tmp/then"
    LC_ALL=C comm -3 "$tmp/now" "$tmp/then" | sed 's/^\t//' | cut -f1 | uniq > "$tmp/stale"
    manifest_lines "$tmp/stale" as_deploy cat "$from/.pond/manifest"
    rm -rf "$tmp"
fi
state="{}"
[[ ! -f metadata/state.json ]] || state="$(< metadata/state.json)"
report prepared target "$target" first "$first" base "$from" state "$state" spare "$made_ahead"
