#!/usr/bin/env bash
# summary: Record what provisioning left on this server for one environment (the templates' digest, the files Pond wrote with their hashes, its users and packages), so status and pond check can tell when the server no longer matches
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input DIGEST [text]: digest of the provisioning scripts the client ran, with their inputs
# input? SITE_USER [unix_user]: the environment's site user (empty on a database server)
# input? DEPLOY_USER [unix_user]: the environment's deploy user (empty on a database server)
# input? DB_NAME [db_name]: the environment's database when it lives on this server (empty: none here)
# input? DB_USER [db_user]: its database user
set -euo pipefail
[[ "$DIGEST" =~ ^[0-9a-f]{64}$ ]] || { echo "digest must be 64 hex digits" >&2; exit 2; }
dir=/etc/pond/provisioned
for d in /etc/pond "$dir"; do
    [[ ! -L "$d" ]] || { echo "$d is a symbolic link; refusing to follow it" >&2; exit 3; }
done
install -d -o root -g root -m 0700 "$dir"
record="$dir/${PROJECT}_$ENV"

file_line() { # path: "FILE <sha256> <path>" when it is a regular file
    [[ -f "$1" && ! -L "$1" ]] || return 0
    printf 'FILE %s %s\n' "$(sha256sum < "$1" | cut -d' ' -f1)" "$1"
}
{
    printf 'DIGEST %s\n' "$DIGEST"
    printf 'AT %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    file_line /etc/ssh/sshd_config.d/00-pond.conf
    file_line /etc/nftables.conf
    if [[ -n "$SITE_USER" ]]; then
        vhost="/etc/nginx/sites-available/pond-$PROJECT-$ENV.conf"
        file_line "$vhost"
        file_line "${vhost%.conf}.https.conf"
        # Enabled: the HTTP vhosts, or the HTTPS ones once the certificate exists.
        [[ ! -L "/etc/nginx/sites-enabled/pond-$PROJECT-$ENV.conf" ]] ||
            printf 'VHOSTLINK %s /etc/nginx/sites-enabled/pond-%s-%s.conf\n' "$vhost" "$PROJECT" "$ENV"
        for pool in /etc/php/*/fpm/pool.d/"$SITE_USER".conf; do
            file_line "$pool"
        done
        printf 'USER %s\n' "$SITE_USER" "$DEPLOY_USER"
    fi
    if [[ -n "$DB_NAME" ]]; then
        printf 'DB %s %s\n' "$DB_NAME" "$DB_USER"
    fi
    for package in openssh-server nftables nginx php-fpm mariadb-server; do
        if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)" == installed ]]; then
            printf 'PACKAGE %s\n' "$package"
        fi
    done
} > "$record.new"
chmod 0600 "$record.new"
mv -f -- "$record.new" "$record"
echo "recorded what provisioning wrote for $PROJECT/$ENV"
