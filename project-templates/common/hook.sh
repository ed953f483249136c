#!/usr/bin/env bash
# summary: Run one post-provision hook in a unit of its own: as the deploy user (root only when pond.json marks it), stdin from /dev/null, stopped after its timeout; whatever it started ends with it
# input ROOT [text]: the environment's directory on the server
# input SITE_USER [unix_user]: the environment's site user (its group is the hook's)
# input DEPLOY_USER [unix_user]: the user the hook runs as unless marked root
# input HOOK [text]: timeout in seconds, deploy or root, and the hook's path in the repo
# input SCRIPT [text]: the hook's text
set -euo pipefail
read -r timeout as path <<< "$HOOK"
[[ "$timeout" =~ ^[0-9]{1,6}$ && "$timeout" -gt 0 && -n "$path" ]] || { echo "bad hook line: $HOOK" >&2; exit 2; }
case "$as" in
    deploy)
        id -u "$DEPLOY_USER" >/dev/null 2>&1 || { echo "user $DEPLOY_USER is missing (common/env-users makes it)" >&2; exit 3; }
        run=(--uid="$DEPLOY_USER" --gid="$SITE_USER" --working-directory="/var/lib/pond/deploy/$DEPLOY_USER"
            -E HOME="/var/lib/pond/deploy/$DEPLOY_USER" -p ProtectSystem=strict -p PrivateTmp=yes -p NoNewPrivileges=yes -p RestrictSUIDSGID=yes
            -p ReadWritePaths="-$ROOT/shared -$ROOT/tmp -/var/lib/pond/deploy/$DEPLOY_USER")
        ;;
    root) run=(--uid=root --working-directory=/root -E HOME=/root) ;;
    *) echo "bad hook user: $as" >&2; exit 2 ;;
esac
# The script is root's file, readable by the hook's user (through the
# environment's group; no other environment's users).
install -d -o root -g root -m 0755 /run/pond /run/pond/hooks
script_file="$(mktemp /run/pond/hooks/hook.XXXXXX)"
trap 'rm -f "$script_file"' EXIT
printf '%s\n' "$SCRIPT" > "$script_file"
chgrp "$([[ "$as" == root ]] && echo root || echo "$SITE_USER")" "$script_file"
chmod 0640 "$script_file"
started="$(date +%s)"
status=0
systemd-run --quiet --pipe --wait --collect --service-type=exec \
    --unit="pond-hook-$DEPLOY_USER.$$-$RANDOM" "${run[@]}" \
    -p UMask=0027 -p RuntimeMaxSec="$timeout" -p TimeoutStopSec=10 \
    -E POND_ENV_DIR="$ROOT" /bin/bash -- "$script_file" </dev/null || status=$?
if [[ "$status" != 0 ]]; then
    if (($(date +%s) - started >= timeout)); then
        echo "hook $path was stopped after its timeout of $timeout s" >&2
    else
        echo "hook $path failed (exit $status)" >&2
        [[ "$as" == root ]] || echo "it ran as $DEPLOY_USER, not root; if it must change the system (apt, /etc), mark it in pond.json: {\"script\": \"$path\", \"run_as\": \"root\"}" >&2
    fi
    exit 1
fi
echo "hook $path done"
