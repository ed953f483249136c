#!/usr/bin/env bash
# summary: Put the team's keys in a Pond-managed block of the login user's authorized_keys: a key no longer listed leaves it, lines outside the block stay, and a team key is taken out of the lines outside it (so removing it later revokes it); the syncing user's own key is added only where it is missing altogether
# input KEYS [text]: the team's OpenSSH public key lines, one per line
# input OWN_KEY [text]: the key this connection uses (never taken out of the lines outside the block)
set -euo pipefail
dir="$HOME/.ssh"
file="$dir/authorized_keys"
begin="# BEGIN Pond-managed keys (pond access sync rewrites this block; edit pond.json, not this)"
end="# END Pond-managed keys"
[[ ! -L "$dir" && ! -L "$file" ]] || { echo "$file or its directory is a link; refusing to follow it" >&2; exit 3; }
grep -q '^ssh-\|^ecdsa-\|^sk-' <<< "$KEYS$OWN_KEY" || { echo "no keys to write; refusing to lock everyone out" >&2; exit 2; }
own_blob="$(awk '{ print $2 }' <<< "$OWN_KEY")"
install -d -m 0700 "$dir"
touch "$file"
tmp="$(mktemp "$file.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
# The key blobs listed (second field of each line).
listed="$(awk 'NF >= 2 { print $2 }' <<< "$KEYS")"
awk -v begin="$begin" -v end="$end" -v listed="$listed" '
    BEGIN { n = split(listed, b, "\n"); for (i = 1; i <= n; i++) if (b[i] != "") known[b[i]] = 1 }
    index($0, "# BEGIN Pond-managed keys") == 1 { inside = 1; next }
    $0 == end { inside = 0; next }
    inside { next }
    { for (i = 1; i <= NF; i++) if ($i in known) next; print }
' "$file" > "$tmp"
# The syncing user's own key stays where it is outside the block (another
# member's sync must never lock them out); only when it is nowhere else
# does it go into the block, to keep this connection working.
own_outside=no
[[ -n "$own_blob" ]] && grep -qF -- "$own_blob" "$tmp" && own_outside=yes
{
    printf '%s\n' "$begin"
    awk 'NF >= 2 && !seen[$2]++' <<< "$KEYS"
    if [[ "$own_outside" == no ]] && ! grep -qF -- "$own_blob" <<< "$KEYS"; then printf '%s\n' "$OWN_KEY"; fi
    printf '%s\n' "$end"
} >> "$tmp"
chmod 0600 "$tmp"
mv -f "$tmp" "$file"
trap - EXIT
echo "ACCESS $(awk 'NF >= 2 && !seen[$2]++' <<< "$KEYS" | wc -l) team keys in step; $(awk -v begin="$begin" 'index($0, "# BEGIN Pond-managed keys") == 1 { inside = 1; next } $0 == "# END Pond-managed keys" { inside = 0; next } !inside && NF >= 2 && $1 !~ /^#/ { n++ } END { print n + 0 }' "$file") other key(s) outside Pond's block"
