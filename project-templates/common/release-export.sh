#!/usr/bin/env bash
# summary: Stream a colour's release (a zstd tar on stdout) for a server joining the environment: only the files the client uploaded (its manifest), without the rendered config files; what hooks or the app made there (caches holding this server's secrets) is made again by the new server's own hooks
# input ROOT [text]: the environment's directory on the server
# input RELEASE [text]: the release the client saw in that colour (refuse if it changed)
# input? COLOUR [text]: blue or green (empty: the live colour)
# input? EXCLUDE [text]: config files to leave out, one per line, relative to the release
# input DEPLOY_USER [unix_user]: the user owning the release trees (the release is read as it)
# input? SHARED_PATHS [text]: shared paths, one per line: never sent (they live in the site user's shared/, and through links the site user controls)
set -euo pipefail
[[ "$RELEASE" =~ ^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$ ]] || { echo "bad release id: $RELEASE" >&2; exit 2; }
id -u "$DEPLOY_USER" >/dev/null 2>&1 || { echo "$ROOT was set up by an older Pond (no user $DEPLOY_USER); run pond provision for it first" >&2; exit 3; }
cd "$ROOT"
colour="${COLOUR:-$(readlink current)}"
[[ "$colour" == blue || "$colour" == green ]] || { echo "colour $colour is not blue or green" >&2; exit 3; }
[[ "$(readlink "$colour")" == "releases/$RELEASE" ]] || { echo "$colour no longer holds $RELEASE here (a deploy or swap ran meanwhile); try again" >&2; exit 3; }
tree="releases/$RELEASE"
excluded="$(mktemp)"
trap 'rm -f "$excluded"' EXIT
chmod 0644 "$excluded"
{
    echo ".pond/stat"
    echo ".pond/db-password"
    while IFS= read -r path; do
        [[ -n "$path" && "$path" != *..* ]] || continue
        echo "$path"
    done <<< "$EXCLUDE"
} > "$excluded"
# Everything below runs as the deploy user: the tree and its manifest are
# its own, so a link or a path planted there reaches nothing it could not
# read itself. Manifest lines are hash, size, mode, path (paths
# hold no tab or newline); only relative paths of regular files or links
# are sent (never a device, whatever a planted link resolves to).
# shellcheck disable=SC2016 # the inner script expands its own arguments
runuser -u "$DEPLOY_USER" -- bash -c '
    set -euo pipefail
    cd "$1"
    [[ -f .pond/manifest ]] || { echo "$1 has no manifest to copy from" >&2; exit 3; }
    { echo .pond/manifest; cut -f4- .pond/manifest; } |
        grep -vxF -f "$2" |
        grep -v -e "^/" -e "\(^\|/\)\.\.\(/\|$\)" |
        SHARED="$3" awk '"'"'BEGIN { n = split(ENVIRON["SHARED"], s, "\n") }
            { for (i = 1; i <= n; i++) if (s[i] != "" && ($0 == s[i] || index($0, s[i] "/") == 1)) next; print }'"'"' |
        while IFS= read -r path; do
            if [[ -L "$path" || -f "$path" ]]; then printf "%s\n" "$path"; fi
        done |
        tar --no-recursion --verbatim-files-from -T - -cf -
' export "$tree" "$excluded" "$SHARED_PATHS" | zstd -q -c
