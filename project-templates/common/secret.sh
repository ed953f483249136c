#!/usr/bin/env bash
# summary: The environment's app secrets on this server, one file each in config/secrets (root:<site group> 0640): set one from what follows the script on stdin, generate one here, list their names with the time each was set, print one (to copy it to the environment's other servers), or remove one
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input SITE_USER [unix_user]: the environment's site user (its group reads the secrets)
# input ACTION [text]: set, generate, list, print or remove
# input? NAME [secret_name]: the secret (not for list)
# input? BYTES [text]: random bytes for generate (16 to 256)
# input? ENCODING [text]: hex or base64 (generate)
# input? REPLACE [text]: yes to let generate replace a secret that is set
set -euo pipefail
config="/var/www/pond/projects/$PROJECT/$ENV/config"
[[ -d "$config" && ! -L "$config" ]] || { echo "$PROJECT/$ENV is not provisioned on this server (no $config): run pond provision $ENV" >&2; exit 3; }
dir="$config/secrets"
[[ ! -L "$dir" ]] || { echo "$dir is a link; refusing to follow it" >&2; exit 3; }
install -d -o root -g "$SITE_USER" -m 0750 "$dir"
[[ "$ACTION" == list || -n "$NAME" ]] || { echo "which secret? (NAME is empty)" >&2; exit 2; }

store() { # value on stdin -> $dir/$NAME, never through argv
    local tmp
    tmp="$(umask 077 && mktemp "$dir/.new.XXXXXX")"
    cat > "$tmp"
    [[ -s "$tmp" ]] || { rm -f -- "$tmp"; echo "the value of $NAME is empty; nothing stored" >&2; exit 2; }
    chown root:"$SITE_USER" "$tmp"
    chmod 0640 "$tmp"
    mv -f -- "$tmp" "$dir/$NAME"
}

case "$ACTION" in
    set)
        store
        echo "secret $NAME set" ;;
    generate)
        if [[ -e "$dir/$NAME" && "$REPLACE" != yes ]]; then
            echo "secret $NAME is already set; generating a new value replaces it (pass --replace)" >&2
            exit 3
        fi
        if [[ ! "$BYTES" =~ ^[0-9]+$ ]] || ((BYTES < 16 || BYTES > 256)); then
            echo "--bytes must be 16 to 256" >&2
            exit 2
        fi
        case "$ENCODING" in
            hex) head -c "$BYTES" /dev/urandom | od -An -v -tx1 | tr -d ' \n' | store ;;
            base64) head -c "$BYTES" /dev/urandom | base64 -w0 | store ;;
            *) echo "encoding must be hex or base64" >&2; exit 2 ;;
        esac
        echo "secret $NAME generated ($BYTES random bytes, $ENCODING)" ;;
    list)
        for file in "$dir"/*; do
            [[ -f "$file" && ! -L "$file" ]] || continue
            name="${file##*/}"
            [[ "$name" =~ ^[A-Z][A-Z0-9_]*$ ]] || continue
            report secret name "$name" set_at "$(date -u -r "$file" +%Y-%m-%dT%H:%M:%SZ)"
        done ;;
    print)
        [[ -f "$dir/$NAME" && ! -L "$dir/$NAME" ]] || { echo "secret $NAME is not set on this server" >&2; exit 3; }
        cat -- "$dir/$NAME" ;;
    remove)
        if [[ -e "$dir/$NAME" || -L "$dir/$NAME" ]]; then
            rm -f -- "$dir/$NAME"
            echo "secret $NAME removed"
        else
            echo "secret $NAME was not set"
        fi ;;
    *) echo "unknown action: $ACTION" >&2; exit 2 ;;
esac
