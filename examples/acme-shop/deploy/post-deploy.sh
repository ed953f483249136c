#!/usr/bin/env bash
# Runs inside the new release on the server, before it can go live.
set -euo pipefail
if [[ -f artisan ]]; then
    php artisan migrate --force
    php artisan config:cache
fi
