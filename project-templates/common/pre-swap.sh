#!/usr/bin/env bash
# summary: Run the pre-swap hooks (e.g. migrations) in the release about to go live, under the environment's lock, each in a unit of its own: as the deploy user (root only when pond.json marks it), stdin from /dev/null, stopped after its timeout; the release itself stays as it was health-checked (not writable to them)
# input ROOT [text]: the environment's directory on the server
# input EXPECT_RELEASE [text]: the release the inactive colour must hold (the one health-checked and about to go live)
# input HOOKS [text]: pre-swap hooks, one per line: timeout in seconds, deploy or root, path in the release
# input SITE_USER [unix_user]: the environment's site user (its group is the hooks')
# input DEPLOY_USER [unix_user]: the user hooks run as unless marked root
set -euo pipefail
cd "$ROOT"
[[ ! -L metadata && ! -L metadata/lock ]] || { echo "metadata/lock is a link; refusing to follow it" >&2; exit 3; }
exec 9<>metadata/lock
flock -n 9 || { echo "a deploy or swap holds the lock on $ROOT ($(head -c 4096 metadata/lock | tr -d '\n')); no pre-swap hook ran. Try again when it is done" >&2; exit 75; }
live="$(readlink current)"
case "$live" in blue) next=green ;; green) next=blue ;; *) echo "current points at $live" >&2; exit 3 ;; esac
release="$(readlink "$next")"
[[ "$release" == "releases/$EXPECT_RELEASE" && -d "$release" && ! -L "$release" ]] ||
    { echo "$next now holds ${release#releases/}, not $EXPECT_RELEASE as checked (a deploy landed meanwhile?); no hook ran, nothing was swapped" >&2; exit 3; }
while IFS= read -r hook; do
    [[ -n "$hook" ]] || continue
    read -r timeout as path <<< "$hook"
    [[ "$timeout" =~ ^[0-9]{1,6}$ && "$timeout" -gt 0 && -n "$path" && "$path" != *..* ]] || { echo "bad hook line: $hook" >&2; exit 2; }
    case "$as" in
        # Writable: the shared paths, tmp and its home; no release.
        deploy) run=(--uid="$DEPLOY_USER" --gid="$SITE_USER" -E HOME="/var/lib/pond/deploy/$DEPLOY_USER"
            -p ProtectSystem=strict -p PrivateTmp=yes -p NoNewPrivileges=yes -p RestrictSUIDSGID=yes
            -p ReadWritePaths="-$ROOT/shared -$ROOT/tmp -/var/lib/pond/deploy/$DEPLOY_USER") ;;
        root) run=(--uid=root -E HOME=/root) ;;
        *) echo "bad hook user: $as" >&2; exit 2 ;;
    esac
    echo "== pre-swap hook $path"
    started="$(date +%s)"
    status=0
    systemd-run --quiet --pipe --wait --collect --service-type=exec \
        --unit="pond-hook-$DEPLOY_USER.$$-$RANDOM" "${run[@]}" --working-directory="$ROOT/$release" \
        -p UMask=0027 -p RuntimeMaxSec="$timeout" -p TimeoutStopSec=10 \
        -E POND_ENV_DIR="$ROOT" /bin/bash -- "$path" </dev/null 9>&- || status=$?
    if [[ "$status" != 0 ]]; then
        if (($(date +%s) - started >= timeout)); then
            echo "step pre-swap: hook $path was stopped after its timeout of $timeout s; nothing was swapped" >&2
        else
            echo "step pre-swap: hook $path failed (exit $status); nothing was swapped" >&2
        fi
        exit 1
    fi
done <<< "$HOOKS"
echo "pre-swap hooks done in ${release#releases/}"
