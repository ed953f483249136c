#!/usr/bin/env bash
# summary: Load a database dump (zstd-compressed SQL on stdin after this script) into the environment's database
# input DB_NAME [db_name]: the database to load into
set -euo pipefail
mariadb-admin --silent ping >/dev/null 2>&1 || { echo "MariaDB is not running on this server" >&2; exit 3; }
zstd -dcq | mariadb --database="$DB_NAME"
echo "imported into $DB_NAME: $(mariadb -N --database="$DB_NAME" -e 'SHOW TABLES' | wc -l) tables"
