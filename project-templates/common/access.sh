#!/usr/bin/env bash
# summary: Put the project's team keys in its own Pond-managed block of the login user's authorized_keys: a key no longer listed leaves it, other projects' blocks and lines outside the blocks stay, and a team key is taken out of the lines outside every block (so removing it later revokes it); the syncing user's own key is added only where it is missing altogether
# input PROJECT [project_name]: the project whose block this is (several projects may share a server)
# input KEYS [text]: the team's OpenSSH public key lines, one per line
# input OWN_KEY [text]: the key this connection uses (never taken out of the lines outside the block)
set -euo pipefail
dir="$HOME/.ssh"
file="$dir/authorized_keys"
begin="# BEGIN Pond-managed keys of $PROJECT (pond access sync rewrites this block; edit pond.json, not this)"
end="# END Pond-managed keys of $PROJECT"
[[ ! -L "$dir" && ! -L "$file" ]] || { echo "$file or its directory is a link; refusing to follow it" >&2; exit 3; }
# What the last sync wrote (its counts, its inputs, the whole file), root's:
# when the file is still exactly that and the inputs are the same, this
# sync would write it again unchanged, so it is done (bash alone, no
# command run: every deploy syncs, alongside its critical steps). A file
# with an older Pond's unnamed block always takes the long way (what it
# becomes depends on the other projects on this server).
# (.stamp: a project's name has no dot, so no project's stamp is the lock.)
stamp="$dir/.pond-access.$PROJECT.stamp"
inputs="$PROJECT"$'\n'"$KEYS"$'\n'"$OWN_KEY"
if [[ -f "$stamp" && ! -L "$stamp" && -f "$file" && ! -L "$file" && ! -L "$dir" ]]; then
    recorded="" current=""
    # (Each read to its end: one that stops early met a NUL, and then the
    # files are not compared whole.)
    if ! IFS= read -r -d '' recorded < "$stamp" && ! IFS= read -r -d '' current < "$file" &&
        [[ "${recorded%%$'\n'*}" =~ ^([0-9]+)\ ([0-9]+)$ && "${recorded#*$'\n'}" == "$inputs"$'\n#pond-access-file\n'"$current" &&
            "$current" != *"# BEGIN Pond-managed keys ("* ]]; then
        report access-written team "${BASH_REMATCH[1]}" outside "${BASH_REMATCH[2]}"
        exit 0
    fi
fi
grep -q '^ssh-\|^ecdsa-\|^sk-' <<< "$KEYS$OWN_KEY" || { echo "no keys to write; refusing to lock everyone out" >&2; exit 2; }
own_blob="$(awk '{ print $2 }' <<< "$OWN_KEY")"
install -d -m 0700 "$dir"
touch "$file"
# One project's sync at a time: each rewrites the whole file.
exec 8> "$dir/.pond-access.lock"
flock -w 60 8 || { echo "another project's key sync holds $dir/.pond-access.lock" >&2; exit 75; }
tmp="$(mktemp "$file.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
# The key blobs listed (second field of each line).
listed="$(awk 'NF >= 2 { print $2 }' <<< "$KEYS")"
# An older Pond's unnamed block is this project's while no other project
# lives on this server; with one other project there, it is that one's
# (it was there first) and is renamed for it; with more, it stays as is.
others="$(find /var/www/pond/projects -mindepth 1 -maxdepth 1 -type d ! -name "$PROJECT" -printf '%f\n' 2>/dev/null | grep -xE '[a-z0-9-]+' || true)"
legacy=no
if [[ -z "$others" ]]; then
    legacy=yes
elif [[ "$(wc -l <<< "$others")" == 1 ]] && grep -q '^# BEGIN Pond-managed keys (' "$file"; then
    owner="$others"
    sed -i -e "s|^# BEGIN Pond-managed keys (|# BEGIN Pond-managed keys of $owner (|" \
        -e "s|^# END Pond-managed keys\$|# END Pond-managed keys of $owner|" "$file"
fi
# This project's block goes; other projects' blocks stay as they are;
# outside every block, listed keys go. A block without its END line stops
# here, so nothing after it is lost.
awk -v mine="# BEGIN Pond-managed keys of $PROJECT (" -v mine_end="$end" -v listed="$listed" -v legacy="$legacy" '
    BEGIN { n = split(listed, b, "\n"); for (i = 1; i <= n; i++) if (b[i] != "") known[b[i]] = 1 }
    index($0, mine) == 1 || (legacy == "yes" && index($0, "# BEGIN Pond-managed keys (") == 1) { ours = 1; next }
    ours { if ($0 == mine_end || $0 == "# END Pond-managed keys") ours = 0; next }
    index($0, "# BEGIN Pond-managed keys") == 1 { other = 1; print; next }
    other { if (index($0, "# END Pond-managed keys") == 1) other = 0; print; next }
    { for (i = 1; i <= NF; i++) if ($i in known) next; print }
    END { if (ours || other) exit 3 }
' "$file" > "$tmp" || { echo "$file has a Pond block without its END line; fix it by hand, nothing was changed" >&2; exit 3; }
# The syncing user's own key stays where it is outside the blocks (another
# member's sync must never lock them out); only when it is nowhere outside
# them does it go into this block, to keep this connection working.
outside() { # the lines of $1 outside every Pond block
    awk 'index($0, "# BEGIN Pond-managed keys") == 1 { inside = 1; next }
        inside { if (index($0, "# END Pond-managed keys") == 1) inside = 0; next }
        { print }' "$1"
}
own_outside=no
[[ -n "$own_blob" ]] && outside "$tmp" | grep -qF -- "$own_blob" && own_outside=yes
{
    printf '%s\n' "$begin"
    awk 'NF >= 2 && !seen[$2]++' <<< "$KEYS"
    if [[ "$own_outside" == no ]] && ! grep -qF -- "$own_blob" <<< "$KEYS"; then printf '%s\n' "$OWN_KEY"; fi
    printf '%s\n' "$end"
} >> "$tmp"
chmod 0600 "$tmp"
team="$(awk 'NF >= 2 && !seen[$2]++' <<< "$KEYS" | wc -l)"
outside_keys="$(outside "$tmp" | awk 'NF >= 2 && $1 !~ /^#/ { n++ } END { print n + 0 }')"
# The stamp first, then the file: a cut between them leaves a stamp that
# matches no file, and the next sync takes the long way.
{ printf '%s %s\n%s\n#pond-access-file\n' "$team" "$outside_keys" "$inputs"; cat -- "$tmp"; } > "$stamp.new"
chmod 0600 "$stamp.new"
mv -f -- "$stamp.new" "$stamp"
mv -f "$tmp" "$file"
trap - EXIT
report access-written team "$team" outside "$outside_keys"
