#!/usr/bin/env bash
# summary: Start a release for the inactive colour as a copy of its current release (never the live one in place) and report its manifest
# input ROOT [text]: the environment's directory on the server
# input RELEASE [text]: the new release id (time and tag)
# input KEEP_BUILDS [text]: releases to keep; with 2, the inactive colour's release is reused (moved) instead of copied
# input? DRY_RUN [text]: yes to only report (nothing is created or moved)
set -euo pipefail
[[ "$RELEASE" =~ ^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$ ]] || { echo "bad release id: $RELEASE" >&2; exit 2; }
[[ "$KEEP_BUILDS" =~ ^[0-9]+$ ]] || { echo "bad keep count: $KEEP_BUILDS" >&2; exit 2; }
cd "$ROOT"
[[ -L current ]] || { echo "$ROOT is not provisioned (no current link); run pond provision first" >&2; exit 3; }
live="$(readlink current)"
case "$live" in blue) target=green ;; green) target=blue ;; *) echo "current points at $live, expected blue or green" >&2; exit 3 ;; esac
live_release="$(readlink "$live")"
base="$(readlink "$target" 2>/dev/null || true)"
first=no
[[ "$live_release" == releases/00000000T000000Z-empty ]] && first=yes
new="releases/$RELEASE"
[[ ! -e "$new" ]] || { echo "release $RELEASE already exists" >&2; exit 3; }
rm -rf releases/.incoming-* releases/*.copying

# Start from the inactive colour's release (a copy, so kept releases stay
# intact); if there is none yet, from the live release, by copying only.
from=""
if [[ -n "$base" && -d "$base" && "$base" != releases/00000000T000000Z-empty ]]; then
    from="$base"
elif [[ "$first" == no && -d "$live_release" ]]; then
    from="$live_release"
fi
if [[ "$DRY_RUN" == yes ]]; then
    # Report against the release a real deploy would start from.
    new="${from:-releases/00000000T000000Z-empty}"
elif [[ -n "$from" && "$from" == "$base" && "$from" != "$live_release" && "$KEEP_BUILDS" -le 2 ]]; then
    # Only blue and green are kept: the inactive colour's old release would
    # be deleted anyway, so it becomes the new one (a rename, not a copy).
    # Never the live release (after a first deploy both colours share it).
    mv -T "$from" "$new"
elif [[ -n "$from" ]]; then
    cp -a --reflink=auto "$from" "$new.copying"
    mv -T "$new.copying" "$new"
else
    install -d -o pond -g pond "$new"
fi

echo "TARGET $target"
echo "FIRST $first"
echo "BASE ${from:--}"
if [[ -f metadata/state.json ]]; then
    printf 'STATE %s\n' "$(tr -d '\n' < metadata/state.json)"
else
    echo "STATE {}"
fi
# The manifest of what the client uploaded last time, minus every file
# whose size or mtime changed on the server since: those are listed as
# stale (S) and the client resends or deletes them.
if [[ -f "$new/.pond/manifest" && -f "$new/.pond/stat" ]]; then
    tmp="$(mktemp -d)"
    (cd "$new" && find . -path ./.pond -prune -o -type f -printf '%P\t%s\t%T@\n') | LC_ALL=C sort > "$tmp/now"
    LC_ALL=C sort "$new/.pond/stat" > "$tmp/then"
    LC_ALL=C comm -3 "$tmp/now" "$tmp/then" | sed 's/^\t//' | cut -f1 > "$tmp/stale"
    # FILENAME, not NR == FNR: the stale list is often empty.
    awk -F'\t' 'FILENAME == ARGV[1] { stale[$1] = 1; print "S\t" $1; next } !($4 in stale) { print "F\t" $0 }' "$tmp/stale" "$new/.pond/manifest"
    rm -rf "$tmp"
fi
echo "END"
