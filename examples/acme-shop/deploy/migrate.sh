#!/usr/bin/env bash
# Runs in the release about to go live, right before the swap (after a
# snapshot of the database that `pond rollback --with-data` can restore).
set -euo pipefail
php artisan migrate --force --no-interaction
