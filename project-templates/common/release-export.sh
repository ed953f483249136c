#!/usr/bin/env bash
# summary: Stream the live release (a zstd tar on stdout) for a server joining the environment, without the rendered config files (the new server renders its own, with its own secrets) or per-server bookkeeping
# input ROOT [text]: the environment's directory on the server
# input RELEASE [text]: the release the client saw live (refuse if it changed)
# input? EXCLUDE [text]: config files to leave out, one per line, relative to the release
set -euo pipefail
[[ "$RELEASE" =~ ^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$ ]] || { echo "bad release id: $RELEASE" >&2; exit 2; }
cd "$ROOT"
live="$(readlink current)"
[[ "$live" == blue || "$live" == green ]] || { echo "current points at $live, expected blue or green" >&2; exit 3; }
[[ "$(readlink "$live")" == "releases/$RELEASE" ]] || { echo "$RELEASE is no longer live here (a deploy or swap ran meanwhile); try again" >&2; exit 3; }
patterns="$(mktemp)"
trap 'rm -f "$patterns"' EXIT
{
    echo "./.pond/stat"
    echo "./.pond/db-password"
    while IFS= read -r path; do
        [[ -n "$path" && "$path" != *..* ]] || continue
        echo "./$path"
    done <<< "$EXCLUDE"
} > "$patterns"
tar -C "releases/$RELEASE" --anchored --no-wildcards --exclude-from="$patterns" -cf - . | zstd -q -c
