#!/usr/bin/env bash
# summary: Start, in the background, the copy of the release the next deploy starts from (the newer colour's, as deploy-prepare picks it) (releases/.spare-<id>), so a deploy renames it instead of copying on its critical path
# input ROOT [text]: the environment's directory on the server
# input KEEP_BUILDS [text]: how many releases are kept (at 2 or fewer a deploy renames the inactive release instead; no copy is needed unless it is the live one)
# input? LINK_COPY [text]: yes when nothing writes files in place (a static site without hooks): a release that is not live is copied with hard links
# input SITE_USER [unix_user]: the environment's site user (group of the release trees)
# input DEPLOY_USER [unix_user]: the user owning the release trees; the copy is made as this user
set -euo pipefail
[[ "$KEEP_BUILDS" =~ ^[0-9]+$ ]] || { echo "bad keep count" >&2; exit 2; }
[[ "$LINK_COPY" == "" || "$LINK_COPY" == yes ]] || { echo "bad LINK_COPY: $LINK_COPY" >&2; exit 2; }
cd "$ROOT"
[[ -d releases && ! -L releases && -d metadata && ! -L metadata ]] || { echo "$ROOT is not provisioned" >&2; exit 3; }

# Runs as root in a unit of its own, after this script has returned. Under
# metadata/spare.lock (which deploy-apply takes before it looks for a copy,
# so it waits for one being made rather than using half of it): copy the
# release deploy-prepare would start from now, as the deploy user, into a directory only
# that user can enter, and rename it into place when complete. Any other
# copy (of a release no colour points at any more) is deleted.
make_spare() {
    set -euo pipefail
    cd "$POND_ROOT"
    exec 8<>metadata/spare.lock
    flock 8
    local live next from id spare old live_release
    live="$(readlink current)"
    case "$live" in blue) next=green ;; green) next=blue ;; *) return 0 ;; esac
    # What deploy-prepare starts from: the newer colour's release.
    from="$(readlink "$next")"
    live_release="$(readlink "$live")"
    [[ "$live_release" == releases/00000000T000000Z-empty || ! "$live_release" > "$from" ]] || from="$live_release"
    id="${from#releases/}"
    [[ "$from" == "releases/$id" && "$id" =~ ^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}$ ]] || return 0
    [[ "$id" != 00000000T000000Z-empty && -d "$from" && ! -L "$from" ]] || return 0
    for old in releases/.spare-*; do
        if [[ -e "$old" && "$old" != "releases/.spare-$id" && "$old" != "releases/.spare-$id.stale" ]]; then rm -rf -- "$old"; fi
    done
    # A deploy renames an inactive release it need not keep: no copy then.
    if [[ "$from" != "$live_release" && "$POND_KEEP_BUILDS" -le 2 ]]; then
        return 0
    fi
    spare="releases/.spare-$id"
    [[ ! -d "$spare" ]] || return 0
    install -d -o "$POND_DEPLOY_USER" -g "$POND_SITE_USER" -m 0700 "$spare.copying"
    if [[ "$from" != "$live_release" && "$POND_LINK_COPY" == yes ]]; then
        runuser -u "$POND_DEPLOY_USER" -- cp -al "$from/." "$spare.copying/"
    else
        runuser -u "$POND_DEPLOY_USER" -- cp -a --reflink=auto "$from/." "$spare.copying/"
    fi
    chmod 0700 "$spare.copying"
    # What deploy-prepare would report as changed on the server since the
    # release was built, found now rather than while a deploy waits: the
    # copy's files against its record (cp -a kept sizes and times). Only
    # root and the deploy user can change the copy after this.
    (cd "$spare.copying" && find . -path ./.pond -prune -o -type f -printf '%P\t%s\t%T@\n') | LC_ALL=C sort > "$spare.now"
    runuser -u "$POND_DEPLOY_USER" -- cat "$spare.copying/.pond/stat" 2>/dev/null | LC_ALL=C sort > "$spare.then" || true
    LC_ALL=C comm -3 "$spare.now" "$spare.then" | sed 's/^\t//' | cut -f1 > "$spare.stale.new"
    rm -f -- "$spare.now" "$spare.then"
    mv -T "$spare.stale.new" "$spare.stale"
    mv -T "$spare.copying" "$spare"
}

# systemd expands ${...} in a command line, never inside the environment,
# so the function travels in a variable.
# shellcheck disable=SC2016 # expanded by the unit's bash, not here
systemd-run --quiet --no-block --collect --unit="pond-spare-$DEPLOY_USER-$$-$RANDOM" \
    -p Nice=10 -p IOSchedulingClass=best-effort -p IOSchedulingPriority=7 \
    -E POND_SPARE="$(declare -f make_spare)" -E POND_ROOT="$ROOT" -E POND_KEEP_BUILDS="$KEEP_BUILDS" \
    -E POND_LINK_COPY="$LINK_COPY" -E POND_SITE_USER="$SITE_USER" -E POND_DEPLOY_USER="$DEPLOY_USER" \
    /bin/bash -c 'eval "$POND_SPARE"; make_spare'
echo "preparing the next deploy's copy in the background"
