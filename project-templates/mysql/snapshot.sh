#!/usr/bin/env bash
# summary: An environment's database snapshots on the server the database lives on (root's, in /var/lib/pond/snapshots/<project>_<env>, zstd-compressed mariadb-dump in one transaction): take one, restore one (the database emptied, then loaded), list them (and whether MariaDB runs), remove those a swap took for releases no longer kept
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input DB_NAME [db_name]: the environment's database
# input ACTION [text]: take, restore, list or prune
# input? ID [text]: the snapshot (take, restore): swap-<release id>-at-<time>
# input? KEEP [text]: for prune: the releases whose swap snapshots are kept, one id per line
set -euo pipefail
umask 077
dir="/var/lib/pond/snapshots/${PROJECT}_$ENV"
install -d -o root -g root -m 0700 /var/lib/pond/snapshots "$dir"
[[ ! -L "$dir" ]] || { echo "$dir is a link; refusing to follow it" >&2; exit 3; }
if [[ "$ACTION" == take || "$ACTION" == restore ]]; then
    [[ "$ID" =~ ^swap-[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]{1,40}-at-[0-9]{8}T[0-9]{6}Z$ ]] || { echo "bad snapshot id: $ID" >&2; exit 2; }
    mariadb-admin --silent ping >/dev/null 2>&1 || { echo "MariaDB is not running on this server; no snapshot" >&2; exit 3; }
    [[ -n "$(mariadb -N -e "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$DB_NAME'")" ]] ||
        { echo "database $DB_NAME does not exist on this server" >&2; exit 3; }
fi
file="$dir/$ID.sql.zst"
case "$ACTION" in
    take)
        tmp="$(mktemp "$dir/.taking.XXXXXX")"
        trap 'rm -f "$tmp"' EXIT
        mariadb-dump --single-transaction --quick --routines --triggers --no-tablespaces "$DB_NAME" | zstd -q -c > "$tmp"
        mv -f -- "$tmp" "$file"
        trap - EXIT
        report snapshot id "$ID" bytes "$(stat -c %s -- "$file")" mtime "$(stat -c %Y -- "$file")"
        echo "snapshot $ID of $DB_NAME taken ($(stat -c %s -- "$file") bytes compressed)" ;;
    restore)
        [[ -f "$file" && ! -L "$file" ]] || { echo "no snapshot $ID of $DB_NAME on this server" >&2; exit 3; }
        zstd -tq -- "$file" || { echo "snapshot $ID is damaged; the database was not touched" >&2; exit 3; }
        # The database as it was: emptied (tables made since go too), with
        # its character set, then loaded. Its grants are kept by name.
        read -r charset collation < <(mariadb -N -e "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$DB_NAME'")
        [[ "$charset" =~ ^[a-z0-9_]+$ && "$collation" =~ ^[a-z0-9_]+$ ]] || { echo "could not read the character set of $DB_NAME" >&2; exit 3; }
        mariadb -e "DROP DATABASE \`$DB_NAME\`; CREATE DATABASE \`$DB_NAME\` CHARACTER SET $charset COLLATE $collation"
        if ! zstd -dcq -- "$file" | mariadb --database="$DB_NAME"; then
            echo "loading snapshot $ID stopped midway: $DB_NAME is incomplete; the snapshot is still here, restore it again" >&2
            exit 1
        fi
        echo "database $DB_NAME restored from snapshot $ID ($(mariadb -N --database="$DB_NAME" -e 'SHOW TABLES' | wc -l) tables)" ;;
    list)
        for f in "$dir"/*.sql.zst; do
            [[ -f "$f" && ! -L "$f" ]] || continue
            id="${f##*/}"
            id="${id%.sql.zst}"
            [[ "$id" =~ ^swap-[0-9A-Za-z._-]+$ ]] || continue
            # Pruned meanwhile: not listed.
            read -r bytes mtime < <(stat -c '%s %Y' -- "$f" 2>/dev/null) || continue
            report snapshot id "$id" bytes "$bytes" mtime "$mtime"
        done
        if mariadb-admin --silent ping >/dev/null 2>&1; then report mariadb running yes; else report mariadb running no; fi ;;
    prune)
        for f in "$dir"/swap-*.sql.zst; do
            [[ -f "$f" && ! -L "$f" ]] || continue
            id="${f##*/}"
            id="${id%.sql.zst}"
            release="${id#swap-}"
            release="${release%-at-*}"
            grep -qxF -- "$release" <<< "$KEEP" && continue
            rm -f -- "$f"
            echo "removed snapshot $id (its release is no longer kept)"
        done ;;
    *) echo "unknown action: $ACTION" >&2; exit 2 ;;
esac
