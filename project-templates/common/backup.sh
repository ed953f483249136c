#!/usr/bin/env bash
# summary: An environment's backups on this server (root's, in /var/lib/pond/backups/<project>_<env>/<id>/ with a MANIFEST): take one (its database, dumped in one transaction, and its shared paths, read by the site user; zstd), list them with the last run's outcome, restore one (a backup of the present first; the database emptied and loaded, each shared path emptied and unpacked by the site user), print one file of one, keep the newest scheduled ones
# input PROJECT [project_name]: project name
# input ENV [env_name]: environment name
# input SITE_USER [unix_user]: the environment's site user (reads and writes the shared paths)
# input ACTION [text]: take, scheduled (take, then keep the newest KEEP scheduled ones), list, restore or print
# input? ID [text]: the backup (take, restore, print): backup-<UTC time>-<kind>
# input? DB_NAME [text]: the environment's database when it lives on this server (empty: none here)
# input? SHARED_PATHS [text]: the shared paths when they live on this server, one per line (empty: none here)
# input? FILE [text]: for print: database.sql.zst, shared.tar.zst or MANIFEST
# input? KEEP [text]: for scheduled: how many scheduled backups to keep
# input? BEFORE_ID [text]: for restore: the id of the backup of the present taken first (one id for every server of the environment)
set -euo pipefail
umask 077
cd /  # the site user runs tools here too: no cwd it cannot enter
root="/var/www/pond/projects/$PROJECT/$ENV"
base="/var/lib/pond/backups/${PROJECT}_$ENV"
install -d -o root -g root -m 0700 /var/lib/pond/backups "$base"
[[ ! -L "$base" ]] || { echo "$base is a link; refusing to follow it" >&2; exit 3; }
[[ -z "$DB_NAME" || "$DB_NAME" =~ ^[a-z0-9_]{1,64}$ ]] || { echo "bad database name: $DB_NAME" >&2; exit 2; }
id_ok() { [[ "$1" =~ ^backup-[0-9]{8}T[0-9]{6}Z-(manual|scheduled|before-restore)$ ]]; }
shared_list=()
while IFS= read -r path; do
    [[ -n "$path" ]] || continue
    [[ "$path" =~ ^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$ && "$path" != *..* ]] || { echo "bad shared path: $path" >&2; exit 2; }
    [[ ( -d "$root/shared/$path" || -f "$root/shared/$path" ) && ! -L "$root/shared/$path" ]] && shared_list+=("$path")
done <<< "$SHARED_PATHS"

take() { # id, kind: the backup, made in a partial directory, then renamed
    local id="$1" kind="$2" dir="$base/$1" part
    id_ok "$id" || { echo "bad backup id: $id" >&2; return 2; }
    [[ ! -e "$dir" ]] || { echo "backup $id already exists" >&2; return 3; }
    # What a run killed midway left (a day old: not one running now).
    find "$base" -mindepth 1 -maxdepth 1 -name '.partial.*' -mmin +1440 -exec rm -rf -- {} + 2>/dev/null || true
    part="$(mktemp -d "$base/.partial.XXXXXX")"
    {
        printf 'ID %s\nKIND %s\nAT %s\n' "$id" "$kind" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } > "$part/MANIFEST"
    if [[ -n "$DB_NAME" ]]; then
        mariadb-admin --silent ping >/dev/null 2>&1 || { echo "MariaDB is not running on this server" >&2; rm -rf -- "$part"; return 3; }
        # Bounded: a table the site's database user keeps locked cannot
        # hold the backup (and its record) forever.
        if ! timeout --kill-after=60 3h mariadb-dump --single-transaction --quick --routines --triggers --no-tablespaces "$DB_NAME" | zstd -q -c > "$part/database.sql.zst"; then
            echo "dumping $DB_NAME failed" >&2
            rm -rf -- "$part"
            return 1
        fi
        echo "DATABASE $DB_NAME" >> "$part/MANIFEST"
    fi
    local shared_failed=""
    if ((${#shared_list[@]} > 0)); then
        # Read by the site user, whose files they are: root follows
        # nothing it planted there. Bounded in time like the dump.
        if timeout --kill-after=60 3h runuser -u "$SITE_USER" -- tar -C "$root/shared" -c -- "${shared_list[@]}" | zstd -q -c > "$part/shared.tar.zst"; then
            printf 'SHARED %s\n' "${shared_list[*]}" >> "$part/MANIFEST"
        else
            # The database part is kept; the backup counts as failed.
            rm -f -- "$part/shared.tar.zst"
            shared_failed="the shared paths could not be read (a file the site made unreadable?)"
            echo "SHARED-FAILED" >> "$part/MANIFEST"
        fi
    fi
    for f in database.sql.zst shared.tar.zst; do
        [[ -f "$part/$f" ]] && printf 'FILE %s %s %s\n' "$f" "$(stat -c %s "$part/$f")" "$(sha256sum < "$part/$f" | cut -d' ' -f1)" >> "$part/MANIFEST"
    done
    mv -T -- "$part" "$dir"
    echo "backup $id taken: $(awk '$1 == "FILE" { printf "%s (%s bytes) ", $2, $3 }' "$dir/MANIFEST")"
    if [[ -n "$shared_failed" ]]; then
        echo "$shared_failed; backup $id holds the database only" >&2
        return 1
    fi
    echo "backup $id ok"
}

record() { # result, id or message: the last run, for pond status
    printf 'AT %s\nRESULT %s\nDETAIL %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$(printf '%s' "$2" | tr '\n' ' ' | head -c 300)" > "$base/.last-run.tmp"
    mv -f -- "$base/.last-run.tmp" "$base/last-run"
}

take_and_record() { # id, kind
    local errors
    errors="$(mktemp)"
    # Running until it says otherwise; stopped by systemd (its timeout) or
    # a signal, it says so: a run that never finished is never left "ok".
    record running "$1"
    trap 'record failed "stopped before it finished (a timeout or a signal)"; exit 1' TERM INT HUP
    if take "$1" "$2" 2> "$errors"; then
        cat -- "$errors" >&2
        record ok "$1"
        rm -f -- "$errors"
    else
        cat -- "$errors" >&2
        record failed "$(tail -n 3 "$errors")"
        rm -f -- "$errors"
        echo "step backup: backup $1 failed" >&2
        trap - TERM INT HUP
        return 1
    fi
    trap - TERM INT HUP
}

case "$ACTION" in
    take)
        take_and_record "$ID" manual ;;
    scheduled)
        [[ "$KEEP" =~ ^[0-9]{1,3}$ && "$KEEP" -ge 1 ]] || { echo "bad keep count: $KEEP" >&2; exit 2; }
        take_and_record "backup-$(date -u +%Y%m%dT%H%M%SZ)-scheduled" scheduled
        find "$base" -mindepth 1 -maxdepth 1 -type d -name 'backup-*-scheduled' -printf '%f\n' | sort -r | tail -n +"$((KEEP + 1))" |
            while IFS= read -r old; do
                id_ok "$old" && rm -rf -- "${base:?}/$old" && echo "removed backup $old (keeping $KEEP)"
            done ;;
    list)
        for dir in "$base"/backup-*; do
            [[ -d "$dir" && ! -L "$dir" && -f "$dir/MANIFEST" ]] || continue
            id_ok "${dir##*/}" || continue
            report backup id "${dir##*/}" at "$(awk '$1 == "AT" { print $2 }' "$dir/MANIFEST")" \
                bytes "$(awk '$1 == "FILE" { s += $3 } END { printf "%.0f\n", s }' "$dir/MANIFEST")"
        done
        if [[ -f "$base/last-run" && ! -L "$base/last-run" ]]; then
            report backup-run at "$(awk '$1 == "AT" { print $2 }' "$base/last-run")" \
                result "$(awk '$1 == "RESULT" { print $2 }' "$base/last-run")" detail "$(sed -n 's/^DETAIL //p' "$base/last-run" | tr -cd '[:print:]')"
        fi ;;
    restore)
        id_ok "$ID" || { echo "bad backup id: $ID" >&2; exit 2; }
        dir="$base/$ID"
        [[ -d "$dir" && ! -L "$dir" && -f "$dir/MANIFEST" ]] || { echo "no backup $ID on this server" >&2; exit 3; }
        while read -r kind name _ sum; do
            [[ "$kind" == FILE ]] || continue
            [[ "$(sha256sum < "$dir/$name" | cut -d' ' -f1)" == "$sum" ]] || { echo "backup $ID is damaged ($name); nothing was restored" >&2; exit 3; }
        done < "$dir/MANIFEST"
        # Never under a deploy or swap of the environment (its lock, where
        # the environment lives here), and with its processes and schedule
        # stopped meanwhile (started again after, whatever happens).
        if [[ -d "$root/metadata" ]]; then
            [[ ! -L "$root/metadata" && ! -L "$root/metadata/lock" ]] || { echo "$root/metadata/lock is a link; refusing to follow it" >&2; exit 3; }
            exec 9<>"$root/metadata/lock"
            flock -n 9 || { echo "a deploy or swap holds the lock on $root; nothing was restored. Try again when it is done" >&2; exit 75; }
        fi
        units="pond-${PROJECT}_$ENV"
        mapfile -t stopped < <(systemctl list-units --plain --no-legend --state=active,activating "${units}_proc_*@*.service" "${units}_schedule.timer" "${units}_schedule.service" | awk '{ print $1 }')
        if ((${#stopped[@]} > 0)); then
            systemctl stop "${stopped[@]}"
            trap 'systemctl start "${stopped[@]}" 9>&- || true' EXIT
            echo "stopped ${#stopped[@]} process unit(s) of $ENV while restoring"
        fi
        # The present first, so a restore can be undone.
        before="${BEFORE_ID:-backup-$(date -u +%Y%m%dT%H%M%SZ)-before-restore}"
        take_and_record "$before" before-restore
        if [[ -f "$dir/database.sql.zst" && -n "$DB_NAME" ]]; then
            read -r charset collation < <(mariadb -N -e "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$DB_NAME'")
            [[ "$charset" =~ ^[a-z0-9_]+$ && "$collation" =~ ^[a-z0-9_]+$ ]] || { echo "could not read the character set of $DB_NAME" >&2; exit 3; }
            mariadb -e "DROP DATABASE \`$DB_NAME\`; CREATE DATABASE \`$DB_NAME\` CHARACTER SET $charset COLLATE $collation"
            zstd -dcq -- "$dir/database.sql.zst" | mariadb --database="$DB_NAME" ||
                { echo "loading the database stopped midway: $DB_NAME is incomplete; restore again" >&2; exit 1; }
            echo "database $DB_NAME restored from $ID"
        fi
        if [[ -f "$dir/shared.tar.zst" ]]; then
            # Emptied and unpacked by the site user, in its own directories:
            # only the paths the backup holds (one shared since keeps its files).
            read -ra in_backup <<< "$(sed -n 's/^SHARED //p' "$dir/MANIFEST")"
            for path in "${shared_list[@]}"; do
                [[ " ${in_backup[*]} " == *" $path "* ]] || continue
                runuser -u "$SITE_USER" -- find "$root/shared/$path" -mindepth 1 -delete
            done
            zstd -dcq -- "$dir/shared.tar.zst" |
                runuser -u "$SITE_USER" -- tar -C "$root/shared" -x --no-same-owner --no-overwrite-dir
            echo "shared paths restored from $ID: ${shared_list[*]}"
        fi
        echo "backup $ID restored" ;;
    print)
        id_ok "$ID" || { echo "bad backup id: $ID" >&2; exit 2; }
        [[ "$FILE" == database.sql.zst || "$FILE" == shared.tar.zst || "$FILE" == MANIFEST ]] || { echo "bad file: $FILE" >&2; exit 2; }
        [[ -f "$base/$ID/$FILE" && ! -L "$base/$ID/$FILE" ]] || { echo "backup $ID has no $FILE on this server" >&2; exit 3; }
        cat -- "$base/$ID/$FILE" ;;
    *) echo "unknown action: $ACTION" >&2; exit 2 ;;
esac
