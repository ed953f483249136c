//! The deploy engine end to end on lab droplets, through the `pond` CLI as
//! a user runs it: a PHP app with MariaDB (attach, provision, deploy v1,
//! v2 to the inactive colour while v1 stays live and untouched, preview,
//! swap, rollback, releases, the lock, data transfer, config secrets, host
//! keys) and a deploy whose link is cut midway.

mod common;

use std::time::Duration;

use common::deploy::*;
use serde_json::json;

#[test]
fn php_app_deploys_previews_swaps_and_rolls_back() {
    common::require_root();
    let (_lab, api, user) = start("pond-deploy-");
    let (droplet_id, addr) = droplet(&api, &user, "acme-web");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    user.init(p, "acme", "php");
    // This project ships seed data under its shared path, so its ignore
    // file does not skip storage/ (the starter one does).
    let ignore = std::fs::read_to_string(p.join(".pondignore")).unwrap();
    assert!(ignore.contains("\n/storage/\n"), "{ignore}");
    write(p, ".pondignore", &ignore.replace("\n/storage/\n", "\n"));
    write(
        p,
        "public/index.php",
        "<?php echo 'v1 ', basename(dirname(__DIR__)), \"\\n\";",
    );
    write(p, "public/health.php", "<?php echo 'ok';");
    write(p, "storage/uploads/seed.txt", "seeded");
    write(
        p,
        "deploy/post-deploy.sh",
        "set -eu\necho \"hook ran as $(id -un) in $PWD\"\nprintf built > public/built.txt\n",
    );
    let mut file = read_pond_json(p);
    // The build step runs here before anything is sent; what it makes ships.
    file["hooks"]["build"] = json!([
        "mkdir -p public/dist && printf 'bundled %s' \"$(cat build-input.txt)\" > public/dist/app.js"
    ]);
    write(p, "build-input.txt", "one");
    file["hooks"]["post_deploy"] = json!(["deploy/post-deploy.sh"]);
    file["hooks"]["post_provision"] = json!([
        {"script": "deploy/provision.sh", "run_as": "root"},
        "deploy/provision-as-deploy.sh"
    ]);
    write(
        p,
        "deploy/provision-as-deploy.sh",
        "set -eu\necho \"provision hook as $(id -un)\" > \"$HOME/ran\"\n",
    );
    write(
        p,
        "deploy/provision.sh",
        "set -eu\necho \"provisioned $(id -un)\" > /root/pond-hook-ran\n",
    );
    file["health_path"] = json!("/health.php");
    write(
        p,
        "deploy/env.tmpl",
        "APP_URL={{ url }}\nDB_DATABASE={{ database.name }}\nDB_PASSWORD={{ secrets.db_password }}\n",
    );
    file["config_files"] = json!([{"template": "deploy/env.tmpl", "target": ".env"}]);
    write_pond_json(p, &file);

    user.attach(p, &addr, "shop.example.com");
    let pinned = std::fs::read_to_string(p.join("pond.json")).unwrap();
    assert!(
        pinned.contains("\"host_key\": \"SHA256:"),
        "attach pins the host key"
    );
    user.ok(p, &["provision", "production"]);
    let (status, body) = common::http_get(&addr, "shop.example.com", "/");
    assert!(
        status == 200 && body.contains("nothing deployed yet"),
        "{status} {body}"
    );

    // First deploy: both colours, blue live; a DB dump and attachments too.
    let extra = tempfile::tempdir().unwrap();
    let dump = extra.path().join("dump.sql");
    std::fs::write(
        &dump,
        "CREATE TABLE notes (body TEXT);\nINSERT INTO notes VALUES ('from the dump');\n",
    )
    .unwrap();
    write(extra.path(), "files/uploads/photo.txt", "attached");
    let files = extra.path().join("files");
    let out = user.ok(
        p,
        &[
            "deploy",
            "production",
            "--tag",
            "v1",
            "--db-dump",
            dump.to_str().unwrap(),
            "--attachments",
            files.to_str().unwrap(),
        ],
    );
    assert!(out.contains("First deploy"), "{out}");
    let (status, body) = common::http_get(&addr, "shop.example.com", "/");
    assert_eq!(status, 200);
    assert!(body.starts_with("v1 "), "{body}");
    let v1_release = body.trim().trim_start_matches("v1 ").to_string();
    assert_eq!(
        common::http_get(&addr, "shop.example.com", "/built.txt").1,
        "built",
        "post-deploy hook output served"
    );
    assert_eq!(
        common::http_get(&addr, "shop.example.com", "/dist/app.js").1,
        "bundled one",
        "the build step's output was deployed"
    );
    // A failing build step stops the deploy before anything is sent.
    let mut failing = read_pond_json(p);
    failing["hooks"]["build"] = json!(["echo compiling; exit 7"]);
    write_pond_json(p, &failing);
    let broken = user.pond(p, &["deploy", "production", "--tag", "broken"]);
    let text = String::from_utf8_lossy(&broken.stderr).to_string();
    assert!(!broken.status.success(), "{text}");
    assert!(
        text.contains("compiling")
            && text.contains("the build step `echo compiling; exit 7` failed")
            && text.contains("nothing was sent"),
        "{text}"
    );
    assert!(
        !common::ssh(
            &user.config.path().join("id_ed25519"),
            &addr,
            "ls /var/www/pond/projects/acme/production/releases"
        )
        .contains("broken"),
        "no release was made"
    );
    failing["hooks"]["build"] = file["hooks"]["build"].clone();
    write_pond_json(p, &failing);

    // One-off commands run in the release as the site user; their output
    // and exit code are pond's; the run is logged.
    // `--project` goes before `--`: what follows is the command's.
    let exec = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pond"))
            .args(["exec", "--project"])
            .arg(p)
            .args(args)
            .env("POND_CONFIG_DIR", user.config.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let ran = exec(&[
        "production",
        "--",
        "sh",
        "-c",
        "id -un; pwd; echo \"$POND_ENV\"",
    ]);
    assert!(ran.status.success(), "{ran:?}");
    let whoami = String::from_utf8_lossy(&ran.stdout).to_string();
    assert_eq!(
        whoami.lines().collect::<Vec<_>>(),
        [
            "web_acme_production",
            &format!("/var/www/pond/projects/acme/production/releases/{v1_release}") as &str,
            "production"
        ],
        "{whoami}"
    );
    let args = exec(&[
        "production",
        "--",
        "sh",
        "-c",
        "printf '<%s>' \"$@\"; echo",
        "argv0",
        "",
        "a b",
        "$(x)\n",
        "$HOME",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&args.stdout),
        "<><a b><$(x)\n><$HOME>\n",
        "empty, spaced and shell-looking arguments arrive as given: {args:?}"
    );
    let failed = exec(&[
        "production",
        "--colour",
        "inactive",
        "--",
        "sh",
        "-c",
        "echo partial; touch public/planted.txt; exit 3",
    ]);
    assert_eq!(failed.status.code(), Some(3), "{failed:?}");
    assert_eq!(String::from_utf8_lossy(&failed.stdout), "partial\n");
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("planted.txt"),
        "the release is read-only to the site user: {failed:?}"
    );
    let log = common::ssh(
        &user.config.path().join("id_ed25519"),
        &addr,
        "tail -n 2 /var/www/pond/projects/acme/production/metadata/log.jsonl",
    );
    assert!(
        log.contains(r#""op":"exec""#)
            && log.contains(r#""exit":0"#)
            && log.contains(r#""exit":3"#)
            && !log.contains("planted"),
        "{log}"
    );
    let key = user.config.path().join("id_ed25519");
    let hook_owner = common::ssh(
        &key,
        &addr,
        "stat -c %U /var/www/pond/projects/acme/production/current/public/built.txt",
    );
    assert_eq!(
        hook_owner.trim(),
        "deploy_acme_production",
        "hooks run as the deploy user"
    );
    assert_eq!(
        common::ssh(&key, &addr, "cat /root/pond-hook-ran"),
        "provisioned root\n",
        "a post-provision hook marked root ran as root"
    );
    assert_eq!(
        common::ssh(
            &key,
            &addr,
            "cat /var/lib/pond/deploy/deploy_acme_production/ran"
        ),
        "provision hook as deploy_acme_production\n",
        "an unmarked post-provision hook ran as the deploy user"
    );
    let db_password_mode = common::ssh(
        &key,
        &addr,
        "stat -c '%a %U' /var/www/pond/projects/acme/production/config/db-password",
    );
    assert_eq!(
        db_password_mode.trim(),
        "640 root",
        "root's, readable by the environment's group"
    );
    // The config file got the server's password; the client never saw it.
    let password = common::ssh(
        &key,
        &addr,
        "cat /var/www/pond/projects/acme/production/config/db-password",
    );
    assert_eq!(password.len(), 32);
    let env_file = common::ssh(
        &key,
        &addr,
        "cat /var/www/pond/projects/acme/production/current/.env",
    );
    assert_eq!(
        env_file,
        format!(
            "APP_URL=http://shop.example.com\nDB_DATABASE=acme_production\nDB_PASSWORD={password}\n"
        )
    );
    assert!(!out.contains(&password));
    let leaked: Vec<_> = walk(p)
        .into_iter()
        .chain(walk(user.config.path()))
        .filter(|f| std::fs::read(f).is_ok_and(|b| String::from_utf8_lossy(&b).contains(&password)))
        .collect();
    assert!(
        leaked.is_empty(),
        "the DB password leaked to the client: {leaked:?}"
    );

    // v2 goes to the inactive colour; the live one is not touched.
    let before = live_files(&user, &addr);
    write(
        p,
        "public/index.php",
        "<?php echo 'v2 ', basename(dirname(__DIR__)), \"\\n\";",
    );
    std::fs::remove_file(p.join("public/health.php")).unwrap();
    write(p, "public/health.php", "<?php echo 'ok v2';");
    // Local changes under a shared path never reach the server's copy.
    write(p, "storage/uploads/seed.txt", "changed locally");
    write(p, "storage/uploads/local-only.txt", "not uploaded");
    let out = user.ok(p, &["deploy", "production", "--tag", "v2"]);
    assert!(
        out.contains("sent 2 files"),
        "only the two changed files are sent: {out}"
    );
    assert_eq!(
        live_files(&user, &addr),
        before,
        "live release files (inode, mtime) changed during deploy"
    );
    assert!(
        common::http_get(&addr, "shop.example.com", "/")
            .1
            .starts_with("v1 ")
    );
    let prefix = secret_prefix(p);
    let preview = common::http_get(&addr, &format!("{prefix}.shop.example.com"), "/").1;
    assert!(preview.starts_with("v2 "), "preview shows v2: {preview}");
    assert!(
        common::http_get(&addr, &format!("{prefix}-blue.shop.example.com"), "/")
            .1
            .starts_with("v1 ")
    );
    assert!(
        user.ok(p, &["preview", "production"])
            .contains(&format!("http://{prefix}.shop.example.com/"))
    );

    let notes = common::ssh(
        &key,
        &addr,
        "mariadb -N acme_production -e 'SELECT body FROM notes'",
    );
    assert_eq!(notes.trim(), "from the dump");
    let photo = common::ssh(
        &key,
        &addr,
        "cat /var/www/pond/projects/acme/production/current/storage/uploads/photo.txt",
    );
    assert_eq!(
        photo, "attached",
        "attachments land in the shared storage every release links"
    );

    // Shared paths persist: seeded once, not overwritten by later uploads.
    let seeded = common::ssh(
        &key,
        &addr,
        "cat /var/www/pond/projects/acme/production/shared/storage/uploads/seed.txt",
    );
    assert_eq!(seeded, "seeded");
    std::fs::remove_file(p.join("storage/uploads/seed.txt")).unwrap();

    // Swap and rollback.
    user.ok(p, &["swap", "production"]);
    assert!(
        common::http_get(&addr, "shop.example.com", "/")
            .1
            .starts_with("v2 ")
    );
    user.ok(p, &["rollback", "production"]);
    let body = common::http_get(&addr, "shop.example.com", "/").1;
    assert_eq!(body.trim(), format!("v1 {v1_release}"));

    // Releases are listed with their colours; an older one can be made live.
    let releases = user.ok(p, &["releases", "production"]);
    let v2_line = releases
        .lines()
        .find(|l| l.contains("tag v2"))
        .expect("v2 listed");
    assert!(v2_line.trim_end().ends_with("green"), "{releases}");
    assert!(
        releases
            .lines()
            .any(|l| l.contains("tag v1") && l.trim_end().ends_with("blue (live)")),
        "{releases}"
    );
    let v2_id = v2_line.split_whitespace().next().unwrap().to_string();
    user.ok(p, &["rollback", "production", "--to", &v2_id]);
    assert!(
        common::http_get(&addr, "shop.example.com", "/")
            .1
            .starts_with("v2 ")
    );
    user.ok(p, &["rollback", "production"]);
    assert!(
        common::http_get(&addr, "shop.example.com", "/")
            .1
            .starts_with("v1 ")
    );

    let status: serde_json::Value =
        serde_json::from_str(&user.ok(p, &["status", "--json"])).unwrap();
    let server = &status[0]["servers"][0];
    assert_eq!(server["live"], "blue");
    assert_eq!(server["state"]["colours"]["green"]["tag"], "v2");
    assert_eq!(server["last"]["op"], "rollback");
    // Services as installed (PHP stack + MariaDB), and the disk in bytes.
    let services: Vec<(String, bool)> = serde_json::from_value(server["services"].clone()).unwrap();
    for name in ["nginx", "php-fpm", "mariadb"] {
        assert!(
            services.contains(&(name.to_string(), true)),
            "{name}: {services:?}"
        );
    }
    assert!(
        server["disk_free"].as_u64().unwrap() > 100 << 20,
        "{server}"
    );

    // A second deploy while one holds the lock fails at once, naming it.
    write(p, "deploy/post-deploy.sh", "set -eu\nsleep 4\n");
    let slow = spawn_deploy(&user, p, "production", "slow");
    std::thread::sleep(Duration::from_millis(1500));
    let started = std::time::Instant::now();
    let second = user.pond(p, &["deploy", "production", "--tag", "second"]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the second deploy must fail at once"
    );
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("another deploy holds the lock")
            && err.contains("\"release\":")
            && err.contains("slow"),
        "{err}"
    );
    assert!(slow.join().unwrap().status.success());
    // That deploy ran after seed.txt was deleted locally: the shared copy stays.
    let kept = common::ssh(
        &key,
        &addr,
        "cat /var/www/pond/projects/acme/production/shared/storage/uploads/seed.txt",
    );
    assert_eq!(kept, "seeded", "a local delete must not reach shared data");

    // A changed host key is refused until re-pinned on purpose.
    let changed = api.ok(
        "POST",
        &format!("/_lab/droplets/{droplet_id}/host-key"),
        None,
        200,
    );
    let refused = user.pond(p, &["deploy", "production", "--tag", "v3"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("host key of acme-production-1") && err.contains("has changed"),
        "{err}"
    );
    assert!(
        common::http_get(&addr, "shop.example.com", "/")
            .1
            .starts_with("v1 "),
        "still serving"
    );
    // Re-pinning on purpose: a wrong expectation is refused, the right one
    // is recorded, and Pond connects again.
    let new_key = changed["host_key"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let wrong = user.pond(
        p,
        &[
            "repin",
            "production",
            "acme-production-1",
            "--expect",
            "SHA256:wrong",
        ],
    );
    assert!(!wrong.status.success());
    user.ok(
        p,
        &[
            "repin",
            "production",
            "acme-production-1",
            "--expect",
            &new_key,
        ],
    );
    assert!(
        std::fs::read_to_string(p.join("pond.json"))
            .unwrap()
            .contains(&new_key)
    );
    user.ok(p, &["status"]);
}

#[test]
fn a_deploy_cut_midway_leaves_live_serving_and_a_rerun_completes() {
    common::require_root();
    let (_lab, api, user) = start("pond-cut-");
    let (droplet_id, addr) = droplet(&api, &user, "cut-web");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    user.init(p, "cut", "static");
    write(p, "index.html", "one");
    user.attach(p, &addr, "cut.example.com");
    user.ok(p, &["provision", "production"]);
    user.ok(p, &["deploy", "production", "--tag", "one"]);

    // The next deploy's hook runs long enough for the cut to land inside it.
    write(p, "index.html", "two");
    write(p, "hook.sh", "sleep 8\n");
    let mut file = read_pond_json(p);
    file["hooks"]["post_deploy"] = json!(["hook.sh"]);
    write_pond_json(p, &file);
    let deploying = spawn_deploy(&user, p, "production", "two");
    std::thread::sleep(Duration::from_secs(2));
    api.ok(
        "POST",
        &format!("/_lab/droplets/{droplet_id}/cut"),
        Some(json!({"seconds": 25})),
        200,
    );
    let started = std::time::Instant::now();
    let cut = deploying.join().unwrap();
    assert!(
        !cut.status.success(),
        "a deploy whose link is cut for 25 s must fail"
    );
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "and fail promptly, not hang"
    );
    let err = String::from_utf8_lossy(&cut.stderr);
    assert!(
        err.contains("connection to cut-production-1") || err.contains("lost"),
        "{err}"
    );

    // Once the link is back, the live colour still serves the old build and
    // a re-run completes (the server dropped the dead session and its lock).
    std::thread::sleep(Duration::from_secs(
        25u64.saturating_sub(started.elapsed().as_secs()) + 1,
    ));
    assert_eq!(common::http_get(&addr, "cut.example.com", "/").1, "one");
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let rerun = user.pond(p, &["deploy", "production", "--tag", "two-again"]);
        if rerun.status.success() {
            break;
        }
        let err = String::from_utf8_lossy(&rerun.stderr).to_string();
        assert!(
            err.contains("holds the lock"),
            "re-run failed for another reason: {err}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the lock was not freed: {err}"
        );
        std::thread::sleep(Duration::from_secs(3));
    }
    user.ok(p, &["swap", "production"]);
    assert_eq!(common::http_get(&addr, "cut.example.com", "/").1, "two");
}
