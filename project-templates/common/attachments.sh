#!/usr/bin/env bash
# summary: Unpack attachments (a zstd tar on stdin after this script) into a shared path, kept across releases
# input ROOT [text]: the environment's directory on the server
# input SHARED [shared_path]: the shared path to fill, e.g. storage
set -euo pipefail
target="$ROOT/shared/$SHARED"
mkdir -p "$target"
zstd -dcq | tar -x -C "$target" --no-same-owner
chown -R pond:pond "$target"
echo "ATTACHED $(find "$target" -type f | wc -l) files in $target"
