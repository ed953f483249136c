#!/usr/bin/env bash
# summary: Point the inactive colour at an existing release (to roll back to an older build)
# input ROOT [text]: the environment's directory on the server
# input COLOUR [text]: the inactive colour (blue or green)
# input RELEASE [text]: the release id to point it at
# input EXPECT_RELEASE [text]: the release the colour pointed at when the client read it (refuse if it changed)
# input STATE [text]: the new metadata/state.json
# input LOG_LINE [text]: the line to append to metadata/log.jsonl
set -euo pipefail
[[ "$COLOUR" == blue || "$COLOUR" == green ]] || { echo "bad colour: $COLOUR" >&2; exit 2; }
[[ "$RELEASE" =~ ^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$ ]] || { echo "bad release id: $RELEASE" >&2; exit 2; }
cd "$ROOT"
[[ ! -L metadata && ! -L metadata/lock ]] || { echo "metadata/lock is a link; refusing to follow it" >&2; exit 3; }
exec 9<>metadata/lock
flock -n 9 || { echo "a deploy or swap holds the lock on $ROOT ($(head -c 4096 metadata/lock | tr -d '\n')); nothing changed" >&2; exit 75; }
[[ "$(readlink current)" != "$COLOUR" ]] || { echo "$COLOUR is live; refusing to repoint it" >&2; exit 3; }
[[ -d "releases/$RELEASE" ]] || { echo "release $RELEASE is not on this server" >&2; exit 3; }
[[ "$(readlink "$COLOUR")" == "releases/$EXPECT_RELEASE" ]] || { echo "$COLOUR now holds $(readlink "$COLOUR"), not $EXPECT_RELEASE as read (a deploy landed meanwhile?); nothing changed" >&2; exit 3; }
ln -sfn "releases/$RELEASE" "$COLOUR.tmp"
mv -T "$COLOUR.tmp" "$COLOUR"
printf '%s\n' "$STATE" > metadata/state.json.tmp && mv metadata/state.json.tmp metadata/state.json
printf '%s\n' "$LOG_LINE" >> metadata/log.jsonl
echo "pointed $COLOUR at $RELEASE"
