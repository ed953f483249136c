#!/usr/bin/env bash
# Runs inside the new release on the server, before it can go live.
set -euo pipefail
if [[ -f composer.json ]]; then
    composer install --no-dev --no-interaction --no-progress
fi
if [[ -f artisan ]]; then
    php artisan config:cache
fi
