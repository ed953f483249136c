#!/usr/bin/env bash
# summary: Put the team's keys (and the syncing user's own) in a Pond-managed block of the login user's authorized_keys: a key no longer listed leaves it, lines outside the block stay, and a listed key is taken out of the lines outside it (so removing it later revokes it)
# input KEYS [text]: OpenSSH public key lines, one per line (the key this connection uses among them)
set -euo pipefail
dir="$HOME/.ssh"
file="$dir/authorized_keys"
begin="# BEGIN Pond-managed keys (pond access sync rewrites this block; edit pond.json, not this)"
end="# END Pond-managed keys"
[[ ! -L "$dir" && ! -L "$file" ]] || { echo "$file or its directory is a link; refusing to follow it" >&2; exit 3; }
grep -q '^ssh-\|^ecdsa-\|^sk-' <<< "$KEYS" || { echo "no keys to write; refusing to lock everyone out" >&2; exit 2; }
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
{
    printf '%s\n' "$begin"
    awk 'NF >= 2 && !seen[$2]++' <<< "$KEYS"
    printf '%s\n' "$end"
} >> "$tmp"
chmod 0600 "$tmp"
mv -f "$tmp" "$file"
trap - EXIT
echo "ACCESS $(awk 'NF >= 2 && !seen[$2]++' <<< "$KEYS" | wc -l) keys in step"
