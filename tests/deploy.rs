//! The deploy engine end to end on a lab droplet, through the `pond` CLI as
//! a user runs it: attach, provision (php stack with MariaDB), deploy v1,
//! deploy v2 to the inactive colour while v1 stays live and untouched,
//! preview, swap, rollback — each checked with real HTTP requests carrying
//! the right Host header — plus the lock, a changed host key, and a static
//! site.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::lab::{Api, LabDir, address, lab_up, wait_active};
use serde_json::json;

struct User {
    config: tempfile::TempDir,
}

impl User {
    fn pond(&self, project: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pond"));
        cmd.args(args);
        // `key` and `init` are not about an existing project.
        if !matches!(args.first(), Some(&"key" | &"init")) {
            cmd.arg("--project").arg(project);
        }
        cmd.env("POND_CONFIG_DIR", self.config.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// `pond init --dir PROJECT --name NAME --stack STACK`.
    fn init(&self, project: &Path, name: &str, stack: &str) {
        self.ok(
            project,
            &[
                "init",
                "--dir",
                project.to_str().unwrap(),
                "--name",
                name,
                "--stack",
                stack,
            ],
        );
    }

    fn ok(&self, project: &Path, args: &[&str]) -> String {
        let out = self.pond(project, args);
        assert!(
            out.status.success(),
            "pond {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// A fresh lab and a user (with their own Pond config dir) to drive it.
fn start(prefix: &str) -> (LabDir, Api, User) {
    let lab = LabDir::new(prefix);
    let api = lab_up(&lab.0);
    (
        lab,
        api,
        User {
            config: tempfile::tempdir().unwrap(),
        },
    )
}

fn read_pond_json(project: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(project.join("pond.json")).unwrap()).unwrap()
}

fn write_pond_json(project: &Path, file: &serde_json::Value) {
    std::fs::write(
        project.join("pond.json"),
        serde_json::to_string_pretty(file).unwrap(),
    )
    .unwrap();
}

/// Starts `pond deploy ENV --tag TAG` in the background.
fn spawn_deploy(
    user: &User,
    project: &Path,
    env: &str,
    tag: &str,
) -> std::thread::JoinHandle<Output> {
    let (config, project) = (user.config.path().to_path_buf(), project.to_path_buf());
    let (env, tag) = (env.to_string(), tag.to_string());
    std::thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_pond"))
            .args(["deploy", &env, "--tag", &tag, "--project"])
            .arg(&project)
            .env("POND_CONFIG_DIR", config)
            .output()
            .unwrap()
    })
}

/// A droplet created through the lab API with the user's Pond key
/// (registered once per lab).
fn droplet(api: &Api, user: &User, name: &str) -> (u64, String) {
    let public = user
        .ok(Path::new("."), &["key", "--public"])
        .trim()
        .to_string();
    let keys = api.ok("GET", "/v2/account/keys", None, 200);
    let known = keys["ssh_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["public_key"] == public.as_str())
        .map(|k| k["id"].clone());
    let key_id = match known {
        Some(id) => id,
        None => api.ok(
            "POST",
            "/v2/account/keys",
            Some(json!({"name": name, "public_key": public})),
            201,
        )["ssh_key"]["id"]
            .clone(),
    };
    let created = api.ok(
        "POST",
        "/v2/droplets",
        Some(json!({"name": name, "size": "s-1vcpu-1gb", "image": "debian-12-x64", "ssh_keys": [key_id], "tags": [name]})),
        202,
    );
    let d = wait_active(api, name, 1).remove(0);
    (created["droplet"]["id"].as_u64().unwrap(), address(&d))
}

fn write(project: &Path, rel: &str, text: &str) {
    let path = project.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn secret_prefix(project: &Path) -> String {
    read_pond_json(project)["environments"][0]["secret_prefix"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `stat -c '%i %Y %n'` of every file of the live release, over SSH.
fn live_files(user: &User, addr: &str) -> String {
    let key = user.config.path().join("id_ed25519");
    common::ssh(
        &key,
        addr,
        "cd /var/www/pond/projects/acme/production/current/ && find . -type f -exec stat -c '%i %Y %n' {} + | sort",
    )
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn php_app_deploys_previews_swaps_and_rolls_back() {
    common::require_root();
    let (_lab, api, user) = start("pond-deploy-");
    let (droplet_id, addr) = droplet(&api, &user, "acme-web");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    user.init(p, "acme", "php");
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
    file["hooks"]["post_deploy"] = json!(["deploy/post-deploy.sh"]);
    file["hooks"]["post_provision"] = json!(["deploy/provision.sh"]);
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

    user.ok(
        p,
        &[
            "attach",
            "production",
            "--host",
            &addr,
            "--domain",
            "shop.example.com",
        ],
    );
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
    let key = user.config.path().join("id_ed25519");
    let hook_owner = common::ssh(
        &key,
        &addr,
        "stat -c %U /var/www/pond/projects/acme/production/current/public/built.txt",
    );
    assert_eq!(hook_owner.trim(), "pond", "hooks run as the web user");
    assert_eq!(
        common::ssh(&key, &addr, "cat /root/pond-hook-ran"),
        "provisioned root\n",
        "post-provision hook ran as root"
    );
    let db_password_mode = common::ssh(
        &key,
        &addr,
        "stat -c '%a %U' /var/www/pond/projects/acme/production/config/db-password",
    );
    assert_eq!(db_password_mode.trim(), "600 pond");
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
        format!("APP_URL=http://shop.example.com\nDB_DATABASE=acme\nDB_PASSWORD={password}\n")
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

    let notes = common::ssh(&key, &addr, "mariadb -N acme -e 'SELECT body FROM notes'");
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
fn static_site_deploys_and_swaps() {
    common::require_root();
    let (_lab, api, user) = start("pond-static-");
    let (_, addr) = droplet(&api, &user, "site-web");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    user.init(p, "site", "static");
    write(p, "index.html", "<h1>one</h1>");
    write(p, "css/site.css", "h1{}");
    // keep_builds 2: the inactive colour's release is reused by rename, and
    // must never be the live one (after the first deploy both share it).
    let mut file = read_pond_json(p);
    file["keep_builds"] = json!(2);
    write_pond_json(p, &file);
    user.ok(
        p,
        &["attach", "www", "--host", &addr, "--domain", "example.org"],
    );
    user.ok(p, &["provision", "www"]);
    user.ok(p, &["deploy", "www", "--tag", "one"]);
    assert_eq!(
        common::http_get(&addr, "example.org", "/").1,
        "<h1>one</h1>"
    );
    write(p, "index.html", "<h1>two</h1>");
    std::fs::remove_file(p.join("css/site.css")).unwrap();
    let out = user.ok(p, &["deploy", "www", "--tag", "two", "--dry-run"]);
    assert!(
        out.contains("would send 1 files") && out.contains("deleted 1"),
        "{out}"
    );
    assert_eq!(
        common::http_get(&addr, "example.org", "/").1,
        "<h1>one</h1>"
    );
    let releases_before = user.ok(p, &["releases", "www"]);
    user.ok(p, &["deploy", "www", "--tag", "two", "--dry-run"]);
    assert_eq!(
        user.ok(p, &["releases", "www"]),
        releases_before,
        "a dry run changes nothing"
    );
    user.ok(p, &["deploy", "www", "--tag", "two"]);
    let planned = user.ok(p, &["swap", "www", "--dry-run"]);
    assert!(
        planned.contains("would make green live") && planned.contains("tag two"),
        "{planned}"
    );
    assert_eq!(
        common::http_get(&addr, "example.org", "/").1,
        "<h1>one</h1>",
        "a dry-run swap swaps nothing"
    );
    user.ok(p, &["swap", "www"]);
    assert_eq!(
        common::http_get(&addr, "example.org", "/").1,
        "<h1>two</h1>"
    );
    assert_eq!(
        common::http_get(&addr, "example.org", "/css/site.css").0,
        404,
        "removed file is gone"
    );
    // A third build reuses blue's old release (not live): swap, roll back.
    write(p, "index.html", "<h1>three</h1>");
    user.ok(p, &["deploy", "www", "--tag", "three"]);
    assert_eq!(
        common::http_get(&addr, "example.org", "/").1,
        "<h1>two</h1>"
    );
    user.ok(p, &["swap", "www"]);
    assert_eq!(
        common::http_get(&addr, "example.org", "/").1,
        "<h1>three</h1>"
    );
    user.ok(p, &["rollback", "www"]);
    assert_eq!(
        common::http_get(&addr, "example.org", "/").1,
        "<h1>two</h1>"
    );
    let releases = user.ok(p, &["releases", "www"]);
    assert_eq!(
        releases.lines().filter(|l| l.contains(" tag ")).count(),
        2,
        "keep_builds 2 keeps two: {releases}"
    );

    // The user's ssh-agent can hold the key instead of a file Pond reads.
    let sock = user.config.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = Command::new("ssh-add")
        .arg(user.config.path().join("id_ed25519"))
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let via_agent = Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(["status", "--project"])
        .arg(p)
        .env("POND_CONFIG_DIR", elsewhere.path())
        .env("POND_SSH_KEY", "agent")
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(
        via_agent.status.success(),
        "{}",
        String::from_utf8_lossy(&via_agent.stderr)
    );
    let shown = String::from_utf8_lossy(&via_agent.stdout);
    assert!(shown.contains("live green"), "{shown}");
    assert!(
        !elsewhere.path().join("id_ed25519").exists(),
        "no key file was generated"
    );
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
    user.ok(
        p,
        &[
            "attach",
            "production",
            "--host",
            &addr,
            "--domain",
            "cut.example.com",
        ],
    );
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

/// Copies `from` into `to` resolving symlinks; links that point nowhere
/// (into packages not installed here) are left out.
fn copy_resolved(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let Ok(meta) = std::fs::metadata(&src) else {
            continue;
        };
        if meta.is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_resolved(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

#[test]
fn wordpress_from_debian_deploys_talks_to_its_database_and_swaps() {
    common::require_root();
    // WordPress as Debian packages it: a real PHP app nobody here wrote.
    let download = tempfile::tempdir().unwrap();
    let got = Command::new("apt-get")
        .args(["download", "-q", "wordpress"])
        .current_dir(download.path())
        .output()
        .unwrap();
    assert!(
        got.status.success(),
        "apt-get download wordpress: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    let deb = std::fs::read_dir(download.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let unpacked = download.path().join("x");
    assert!(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&unpacked)
            .status()
            .unwrap()
            .success()
    );

    let (_lab, api, user) = start("pond-wp-");
    let (_, addr) = droplet(&api, &user, "wp-web");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    copy_resolved(&unpacked.join("usr/share/wordpress"), p);
    // Credentials: names from pond.json, the password from the server-held
    // file each release links at .pond/db-password (never on the client).
    write(
        p,
        "wp-config.php",
        "<?php\ndefine('DB_NAME', 'blog');\ndefine('DB_USER', 'blog');\n\
         define('DB_PASSWORD', trim(file_get_contents(__DIR__ . '/.pond/db-password')));\n\
         define('DB_HOST', 'localhost');\n$table_prefix = 'wp_';\n\
         if (!defined('ABSPATH')) { define('ABSPATH', __DIR__ . '/'); }\nrequire_once ABSPATH . 'wp-settings.php';\n",
    );
    user.init(p, "blog", "wordpress");
    user.ok(
        p,
        &[
            "attach",
            "production",
            "--host",
            &addr,
            "--domain",
            "blog.example.com",
        ],
    );
    user.ok(p, &["provision", "production"]);
    let out = user.ok(p, &["deploy", "production", "--tag", "wp1"]);
    assert!(out.contains("First deploy"), "{out}");
    let (status, _) = common::http_get(&addr, "blog.example.com", "/");
    assert_eq!(status, 302, "a fresh WordPress redirects to its installer");
    let (status, body) = common::http_get(&addr, "blog.example.com", "/wp-admin/install.php");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("WordPress") && !body.contains("Error establishing a database connection"),
        "{body}"
    );
    assert_eq!(
        common::http_get(&addr, "blog.example.com", "/.pond/db-password").0,
        403,
        "the secret is not served"
    );

    write(p, "readme.html", "<p>changed</p>");
    let out = user.ok(p, &["deploy", "production", "--tag", "wp2"]);
    assert!(out.contains("sent 1 files"), "{out}");
    user.ok(p, &["swap", "production"]);
    assert_eq!(
        common::http_get(&addr, "blog.example.com", "/readme.html").1,
        "<p>changed</p>"
    );
    assert_eq!(
        common::http_get(&addr, "blog.example.com", "/wp-admin/install.php").0,
        200
    );
}

#[test]
fn a_load_balanced_environment_deploys_and_swaps_on_every_droplet() {
    common::require_root();
    let (_lab, api, user) = start("pond-lb-env-");
    let (_, a) = droplet(&api, &user, "lb-web-a");
    let (_, b) = droplet(&api, &user, "lb-web-b");
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    user.init(p, "fleet", "static");
    write(p, "index.html", "one");
    // Two web droplets behind a load balancer (its record only; the
    // traffic checks go to each droplet directly).
    let mut file = read_pond_json(p);
    file["environments"] = json!([{
        "name": "production", "type": "load_balanced", "domain": "fleet.example.com",
        "secret_prefix": "q8w7e6r5t4y3u2", "database": {"placement": "none"},
        "droplets": [{"name": "fleet-a", "address": a}, {"name": "fleet-b", "address": b}],
        "load_balancer": {"name": "fleet-lb"}
    }]);
    write_pond_json(p, &file);
    user.ok(p, &["provision", "production"]);
    let pinned = std::fs::read_to_string(p.join("pond.json")).unwrap();
    assert_eq!(
        pinned.matches("\"host_key\": \"SHA256:").count(),
        2,
        "both droplets pinned"
    );

    user.ok(p, &["deploy", "production", "--tag", "one"]);
    write(p, "index.html", "two");
    let out = user.ok(p, &["deploy", "production", "--tag", "two"]);
    assert!(
        out.contains("fleet-a: sent 1 files") && out.contains("fleet-b: sent 1 files"),
        "{out}"
    );
    for addr in [&a, &b] {
        assert_eq!(common::http_get(addr, "fleet.example.com", "/").1, "one");
        assert_eq!(
            common::http_get(addr, "q8w7e6r5t4y3u2.fleet.example.com", "/").1,
            "two"
        );
    }
    user.ok(p, &["swap", "production"]);
    for addr in [&a, &b] {
        assert_eq!(common::http_get(addr, "fleet.example.com", "/").1, "two");
    }
    let status: serde_json::Value =
        serde_json::from_str(&user.ok(p, &["status", "--json"])).unwrap();
    let servers = status[0]["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    assert!(servers.iter().all(|s| s["live"] == "green"), "{status}");

    // If the swap fails on one droplet, the others are swapped back: b
    // loses its new release, so only a could swap — and must not stay so.
    write(p, "index.html", "three");
    user.ok(p, &["deploy", "production", "--tag", "three"]);
    let key = user.config.path().join("id_ed25519");
    common::ssh(
        &key,
        &b,
        "cd /var/www/pond/projects/fleet/production && rm -rf \"$(readlink blue)\"",
    );
    let failed = user.pond(p, &["swap", "production", "--force"]);
    assert!(!failed.status.success(), "the swap must fail on fleet-b");
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(err.contains("fleet-b"), "{err}");
    for addr in [&a, &b] {
        assert_eq!(
            common::http_get(addr, "fleet.example.com", "/").1,
            "two",
            "every droplet serves the old build"
        );
    }
}
