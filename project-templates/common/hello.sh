#!/usr/bin/env bash
# summary: Print a greeting and a few facts about the machine (a smoke test for SSH and templates)
# input GREETING [text]: the line to print first
# input? WHO [text]: who is asking, shown after the greeting
set -euo pipefail

printf '%s\n' "$GREETING"
if [[ -n "$WHO" ]]; then
    printf 'asked by: %s\n' "$WHO"
fi
printf 'host: %s\n' "$(hostname)"
printf 'kernel: %s\n' "$(uname -sr)"
if [[ -r /etc/os-release ]]; then
    # Read in a subshell so the file's variables cannot touch ours.
    # shellcheck source=/dev/null
    printf 'os: %s\n' "$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-unknown}")"
fi
printf 'user: %s\n' "$(id -un)"
