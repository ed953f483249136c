#!/usr/bin/env bash
# summary: Drop an environment's database and its database user's accounts on this server, and its firewall opening to 3306 (pond destroy of an environment on a server that other environments keep using)
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input DB_NAME [db_name]: database name
# input DB_USER [db_user]: database user
set -euo pipefail
# Another environment's record on this server may claim the name or user
# (another project's pond.json can choose the same ones).
for record in /etc/pond/provisioned/*; do
    [[ -f "$record" && ! -L "$record" && "$record" != "/etc/pond/provisioned/${PROJECT}_$ENV" ]] || continue
    if awk -v n="$DB_NAME" -v u="$DB_USER" '$1 == "DB" && ($2 == n || $3 == u) { found = 1 } END { exit !found }' "$record"; then
        echo "database $DB_NAME or user $DB_USER belongs to ${record##*/} on this server; give this environment its own in pond.json" >&2
        exit 3
    fi
done
allow="/etc/pond/firewall-db.d/$PROJECT-$ENV.nft"
if [[ "$(sed -n 1p "$allow" 2>/dev/null)" == "# Written by Pond (mysql/database): web servers of $PROJECT $ENV." ]]; then
    rm -f -- "$allow"
    if grep -qs pond_db_clients /etc/nftables.conf; then
        nft -f /etc/nftables.conf 2>/dev/null || echo "nftables is not usable here; firewall not reloaded" >&2
    fi
fi
if ! command -v mariadb >/dev/null; then
    echo "no MariaDB here: no database to drop"
    exit 0
fi
# Installed but stopped: fail, so running destroy again finishes the job.
systemctl is-active --quiet mariadb || { echo "MariaDB is not running here; start it (systemctl start mariadb) and run pond destroy again" >&2; exit 1; }
# Names match ^[a-z_][a-z0-9_]*$ (checked before this script was
# rendered); hosts are checked below. The SQL goes over stdin.
while read -r host; do
    if [[ "$host" =~ ^[A-Za-z0-9.%_:-]+$ ]]; then
        echo "DROP USER IF EXISTS '$DB_USER'@'$host';" | mariadb
    fi
done < <(mariadb -N -e "SELECT Host FROM mysql.user WHERE User = '$DB_USER'")
echo "DROP DATABASE IF EXISTS \`$DB_NAME\`;" | mariadb
# A database server keeps no other trace of the environment.
[[ -d "/var/www/pond/projects/$PROJECT/$ENV" ]] || rm -f "/etc/pond/provisioned/${PROJECT}_$ENV"
echo "dropped database $DB_NAME and user $DB_USER"
