#!/usr/bin/env bash
# summary: Dump a database on the server it lives on (the old server of a migration) as zstd-compressed SQL on stdout, in one consistent transaction; the credentials are the server's own (root's socket login or ~/.my.cnf), never Pond's
# input DB_NAME [db_name]: the database to dump
set -euo pipefail
if command -v mariadb-dump >/dev/null; then
    dump=mariadb-dump
elif command -v mysqldump >/dev/null; then
    dump=mysqldump
else
    echo "neither mariadb-dump nor mysqldump is installed on this server" >&2
    exit 3
fi
command -v zstd >/dev/null || { echo "zstd is not installed on this server (apt-get install zstd)" >&2; exit 3; }
"$dump" --single-transaction --quick --routines --triggers --no-tablespaces "$DB_NAME" | zstd -q -c
