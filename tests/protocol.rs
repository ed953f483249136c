//! The deploy protocol under unusual orders of events, on a lab droplet
//! through the `pond` CLI: rollback after a deploy into the colour it
//! would return to, a deploy landing while a swap health-checks, breaking
//! a stuck lock (its work ends too), data brought to a live environment,
//! a shared path added to a live site, unbind under a running deploy, a
//! damaged state file, a health path with URL brackets, the database
//! password kept out of every command line. And on the lab's API alone:
//! a DNS error other than "not found" never creates a zone; a create whose
//! first deploy is unhealthy points no DNS.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::deploy::*;
use serde_json::json;

const ROOT: &str = "/var/www/pond/projects/acme/production";

/// The domain's page, as the droplet serves it.
fn live_page(addr: &str) -> String {
    common::http_get(addr, "shop.example.com", "/").1
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Starts `pond ARGS` in the background as `user`.
fn spawn(user: &User, p: &std::path::Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(args)
        .arg("--project")
        .arg(p)
        .env("POND_CONFIG_DIR", user.config.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (bounded) until `check` holds.
fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn rollback_races_broken_locks_and_live_data_keep_the_protocol() {
    common::require_root();
    let (_lab, api, user) = start("pond-protocol-");
    let (_, addr) = droplet(&api, &user, "acme-web");
    let key = user.config.path().join("id_ed25519");
    let ssh = |command: &str| common::ssh(&key, &addr, command);
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    user.init(p, "acme", "php");
    let version = |v: &str| write(p, "public/version.txt", v);
    write(
        p,
        "public/index.php",
        "<?php echo trim(file_get_contents(__DIR__ . '/version.txt'));",
    );
    // Slow when the release carries public/slow.txt, so a swap's health
    // check can be caught in the middle.
    write(
        p,
        "public/health.php",
        "<?php if (file_exists(__DIR__ . '/slow.txt')) { sleep(8); } echo 'ok';",
    );
    write(
        p,
        "deploy/post-deploy.sh",
        "set -eu\nif [ -f deploy/slow-hook ]; then sleep 25; fi\n",
    );
    write(
        p,
        "deploy/env.tmpl",
        "DB_PASSWORD={{ secrets.db_password }}\n",
    );
    let mut file = read_pond_json(p);
    file["hooks"]["post_deploy"] = json!(["deploy/post-deploy.sh"]);
    file["config_files"] = json!([{"template": "deploy/env.tmpl", "target": ".env"}]);
    // URL brackets must reach the server as they are (curl would glob them).
    file["health_path"] = json!("/health.php?probe[]=1");
    file["shared_paths"] = json!([]);
    write_pond_json(p, &file);
    user.attach(p, &addr, "shop.example.com");
    user.ok(p, &["provision", "production"]);
    // Every sed the server runs logs its arguments: the DB password must
    // never be among them (argv is visible to every user through ps).
    ssh(
        "printf '#!/bin/sh\\nprintf \"%s \" \"$@\" >> /root/sed-argv.log\\necho >> /root/sed-argv.log\\nexec /usr/bin/sed \"$@\"\\n' > /usr/local/bin/sed && chmod 755 /usr/local/bin/sed",
    );

    version("v1");
    user.ok(p, &["deploy", "production", "--tag", "v1"]);
    assert_eq!(live_page(&addr), "v1");
    let password = ssh(&format!("cat {ROOT}/config/db-password"));
    assert_eq!(
        ssh(&format!("cat {ROOT}/current/.env")),
        format!("DB_PASSWORD={password}\n")
    );
    let argv = ssh("cat /root/sed-argv.log 2>/dev/null || true");
    assert!(
        !argv.contains(password.trim()),
        "the DB password appeared in a command line: {argv}"
    );
    assert_eq!(
        ssh(&format!("stat -c %a {ROOT}/current/.env")).trim(),
        "640"
    );

    // Data brought to a live environment is refused without confirmation
    // (no terminal, no --yes), and nothing is loaded.
    let extra = tempfile::tempdir().unwrap();
    let dump = extra.path().join("dump.sql");
    std::fs::write(&dump, "CREATE TABLE clobbered (x INT);\n").unwrap();
    let refused = user.pond(
        p,
        &[
            "deploy",
            "production",
            "--tag",
            "v1b",
            "--db-dump",
            dump.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("already deployed") && stderr(&refused).contains("--yes"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        ssh("mariadb -N acme_production -e \"SHOW TABLES LIKE 'clobbered'\"").trim(),
        "",
        "the dump was not loaded"
    );

    // v1 live -> v2 deployed and swapped in -> v3 deployed into the colour
    // that held v1: rollback returns to v1, never makes v3 live.
    version("v2");
    user.ok(p, &["deploy", "production", "--tag", "v2"]);
    user.ok(p, &["swap", "production"]);
    assert_eq!(live_page(&addr), "v2");

    // The live site wrote an upload into its own release; making that
    // path shared now must keep it (seeded from the live release, not from
    // the inactive one the new release is built from).
    ssh(&format!(
        "mkdir -p {ROOT}/current/public/uploads && echo photo > {ROOT}/current/public/uploads/photo.txt"
    ));
    let mut file = read_pond_json(p);
    file["shared_paths"] = json!(["public/uploads"]);
    write_pond_json(p, &file);
    version("v3");
    user.ok(p, &["deploy", "production", "--tag", "v3"]);
    let prefix = secret_prefix(p);
    let preview = format!("{prefix}.shop.example.com");
    assert_eq!(common::http_get(&addr, &preview, "/").1, "v3");
    assert_eq!(
        common::http_get(&addr, &preview, "/uploads/photo.txt").1,
        "photo\n",
        "the live upload survives the path becoming shared"
    );

    let out = user.ok(p, &["rollback", "production"]);
    assert!(out.contains("Rolled back"), "{out}");
    assert_eq!(live_page(&addr), "v1", "rollback returns to v1: {out}");
    let state: serde_json::Value =
        serde_json::from_str(&ssh(&format!("cat {ROOT}/metadata/state.json"))).unwrap();
    assert!(
        state["previous"].as_str().unwrap().ends_with("-v2"),
        "{state}"
    );

    // A swap whose health check is slow; a deploy lands meanwhile. The
    // swap must refuse (what it checked is no longer what would go live).
    version("v4");
    write(p, "public/slow.txt", "slow");
    user.ok(p, &["deploy", "production", "--tag", "v4"]);
    let swapping = spawn(&user, p, &["swap", "production"]);
    std::thread::sleep(Duration::from_millis(2000));
    std::fs::remove_file(p.join("public/slow.txt")).unwrap();
    version("v5");
    user.ok(p, &["deploy", "production", "--tag", "v5"]);
    let swapped = swapping.wait_with_output().unwrap();
    assert!(
        !swapped.status.success(),
        "the swap must refuse a release it did not check"
    );
    assert!(stderr(&swapped).contains("not"), "{}", stderr(&swapped));
    assert_eq!(live_page(&addr), "v1", "nothing unchecked went live");

    // Break a stuck lock: the deploy holding it (its hook sleeping) ends
    // with it, and unbind refuses while it runs.
    version("v6");
    write(p, "deploy/slow-hook", "");
    let stuck = spawn(&user, p, &["deploy", "production", "--tag", "v6"]);
    wait_until("the slow hook to run", Duration::from_secs(60), || {
        ssh("pgrep -fx 'sleep 25' || true").trim() != ""
    });
    let unbind = user.pond(p, &["unbind", "production", "--purge", "--yes"]);
    assert!(
        !unbind.status.success(),
        "unbind --purge must wait for the lock"
    );
    assert!(stderr(&unbind).contains("lock"), "{}", stderr(&unbind));
    assert_eq!(
        ssh(&format!("test -d {ROOT}/releases && echo kept")).trim(),
        "kept"
    );
    assert!(read_pond_json(p)["environments"][0]["name"] == "production");

    std::fs::remove_file(p.join("deploy/slow-hook")).unwrap();
    version("v7");
    let started = Instant::now();
    let broke = user.ok(p, &["deploy", "production", "--tag", "v7", "--break-lock"]);
    let ended = stuck.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the broken deploy ended, it did not run its hook out"
    );
    assert!(!ended.status.success(), "the broken deploy failed");
    assert!(broke.contains("sent"), "{broke}");
    assert_eq!(
        ssh("pgrep -fx 'sleep 25' || true").trim(),
        "",
        "the broken deploy's hook was ended"
    );
    let inactive = ssh(&format!("readlink {ROOT}/preview"));
    let release = ssh(&format!("readlink {ROOT}/{}", inactive.trim()));
    assert!(release.trim().ends_with("-v7"), "{release}");
    assert_eq!(
        common::http_get(&addr, &preview, "/").1,
        "v7",
        "the breaking deploy's release is the inactive one"
    );

    // A damaged state.json is refused, not read as empty and overwritten.
    ssh(&format!("printf '{{broken' > {ROOT}/metadata/state.json"));
    let damaged = user.pond(p, &["deploy", "production", "--tag", "v8"]);
    assert!(!damaged.status.success());
    assert!(stderr(&damaged).contains("damaged"), "{}", stderr(&damaged));
    assert_eq!(ssh(&format!("cat {ROOT}/metadata/state.json")), "{broken");
    let status = user.pond(p, &["status", "--json"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("damaged"),
        "status shows it: {}",
        String::from_utf8_lossy(&status.stdout)
    );
}

#[test]
fn dns_errors_other_than_not_found_never_create_a_zone() {
    common::require_root();
    let (_lab, api, _user) = start("pond-dns-errors-");
    let client = {
        let token = pond::digitalocean::Token::new(api.token.clone());
        let mut c = pond::digitalocean::Client::new(&format!("{}/v2", api.url), token).unwrap();
        c.retry.attempts = 2;
        c.retry.backoff = Duration::from_millis(10);
        c
    };
    api.ok(
        "POST",
        "/_lab/faults",
        Some(json!({"server_errors": 2})),
        200,
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let failed = rt.block_on(pond::tasks::dns::point_dns(
        &client,
        "lab",
        "outage.example.com",
        "k3v9q2x8m1zapt",
        "198.18.0.10",
    ));
    assert!(failed.is_err(), "a 500 is not a missing zone");
    let (status, _, _) = api.call("GET", "/v2/domains/outage.example.com", None);
    assert_eq!(status, 404, "no zone was created on a server error");
    // A real 404 does create it.
    rt.block_on(pond::tasks::dns::point_dns(
        &client,
        "lab",
        "outage.example.com",
        "k3v9q2x8m1zapt",
        "198.18.0.10",
    ))
    .unwrap();
    api.ok("GET", "/v2/domains/outage.example.com", None, 200);
}

#[test]
fn a_create_whose_first_deploy_is_unhealthy_points_no_dns() {
    common::require_root();
    let lab = common::lab::LabDir::new("pond-create-unhealthy-");
    let api = common::lab::lab_up(&lab.0);
    let config = tempfile::tempdir().unwrap();
    let project = common::create::static_project("sick", "up");
    let p = project.path();
    let mut file = read_pond_json(p);
    file["health_path"] = json!("/missing.html");
    write_pond_json(p, &file);
    let out = common::create::pond(
        &[
            "create",
            "production",
            "--account",
            "agency",
            "--domain",
            "sick.example.com",
            "--image",
            "debian-13-x64",
        ],
        p,
        config.path(),
        &api,
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("DNS was not pointed"),
        "{}",
        stderr(&out)
    );
    let (status, records, _) = api.call("GET", "/v2/domains/sick.example.com/records", None);
    let pointed = status == 200
        && records["domain_records"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["type"] == "A"));
    assert!(!pointed, "no A record before a healthy deploy: {records}");
}
