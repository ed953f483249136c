#!/usr/bin/env bash
# summary: The web server's own database password: generated here once, kept 0640 root:<site group> (the site and deploy users read it), never printed; only its one-way mysql_native_password hash is shown, for the database server's grant
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input SITE_USER [unix_user]: the environment's site user, whose group may read the password
set -euo pipefail

config="/var/www/pond/projects/$PROJECT/$ENV/config"
getent group "$SITE_USER" >/dev/null || { echo "group $SITE_USER is missing (common/env-users makes it)" >&2; exit 3; }
[[ ! -L "$config" ]] || { echo "$config is a link; refusing to follow it" >&2; exit 3; }
install -d -o root -g "$SITE_USER" -m 0750 "$config"
password_file="$config/db-password"
[[ ! -L "$password_file" ]] || rm -f "$password_file"
if [[ ! -s "$password_file" ]]; then
    umask 077
    # 768 random bytes hold ~186 alphanumerics; no pipe is cut short, so
    # pipefail sees no SIGPIPE.
    raw="$(head -c 768 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')"
    [[ ${#raw} -ge 32 ]] || { echo "not enough randomness for a password" >&2; exit 1; }
    printf '%s' "${raw:0:32}" > "$password_file.new"
    mv "$password_file.new" "$password_file"
fi
chown root:"$SITE_USER" "$password_file"
chmod 0640 "$password_file"
# mysql_native_password stores SHA1(SHA1(password)); the database server
# needs only that, so the password itself stays on this server.
first="$(sha1sum < "$password_file" | cut -c1-40)"
second="$(printf '%b' "$(printf '%s' "$first" | sed 's/../\\x&/g')" | sha1sum | cut -c1-40)"
report db-grant-hash hash "*${second^^}"
