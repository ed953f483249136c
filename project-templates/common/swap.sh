#!/usr/bin/env bash
# summary: Make the other colour live by renaming a symlink over current (atomic), record state, restart the environment's processes in the new live release, run post-swap hooks
# input ROOT [text]: the environment's directory on the server
# input EXPECT_LIVE [text]: the colour the client saw live (refuse if it changed)
# input EXPECT_LIVE_RELEASE [text]: the release the client saw live (refuse if it changed)
# input EXPECT_RELEASE [text]: the release the client saw (and health-checked) in the colour going live (refuse if it changed)
# input STATE [text]: the new metadata/state.json
# input LOG_LINE [text]: the line to append to metadata/log.jsonl
# input? UNITS [text]: the prefix of the environment's unit names (pond-<project>_<env>): its running processes restart in the new live release
# input? HOOKS [text]: post-swap hooks, one per line (timeout in seconds, deploy or root, path), run in the new live release
# input SITE_USER [unix_user]: the environment's site user (its group is the hooks')
# input DEPLOY_USER [unix_user]: the user hooks run as unless marked root
set -euo pipefail
cd "$ROOT"
[[ ! -L metadata && ! -L metadata/lock ]] || { echo "metadata/lock is a link; refusing to follow it" >&2; exit 3; }
exec 9<>metadata/lock
flock -n 9 || { echo "a deploy or swap holds the lock on $ROOT ($(head -c 4096 metadata/lock | tr -d '\n')); nothing was swapped" >&2; exit 75; }
live="$(readlink current)"
[[ "$live" == "$EXPECT_LIVE" ]] || { echo "live colour is $live, not $EXPECT_LIVE; someone swapped meanwhile" >&2; exit 3; }
case "$live" in blue) next=green ;; green) next=blue ;; *) echo "current points at $live" >&2; exit 3 ;; esac
[[ -d "$(readlink "$next")" ]] || { echo "$next points at a missing release" >&2; exit 3; }
# What the client checked must still be what goes live: a deploy or a
# point that landed after the client read the server is refused here,
# under the lock, never made live unchecked.
now_live="$(readlink "$live")"
now_next="$(readlink "$next")"
[[ "$now_live" == "releases/$EXPECT_LIVE_RELEASE" ]] || { echo "$live now runs ${now_live#releases/}, not $EXPECT_LIVE_RELEASE as checked; something changed meanwhile. Nothing was swapped; check pond status and try again" >&2; exit 3; }
[[ "$now_next" == "releases/$EXPECT_RELEASE" ]] || { echo "$next now holds ${now_next#releases/}, not $EXPECT_RELEASE as checked (a deploy landed meanwhile?). Nothing was swapped; check it and swap again" >&2; exit 3; }
start="$(date +%s%N)"
ln -sfn "$next" current.tmp
mv -T current.tmp current
end="$(date +%s%N)"
ln -sfn "$live" preview.tmp && mv -T preview.tmp preview
echo "swapped $live -> $next in $(( (end - start) / 1000 )) us"
printf '%s\n' "$STATE" > metadata/state.json.tmp && mv metadata/state.json.tmp metadata/state.json
printf '%s\n' "$LOG_LINE" >> metadata/log.jsonl
# The environment's processes follow the live colour: each one loaded
# restarts (SIGTERM, its stop timeout, then killed) in the new live
# release, without waiting; common/processes then applies what that
# release declares.
if [[ "$UNITS" =~ ^pond-[a-z0-9-]+_[a-z0-9-]+$ ]]; then
    mapfile -t processes < <(systemctl list-units --all --plain --no-legend "${UNITS}_proc_*@*.service" | awk '$3 != "inactive" { print $1 }')
    if ((${#processes[@]} > 0)); then
        systemctl restart --no-block "${processes[@]}"
        echo "restarting ${#processes[@]} process(es) in the new live release"
    fi
fi
# Each hook in a transient unit of its own, as in deploy-apply: the deploy
# user (root only when pond.json says so), stdin from /dev/null, without
# the lock's descriptor, stopped after its timeout with all it started.
live_dir="$ROOT/$(readlink "$next")"
while IFS= read -r hook; do
    [[ -n "$hook" ]] || continue
    read -r timeout as path <<< "$hook"
    [[ "$timeout" =~ ^[0-9]{1,6}$ && "$timeout" -gt 0 && -n "$path" && "$path" != *..* ]] || { echo "bad hook line: $hook" >&2; continue; }
    case "$as" in
        # Writable: the shared paths, tmp and its home; no release.
        deploy) run=(--uid="$DEPLOY_USER" --gid="$SITE_USER" -E HOME="/var/lib/pond/deploy/$DEPLOY_USER"
            -p ProtectSystem=strict -p PrivateTmp=yes -p NoNewPrivileges=yes -p RestrictSUIDSGID=yes
            -p ReadWritePaths="-$ROOT/shared -$ROOT/tmp -/var/lib/pond/deploy/$DEPLOY_USER") ;;
        root) run=(--uid=root -E HOME=/root) ;;
        *) echo "bad hook user: $as" >&2; continue ;;
    esac
    echo "== post-swap hook $path"
    systemd-run --quiet --pipe --wait --collect --service-type=exec \
        --unit="pond-hook-$DEPLOY_USER.$$-$RANDOM" "${run[@]}" --working-directory="$live_dir" \
        -p UMask=0027 -p RuntimeMaxSec="$timeout" -p TimeoutStopSec=10 \
        -E POND_ENV_DIR="$ROOT" /bin/bash -- "$path" </dev/null 9>&- ||
        echo "post-swap hook $path failed or timed out after $timeout s (the swap stands)" >&2
done <<< "$HOOKS"
