#!/usr/bin/env bash
# summary: Create the new release from its base (the copy common/spare prepared, the inactive colour's release renamed, or a copy), apply an upload (zstd tar on stdin after this script, compressed against the base's copies of the files it replaces when REFERENCES names them), link shared paths (making the project's tree under them as the site user), run the post-deploy hooks, build Laravel's caches, point the inactive colour at it
# input ROOT [text]: the environment's directory on the server
# input RELEASE [text]: the new release id (time and tag)
# input BASE [text]: the release to start from, as deploy-prepare reported it (- for none)
# input? SPARE [text]: yes when deploy-prepare reported on the copy common/spare made of BASE (its changes on the server were found then): the release must start from that copy
# input? LINK_COPY [text]: yes when nothing writes files in place (a static site without hooks): a kept base is copied with hard links
# input TARGET [text]: the colour to point at the release (blue or green)
# input FIRST [text]: yes on the first deploy (both colours get the release, blue goes live)
# input? DELETED [text]: paths to remove from the release, one per line
# input? ABOVE [text]: the directories above what the upload puts in a release made from a base, parents first, one per line
# input? SHARED_PATHS [text]: persistent paths, one per line
# input? SHARED_TREE [text]: the project's tree under its shared paths, made where missing: d<TAB>path or f<TAB>path<TAB>base64 (a placeholder file), one per line
# input? FRAMEWORK [text]: laravel for a Laravel app (its bootstrap caches are built in the release), else empty
# input? CONFIG_FILES [text]: rendered config files in the release, one per line; their secret placeholders are filled in here
# input? HOOKS [text]: post-deploy hooks in the release, one per line: timeout in seconds, deploy or root, path
# input STATE [text]: the new metadata/state.json
# input LOG_LINE [text]: the line to append to metadata/log.jsonl
# input KEEP_BUILDS [text]: how many releases to keep
# input? STREAMED [text]: yes when the upload is a release streamed from another server (pond scale): it must carry that release's manifest, else nothing is pointed at it
# input? LOCK_PID [text]: the process holding this deploy's lock (common/lock): this script joins it, so breaking the lock ends it too
# input? REFERENCES [text]: files of the base whose contents the upload was compressed against, one per line, in order (zstd's reference prefix; src/tasks/upload_store.rs)
# input? REFERENCE_SHA256 [text]: SHA-256 of those contents concatenated, as the client kept them
# input? REFERENCE_BYTES [text]: their size in bytes, concatenated (no more is read)
# input SITE_USER [unix_user]: the environment's site user (PHP); owns its shared paths
# input DEPLOY_USER [unix_user]: the user owning the release trees; every change to a tree is made as this user
set -euo pipefail
# The deploy as named steps (the list at the end), each a function below.
# A step that fails says which and why, on stderr and as a `failed`
# report: `fail` for the failures it foresees; for any other command that
# fails, the ERR trap names the command.
set -E
umask 027
step=inputs
fail() { # reason [exit code]: the current step fails, saying why
    report failed step "$step" reason "$1"
    echo "step $step: $1" >&2
    exit "${2:-3}"
}
on_error() { # exit status, command: a failure no step foresaw
    ((BASH_SUBSHELL == 0)) || return 0
    report failed step "$step" reason "$2 failed (exit $1, in ${FUNCNAME[1]:-the script})"
    echo "step $step: $2 failed (exit $1, in ${FUNCNAME[1]:-the script})" >&2
}
trap 'on_error "$?" "$BASH_COMMAND"' ERR
# Root changes only root's own directories (releases/, the links,
# metadata/); inside a release tree, which the deploy user owns, it acts
# only as that user, so a link planted there reaches nothing more.
# setpriv, not runuser: no PAM session for each of the dozen small steps.
# (Every deploy waits for this script: it forks only where a command does
# what bash cannot; a fork costs 1-3 ms on a small droplet.)
gid_of() { # user: its primary group id, in $gid (from /etc/passwd; id for others)
    local name _x _uid
    while IFS=: read -r name _x _uid gid _; do
        [[ "$name" == "$1" ]] && return 0
    done < /etc/passwd
    gid="$(id -g "$1")"
}
gid_of "$DEPLOY_USER"
deploy_gid="$gid"
gid_of "$SITE_USER"
site_gid="$gid"
# (Neither gets fd 7, a hook unit's gate (see unit_start), nor fd 8, the
# spare lock while step_release and step_reference hold it.)
# The deploy user's command prefix (merge_manifest runs it in the
# background itself, so that $! is the worker).
as_deploy_prefix=(setpriv --reuid="$DEPLOY_USER" --regid="$deploy_gid" --init-groups --reset-env --)
as_deploy() { "${as_deploy_prefix[@]}" "$@" 7>&- 8>&-; }
as_site() { setpriv --reuid="$SITE_USER" --regid="$site_gid" --init-groups --reset-env -- "$@" 7>&- 8>&-; }
new="releases/$RELEASE"
incoming=""
# This script's line in its lock holder's record (step_lock), removed when
# it ends with no hook of its own left running, so the next lock knows
# that nothing of this deploy can still run.
record=""
own_line=""
hook_unit=""  # a hook unit started (unit_start), until it ends
gate_opened=no
# The manifest's merge in the background (merge_manifest), until waited
# for (merged). Never killed: it only reads the release and writes root's
# scratch directory, which leave deletes; a broken lock ends it with the
# rest of this deploy's process group.
merging=""
leave() {
    # (A release made but not changed yet, the deploy ending before its
    # upload: what it was made from goes back.)
    [[ -z "$made_from" ]] || unmake_release || true
    if [[ -n "$hook_unit" && "$gate_opened" == no ]]; then
        # Never opened: the unit's gate reads its end and runs nothing.
        exec 7>&-
        wait "$hook_unit" 2>/dev/null || true
        hook_unit=""
    fi
    # (Opened: the hook may still run, even if systemd-run was ended with
    # this script; the record stays, and the next lock holder stops it.)
    [[ -z "$incoming" ]] || rm -rf -- "$incoming"
    local lines=()
    if [[ -n "$record" && -z "$hook_unit" ]]; then
        mapfile -t lines < "$record" 2>/dev/null || true
        [[ "${#lines[@]}" != 1 || "${lines[0]}" != "$own_line" ]] || rm -f -- "$record"
    fi
}
trap leave EXIT

step_inputs() {
    [[ "$RELEASE" =~ ^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$ ]] || fail "bad release id" 2
    [[ "$TARGET" == blue || "$TARGET" == green ]] || fail "bad colour: $TARGET" 2
    [[ "$KEEP_BUILDS" =~ ^[0-9]+$ ]] || fail "bad keep count" 2
    [[ "$BASE" == - || "$BASE" =~ ^releases/[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$ ]] || fail "bad base release: $BASE" 2
    [[ -z "$LOCK_PID" || "$LOCK_PID" =~ ^[0-9]+$ ]] || fail "bad lock pid: $LOCK_PID" 2
    # (Physically: the link checks below compare resolved paths with it.)
    cd -P "$ROOT"
    root_real="$PWD"
    local dir name to
    for dir in releases shared config metadata; do
        [[ -d "$dir" && ! -L "$dir" && -O "$dir" ]] ||
            fail "$ROOT/$dir is not root's directory (provisioned by an older Pond?); run pond provision first"
    done
    # The links, read once (only this script changes them, under the lock).
    declare -gA link=()
    while IFS=$'\t' read -r name to; do
        link[$name]="$to"
    done < <(find current blue green preview -maxdepth 0 -type l -printf '%p\t%l\n' 2>/dev/null || true)
    live="${link[current]:-}"
    [[ "$live" == blue || "$live" == green ]] || fail "current points at ${live:-nothing}, expected blue or green"
    live_release="${link[$live]:-}"
    [[ "$live" != "$TARGET" || "$FIRST" == yes ]] || fail "$TARGET is live; refusing to touch it"
}

step_lock() {
    # Join the lock: record this script's PID with its holder, then check
    # the holder still has it (a lock broken meanwhile stops this deploy
    # before it changes anything; one broken later ends it).
    [[ -n "$LOCK_PID" ]] || return 0
    # PID and start time: a PID reused later is never taken for this one.
    local own
    read -r own < "/proc/$$/stat"
    read -ra own <<< "${own##*) }"
    record="/run/pond/locks/${ROOT#/var/www/pond/projects/}/$LOCK_PID"
    own_line="$$ ${own[19]}"
    printf '%s\n' "$own_line" >> "$record"
    # The holder's fd 9 is the lock file itself (same device and inode).
    [[ "/proc/$LOCK_PID/fd/9" -ef metadata/lock ]] ||
        fail "this deploy no longer holds the lock on $ROOT (broken by another deploy?); nothing was changed" 75
}

# What was renamed out of the way (releases/.old-*) is deleted in the
# background: a big tree takes seconds; a deletion cut short is finished
# by the next deploy. Root's scratch directory, when named, goes with it
# (one process fewer at the end); says whether a deletion started.
delete_old_in_background() { # [root's scratch directory]
    compgen -G 'releases/.old-*' >/dev/null || return 1
    setsid -f nice rm -rf -- releases/.old-* "$@" </dev/null >/dev/null 2>&1 7>&- || rm -rf -- releases/.old-* "$@"
}

step_leftovers() {
    # What a deploy cut short left: its upload and copies, releases it
    # had begun (still 0700, no colour on them), which would otherwise
    # count among the kept ones, and copies it renamed away.
    if compgen -G 'releases/.incoming-*' >/dev/null || compgen -G 'releases/*.copying' >/dev/null; then
        rm -rf releases/.incoming-* releases/*.copying
    fi
    local in_use begun
    in_use=" ${link[blue]:-} ${link[green]:-} "
    find releases -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' -perm 0700 -printf '%f\n' |
        while IFS= read -r begun; do
            [[ "$in_use" == *" releases/$begun "* ]] || mv -T "releases/$begun" "releases/.old-$begun.$$"
        done
    delete_old_in_background || true
}

# The new release, never the live one in place: the copy common/spare
# made of the base after the last deploy or swap; else, with only blue and
# green kept, the inactive colour's old release (deleted anyway) renamed
# (never the live release: after a first deploy both colours share it);
# else a copy, so kept releases stay intact. The new release is the deploy
# user's alone (0700) until it is complete: the site user cannot enter it
# while it is built and hooks run. Then root's scratch directory is made
# and the first hook's unit started behind its gate: systemd's set-up,
# tens of ms, is done while the upload is applied.
step_release() {
    make_release
    incoming="$(mktemp -d)"
    hook_ahead
}

make_release() {
    # (One a deploy cut short began was cleared as a leftover.)
    [[ ! -e "$new" ]] || fail "release $RELEASE already exists"
    if [[ "$BASE" == - ]]; then
        install -d -o "$DEPLOY_USER" -g "$SITE_USER" -m 0700 "$new"
        made_from=nothing
        return 0
    fi
    [[ -d "$BASE" && ! -L "$BASE" ]] || fail "the base release $BASE is gone (another deploy ran?); deploy again"
    local copy usable=no old
    # The copy is waited for if it is still being made; other copies are
    # stale.
    exec 8<>metadata/spare.lock
    copy="releases/.spare-${BASE#releases/}"
    if [[ "$SPARE" != yes && "$BASE" != "$live_release" && "$KEEP_BUILDS" -le 2 ]] && ! flock -n 8; then
        copy=""  # another release is being copied; this base is renamed now
    elif ! flock -n 8 && ! {
        # (A deploy right after the last one: its copy is still being made.)
        echo "waiting for the copy the last deploy or swap started in the background to finish"
        flock -w 30 8
    }; then
        # Slowed down (a loaded server): this deploy copies for itself.
        echo "the background copy is slow; stopping it and copying here"
        # Not the copy this deploy started alongside itself (it waits for
        # this deploy's lock holder, and is named after it).
        local unit
        systemctl list-units --all --plain --no-legend --type=service "pond-spare-$DEPLOY_USER.*" 2>/dev/null |
            while read -r unit _; do
                [[ "$unit" == "pond-spare-$DEPLOY_USER.after$LOCK_PID-"* && -n "$LOCK_PID" ]] ||
                    systemctl stop "$unit" 2>/dev/null || true
            done
        flock -w 30 8 || fail "the background copy of the base does not stop; nothing was changed, deploy again"
    fi
    # Complete only with its record (common/spare writes it before the
    # directory is in place and deletes it first).
    if [[ -n "$copy" && -d "$copy" && ! -L "$copy" && -f "$copy.stale" && ! -L "$copy.stale" ]]; then usable=yes; fi
    [[ "$SPARE" != yes || "$usable" == yes ]] ||
        fail "the copy of ${BASE#releases/} that this deploy was compared with is gone (something changed on the server meanwhile); nothing was changed, deploy again"
    for old in releases/.spare-*; do
        [[ -n "$copy" && -e "$old" ]] || continue
        [[ "$usable" == yes && "$old" == "$copy" ]] && continue
        mv -T "$old" "releases/.old-${old#releases/.}.$$"
        # (The copy's record, which goes with it: kept for unmake_release.)
        [[ "$usable" != yes || "$old" != "$copy.stale" ]] || spare_record="releases/.old-${old#releases/.}.$$"
    done
    if [[ "$usable" == yes ]]; then
        mv -T "$copy" "$new"
        made_from="$copy"
        echo "started from the copy of ${BASE#releases/} prepared after the last deploy or swap"
    elif [[ "$BASE" != "$live_release" && "$KEEP_BUILDS" -le 2 ]]; then
        # Closed first: a cut between the two leaves no open release
        # without a colour (which would count among the kept ones).
        chmod 0700 "$BASE"
        mv -T "$BASE" "$new"
        made_from="$BASE"
    else
        # Inside a directory only the deploy user enters (cp -a gives the
        # copy's top the base's 0750 when it ends), then moved out.
        install -d -o "$DEPLOY_USER" -g "$SITE_USER" -m 0700 "$new.copying"
        if [[ "$BASE" != "$live_release" && "$LINK_COPY" == yes ]]; then
            # Nothing rewrites a file in place here; the upload below
            # replaces files with new inodes, so the kept release stays.
            as_deploy cp -al "$BASE" "$new.copying/tree"
        else
            as_deploy cp -a --reflink=auto "$BASE" "$new.copying/tree"
        fi
        as_deploy chmod 0700 "$new.copying/tree"
        mv -T "$new.copying/tree" "$new"
        made_from=copy
        rm -rf -- "$new.copying"
        [[ -d "$new" && ! -L "$new" ]] || fail "the copy of $BASE is not a directory; nothing was pointed at it"
    fi
    # (The spare lock, when this step took it, stays held until
    # step_reference has passed: no background copy of the base starts
    # while the copy may still go back.)
}
made_from=""
spare_record=""

# Undoes step_release when the deploy ends before anything changed in the
# new release (an upload refused in step_reference, or any end before the
# upload: leave): the copy (with its record) or the
# renamed base goes back where it was (the client then sends the same
# release again, the files whole); a release made here is renamed away,
# deleted in the background by the next deploy.
unmake_release() {
    local from="$made_from"
    made_from=""
    case "$from" in
        "") ;;
        copy | nothing) mv -T "$new" "releases/.old-$RELEASE.$$" ;;
        "$BASE") mv -T "$new" "$BASE" && chmod 0750 "$BASE" ;;
        *)
            mv -T "$new" "$from"
            [[ -z "$spare_record" ]] || mv -T "$spare_record" "$from.stale"
            ;;
    esac
    exec 8>&-
}

# A link may stand where the project has a directory: left by a hook
# (the seal refuses one into another release, but one into shared/ can
# be led on by the site user), or by an older Pond. What a later deploy
# does under such a path, as the deploy user, who owns every release,
# would reach through it (GNU tar follows a link above a member). So
# one leading out of the release is removed first where the upload puts
# files or a shared path is linked (unlink_outside_above); what is
# removed is looked up first (link_out_above), what is read or run must
# be reached through no link at all, or none leading out. (A link left
# that leads within the release is followed; where its resolution passes
# through shared/, the site user could re-point it between the check and
# the use: a race these checks narrow but do not close.)
link_above() { # path in the release [out]: the first directory above it that is a link, in $above_link
    # (With out: the first that leads out of the release, as readlink -m
    # resolves it now; links leading within it, a hook's or the project's
    # own, are looked through. A process only where a link is.)
    local part parts
    above_link="$new"
    [[ "$1" == */* ]] || return 1
    IFS=/ read -ra parts <<< "${1%/*}"
    for part in "${parts[@]}"; do
        above_link="$above_link/$part"
        [[ -L "$above_link" ]] || continue
        [[ "${2:-}" == out && "$(readlink -m -- "$above_link")/" == "$root_real/$new/"* ]] || return 0
    done
    return 1
}

link_out_above() { # path in the release: link_above it, out
    link_above "$1" out
}

# That link, removed by the deploy user (its own tree): the upload or the
# shared link then makes a directory there.
unlink_outside_above() { # path in the release
    ! link_out_above "$1" || as_deploy rm -f -- "$above_link"
}

is_shared() { # path: under a shared path (which lives outside the release)?
    local shared
    while IFS= read -r shared; do
        [[ -n "$shared" ]] || continue
        [[ "$1" == "$shared" || "$1" == "$shared"/* ]] && return 0
    done <<< "$SHARED_PATHS"
    return 1
}

# The contents the upload was compressed against: the base's copies of
# the files it replaces, now in the new release (made from the base, or
# from the copy common/spare prepared of it when deploy-prepare reported
# on that), read by the deploy user in the client's order into root's own
# directory, and checked against the client's SHA-256 before anything in
# the release changes: a mismatch (a copy changed on the server with its
# size and time kept, a file a hook made a link) fails here, the release
# unmade (unmake_release), and the client sends the files whole.
step_reference() {
    unpack=(zstd -dcq)
    if [[ -z "$REFERENCES" ]]; then
        made_from=""
        exec 8>&-
        return 0
    fi
    refused() { unmake_release; fail "$@"; }
    [[ "$REFERENCE_SHA256" =~ ^[0-9a-f]{64}$ ]] || refused "bad reference checksum: $REFERENCE_SHA256" 2
    [[ "$REFERENCE_BYTES" =~ ^[0-9]{1,10}$ ]] || refused "bad reference size: $REFERENCE_BYTES" 2
    # Each a plain file reached through no link (each part checked in
    # turn, so none is followed). Only the deploy user writes the base, and
    # while this deploy holds the lock nothing of its runs but a hook
    # unit's gate, which runs nothing before "go".
    [[ "$BASE" != - ]] || refused "references without a base release" 2
    local path at files=()
    while IFS= read -r path; do
        case "/$path/" in //* | */../* | */./* | /.pond/*) refused "bad reference path: $path" 2 ;; esac
        ! link_above "$path" || refused "the base's $path is reached through a link (${above_link#"$new"/}); nothing was changed"
        at="$new/$path"
        [[ -f "$at" && ! -L "$at" ]] || refused "the base's $path is not a plain file; nothing was changed"
        files+=("$at")
    done <<< "$REFERENCES"
    # No more than the client's bytes are read, however long a file is.
    printf '%s\0' "${files[@]}" | as_deploy timeout 30 xargs -0 cat -- | head -c "$REFERENCE_BYTES" > "$incoming/reference" ||
        refused "the server's copies of the files sent as differences could not be read; nothing was changed"
    [[ "$(sha256sum < "$incoming/reference")" == "$REFERENCE_SHA256  -" ]] ||
        refused "the server's copies of the files sent as differences are not what this computer sent (changed on the server?); nothing was changed"
    unpack=(zstd -dcq --patch-from="$incoming/reference")
    made_from=""
    exec 8>&-
}

# Paths removed locally since the base release go first (one reached
# through a link out of the release is not in it: left alone). Then the upload is
# extracted straight into the new release: tar unlinks an existing file
# before writing it (a new inode), and no colour serves this release until
# the end, so a cut upload is never visible.
step_upload() {
    local path
    # Where the upload puts files, a link leading out of the release goes
    # first.
    local dir
    [[ -z "$ABOVE" ]] || while IFS= read -r dir; do
        [[ -n "$dir" ]] || continue
        case "/$dir/" in //* | */../* | */./*) fail "bad upload directory: $dir" 2 ;; esac
        unlink_outside_above "$dir/x"
    done <<< "$ABOVE"
    [[ -z "$DELETED" ]] || while IFS= read -r path; do
        [[ -n "$path" && "$path" != *..* ]] || continue
        is_shared "$path" && continue
        link_out_above "$path" && continue
        printf '%s\0' "${new:?}/$path"
    done <<< "$DELETED" | as_deploy xargs -0 -r rm -rf --
    [[ -d "$new/.pond" && ! -L "$new/.pond" ]] || as_deploy mkdir -p "$new/.pond"
    # Extracted by the deploy user: files are its own, with the modes the
    # client sent. (A streamed release's is listed, tar -v, to be checked
    # below.)
    local cut_short="the upload could not be unpacked (cut short, or the disk is full?); nothing was pointed at it"
    if [[ "$STREAMED" == yes ]]; then
        "${unpack[@]}" | as_deploy tar -x -v --ignore-zeros -C "$new" --no-same-owner --delay-directory-restore |
            sed -e 's|^\./||' -e 's|/$||' -e '/^\.\{0,1\}$/d' > "$incoming/extracted" || fail "$cut_short"
    else
        "${unpack[@]}" | as_deploy tar -x --ignore-zeros -C "$new" --no-same-owner --delay-directory-restore ||
            fail "$cut_short"
    fi
    # (The new manifest, the base's with the entries the upload brought in
    # .pond/manifest.delta, is merged in the background from here, marked
    # and written by the seal.)
    # A streamed release that arrived without its manifest means the sending
    # side refused or stopped (its error is on the client): no colour may
    # point at what little came.
    if [[ "$STREAMED" == yes ]] && ! grep -qxF .pond/manifest "$incoming/extracted"; then
        rm -rf -- "${new:?}"
        fail "the release stream from the other server was empty or cut; nothing was pointed at it"
    fi
    # What changes in the release from here on (config files filled in,
    # hooks) is found by the seal against this mark (its time of change).
    : > "$incoming/uploaded"
    merge_manifest
    echo "applied the upload"
}

# The new manifest: the base's, minus deleted and resent paths, plus the
# entries of the files just sent (.pond/manifest.delta), read by the
# deploy user (its own tree) into root's scratch directory, in the
# background while the shared paths and config files are done; waited for
# (merged) before any hook runs, so no hook can stop or tamper with it,
# and marked and written by the seal. ($! is the worker itself: setpriv
# execs awk. awk reads the deleted paths as /dev/stdin, its fd 0, a
# pipe root made, so any length works: the deploy user opens no file of
# root's. Nor does it get fd 7, a hook unit's gate.)
merge_manifest() {
    # (A record the release lacks reads as empty: /dev/null. Root only
    # looks at the names, following no link: .pond itself must be none.)
    [[ ! -L "$new/.pond" ]] || fail "$new/.pond is a link (the base's hooks made it one?); nothing was pointed at the release"
    local records=() record
    for record in manifest.delta manifest; do
        if [[ -L "$new/.pond/$record" || -e "$new/.pond/$record" ]]; then
            records+=("$new/.pond/$record")
        else
            records+=(/dev/null)
        fi
    done
    # shellcheck disable=SC2016 # an awk program
    "${as_deploy_prefix[@]}" awk -F'\t' 'FILENAME == ARGV[1] { drop[$0] = 1; next }
                          FILENAME == ARGV[2] { drop[$4] = 1; print; next }
                          !($4 in drop)' /dev/stdin "${records[@]}" \
        < <(exec 7>&-; printf '%s\n' "$DELETED") > "$incoming/manifest.merged" 7>&- &
    merging=$!
}

merged() { # waits for merge_manifest; fails the step if it failed
    [[ -n "$merging" ]] || return 0
    wait "$merging" || { merging=""; fail "the release's manifest could not be merged (the base's .pond/manifest unreadable?); nothing was pointed at it"; }
    merging=""
}

# Shared paths: seeded once, then kept across releases. A path made shared
# on a live environment starts from the live release (where the running
# site wrote its data), with the upload merged under it; on a first deploy
# from the upload, merged under anything already there (attachments).
# Each is the site user's, copied by it (it reads the releases through
# its group); its directories are setgid to the environment's group with
# a default ACL, so what either the site or the deploy user makes there
# stays writable by both. Root makes only the directories above it.
seed_shared() { # shared path: made in shared/ from the releases, once
    local shared="$1" kept="shared/$1" above=shared part parts from sources
    IFS=/ read -ra parts <<< "$(dirname "$shared")"
    for part in "${parts[@]}"; do
        [[ "$part" == . ]] && continue
        above="$above/$part"
        [[ ! -L "$above" ]] || fail "$ROOT/$above is a link; refusing to follow it"
        install -d -o root -g "$SITE_USER" -m 0750 "$above"
    done
    [[ ! -L "$kept" ]] || rm -f -- "$kept"
    # An older layout's: the site user's from now on (no link followed).
    [[ ! -e "$kept" ]] || chown -R -P "$SITE_USER:$SITE_USER" "$kept"
    sources=("$new")
    [[ "$FIRST" == yes ]] || sources=("$live_release" "$new")
    # Read from the release by its owner, written by the site user into
    # its own directory (tar keeps links as links; nothing is followed).
    for from in "${sources[@]}"; do
        if [[ -f "$from/$shared" && ! -L "$from/$shared" ]]; then
            if [[ ! -e "$kept" ]]; then
                install -o "$SITE_USER" -g "$SITE_USER" -m 0660 /dev/null "$kept"
                as_deploy cat -- "$from/$shared" | as_site tee -- "$kept" >/dev/null
            fi
        elif [[ -d "$from/$shared" && ! -L "$from/$shared" ]]; then
            [[ -e "$kept" ]] || install -d -o "$SITE_USER" -g "$SITE_USER" -m 2770 "$kept"
            as_deploy tar -C "$from/$shared" -cf - . |
                as_site tar -C "$kept" -xf - --no-same-owner --skip-old-files
            [[ "$from" == "$new" ]] || echo "seeded $kept from the live release ${live_release#releases/}"
        fi
    done
    [[ -e "$kept" ]] || install -d -o "$SITE_USER" -g "$SITE_USER" -m 2770 "$kept"
    if [[ -d "$kept" ]]; then
        as_site find "$kept" -type d -exec chmod g+rwxs {} + -exec setfacl -d -m u::rwX,g::rwX,o::- {} +
        as_site find "$kept" -type f -exec chmod g+rw {} +
    else
        as_site chmod g+rw "$kept"
    fi
}

step_shared() {
    local seeded="metadata/shared-seeded" shared kind path under
    # A link left above a shared path that leads out of the release goes
    # first (before seeding reads the path): the shared link is made in
    # the release's own directory, never through it. (One leading within
    # the release stays: it may be the project's own.)
    while IFS= read -r shared; do
        [[ -n "$shared" && "$shared" != *..* ]] || continue
        unlink_outside_above "$shared"
    done <<< "$SHARED_PATHS"
    if [[ ! -e "$seeded" && -f shared/.pond-seeded && ! -L shared/.pond-seeded ]]; then
        cp -- shared/.pond-seeded "$seeded"
    fi
    : >> "$seeded"
    local done_before=() linked=() line
    local -A seeded_before=()
    mapfile -t done_before < "$seeded"
    for line in "${done_before[@]}"; do
        [[ -z "$line" ]] || seeded_before["$line"]=1
    done
    while IFS= read -r shared; do
        [[ -n "$shared" ]] || continue
        [[ "$shared" != *..* ]] || fail "bad shared path: $shared" 2
        if [[ -z "${seeded_before["$shared"]:-}" ]]; then
            seed_shared "$shared"
            printf '%s\n' "$shared" >> "$seeded"
        fi
        linked+=("$shared")
    done <<< "$SHARED_PATHS"
    # Each a link into shared/, made by the deploy user (one process for
    # all): a link already there is replaced, anything else removed first;
    # one that is that very link already (the base's) is left as it is.
    local relink=() at to
    local -A link_text=()
    if ((${#linked[@]})); then
        while IFS=$'\t' read -r at to; do
            link_text[$at]="$to"
        done < <(find "${linked[@]/#/$new/}" -maxdepth 0 -type l -printf '%p\t%l\n' 2>/dev/null || true)
    fi
    for shared in "${linked[@]}"; do
        [[ "${link_text[$new/$shared]:-}" == "$ROOT/shared/$shared" ]] || relink+=("$shared")
    done
    # shellcheck disable=SC2016 # the inner script expands its own arguments
    ((${#relink[@]} == 0)) || as_deploy bash -c '
        set -euo pipefail
        release="$1" shared_dir="$2"
        shift 2
        for shared; do
            at="$release/$shared"
            if [[ -e "$at" && ! -L "$at" ]]; then rm -rf -- "$at"; fi
            [[ "$shared" != */* ]] || mkdir -p -- "${at%/*}"
            ln -sfn -- "$shared_dir/$shared" "$at"
        done' links "$new" "$ROOT/shared" "${relink[@]}"
    # The project's directory tree under its shared paths, with placeholder
    # files, on every deploy: what is missing is made by the site user (in
    # its own directories, so no privilege is lent), in one process;
    # nothing that exists changes.
    while IFS=$'\t' read -r kind path _; do
        [[ -n "$kind" ]] || continue
        [[ "$kind" == d || "$kind" == f ]] || fail "bad shared tree line: $kind" 2
        case "/$path/" in */../* | */./* | *//*) fail "bad shared tree path: $path" 2 ;; esac
        under=no
        while IFS= read -r shared; do
            [[ -n "$shared" && "$path" == "$shared"/* ]] && under=yes
        done <<< "$SHARED_PATHS"
        [[ "$under" == yes ]] || fail "shared tree path $path is under no shared path" 2
    done <<< "$SHARED_TREE"
    [[ -n "$SHARED_TREE" ]] || return 0
    # shellcheck disable=SC2016 # the inner script expands its own variables
    printf '%s\n' "$SHARED_TREE" | (cd shared && as_site bash -c '
        set -uo pipefail
        while IFS="$(printf "\t")" read -r kind path content; do
            case "$kind" in
                d) mkdir -p -- "$path" 2>/dev/null || echo "warning: could not make shared/$path (something else is in the way)" ;;
                f) [[ -e "$path" || ! -d "$(dirname -- "$path")" ]] || printf "%s" "$content" | base64 -d > "$path" ;;
            esac
        done')
}

# Config files arrive rendered except for secrets: filled in here.
step_config() {
    # Server-held config (db password) is linked, never copied to the client.
    # (The base's link, when it is that very link, is left as it is.)
    if [[ -f config/db-password ]]; then
        local to=""
        IFS= read -r to < <(find "$new/.pond/db-password" -maxdepth 0 -type l -printf '%l\n' 2>/dev/null || true) || true
        [[ "$to" == "$ROOT/config/db-password" ]] ||
            as_deploy ln -sfn "$ROOT/config/db-password" "$new/.pond/db-password"
    fi
    local config_file
    while IFS= read -r config_file; do
        [[ -n "$config_file" && "$config_file" != *..* ]] || continue
        [[ -f "$new/$config_file" ]] || fail "config file $config_file missing from the upload"
        # Filled in as the deploy user, who may read the password and the
        # secrets anyway: by the shell itself, so no value is ever in a
        # command's argv (visible to ps), into a file that is 0600 from its
        # creation, then 0640. Its own errors say what is missing.
        # shellcheck disable=SC2016 # the inner script expands its own arguments
        (cd "$new" && as_deploy bash -c '
            set -euo pipefail
            file="$1"
            [[ -f "$file" && ! -L "$file" ]] || { echo "config file $file is not a plain file" >&2; exit 3; }
            # A secret may hold "&", which bash 5.2 would replace with the match.
            shopt -u patsub_replacement 2>/dev/null || true
            text="$(cat -- "$file"; printf x)"
            text="${text%x}"
            changed=no
            if [[ "$text" == *@@POND_SECRET_DB_PASSWORD@@* ]]; then
                [[ -s "$2" ]] || { echo "$file needs the database password, but this server has none (no database provisioned)" >&2; exit 3; }
                password="$(< "$2")"
                text="${text//@@POND_SECRET_DB_PASSWORD@@/$password}"
                changed=yes
            fi
            # App secrets (pond secret): @@POND_SECRET:NAME@@, one file each.
            while IFS= read -r token; do
                name="${token#@@POND_SECRET:}"
                name="${name%@@}"
                secret="$3/$name"
                [[ -f "$secret" && ! -L "$secret" ]] || { echo "$file needs the secret $name, which is not set on this server: pond secret set $4 $name (or pond secret generate $4 $name)" >&2; exit 3; }
                value="$(cat -- "$secret"; printf x)"
                value="${value%x}"
                text="${text//"$token"/$value}"
                changed=yes
            done < <(grep -o "@@POND_SECRET:[A-Z][A-Z0-9_]*@@" "$file" | sort -u || true)
            if [[ "$changed" == yes ]]; then
                tmp="$(mktemp "$file.XXXXXX")"
                printf "%s" "$text" > "$tmp"
                chmod 0640 "$tmp"
                mv -f -- "$tmp" "$file"
            fi
            chmod 0640 "$file"' fill "$config_file" "$ROOT/config/db-password" "$ROOT/config/secrets" "${ROOT##*/}" < /dev/null) ||
            fail "config file $config_file could not be filled in; nothing was pointed at the release"
    done <<< "$CONFIG_FILES"
}

# A hook runs in a transient unit of its own: as the deploy user (root
# only when pond.json says so), stdin from /dev/null, without the lock's
# descriptor, stopped after its timeout; whatever it leaves running ends
# with its unit, so it can hold neither the lock nor the connection.
# The unit starts with its command behind a gate, a pipe on the unit's
# stdin whose other end only this script holds (fd 7: the site and deploy
# users' processes and what runs in the background never get it; the
# rest, waited for, hold it only meanwhile): the unit runs nothing until
# unit_finish writes "go" (the command then gets /dev/null), and nothing
# at all if this script ends first (the pipe's end). So a unit can be
# started ahead, its set-up done while the release is still being made.
# The command's timeout runs from "go" on: then unit_finish stops the
# unit (systemd ends all in it, killing what is left 10 s later; nothing
# of the hook's user can stop that clock). Ending the main process ends
# the unit and all in it. The unit's RuntimeMaxSec bounds everything, the
# wait at the gate included.
unit_start() { # directory, timeout, deploy|caches|root, what, command...
    local dir="$1" timeout="$2" as="$3" run fifo
    unit_what="$4"
    unit_timeout="$timeout"
    shift 4
    case "$as" in
        # The deploy user's hook may write only the new release, the shared
        # paths, tmp and its home: a link the site user plants in a shared
        # path cannot lead it into the live or a kept release.
        deploy) run=(--uid="$DEPLOY_USER" --gid="$SITE_USER" -E HOME="/var/lib/pond/deploy/$DEPLOY_USER"
            -p ProtectSystem=strict -p PrivateTmp=yes -p NoNewPrivileges=yes -p RestrictSUIDSGID=yes
            -p ReadWritePaths="-$ROOT/$new -$ROOT/shared -$ROOT/tmp -/var/lib/pond/deploy/$DEPLOY_USER") ;;
        # Pond's own step (Laravel's caches): it may write bootstrap/cache
        # only; what the site user wrote (shared/) is read-only to it, and
        # Laravel logs to stderr and caches in memory meanwhile.
        caches) run=(--uid="$DEPLOY_USER" --gid="$SITE_USER" -E HOME="/var/lib/pond/deploy/$DEPLOY_USER"
            -p ProtectSystem=strict -p PrivateTmp=yes -p NoNewPrivileges=yes -p RestrictSUIDSGID=yes
            -p ReadWritePaths="$ROOT/$new/bootstrap/cache" -p ReadOnlyPaths="$ROOT/shared"
            -E LOG_CHANNEL=stderr -E CACHE_DRIVER=array -E SESSION_DRIVER=array) ;;
        root) run=(--uid=root -E HOME=/root) ;;
        *) fail "bad hook user: $as" 2 ;;
    esac
    # In root's own scratch directory; opened read-write here, so neither
    # side's open waits and "go" never meets a closed pipe.
    fifo="$incoming/gate.$((++units))"
    mkfifo -m 0600 "$fifo"
    exec 7<> "$fifo"
    gate_opened=no
    unit_name="pond-hook-$DEPLOY_USER.$$-$units-$RANDOM"
    # shellcheck disable=SC2016 # the gate's script expands its own arguments
    systemd-run --quiet --pipe --wait --collect --service-type=exec \
        --unit="$unit_name" "${run[@]}" --working-directory="$dir" \
        -p UMask=0027 -p RuntimeMaxSec="$((timeout + 21630))" -p TimeoutStopSec=10 \
        -E POND_ENV_DIR="$ROOT" \
        /bin/bash -c 'read -r -t 21600 go && [[ "$go" == go ]] || exit 97
            exec "$@" </dev/null' gate "$@" < "$fifo" 7>&- 8>&- 9>&- &
    hook_unit=$!
}
units=0

unit_finish() { # the unit unit_start started: runs it, waits for it; fails the step unless it ran well
    local started status=0
    echo "== $unit_what"
    started="$EPOCHSECONDS"
    echo go >&7
    gate_opened=yes
    exec 7>&-
    # The timeout: root's own clock; the unit is stopped when it runs out.
    local watchdog ended=""
    sleep "$unit_timeout" >/dev/null 2>&1 &
    watchdog=$!
    wait -n -p ended "$hook_unit" "$watchdog" || status=$?
    if [[ "$ended" == "$watchdog" ]]; then
        systemctl stop "$unit_name" 2>/dev/null || true
        status=0
        wait "$hook_unit" || status=$?
        ((status != 0)) || status=124
    else
        kill "$watchdog" 2>/dev/null || true
        wait "$watchdog" 2>/dev/null || true
    fi
    hook_unit=""
    [[ "$status" == 0 ]] && return 0
    if ((EPOCHSECONDS - started >= unit_timeout)); then
        fail "$unit_what was stopped after its timeout of $unit_timeout s; nothing was pointed at the release"
    fi
    fail "$unit_what failed (exit $status); nothing was pointed at the release"
}

run_unit() { # directory, timeout, deploy|caches|root, what, command...: fails the step
    unit_start "$@"
    unit_finish
}

# A hook's script is the release's own: one reached through a link that
# leads out of the release (into shared/, which the site user writes) is
# refused before it runs.
hook_within() { # hook path in the release: fails the step unless its script resolves within it
    # (The script itself counted among the links on its way.)
    ! link_out_above "$1/x" ||
        fail "the hook $1 is reached through a link out of the release (${above_link#"$new"/}); nothing was pointed at the release"
}

hook_line() { # line of HOOKS: its timeout, user and path in hook_timeout, hook_as, hook_path; fails if bad
    read -r hook_timeout hook_as hook_path <<< "$1"
    [[ "$hook_timeout" =~ ^[0-9]{1,6}$ && "$hook_timeout" -gt 0 && -n "$hook_path" && "$hook_path" != *..* ]]
}

# The first post-deploy hook's unit, started ahead behind its gate (its
# line checked again, and its failure said, by step_hooks).
hook_ahead() {
    local hook
    while IFS= read -r hook; do
        [[ -n "$hook" ]] || continue
        if hook_line "$hook" && [[ "$hook_as" == deploy || "$hook_as" == root ]]; then
            unit_start "$ROOT/$new" "$hook_timeout" "$hook_as" "post-deploy hook $hook_path" /bin/bash -- "$hook_path"
        fi
        return 0
    done <<< "$HOOKS"
}

# The post-deploy hooks, then Laravel's package and provider caches: they
# are written into bootstrap/cache when missing or stale; the site user
# never writes a release, so they are built here, as the deploy user,
# after the hooks (which may have made vendor/ with composer).
step_hooks() {
    local hook
    merged
    while IFS= read -r hook; do
        [[ -n "$hook" ]] || continue
        hook_line "$hook" || fail "bad hook line: $hook" 2
        hook_within "$hook_path"
        if [[ -n "$hook_unit" ]]; then
            unit_finish
        else
            run_unit "$ROOT/$new" "$hook_timeout" "$hook_as" "post-deploy hook $hook_path" /bin/bash -- "$hook_path"
        fi
    done <<< "$HOOKS"
    if [[ "$FRAMEWORK" == laravel && -f "$new/artisan" && -d "$new/bootstrap/cache" ]]; then
        # (The unit may write that directory: never one a link leads to.)
        if link_above bootstrap/cache/x; then
            fail "${above_link#"$new"/} in the new release is a link (a hook made it?): Laravel's caches are never written through one; nothing was pointed at the release"
        fi
        command -v php >/dev/null || fail "PHP is not installed on this server (provision it with the php stack)"
        run_unit "$ROOT/$new" 120 caches "Laravel's caches: php artisan package:discover" \
            /usr/bin/php artisan package:discover --ansi
    fi
}

# One walk of the new release (nothing in it runs any more) lists what
# the checks act on, and what every file looks like now, for the next
# deploy's check of changes made on the server. Names are NUL-ended
# wherever a list is acted on. The walk is most of the seal (a stat of
# every file), so it goes in parts: first the top two levels (part top,
# which also lists the directories at the second level), then the trees
# under those directories in two halves at once, alternately in parts a
# and b (unless a top directory's name starts with - or there are
# thousands of them: then part top walks everything). Every
# path is in exactly one part: at most two levels down in top, else under
# the one second-level directory above it (a directory, not a link: find
# follows none). Each part runs in the release and writes its own lists:
# the paths acted on as releases/<id>/…, like the rest of this script
# (the id has no % or \, which find's formats would read), the stat and
# changed lists relative to the release.
seal_walk() { # part, its start points (in the release), find's options before the expression (run in a subshell: it changes directory)
    local part="$1" rel=%p pond=".pond/*"
    shift
    [[ "$part" != top ]] || { rel=%P; pond="./.pond/*"; }
    # Changed since the upload: by inode change time, which a hook cannot
    # set back; with hard-linked copies (no hooks then) by content time,
    # since deleting an old release changes the shared inodes' ctime.
    local changed_since=(-cnewer "$incoming/uploaded")
    [[ "$LINK_COPY" != yes ]] || changed_since=(-newer "$incoming/uploaded")
    cd -- "$new" && find "$@" \( -user root -fprintf "$incoming/root-owned.$part" "$new/$rel\0" \) , \
        \( \( -user root -o -user "$DEPLOY_USER" \) ! -type l -perm /022 -fprintf "$incoming/writable.$part" "$new/$rel\0" \) , \
        \( ! -user root ! -user "$DEPLOY_USER" ! \( -type l -user "$SITE_USER" \) -fprintf "$incoming/strangers.$part" "$new/$rel\0" \) , \
        \( -type l ! -user "$SITE_USER" ! \( -path ./.pond/db-password -lname "$ROOT/config/db-password" \) \
            -fprintf "$incoming/links.$part" "$new/$rel\0" \) , \
        \( ! -type d ! -type l -perm /6000 -fprintf "$incoming/setid.$part" "$new/$rel\0" \) , \
        \( -type f ! -path "$pond" -fprintf "$incoming/stat.$part" "$rel\t%s\t%T@\n" \) , \
        \( -type f ! -path "$pond" "${changed_since[@]}" -fprintf "$incoming/changed.$part" "$rel\n" \)
}
seal_parts=(top a b)

step_seal() {
    local below=() halves_a=() halves_b=() i walking
    (seal_walk top . -maxdepth 2 \( -type d -path './*/*' -fprintf "$incoming/below" '%P\0' \) ,)
    mapfile -t -d '' below < "$incoming/below"
    # A start point named -… would read as an option, and tens of thousands
    # would not fit one command line: then part top walks everything.
    local joined=""
    ((${#below[@]} == 0)) || printf -v joined '\n%s' "${below[@]}"
    if ((${#below[@]} > 2000)) || [[ "$joined" == *$'\n-'* ]]; then
        (seal_walk top .)
        below=()
    fi
    for i in "${!below[@]}"; do
        if ((i % 2)); then halves_b+=("${below[i]}"); else halves_a+=("${below[i]}"); fi
    done
    # (Both parts are waited for, whichever fails: none outlives the step.)
    local failed=0
    walking=""
    if ((${#halves_a[@]})); then
        (seal_walk a "${halves_a[@]}" -mindepth 1) &
        walking=$!
    fi
    ((${#halves_b[@]} == 0)) || (seal_walk b "${halves_b[@]}" -mindepth 1) || failed=$?
    [[ -z "$walking" ]] || wait "$walking" || failed=$?
    ((failed == 0)) || fail "the walk of the new release failed (exit $failed); nothing was pointed at it"
    local part list
    # What a hook marked root made is the deploy user's, as the rest (PHP
    # and nginx read it through the group; the next deploy copies it).
    # Whatever a hook made group- or world-writable is not: the site user
    # is in the group, and must never write a release. No setuid or setgid
    # file: the site user, in the group, could run it as the deploy user
    # (chown already cleared the bits of root's). (Each list is acted on
    # only when it names something: most are empty.)
    for part in "${seal_parts[@]}"; do
        list="$incoming/root-owned.$part"
        [[ ! -s "$list" ]] || xargs -0 -r chown -h "$DEPLOY_USER:$SITE_USER" -- < "$list"
    done
    for part in "${seal_parts[@]}"; do
        list="$incoming/writable.$part"
        [[ ! -s "$list" ]] || as_deploy xargs -0 -r chmod g-w,o-w -- < "$list"
        list="$incoming/setid.$part"
        [[ ! -s "$list" ]] || as_deploy xargs -0 -r chmod ug-s -- < "$list"
    done
    # Nothing in it may belong to anyone but the deploy user (the site
    # user's links into shared/, which a renamed base keeps, are fine).
    local stranger links=() resolved=() into_shared=() changed=()
    for part in "${seal_parts[@]}"; do
        list="$incoming/strangers.$part"
        if [[ -s "$list" ]]; then
            IFS= read -r -d '' stranger < "$list" || true
            fail "${stranger#"$new"/} in the new release belongs to $(stat -c %U -- "$stranger"), not $DEPLOY_USER; nothing was pointed at it"
        fi
    done
    # Links into shared/ are the site user's, as their targets are: nginx
    # follows a link only to what the link's owner owns. (The release is
    # still 0700: the site user cannot move anything in it meanwhile.)
    # Listed are the links the site user does not own yet (one it owns is
    # never changed here: a link's text cannot change, and the renamed
    # base's shared links are the site user's already), less the
    # db-password link when it is exactly that one (it leads into config/).
    # None of them may lead into another release now. (Where a link leads
    # can change later, through links the site user makes in shared/:
    # later deploys check again, see link_above.)
    # (All resolved by one readlink, as many as xargs fits in a command
    # line each time: -m prints one name for each, found or not.)
    for part in "${seal_parts[@]}"; do
        list="$incoming/links.$part"
        [[ ! -s "$list" ]] || mapfile -t -d '' -O "${#links[@]}" links < "$list"
    done
    if ((${#links[@]})); then
        mapfile -t -d '' resolved < <(printf '%s\0' "${links[@]}" | xargs -0 readlink -m -z --)
        ((${#resolved[@]} == ${#links[@]})) || fail "the links in the new release could not be resolved; nothing was pointed at it"
        for i in "${!links[@]}"; do
            [[ "${resolved[i]}" != "$root_real/shared/"* || ! -L "${links[i]}" ]] || into_shared+=("${links[i]}")
            # A link into another release (or the colours' links, which
            # lead there) would let what a later deploy does, as the deploy
            # user, reach that release; so would one into a release gone
            # since (a hook's absolute link to where it ran, copied).
            if [[ "${resolved[i]}/" == "$root_real/releases/"* && "${resolved[i]}/" != "$root_real/$new/"* ]]; then
                fail "${links[i]#"$new"/} in the new release is a link into another release (${resolved[i]#"$root_real"/}; make it relative if it leads within the release); nothing was pointed at it"
            fi
        done
        ((${#into_shared[@]} == 0)) || printf '%s\0' "${into_shared[@]}" | xargs -0 chown -h "$SITE_USER" --
    fi
    # The release's records, written by the deploy user in its own tree,
    # in one process (no colour points at the release yet: a record cut
    # short goes with the release, a leftover then): the stat record, and
    # the manifest merged meanwhile (merge_manifest) in which a file the
    # upload brought that changed since (a config file filled in, a hook
    # rewriting it) no longer has the content its entry names: its hash
    # becomes "-", so the next deploy sends it whole and never compresses
    # against it (marked by root, in its own scratch files). (The lists
    # arrive on descriptors root opened: the deploy user cannot open root's
    # scratch directory.) (The hooks and the merge have ended, and nothing
    # else of the deploy user runs: what they left is checked here. Each
    # record is written new, never into a file that is there, a link a hook
    # planted or a hard link to a kept release's, and renamed into place.)
    merged
    local stats=() marking=(cat -- "$incoming/manifest.merged") marked=""
    for part in "${seal_parts[@]}"; do
        [[ ! -s "$incoming/changed.$part" ]] || changed+=("$incoming/changed.$part")
        [[ ! -e "$incoming/stat.$part" ]] || stats+=("$incoming/stat.$part")
    done
    # (Marked while the records' writer starts: its exit is waited for.)
    # shellcheck disable=SC2016 # an awk program
    ((${#changed[@]} == 0)) || marking=(awk -F'\t' -v OFS='\t' -v merged="$incoming/manifest.merged"
        'FILENAME != merged { changed[$0] = 1; next } ($4 in changed) { $1 = "-" } 1'
        "${changed[@]}" "$incoming/manifest.merged")
    [[ -d "$new/.pond" && ! -L "$new/.pond" ]] || fail "$new/.pond is not a directory (a hook replaced it?); nothing was pointed at the release"
    # shellcheck disable=SC2016 # the inner script expands its own arguments
    as_deploy bash -c '
        set -euo pipefail -C
        cd -- "$1"
        rm -f -- stat.new manifest.new manifest.delta
        cat > stat.new
        cat <&4 > manifest.new
        mv -fT stat.new stat
        mv -fT manifest.new manifest' seal "$new/.pond" < <(exec 7>&-; cat -- "${stats[@]}") 4< <(exec 7>&-; "${marking[@]}") ||
        fail "the release's records could not be written; nothing was pointed at it"
    marked=$!
    wait "$marked" || fail "the release's manifest could not be marked; nothing was pointed at it"
}

# The release opened to the site user's group (nginx, PHP), the target
# colour (both on a first deploy) at it, each link replaced by a rename,
# the preview host at the inactive colour; then state.json and the log say
# so. Nothing is printed in between: a write to a client that has gone
# would end the script with the links and the state out of step.
step_point() {
    chmod 0750 "$new"
    ln -sfn "releases/$RELEASE" "$TARGET.tmp"
    mv -T "$TARGET.tmp" "$TARGET"
    if [[ "$FIRST" == yes ]]; then
        local other=blue
        [[ "$TARGET" == blue ]] && other=green
        ln -sfn "releases/$RELEASE" "$other.tmp" && mv -T "$other.tmp" "$other"
    fi
    local inactive=blue
    [[ "$live" == blue ]] && inactive=green
    # (Already there after any deploy or swap: then left as it is.)
    if [[ "${link[preview]:-}" != "$inactive" ]]; then
        ln -sfn "$inactive" preview.tmp
        mv -T preview.tmp preview
    fi
    printf '%s\n' "$STATE" > metadata/state.json.tmp && mv metadata/state.json.tmp metadata/state.json
    printf '%s\n' "$LOG_LINE" >> metadata/log.jsonl
}

# Keep the newest KEEP_BUILDS releases and whatever a colour points at.
# Old ones are renamed out of the way at once and deleted in the
# background (a big tree takes seconds to delete); a deletion cut short is
# finished by the next deploy.
step_clean_up() {
    local in_use old all=() i LC_ALL=C
    link[$TARGET]="releases/$RELEASE"
    [[ "$FIRST" != yes ]] || { link[blue]="releases/$RELEASE"; link[green]="releases/$RELEASE"; }
    in_use=" ${link[blue]:-} ${link[green]:-} "
    # Ids sort by time; the glob sorts them (C collation).
    shopt -s nullglob
    all=(releases/[0-9]*/)
    shopt -u nullglob
    for ((i = ${#all[@]} - 1 - KEEP_BUILDS; i >= 0; i--)); do
        old="${all[i]%/}"
        [[ -d "$old" && ! -L "$old" ]] || continue
        old="${old#releases/}"
        [[ "$in_use" == *" releases/$old "* ]] || { echo "removing old release $old"; mv -T "releases/$old" "releases/.old-$old"; }
    done
    # (Nothing uses the scratch directory any more: leave need not delete it.)
    if delete_old_in_background "$incoming"; then incoming=""; fi
}

# The steps, in order; each reports how long it took.
for step in inputs lock leftovers release reference upload shared config hooks seal point clean_up; do
    started="${EPOCHREALTIME/[.,]/}"
    "step_$step"
    report step-done name "$step" ms "$(((${EPOCHREALTIME/[.,]/} - started) / 1000))"
done
echo "deployed $RELEASE to $TARGET"
