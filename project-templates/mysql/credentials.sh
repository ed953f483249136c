#!/usr/bin/env bash
# summary: The web server's own database password: generated here once, kept 0600, never printed; only its one-way mysql_native_password hash is shown, for the database server's grant
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
set -euo pipefail

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
# mysql_native_password stores SHA1(SHA1(password)); the database server
# needs only that, so the password itself stays on this server.
first="$(sha1sum < "$password_file" | cut -c1-40)"
second="$(printf '%b' "$(printf '%s' "$first" | sed 's/../\\x&/g')" | sha1sum | cut -c1-40)"
echo "DB-GRANT-HASH *${second^^}"
