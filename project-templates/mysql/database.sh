#!/usr/bin/env bash
# summary: MariaDB with the environment's database and user; the password is generated here, kept 0600 and never printed
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input DB_NAME [db_name]: database name
# input DB_USER [db_user]: database user
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold mariadb-server mariadb-client
service mariadb start >/dev/null 2>&1 || true
for _ in $(seq 50); do
    mariadb-admin --silent ping >/dev/null 2>&1 && break
    sleep 0.2
done

config="/var/www/pond/projects/$PROJECT/$ENV/config"
install -d -o pond -g pond -m 0750 "$config"
password_file="$config/db-password"
if [[ ! -s "$password_file" ]]; then
    umask 077
    # 768 random bytes hold ~186 alphanumerics; no pipe is cut short, so
    # pipefail sees no SIGPIPE.
    raw="$(head -c 768 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')"
    [[ ${#raw} -ge 32 ]] || { echo "not enough randomness for a password" >&2; exit 1; }
    printf '%s' "${raw:0:32}" > "$password_file.new"
    chown pond:pond "$password_file.new"
    chmod 0600 "$password_file.new"
    mv "$password_file.new" "$password_file"
fi
password="$(cat "$password_file")"
# Names match ^[a-z_][a-z0-9_]*$ and the password is alphanumeric, so the
# SQL below needs no further quoting. It goes over stdin, not argv.
mariadb <<SQL
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$password';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'localhost';
FLUSH PRIVILEGES;
SQL
echo "database: $DB_NAME for $DB_USER ready; password in $password_file (0600, never printed)"
