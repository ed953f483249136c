#!/usr/bin/env bash
# summary: Apply an upload (zstd tar on stdin after this script) to the new release, link shared paths, run the post-deploy hook, point the inactive colour at it
# input ROOT [text]: the environment's directory on the server
# input RELEASE [text]: the release id prepared for this deploy
# input TARGET [text]: the colour to point at the release (blue or green)
# input FIRST [text]: yes on the first deploy (both colours get the release, blue goes live)
# input? DELETED [text]: paths to remove from the release, one per line
# input? SHARED_PATHS [text]: persistent paths, one per line
# input? CONFIG_FILES [text]: rendered config files in the release, one per line; their secret placeholders are filled in here
# input? HOOKS [text]: post-deploy hook scripts in the release, one per line
# input STATE [text]: the new metadata/state.json
# input LOG_LINE [text]: the line to append to metadata/log.jsonl
# input KEEP_BUILDS [text]: how many releases to keep
set -euo pipefail
[[ "$RELEASE" =~ ^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$ ]] || { echo "bad release id" >&2; exit 2; }
[[ "$TARGET" == blue || "$TARGET" == green ]] || { echo "bad colour: $TARGET" >&2; exit 2; }
[[ "$KEEP_BUILDS" =~ ^[0-9]+$ ]] || { echo "bad keep count" >&2; exit 2; }
cd "$ROOT"
new="releases/$RELEASE"
[[ -d "$new" ]] || { echo "release $RELEASE was not prepared" >&2; exit 3; }
[[ "$(readlink current)" != "$TARGET" || "$FIRST" == yes ]] || { echo "$TARGET is live; refusing to touch it" >&2; exit 3; }

# Paths removed locally since the base release go first. Then the upload
# is extracted straight into the new release: tar unlinks an existing file
# before writing it (a new inode), and no colour serves this release until
# the end, so a cut upload is never visible.
is_shared() { # path: under a shared path (which lives outside the release)?
    local shared
    while IFS= read -r shared; do
        [[ -n "$shared" ]] || continue
        [[ "$1" == "$shared" || "$1" == "$shared"/* ]] && return 0
    done <<< "$SHARED_PATHS"
    return 1
}
while IFS= read -r path; do
    [[ -n "$path" && "$path" != *..* ]] || continue
    is_shared "$path" && continue
    rm -rf -- "${new:?}/$path"
done <<< "$DELETED"
mkdir -p "$new/.pond"
zstd -dcq | tar -x --ignore-zeros -C "$new" --same-owner --no-same-permissions --delay-directory-restore
# The new manifest: the base's, minus deleted and resent paths, plus the
# entries of the files just sent.
incoming="$(mktemp -d)"
trap 'rm -rf "$incoming"' EXIT
printf '%s\n' "$DELETED" > "$incoming/deleted"
touch "$new/.pond/manifest" "$new/.pond/manifest.delta"
awk -F'\t' 'FILENAME == ARGV[1] { drop[$0] = 1; next }
             FILENAME == ARGV[2] { drop[$4] = 1; print; next }
             !($4 in drop)' "$incoming/deleted" "$new/.pond/manifest.delta" "$new/.pond/manifest" > "$incoming/manifest"
mv "$incoming/manifest" "$new/.pond/manifest"
rm -f "$new/.pond/manifest.delta"
echo "applied the upload"

# Shared paths: seeded once from an upload (merged under anything already
# there, such as transferred attachments), then kept across releases.
seeded="shared/.pond-seeded"
touch "$seeded"
while IFS= read -r shared; do
    [[ -n "$shared" ]] || continue
    [[ "$shared" != *..* ]] || { echo "bad shared path: $shared" >&2; exit 2; }
    if ! grep -qxF -- "$shared" "$seeded"; then
        mkdir -p "shared/$(dirname "$shared")"
        if [[ -f "$new/$shared" && ! -L "$new/$shared" ]]; then
            [[ -e "shared/$shared" ]] || cp -a "$new/$shared" "shared/$shared"
        else
            mkdir -p "shared/$shared"
            if [[ -d "$new/$shared" && ! -L "$new/$shared" ]]; then
                cp -a --no-clobber "$new/$shared/." "shared/$shared/"
            fi
        fi
        chown -R pond:pond "shared/$shared"
        printf '%s\n' "$shared" >> "$seeded"
    fi
    rm -rf -- "${new:?}/$shared"
    mkdir -p "$new/$(dirname "$shared")"
    ln -sfn "$ROOT/shared/$shared" "$new/$shared"
done <<< "$SHARED_PATHS"
# Server-held config (db password) is linked, never copied to the client.
if [[ -f config/db-password ]]; then
    mkdir -p "$new/.pond"
    ln -sfn "$ROOT/config/db-password" "$new/.pond/db-password"
fi
# Config files arrive rendered except for secrets: fill those in here.
while IFS= read -r config_file; do
    [[ -n "$config_file" && "$config_file" != *..* ]] || continue
    [[ -f "$new/$config_file" ]] || { echo "config file $config_file missing from the upload" >&2; exit 3; }
    if grep -q '@@POND_SECRET_DB_PASSWORD@@' "$new/$config_file"; then
        [[ -s config/db-password ]] || { echo "$config_file needs the database password, but this server has none (no database provisioned)" >&2; exit 3; }
        password="$(cat config/db-password)"
        # The password is alphanumeric, so it is safe in a sed replacement.
        sed -i "s/@@POND_SECRET_DB_PASSWORD@@/$password/g" "$new/$config_file"
    fi
    chmod 0640 "$new/$config_file"
done <<< "$CONFIG_FILES"
# Uploaded files arrive owned by pond (tar maps the owner by name); fix
# only what is not, instead of walking every file with chown -R.
find "$new" ! -user pond -exec chown -h pond:pond {} +

while IFS= read -r hook; do
    [[ -n "$hook" ]] || continue
    echo "== post-deploy hook $hook"
    (cd "$new" && runuser -u pond -- bash "$hook")
done <<< "$HOOKS"

(cd "$new" && find . -path ./.pond -prune -o -type f -printf '%P\t%s\t%T@\n') > "$new/.pond/stat"

ln -sfn "releases/$RELEASE" "$TARGET.tmp"
mv -T "$TARGET.tmp" "$TARGET"
if [[ "$FIRST" == yes ]]; then
    other=blue
    [[ "$TARGET" == blue ]] && other=green
    ln -sfn "releases/$RELEASE" "$other.tmp" && mv -T "$other.tmp" "$other"
fi
# preview shows the inactive colour.
if [[ "$(readlink current)" == blue ]]; then ln -sfn green preview.tmp; else ln -sfn blue preview.tmp; fi
mv -T preview.tmp preview
chown -h pond:pond blue green preview

printf '%s\n' "$STATE" > metadata/state.json.tmp && mv metadata/state.json.tmp metadata/state.json
printf '%s\n' "$LOG_LINE" >> metadata/log.jsonl

# Keep the newest KEEP_BUILDS releases and whatever a colour points at.
in_use=" $(readlink blue) $(readlink green) "
find releases -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' -printf '%f\n' | sort -r | tail -n +"$((KEEP_BUILDS + 1))" |
    while IFS= read -r old; do
        [[ "$in_use" == *" releases/$old "* ]] || { echo "removing old release $old"; rm -rf -- "releases/$old"; }
    done
echo "DEPLOYED $RELEASE to $TARGET"
