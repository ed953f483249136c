#!/usr/bin/env bash
# summary: MariaDB with the environment's database and, for each web server, its user granted by the password hash that web server generated (the password never comes here); that user's accounts for other hosts are dropped; remote web servers, and only they, are let through to port 3306
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input DB_NAME [db_name]: database name
# input DB_USER [db_user]: database user
# input DB_GRANTS [db_grants]: HOST=HASH per web server, space-separated; HOST is localhost or the web server's IPv4 address, HASH its password's mysql_native_password hash
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold mariadb-server mariadb-client

wait_ready() {
    for _ in $(seq 50); do
        mariadb-admin --silent ping >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "MariaDB did not start" >&2
    return 1
}

[[ -n "$DB_GRANTS" ]] || { echo "no web server to grant access to the database" >&2; exit 2; }
# Another environment's record on this server may claim the name or user
# (another project's pond.json can choose the same ones).
for record in /etc/pond/provisioned/*; do
    [[ -f "$record" && ! -L "$record" && "$record" != "/etc/pond/provisioned/${PROJECT}_$ENV" ]] || continue
    if awk -v n="$DB_NAME" -v u="$DB_USER" '$1 == "DB" && ($2 == n || $3 == u) { found = 1 } END { exit !found }' "$record"; then
        echo "database $DB_NAME or user $DB_USER belongs to ${record##*/} on this server; give this environment its own in pond.json" >&2
        exit 3
    fi
done

hosts=()
remote=()
for grant in $DB_GRANTS; do
    host="${grant%%=*}"
    hosts+=("$host")
    [[ "$host" == localhost ]] || remote+=("$host")
done

# Remote web servers reach MariaDB over the network; without them it
# listens on loopback only.
listen_file=/etc/mysql/mariadb.conf.d/90-pond.cnf
bind=127.0.0.1
((${#remote[@]} == 0)) || bind=0.0.0.0
listen="$(printf '[mysqld]\nbind-address = %s' "$bind")"
install -d /etc/mysql/mariadb.conf.d
# Marked pending before it changes, unmarked after the restart (a cut run
# restarts on the next one).
if [[ ! -f "$listen_file" || "$(cat "$listen_file")" != "$listen" ]]; then
    touch "$listen_file.pending"
    printf '%s\n' "$listen" > "$listen_file"
fi
systemctl enable --quiet --now mariadb
if [[ -e "$listen_file.pending" ]]; then
    systemctl restart mariadb
    rm -f "$listen_file.pending"
fi
wait_ready

# The firewall (common/base) lets these addresses, and no others, reach
# 3306; one file per environment, as several may share this server.
install -d /etc/pond/firewall-db.d
allow="/etc/pond/firewall-db.d/$PROJECT-$ENV.nft"
{
    echo "# Written by Pond (mysql/database): web servers of $PROJECT $ENV."
    for host in "${remote[@]}"; do
        echo "add element inet filter pond_db_clients { $host }"
    done
} > "$allow.new"
mv "$allow.new" "$allow"
if grep -qs pond_db_clients /etc/nftables.conf; then
    nft -f /etc/nftables.conf 2>/dev/null || echo "nftables is not usable here; firewall not applied" >&2
fi

# Names match ^[a-z_][a-z0-9_]*$, hosts are localhost or IPv4 and hashes
# are * plus 40 hex digits (checked before this script was rendered), so
# the SQL needs no further quoting. It goes over stdin, not argv.
{
    echo "CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    for grant in $DB_GRANTS; do
        host="${grant%%=*}"
        hash="${grant#*=}"
        echo "CREATE USER IF NOT EXISTS '$DB_USER'@'$host' IDENTIFIED BY PASSWORD '$hash';"
        echo "ALTER USER '$DB_USER'@'$host' IDENTIFIED BY PASSWORD '$hash';"
        echo "GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'$host';"
    done
} | mariadb

# A web server that left the environment loses its account.
while read -r old; do
    keep=no
    for host in "${hosts[@]}"; do
        [[ "$old" == "$host" ]] && keep=yes
    done
    if [[ $keep == no && "$old" =~ ^[A-Za-z0-9.%_:-]+$ ]]; then
        echo "DROP USER '$DB_USER'@'$old';" | mariadb
        echo "dropped $DB_USER@$old (no longer a web server of $ENV)"
    fi
done < <(mariadb -N -e "SELECT Host FROM mysql.user WHERE User = '$DB_USER'")
echo "FLUSH PRIVILEGES;" | mariadb
echo "database: $DB_NAME for $DB_USER@{${hosts[*]}} ready"
