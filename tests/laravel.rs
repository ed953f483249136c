//! A stock Laravel app (tests/fixtures/laravel: Laravel 8 from Debian's
//! `php-laravel-framework`, which a root post-provision hook installs; its
//! own code autoloaded by Composer in the post-deploy hook) goes live with
//! `pond create` and nothing done on the server by hand: `APP_KEY` is
//! generated on the server because pond.json declares it, `storage/` (a
//! shared path the upload skips) starts with the project's directory tree
//! and Laravel's run-time places owned by the site user, and Laravel's
//! bootstrap caches are built in the release by the deploy user. A later
//! deploy adds a directory the project gained, keeps what the site wrote,
//! keeps the key and reuses `vendor/`. A database queue worker (pond.json
//! `processes`: `php artisan queue:work`) runs jobs queued by `pond exec`
//! from the live release and restarts into the new one on a swap; the schedule's heartbeat advances every minute; status and
//! `pond logs --process` show both; a process dropped from pond.json stops.
//! Migrations run as a pre-swap hook (on the first deploy too); the swap
//! that runs one takes a database snapshot first, which `pond rollback
//! --with-data` restores; a failing migration blocks the swap with its
//! output. Backups: the daily timer is installed; one taken now is
//! restored (database and shared files) after changes and downloaded
//! intact; one that fails shows as failed in `pond status`.

mod common;

use std::path::Path;

use common::create::{pond, succeeded};
use common::lab::{LabDir, lab_up};

/// Runs `probe` every second until `done` accepts its output (at most
/// `secs` seconds); returns the last output.
fn wait_for(secs: u64, probe: &dyn Fn() -> String, done: &dyn Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let out = probe();
        if done(&out) || std::time::Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

#[test]
fn stock_laravel_serves_its_first_page_after_create() {
    common::require_root();
    let lab = LabDir::new("pond-laravel-");
    let api = lab_up(&lab.0);
    let config = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let init = std::process::Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(["init", "--name", "lara", "--stack", "php", "--dir"])
        .arg(p)
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/laravel"),
        p,
    );
    // Things on this machine that must not reach the server: a local
    // upload under the shared path, a log, local caches of Laravel.
    std::fs::write(p.join("storage/app/public/avatar.png"), "local upload").unwrap();
    std::fs::write(p.join("storage/logs/laravel.log"), "a local log line\n").unwrap();
    std::fs::write(p.join("bootstrap/cache/config.php"), "<?php return [];").unwrap();
    std::fs::write(
        p.join("deploy/provision.sh"),
        "set -eu\nDEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends php-laravel-framework >/dev/null\necho 'Laravel from Debian installed'\n",
    )
    .unwrap();
    let ignore = std::fs::read_to_string(p.join(".pondignore")).unwrap();
    assert!(
        ignore.contains("/storage/") && ignore.contains("/bootstrap/cache/*.php"),
        "{ignore}"
    );
    std::fs::write(p.join(".pondignore"), format!("{ignore}/vendor/\n")).unwrap();
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    file["health_path"] = "/health".into();
    file["config_files"] = serde_json::json!([{"template": "deploy/env.tmpl", "target": ".env"}]);
    file["generated_secrets"] = serde_json::json!([{"name": "APP_KEY", "bytes": 32}]);
    file["hooks"]["post_provision"] =
        serde_json::json!([{"script": "deploy/provision.sh", "run_as": "root"}]);
    file["hooks"]["post_deploy"] = serde_json::json!(["deploy/post-deploy.sh"]);
    file["hooks"]["pre_swap"] = serde_json::json!(["deploy/migrate.sh"]);
    file["processes"] = serde_json::json!([{"name": "queue", "command": "php artisan queue:work --sleep=1 --tries=3", "stop_timeout": 10}]);
    file["schedule"] = "php artisan schedule:run".into();
    file["backups"] = serde_json::json!({"schedule": "daily", "keep": 3});
    std::fs::write(
        p.join("pond.json"),
        serde_json::to_string_pretty(&file).unwrap(),
    )
    .unwrap();

    let created = succeeded(pond(
        &[
            "create",
            "production",
            "--account",
            "agency",
            "--domain",
            "lara.example.com",
            "--image",
            "debian-12-x64",
        ],
        p,
        config.path(),
        &api,
    ));
    assert!(
        created.contains("production: https://lara.example.com/"),
        "{created}"
    );
    assert!(created.contains("secret APP_KEY generated"), "{created}");
    assert!(
        created.contains("Laravel's caches: php artisan package:discover"),
        "{created}"
    );
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    let addr = file["environments"][0]["droplets"][0]["address"]
        .as_str()
        .unwrap()
        .to_string();

    // The first page: a compiled view, a session, the file cache and a log
    // line, all written by PHP into the shared storage.
    let (status, body) = common::browse(&addr, "lara.example.com", "/", &api.ca_root);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Laravel 8.83") && body.contains("visit 1"),
        "{body}"
    );
    let key = config.path().join("id_ed25519");
    let env_dir = "/var/www/pond/projects/lara/production";
    let root = |command: &str| common::ssh(&key, &addr, command);
    let owners = root(&format!(
        "cd {env_dir}/shared/storage && stat -c '%U %n' app/public framework/cache/data framework/sessions framework/views logs logs/laravel.log"
    ));
    for line in owners.lines() {
        assert!(line.starts_with("web_lara_production "), "{owners}");
    }
    let stored = root(&format!(
        "cd {env_dir}/shared/storage && find . -type f | sort"
    ));
    assert!(
        stored.contains("./app/public/.gitignore")
            && stored.contains("./framework/cache/data/.gitignore")
            && stored.contains("./framework/views/")
            && stored.contains("./framework/sessions/"),
        "{stored}"
    );
    assert!(
        !stored.contains("avatar.png"),
        "no local upload sent: {stored}"
    );
    let log = root(&format!("cat {env_dir}/shared/storage/logs/laravel.log"));
    assert!(
        log.contains("first page served") && !log.contains("a local log line"),
        "{log}"
    );
    // Laravel's caches were built in the release by the deploy user (the
    // local config cache was not sent); PHP cannot write there.
    let caches = root(&format!(
        "cd {env_dir}/current/bootstrap/cache && stat -c '%U %a %n' . *.php"
    ));
    for name in ["packages.php", "services.php", "config.php"] {
        let line = caches
            .lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("no {name}: {caches}"));
        let mode = line.split(' ').nth(1).unwrap();
        assert!(
            line.starts_with("deploy_lara_production ") && matches!(&mode[1..], "40" | "50"),
            "the deploy user's, read-only for PHP: {caches}"
        );
    }
    let config_cache = root(&format!("cat {env_dir}/current/bootstrap/cache/config.php"));
    assert!(
        config_cache.contains("PondLaravel"),
        "the server's own config cache"
    );
    // The queue worker runs the live release as the site user: a job queued
    // with pond exec reports the release and the worker's PID.
    let live_release = root(&format!("basename \"$(readlink -f {env_dir}/current)\""))
        .trim()
        .to_string();
    let dispatch = |label: &str| {
        let out = common::create::command(&["exec"], p, config.path(), &api)
            .args(["production", "--", "php", "artisan", "pond:dispatch", label])
            .output()
            .unwrap();
        let text = succeeded(out);
        assert!(text.contains(&format!("queued {label}")), "{text}");
    };
    let job = |label: &str| {
        let jobs = wait_for(
            30,
            &|| {
                root(&format!(
                    "cat {env_dir}/shared/storage/app/jobs.txt 2>/dev/null || true"
                ))
            },
            &|j| j.lines().any(|l| l.starts_with(&format!("{label} "))),
        );
        let line = jobs
            .lines()
            .find(|l| l.starts_with(&format!("{label} ")))
            .unwrap_or_else(|| panic!("job {label} never ran: {jobs:?}"))
            .to_string();
        let f: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        (f[1].clone(), f[2].clone())
    };
    dispatch("one");
    let (release_one, worker_pid) = job("one");
    assert_eq!(release_one, live_release, "the job ran in the live release");
    let worker_user = root(&format!("ps -o user= -p {worker_pid}"));
    assert_eq!(worker_user.trim(), "web_lara_production");
    let status = succeeded(pond(&["status", "production"], p, config.path(), &api));
    assert!(
        status.contains("queue@1: running for")
            && status.contains(&format!("release {live_release}")),
        "{status}"
    );
    let logs = succeeded(pond(
        &["logs", "production", "--process", "queue"],
        p,
        config.path(),
        &api,
    ));
    assert!(logs.contains("RecordRelease"), "{logs}");
    let key_line = |root: &dyn Fn(&str) -> String| {
        root(&format!("grep '^APP_KEY=base64:' {env_dir}/current/.env"))
    };
    let first_key = key_line(&root);
    assert!(
        first_key.trim().len() > "APP_KEY=base64:".len() + 40,
        "{first_key}"
    );
    assert!(
        !created.contains(first_key.trim()),
        "the key is never shown"
    );

    // The project gains a directory under storage; the next deploy makes it
    // and keeps everything the site wrote, the key and vendor/.
    std::fs::create_dir_all(p.join("storage/app/reports")).unwrap();
    std::fs::write(p.join("storage/app/reports/.gitkeep"), "").unwrap();
    std::fs::write(
        p.join("resources/views/welcome.blade.php"),
        std::fs::read_to_string(p.join("resources/views/welcome.blade.php"))
            .unwrap()
            .replace("on Pond", "on Pond, again"),
    )
    .unwrap();
    // Data written before the next swap, and a migration that swap runs.
    let db = |sql: &str| root(&format!("mariadb -N lara_production -e \"{sql}\""));
    assert_eq!(
        db("SELECT migration FROM migrations ORDER BY id").trim(),
        "2026_11_30_000000_create_jobs_table\n2026_12_01_000000_create_notes_table",
        "the first deploy ran the migrations"
    );
    db("INSERT INTO notes (body) VALUES ('before the swap')");
    std::fs::write(
        p.join("database/migrations/2026_12_02_000000_add_priority_to_notes.php"),
        "<?php\nuse Illuminate\\Database\\Migrations\\Migration;\nuse Illuminate\\Database\\Schema\\Blueprint;\nuse Illuminate\\Support\\Facades\\Schema;\nreturn new class extends Migration {\n    public function up() { Schema::table('notes', function (Blueprint $t) { $t->integer('priority')->default(0); }); }\n};\n",
    )
    .unwrap();
    let deployed = succeeded(pond(
        &["deploy", "production", "--tag", "v1.2_rc"],
        p,
        config.path(),
        &api,
    ));
    assert!(
        deployed.contains("Nothing to install, update or remove"),
        "vendor/ reused from the base release: {deployed}"
    );
    assert!(!deployed.contains("secret APP_KEY generated"), "{deployed}");
    dispatch("two");
    assert_eq!(
        job("two"),
        (live_release.clone(), worker_pid.clone()),
        "a deploy to the inactive colour leaves the worker alone"
    );
    let swapped = succeeded(pond(&["swap", "production"], p, config.path(), &api));
    assert!(
        swapped.contains("snapshot swap-")
            && swapped.contains("== pre-swap hook deploy/migrate.sh"),
        "{swapped}"
    );
    assert!(
        db("SHOW COLUMNS FROM notes").contains("priority"),
        "migrated"
    );
    let new_release = root(&format!("basename \"$(readlink -f {env_dir}/current)\""))
        .trim()
        .to_string();
    assert_ne!(new_release, live_release);
    assert!(
        new_release.ends_with("-v1.2_rc"),
        "a tag with . and _ (its snapshot must be kept): {new_release}"
    );
    dispatch("three");
    let (release_three, pid_three) = job("three");
    assert_eq!(
        release_three, new_release,
        "the next job runs the new release"
    );
    assert_ne!(pid_three, worker_pid, "a new worker process");
    let (status, body) = common::browse(&addr, "lara.example.com", "/", &api.ca_root);
    assert!(
        status == 200 && body.contains("on Pond, again"),
        "{status} {body}"
    );
    assert_eq!(key_line(&root), first_key, "APP_KEY kept");
    let stored_after = root(&format!(
        "cd {env_dir}/shared/storage && find . -type f | sort; stat -c '%U' app/reports"
    ));
    assert!(
        stored_after.contains("./app/reports/.gitkeep")
            && stored_after.contains("web_lara_production")
            && stored_after.contains("./logs/laravel.log"),
        "{stored_after}"
    );
    for line in stored.lines().filter(|l| l.contains("/sessions/")) {
        assert!(stored_after.contains(line), "session {line} kept");
    }
    // The schedule ran (every minute; the test has run longer than that by
    // now, or waits for the next minute) and status says how it went.
    let heartbeat = wait_for(
        75,
        &|| {
            root(&format!(
                "cat {env_dir}/shared/storage/app/heartbeat.txt 2>/dev/null || true"
            ))
        },
        &|h| !h.is_empty(),
    );
    assert!(
        heartbeat.starts_with("20"),
        "the scheduled heartbeat ran: {heartbeat:?}"
    );
    let status = succeeded(pond(&["status", "production"], p, config.path(), &api));
    assert!(
        status.contains("schedule: every minute; last run") && status.contains(" ok"),
        "{status}"
    );

    // Rows written after the swap; a rollback with the data goes back to
    // the snapshot: the column and the new row are gone, the old row stays.
    db("INSERT INTO notes (body, priority) VALUES ('after the swap', 3)");
    let plain_refused = pond(
        &["rollback", "production", "--with-data"],
        p,
        config.path(),
        &api,
    );
    assert!(
        !plain_refused.status.success()
            && String::from_utf8_lossy(&plain_refused.stderr).contains("--yes"),
        "no terminal, no --yes: refused, {plain_refused:?}"
    );
    let rolled = succeeded(pond(
        &["rollback", "production", "--with-data", "--yes"],
        p,
        config.path(),
        &api,
    ));
    assert!(
        rolled.contains("everything written to the database since")
            && rolled.contains(&format!("restored from snapshot swap-{new_release}")),
        "{rolled}"
    );
    assert_eq!(
        db("SELECT body FROM notes ORDER BY id").trim(),
        "before the swap"
    );
    assert!(!db("SHOW COLUMNS FROM notes").contains("priority"));
    assert_eq!(
        root(&format!("basename \"$(readlink -f {env_dir}/current)\"")).trim(),
        live_release,
        "the code went back too"
    );

    // Backups: the timer, one now, changes, a restore, a download.
    assert_eq!(
        root("systemctl is-active pond-lara_production_backup.timer").trim(),
        "active"
    );
    let report = format!("{env_dir}/shared/storage/app/report.txt");
    root(&format!(
        "runuser -u web_lara_production -- sh -c 'echo backed up > {report}'"
    ));
    let taken = succeeded(pond(&["backup", "production"], p, config.path(), &api));
    let backup_id = taken
        .split_whitespace()
        .find(|w| w.starts_with("backup-") && w.ends_with("-manual"))
        .unwrap_or_else(|| panic!("no backup id in {taken}"))
        .to_string();
    db("INSERT INTO notes (body) VALUES ('after the backup')");
    root(&format!(
        "runuser -u web_lara_production -- sh -c 'echo changed > {report}; echo new > {env_dir}/shared/storage/app/new.txt'"
    ));
    let restored = succeeded(pond(
        &["backup", "restore", "production", &backup_id, "--yes"],
        p,
        config.path(),
        &api,
    ));
    assert!(restored.contains("is restored from backup"), "{restored}");
    assert_eq!(
        db("SELECT body FROM notes ORDER BY id").trim(),
        "before the swap"
    );
    assert_eq!(root(&format!("cat {report}")), "backed up\n");
    assert_eq!(
        root(&format!(
            "test -e {env_dir}/shared/storage/app/new.txt && echo there || echo gone"
        ))
        .trim(),
        "gone"
    );
    assert_eq!(
        root(&format!("stat -c %U {report}")).trim(),
        "web_lara_production",
        "restored as the site's own files"
    );
    let listed = succeeded(pond(
        &["backup", "list", "production"],
        p,
        config.path(),
        &api,
    ));
    assert!(
        listed.contains(&backup_id)
            && listed.contains("-before-restore")
            && listed.contains("last run"),
        "{listed}"
    );
    let download = tempfile::tempdir().unwrap();
    let files = succeeded(pond(
        &[
            "backup",
            "download",
            "production",
            &backup_id,
            download.path().to_str().unwrap(),
        ],
        p,
        config.path(),
        &api,
    ));
    let manifest = std::fs::read_to_string(download.path().join("lara-production-1-MANIFEST"))
        .unwrap_or_else(|e| panic!("{e}: {files}"));
    for line in manifest.lines().filter(|l| l.starts_with("FILE ")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let bytes =
            std::fs::read(download.path().join(format!("lara-production-1-{}", f[1]))).unwrap();
        assert_eq!(bytes.len().to_string(), f[2], "{line}");
        let sum = std::process::Command::new("sha256sum")
            .arg(download.path().join(format!("lara-production-1-{}", f[1])))
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&sum.stdout).starts_with(f[3]),
            "{line}"
        );
    }
    assert!(
        manifest.contains("FILE database.sql.zst") && manifest.contains("FILE shared.tar.zst"),
        "{manifest}"
    );
    // A backup that fails shows as failed, never green.
    root("systemctl stop mariadb");
    let failed = pond(&["backup", "production"], p, config.path(), &api);
    assert!(!failed.status.success());
    let status = succeeded(pond(&["status", "production"], p, config.path(), &api));
    root("systemctl start mariadb");
    assert!(
        status.contains("backups: daily; last")
            && status.contains("FAILED: MariaDB is not running"),
        "{status}"
    );

    // A failing migration blocks the swap and shows why.
    std::fs::write(
        p.join("database/migrations/2026_12_03_000000_broken.php"),
        "<?php\nuse Illuminate\\Database\\Migrations\\Migration;\nreturn new class extends Migration {\n    public function up() { throw new RuntimeException('this migration fails on purpose'); }\n};\n",
    )
    .unwrap();
    succeeded(pond(&["deploy", "production"], p, config.path(), &api));
    let blocked = pond(&["swap", "production"], p, config.path(), &api);
    let blocked_text = format!(
        "{}{}",
        String::from_utf8_lossy(&blocked.stdout),
        String::from_utf8_lossy(&blocked.stderr)
    );
    assert!(!blocked.status.success(), "{blocked_text}");
    assert!(
        blocked_text.contains("this migration fails on purpose")
            && blocked_text.contains("nothing was swapped"),
        "{blocked_text}"
    );
    assert_eq!(
        root(&format!("basename \"$(readlink -f {env_dir}/current)\"")).trim(),
        live_release,
        "still the release rolled back to"
    );
    // The migration before the broken one ran; the error names the command
    // that puts the snapshot taken before the hooks back.
    assert!(
        db("SHOW COLUMNS FROM notes").contains("priority"),
        "partly migrated"
    );
    let restore_id = blocked_text
        .split(|c: char| c.is_whitespace() || c == '`')
        .find(|w| w.starts_with("swap-"))
        .unwrap_or_else(|| panic!("no snapshot named: {blocked_text}"))
        .to_string();
    assert!(
        blocked_text.contains(&format!("pond backup restore production {restore_id}")),
        "{blocked_text}"
    );
    let put_back = succeeded(pond(
        &["backup", "restore", "production", &restore_id, "--yes"],
        p,
        config.path(),
        &api,
    ));
    assert!(
        put_back.contains("of the present taken first"),
        "{put_back}"
    );
    assert!(
        !db("SHOW COLUMNS FROM notes").contains("priority"),
        "the snapshot is back"
    );
    std::fs::remove_file(p.join("database/migrations/2026_12_03_000000_broken.php")).unwrap();

    // A process dropped from pond.json stops once its release is live.
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    file["processes"] = serde_json::json!([]);
    std::fs::write(
        p.join("pond.json"),
        serde_json::to_string_pretty(&file).unwrap(),
    )
    .unwrap();
    succeeded(pond(&["deploy", "production"], p, config.path(), &api));
    let swapped = succeeded(pond(&["swap", "production"], p, config.path(), &api));
    assert!(
        swapped.contains("removed: pond-lara_production_proc_queue@.service"),
        "{swapped}"
    );
    let units = root(
        "systemctl list-units --all --plain --no-legend 'pond-lara_production_*' | awk '{ print $1, $3 }'",
    );
    assert!(!units.contains("proc_queue"), "{units}");
    assert!(
        units.contains("pond-lara_production_schedule.timer active"),
        "{units}"
    );

    // Unbinding the environment takes its schedule (and any process) away.
    succeeded(pond(
        &["unbind", "production", "--purge", "--yes"],
        p,
        config.path(),
        &api,
    ));
    let left = root(
        "systemctl list-unit-files --no-legend 'pond-lara_production_*' | wc -l; systemctl list-units --all --plain --no-legend 'pond-lara_production_*' | wc -l",
    );
    assert_eq!(
        left.split_whitespace().collect::<Vec<_>>(),
        ["0", "0"],
        "{left}"
    );
    drop(lab);
}
