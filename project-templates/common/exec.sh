#!/usr/bin/env bash
# summary: Run one command in the live or inactive release as the environment's site user (PHP's user), in a transient unit of its own (stdin closed, output streamed, stopped after its timeout with all it started), return its exit code, and log the run in metadata/log.jsonl
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input SITE_USER [unix_user]: the environment's site user, whom the command runs as
# input COLOUR [text]: live or inactive
# input ARGS [text]: the command and its arguments, each as b + its base64, separated by spaces
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
# The inactive colour is what a deploy rebuilds: not while one runs.
if [[ "$COLOUR" == inactive ]]; then
    [[ ! -L metadata/lock ]] || { echo "metadata/lock is a link; refusing to follow it" >&2; exit 3; }
    exec 9<>metadata/lock
    flock -n 9 || { echo "a deploy or swap holds the lock of $PROJECT/$ENV; run this on the inactive colour when it is done" >&2; exit 75; }
fi
release="$(readlink "$link" || true)"
[[ "$release" =~ ^releases/[0-9A-Za-z._-]+$ && "$release" != *..* && -d "$release" && ! -L "$release" ]] ||
    { echo "$link points at ${release:-nothing}, not a release" >&2; exit 3; }
[[ "$release" != releases/00000000T000000Z-empty ]] || { echo "nothing is deployed to $PROJECT/$ENV yet" >&2; exit 3; }
argv=()
for encoded in $ARGS; do
    # b + base64: an empty argument is "b", not nothing.
    [[ "$encoded" =~ ^b[A-Za-z0-9+/=]*$ ]] || { echo "bad argument encoding" >&2; exit 2; }
    decoded="$(printf '%s' "${encoded#b}" | base64 -d; printf x)"
    decoded="${decoded%x}"
    # systemd expands $NAME in a unit's command line; $$ is a plain $.
    argv+=("${decoded//\$/\$\$}")
done
((${#argv[@]} > 0)) || { echo "no command given" >&2; exit 2; }
echo "== running in $link (${release#releases/}) as $SITE_USER" >&2
code=0
# The site user writes only what PHP may: its shared paths and tmp. From
# the release, so a relative command (./artisan) is found there; the
# unit's description names no argument.
cd "$root/$release"
systemd-run --quiet --pipe --wait --collect --service-type=exec \
    --unit="pond-exec-$SITE_USER.$$-$RANDOM" --uid="$SITE_USER" --gid="$SITE_USER" \
    --description="pond exec in the $COLOUR release of $PROJECT/$ENV" \
    --working-directory="$root/$release" \
    -p ProtectSystem=strict -p PrivateTmp=yes -p NoNewPrivileges=yes \
    -p ReadWritePaths="-$root/shared -$root/tmp" -p UMask=0007 \
    -p RuntimeMaxSec="$TIMEOUT" -p TimeoutStopSec=10 \
    -E HOME="$root/tmp" -E POND_ENV="$ENV" -E POND_RELEASE="${release#releases/}" \
    -- "${argv[@]}" </dev/null 9>&- || code=$?
printf '%s\n' "${LOG_LINE/\"@@EXIT@@\"/$code}" >> "$root/metadata/log.jsonl"
exit "$code"
