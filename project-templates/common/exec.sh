#!/usr/bin/env bash
# summary: Run one command in the live or inactive release as the environment's site user (PHP's user), in a transient unit of its own (stdin closed, output streamed, stopped after its timeout with all it started), return its exit code, and log the run in metadata/log.jsonl
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input SITE_USER [unix_user]: the environment's site user, whom the command runs as
# input COLOUR [text]: live or inactive
# input ARGS [text]: the command and its arguments, each base64-encoded, separated by spaces
# input TIMEOUT [text]: seconds the command may run
# input LOG_LINE [text]: the line for metadata/log.jsonl, with "@@EXIT@@" where the exit code goes
set -euo pipefail
root="/var/www/pond/projects/$PROJECT/$ENV"
cd "$root"
[[ -d metadata && ! -L metadata && -L current ]] || { echo "$PROJECT/$ENV is not deployed on this server" >&2; exit 3; }
[[ "$TIMEOUT" =~ ^[0-9]{1,6}$ && "$TIMEOUT" -gt 0 ]] || { echo "bad timeout: $TIMEOUT" >&2; exit 2; }
live="$(readlink current)"
case "$live" in blue) inactive=green ;; green) inactive=blue ;; *) echo "current points at $live" >&2; exit 3 ;; esac
case "$COLOUR" in
    live) link="$live" ;;
    inactive) link="$inactive" ;;
    *) echo "colour must be live or inactive, not $COLOUR" >&2; exit 2 ;;
esac
release="$(readlink "$link")"
[[ "$release" =~ ^releases/[0-9A-Za-z-]+$ && -d "$release" && ! -L "$release" ]] ||
    { echo "$link points at ${release:-nothing}, not a release" >&2; exit 3; }
argv=()
for encoded in $ARGS; do
    [[ "$encoded" =~ ^[A-Za-z0-9+/=]+$ ]] || { echo "bad argument encoding" >&2; exit 2; }
    decoded="$(printf '%s' "$encoded" | base64 -d; printf x)"
    argv+=("${decoded%x}")
done
((${#argv[@]} > 0)) || { echo "no command given" >&2; exit 2; }
echo "== running in $link (${release#releases/}) as $SITE_USER" >&2
code=0
# The site user writes only what PHP may: its shared paths and tmp.
systemd-run --quiet --pipe --wait --collect --service-type=exec \
    --unit="pond-exec-$SITE_USER.$$-$RANDOM" --uid="$SITE_USER" --gid="$SITE_USER" \
    --working-directory="$root/$release" \
    -p ProtectSystem=strict -p PrivateTmp=yes -p NoNewPrivileges=yes \
    -p ReadWritePaths="-$root/shared -$root/tmp" -p UMask=0007 \
    -p RuntimeMaxSec="$TIMEOUT" -p TimeoutStopSec=10 \
    -E HOME="$root/tmp" -E POND_ENV="$ENV" -E POND_RELEASE="${release#releases/}" \
    -- "${argv[@]}" </dev/null || code=$?
printf '%s\n' "${LOG_LINE/\"@@EXIT@@\"/$code}" >> metadata/log.jsonl
exit "$code"
