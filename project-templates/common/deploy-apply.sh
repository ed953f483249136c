#!/usr/bin/env bash
# summary: Create the new release from its base (the inactive colour's release renamed, or a copy), apply an upload (zstd tar on stdin after this script), link shared paths, run the post-deploy hook, point the inactive colour at it
# input ROOT [text]: the environment's directory on the server
# input RELEASE [text]: the new release id (time and tag)
# input BASE [text]: the release to start from, as deploy-prepare reported it (- for none)
# input? LINK_COPY [text]: yes when nothing writes files in place (a static site without hooks): a kept base is copied with hard links
# input TARGET [text]: the colour to point at the release (blue or green)
# input FIRST [text]: yes on the first deploy (both colours get the release, blue goes live)
# input? DELETED [text]: paths to remove from the release, one per line
# input? SHARED_PATHS [text]: persistent paths, one per line
# input? CONFIG_FILES [text]: rendered config files in the release, one per line; their secret placeholders are filled in here
# input? HOOKS [text]: post-deploy hook scripts in the release, one per line
# input STATE [text]: the new metadata/state.json
# input LOG_LINE [text]: the line to append to metadata/log.jsonl
# input KEEP_BUILDS [text]: how many releases to keep
# input? STREAMED [text]: yes when the upload is a release streamed from another server (pond scale): it must carry that release's manifest, else nothing is pointed at it
# input? LOCK_PID [text]: the process holding this deploy's lock (common/lock): this script joins it, so breaking the lock ends it too
set -euo pipefail
[[ "$RELEASE" =~ ^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$ ]] || { echo "bad release id" >&2; exit 2; }
[[ "$TARGET" == blue || "$TARGET" == green ]] || { echo "bad colour: $TARGET" >&2; exit 2; }
[[ "$KEEP_BUILDS" =~ ^[0-9]+$ ]] || { echo "bad keep count" >&2; exit 2; }
[[ "$BASE" == - || "$BASE" =~ ^releases/[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$ ]] || { echo "bad base release: $BASE" >&2; exit 2; }
cd "$ROOT"
if [[ -n "$LOCK_PID" ]]; then
    # Join the lock: record this script's PID with its holder, then check
    # the holder still has it (a lock broken meanwhile stops this deploy
    # before it changes anything; one broken later ends it).
    [[ "$LOCK_PID" =~ ^[0-9]+$ ]] || { echo "bad lock pid: $LOCK_PID" >&2; exit 2; }
    # PID and start time: a PID reused later is never taken for this one.
    printf '%s %s\n' "$$" "$(awk '{ print $22 }' "/proc/$$/stat")" >> "/run/pond/locks/${ROOT#/var/www/pond/projects/}/$LOCK_PID"
    [[ "$(stat -L -c '%d:%i' "/proc/$LOCK_PID/fd/9" 2>/dev/null)" == "$(stat -L -c '%d:%i' metadata/lock)" ]] ||
        { echo "step lock: this deploy no longer holds the lock on $ROOT (broken by another deploy?); nothing was changed" >&2; exit 75; }
fi
new="releases/$RELEASE"
live_release="$(readlink "$(readlink current)")"
[[ "$(readlink current)" != "$TARGET" || "$FIRST" == yes ]] || { echo "$TARGET is live; refusing to touch it" >&2; exit 3; }
[[ ! -e "$new" ]] || { echo "release $RELEASE already exists" >&2; exit 3; }
rm -rf releases/.incoming-* releases/*.copying

# The new release, never the live one in place: with only blue and green
# kept, the inactive colour's old release would be deleted anyway, so it
# is renamed (never the live release: after a first deploy both colours
# share it); else it is copied, so kept releases stay intact.
if [[ "$BASE" == - ]]; then
    install -d -o pond -g pond "$new"
else
    [[ -d "$BASE" ]] || { echo "the base release $BASE is gone (another deploy ran?); deploy again" >&2; exit 3; }
    if [[ "$BASE" != "$live_release" && "$KEEP_BUILDS" -le 2 ]]; then
        mv -T "$BASE" "$new"
    elif [[ "$BASE" != "$live_release" && "$LINK_COPY" == yes ]]; then
        # Nothing rewrites a file in place here; the upload below replaces
        # files with new inodes, so the kept release stays as it was.
        cp -al "$BASE" "$new.copying"
        mv -T "$new.copying" "$new"
    else
        cp -a --reflink=auto "$BASE" "$new.copying"
        mv -T "$new.copying" "$new"
    fi
fi

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
incoming="$(mktemp -d)"
trap 'rm -rf "$incoming"' EXIT
# tar -v lists what it extracted: ownership and the stat record below
# touch only those paths, not the whole tree.
zstd -dcq | tar -x -v --ignore-zeros -C "$new" --same-owner --no-same-permissions --delay-directory-restore |
    sed -e 's|^\./||' -e 's|/$||' -e '/^\.\{0,1\}$/d' > "$incoming/extracted"
# The new manifest: the base's, minus deleted and resent paths, plus the
# entries of the files just sent.
printf '%s\n' "$DELETED" > "$incoming/deleted"
touch "$new/.pond/manifest" "$new/.pond/manifest.delta"
awk -F'\t' 'FILENAME == ARGV[1] { drop[$0] = 1; next }
             FILENAME == ARGV[2] { drop[$4] = 1; print; next }
             !($4 in drop)' "$incoming/deleted" "$new/.pond/manifest.delta" "$new/.pond/manifest" > "$incoming/manifest"
mv "$incoming/manifest" "$new/.pond/manifest"
rm -f "$new/.pond/manifest.delta"
# A streamed release that arrived without its manifest means the sending
# side refused or stopped (its error is on the client): no colour may
# point at what little came.
if [[ "$STREAMED" == yes ]] && ! grep -qxF .pond/manifest "$incoming/extracted"; then
    echo "step upload: the release stream from the other server was empty or cut; nothing was pointed at it" >&2
    rm -rf -- "${new:?}"
    exit 3
fi
echo "applied the upload"

# Shared paths: seeded once, then kept across releases. A path made shared
# on a live environment starts from the live release (where the running
# site wrote its data), with the upload merged under it; on a first deploy
# from the upload, merged under anything already there (attachments).
seeded="shared/.pond-seeded"
touch "$seeded"
while IFS= read -r shared; do
    [[ -n "$shared" ]] || continue
    [[ "$shared" != *..* ]] || { echo "bad shared path: $shared" >&2; exit 2; }
    if ! grep -qxF -- "$shared" "$seeded"; then
        runuser -u pond -- mkdir -p "shared/$(dirname "$shared")"
        sources=("$new")
        [[ "$FIRST" == yes ]] || sources=("$live_release" "$new")
        for from in "${sources[@]}"; do
            # Copied as the site's user: the release is its tree, so a link
            # planted in it reaches nothing the site could not read itself.
            if [[ -f "$from/$shared" && ! -L "$from/$shared" ]]; then
                [[ -e "shared/$shared" ]] || runuser -u pond -- cp -a "$from/$shared" "shared/$shared"
            elif [[ -d "$from/$shared" && ! -L "$from/$shared" ]]; then
                runuser -u pond -- mkdir -p "shared/$shared"
                runuser -u pond -- cp -a --no-clobber "$from/$shared/." "shared/$shared/"
                [[ "$from" == "$new" ]] || echo "seeded shared/$shared from the live release ${live_release#releases/}"
            fi
        done
        [[ -e "shared/$shared" ]] || mkdir -p "shared/$shared"
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
# Uploaded files arrive owned by pond (tar maps the owner by name), but
# directories tar made on the way, generated files and links do not: fix
# what this run wrote, with its parent directories, not the whole tree.
{
    printf '%s\n' . .pond .pond/db-password
    cat "$incoming/extracted"
    printf '%s\n' "$SHARED_PATHS"
} | awk -F/ 'NF { p = ""; for (i = 1; i <= NF; i++) { p = (i == 1 ? $1 : p "/" $i); print p } }' | LC_ALL=C sort -u |
    (cd "$new" && while IFS= read -r path; do
        if [[ -e "$path" || -L "$path" ]]; then printf '%s\0' "$path"; fi
    done | xargs -0 -r chown -h pond:pond --)

# Config files arrive rendered except for secrets: fill those in here.
while IFS= read -r config_file; do
    [[ -n "$config_file" && "$config_file" != *..* ]] || continue
    [[ -f "$new/$config_file" ]] || { echo "config file $config_file missing from the upload" >&2; exit 3; }
    # Filled in as the site's user, who may read both files anyway (so a
    # link planted in the release reaches nothing root could): by the shell
    # itself, so the password is never in a command's argv (visible to ps),
    # into a file that is 0600 from its creation, then 0640.
    # shellcheck disable=SC2016 # the inner script expands its own arguments
    (cd "$new" && runuser -u pond -- bash -c '
        set -euo pipefail
        file="$1"
        [[ -f "$file" && ! -L "$file" ]] || { echo "config file $file is not a plain file" >&2; exit 3; }
        if grep -q "@@POND_SECRET_DB_PASSWORD@@" "$file"; then
            [[ -s "$2" ]] || { echo "$file needs the database password, but this server has none (no database provisioned)" >&2; exit 3; }
            password="$(< "$2")"
            text="$(cat -- "$file"; printf x)"
            text="${text%x}"
            tmp="$(mktemp "$file.XXXXXX")"
            printf "%s" "${text//@@POND_SECRET_DB_PASSWORD@@/$password}" > "$tmp"
            chmod 0640 "$tmp"
            mv -f -- "$tmp" "$file"
        fi
        chmod 0640 "$file"' fill "$config_file" "$ROOT/config/db-password" < /dev/null)
done <<< "$CONFIG_FILES"

while IFS= read -r hook; do
    [[ -n "$hook" ]] || continue
    echo "== post-deploy hook $hook"
    (cd "$new" && runuser -u pond -- bash "$hook")
done <<< "$HOOKS"

# What every file looks like now, for the next deploy's check of changes
# made on the server. Without hooks only this run's paths changed (every
# file found changed was resent or deleted), so the record is updated for
# those; hooks may touch anything, so then the tree is walked again.
if [[ -z "$HOOKS" && -f "$new/.pond/stat" ]]; then
    (cd "$new" && sed -e '/^\.pond\//d' -e 's|^|./|' "$incoming/extracted" | tr '\n' '\0' |
        xargs -0 -r sh -c 'find "$@" -maxdepth 0 -type f -printf "%p\t%s\t%T@\n"' find | sed 's|^\./||') > "$incoming/restat"
    awk -F'\t' 'FILENAME == ARGV[1] || FILENAME == ARGV[2] { drop[$1] = 1; next } !($1 in drop)' \
        "$incoming/deleted" "$incoming/extracted" "$new/.pond/stat" > "$incoming/stat"
    cat "$incoming/restat" >> "$incoming/stat"
    mv "$incoming/stat" "$new/.pond/stat"
else
    (cd "$new" && find . -path ./.pond -prune -o -type f -printf '%P\t%s\t%T@\n') > "$new/.pond/stat"
fi

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
# Old ones are renamed out of the way at once and deleted in the
# background (a big tree takes seconds to delete); a deletion cut short is
# finished by the next deploy.
in_use=" $(readlink blue) $(readlink green) "
find releases -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' -printf '%f\n' | sort -r | tail -n +"$((KEEP_BUILDS + 1))" |
    while IFS= read -r old; do
        [[ "$in_use" == *" releases/$old "* ]] || { echo "removing old release $old"; mv -T "releases/$old" "releases/.old-$old"; }
    done
if compgen -G 'releases/.old-*' >/dev/null; then
    setsid -f nice rm -rf -- releases/.old-* </dev/null >/dev/null 2>&1 || rm -rf -- releases/.old-*
fi
echo "DEPLOYED $RELEASE to $TARGET"
