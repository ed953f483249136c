#!/usr/bin/env bash
# summary: Unpack attachments (a zstd tar on stdin after this script) into a shared path, kept across releases, as the site user who owns it
# input ROOT [text]: the environment's directory on the server
# input SHARED [shared_path]: the shared path to fill, e.g. storage
# input SITE_USER [unix_user]: the environment's site user, owner of its shared paths
set -euo pipefail
cd /  # the site user's commands below cannot enter root's home
[[ -d "$ROOT/shared" && ! -L "$ROOT/shared" ]] || { echo "$ROOT/shared is missing; run pond provision first" >&2; exit 3; }
target="$ROOT/shared/$SHARED"
# Root makes the directories down to the shared path (none may be a link);
# the site user unpacks into its own directory.
above="$ROOT/shared"
IFS=/ read -ra parts <<< "$SHARED"
for part in "${parts[@]}"; do
    above="$above/$part"
    [[ ! -L "$above" ]] || { echo "$above is a link; refusing to follow it" >&2; exit 3; }
    if [[ "$above" == "$target" ]]; then
        [[ -d "$above" ]] || install -d -o "$SITE_USER" -g "$SITE_USER" -m 2770 "$above"
    else
        install -d -o root -g "$SITE_USER" -m 0750 "$above"
    fi
done
zstd -dcq | runuser -u "$SITE_USER" -- tar -x -C "$target" --no-same-owner
runuser -u "$SITE_USER" -- find "$target" -type d -exec chmod g+rwxs {} + -exec setfacl -d -m u::rwX,g::rwX,o::- {} +
runuser -u "$SITE_USER" -- find "$target" -type f -exec chmod g+rw {} +
echo "attached $(runuser -u "$SITE_USER" -- find "$target" -type f | wc -l) files in $target"
