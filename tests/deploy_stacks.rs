//! More stacks and shapes on lab droplets: a static site (keep_builds 2, dry
//! runs, ssh-agent), WordPress as Debian packages it, and a load-balanced
//! environment of two droplets.

mod common;

use std::process::Command;
use std::time::Duration;

use common::deploy::*;
use serde_json::json;

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
    // Symlinks deploy as symlinks; nginx serves one only when its target
    // has the same owner (a link to a server file is refused).
    std::os::unix::fs::symlink("index.html", p.join("home.html")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", p.join("leak.txt")).unwrap();
    user.ok(p, &["deploy", "www", "--tag", "one"]);
    assert_eq!(
        common::http_get(&addr, "example.org", "/").1,
        "<h1>one</h1>"
    );
    assert_eq!(
        common::http_get(&addr, "example.org", "/home.html").1,
        "<h1>one</h1>"
    );
    let (status, body) = common::http_get(&addr, "example.org", "/leak.txt");
    assert!(
        matches!(status, 403 | 404) && !body.contains("site-web"),
        "{status} {body}"
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
    // The dry run shows the plan the swap builds: one swap per server.
    assert!(
        planned.contains("The plan: swap www: green goes live")
            && planned.contains("[1] Make green live (release ")
            && planned.contains("as root: common/swap"),
        "{planned}"
    );
    let scripts = user.ok(p, &["swap", "www", "--dry-run", "--scripts"]);
    assert!(
        scripts.contains("readonly EXPECT_LIVE='blue'")
            && scripts.contains("# pond: template common/swap"),
        "{scripts}"
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
    let out = user.ok(p, &["deploy", "www", "--tag", "three"]);
    // The release two's manifest lost the file deleted then (merged on
    // the server): this deploy has nothing more to delete.
    assert!(
        out.contains("sent 1 files") && out.contains("deleted 0"),
        "{out}"
    );
    assert_eq!(
        common::http_get(&addr, "example.org", "/").1,
        "<h1>two</h1>"
    );
    user.ok(p, &["swap", "www"]);
    assert_eq!(
        common::http_get(&addr, "example.org", "/").1,
        "<h1>three</h1>"
    );
    // Green still holds two: the rollback's plan is the swap alone.
    let planned = user.ok(p, &["rollback", "www", "--dry-run"]);
    assert!(
        planned.contains("The plan: rollback www: green goes live")
            && planned.contains("Make green live")
            && !planned.contains("Point "),
        "{planned}"
    );
    user.ok(p, &["rollback", "www"]);
    assert_eq!(
        common::http_get(&addr, "example.org", "/").1,
        "<h1>two</h1>"
    );
    // Back to three with --to: blue is pointed at it first, then swapped.
    let three = user.ok(p, &["releases", "www"]);
    let three = three
        .lines()
        .find(|l| l.contains("tag three"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{three}"))
        .to_string();
    let planned = user.ok(p, &["rollback", "www", "--to", &three, "--dry-run"]);
    assert!(
        planned.contains(&format!("[1] Point blue at release {three}"))
            && planned.contains(&format!("[1] Make blue live (release {three})")),
        "{planned}"
    );
    assert_eq!(
        common::http_get(&addr, "example.org", "/").1,
        "<h1>two</h1>",
        "a dry-run rollback changes nothing"
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
        "<?php\ndefine('DB_NAME', 'blog_production');\ndefine('DB_USER', 'blog_production');\n\
         define('DB_PASSWORD', trim(file_get_contents(__DIR__ . '/.pond/db-password')));\n\
         define('DB_HOST', 'localhost');\n$table_prefix = 'wp_';\n\
         if (!defined('ABSPATH')) { define('ABSPATH', __DIR__ . '/'); }\nrequire_once ABSPATH . 'wp-settings.php';\n",
    );
    user.init(p, "blog", "wordpress");
    user.attach(p, &addr, "blog.example.com");
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
    // A static stack runs nginx only; what is not installed is not listed.
    assert_eq!(
        servers[0]["services"],
        serde_json::json!([["nginx", true]]),
        "{status}"
    );
    // Every kind of line in the provisioning record is compared with the
    // server (common/status checks them all at once, then says each in
    // the record's order).
    let key = user.config.path().join("id_ed25519");
    let record = "/etc/pond/provisioned/fleet_production";
    common::ssh(
        &key,
        &a,
        &format!(
            "cp {record} /root/record.kept && ln -sfn /etc/hostname /root/pond-link && printf '%s\\n' \
             'LINK /etc/hostname /root/pond-link' 'LINK /etc/hosts /root/pond-link' 'USER root' 'USER nobody-here' \
             'PACKAGE bash' 'PACKAGE no-such-package' 'FILE 00 /etc/hostname' 'FILE 00 /no/such/file' >> {record}"
        ),
    );
    let status: serde_json::Value =
        serde_json::from_str(&user.ok(p, &["status", "--json"])).unwrap();
    let drift = status[0]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["drift"].as_array().is_some_and(|d| !d.is_empty()))
        .map(|s| s["drift"].clone());
    assert_eq!(
        drift,
        Some(serde_json::json!([
            "/root/pond-link no longer links to /etc/hosts",
            "user nobody-here is missing",
            "package no-such-package is not installed",
            "/etc/hostname was changed since it was provisioned",
            "/no/such/file is missing"
        ])),
        "{status}"
    );
    common::ssh(
        &key,
        &a,
        &format!("mv /root/record.kept {record} && rm /root/pond-link"),
    );

    // If the swap fails on one droplet, the others are swapped back: b
    // loses its new release, so only a could swap — and must not stay so.
    write(p, "index.html", "three");
    user.ok(p, &["deploy", "production", "--tag", "three"]);

    // The inactive colour must hold the same release everywhere: with b's
    // blue pointed back at build one (a hook that failed there, or two
    // deploys that each won some locks), a swap would serve mixed builds.
    let root = "/var/www/pond/projects/fleet/production";
    let three = common::ssh(&key, &b, &format!("readlink {root}/blue"));
    let one = common::ssh(&key, &b, &format!("ls {root}/releases | grep -- '-one$'"));
    common::ssh(
        &key,
        &b,
        &format!(
            "cd {root} && ln -sfn releases/{} blue.tmp && mv -T blue.tmp blue",
            one.trim()
        ),
    );
    let mixed = user.pond(p, &["swap", "production"]);
    let err = String::from_utf8_lossy(&mixed.stderr);
    assert!(
        !mixed.status.success(),
        "a mixed swap must be refused: {err}"
    );
    assert!(
        err.contains("does not hold the same release on every server")
            && err.contains(&format!("fleet-b: {}", one.trim()))
            && err.contains(&format!(
                "fleet-a: {}",
                three.trim().trim_start_matches("releases/")
            )),
        "the refusal names each server's release: {err}"
    );
    for addr in [&a, &b] {
        assert_eq!(common::http_get(addr, "fleet.example.com", "/").1, "two");
    }
    common::ssh(
        &key,
        &b,
        &format!(
            "cd {root} && ln -sfn {} blue.tmp && mv -T blue.tmp blue",
            three.trim()
        ),
    );
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
