//! One droplet serving several environments of several projects: `pond
//! create --on` puts a second environment on a droplet Pond created, a
//! second project attaches two environments to it, and all four serve
//! their own content; `pond check` finds a hand-edited vhost and a removed
//! team key and `--fix` restores both; each project's team keys live in a
//! block of their own; destroying one environment keeps the droplet (and
//! the other three serving) and removes only that environment, its
//! database included; new SSH connections are rate-limited per source.

mod common;

use std::path::Path;
use std::process::Output;

use common::create::{pond, static_project, succeeded};
use common::lab::{Api, LabDir, lab_up};

fn failed(out: Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "expected a failure:\n{text}");
    text
}

fn pond_json(project: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(project.join("pond.json")).unwrap()).unwrap()
}

/// Whether `key` logs in as root on `addr`.
fn can_login(key: &Path, addr: &str) -> bool {
    std::process::Command::new("ssh")
        .args(["-i"])
        .arg(key)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=10",
            &format!("root@{addr}"),
            "true",
        ])
        .output()
        .unwrap()
        .status
        .success()
}

fn droplet_tags(api: &Api, id: u64) -> Vec<String> {
    api.ok("GET", &format!("/v2/droplets/{id}"), None, 200)["droplet"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn two_projects_with_two_environments_each_share_one_droplet_and_each_is_checked_and_destroyed_alone()
 {
    common::require_root();
    let lab = LabDir::new("pond-shared-");
    let api = lab_up(&lab.0);
    let config = tempfile::tempdir().unwrap();
    let c = config.path();
    let run = |args: &[&str], project: &Path| pond(args, project, c, &api);

    // acme: PHP with MariaDB on the droplet, production made by `create`.
    let acme = tempfile::tempdir().unwrap();
    let a = acme.path();
    succeeded(
        std::process::Command::new(env!("CARGO_BIN_EXE_pond"))
            .args(["init", "--name", "acme", "--stack", "php", "--dir"])
            .arg(a)
            .output()
            .unwrap(),
    );
    std::fs::create_dir_all(a.join("public")).unwrap();
    let page = |text: &str| {
        std::fs::write(a.join("public/index.php"), format!("<?php echo '{text}';")).unwrap()
    };
    page("acme production");
    let created = succeeded(run(
        &[
            "create",
            "production",
            "--account",
            "agency",
            "--domain",
            "acme.example.com",
            "--image",
            "debian-13-x64",
        ],
        a,
    ));
    assert!(
        created.contains("production: https://acme.example.com/"),
        "{created}"
    );
    let web = pond_json(a)["environments"][0]["droplets"][0].clone();
    let (droplet, addr) = (
        web["name"].as_str().unwrap().to_string(),
        web["address"].as_str().unwrap().to_string(),
    );
    let id = web["id"].as_u64().unwrap();

    // acme staging on the same droplet.
    page("acme staging");
    let staging = [
        "create",
        "staging",
        "--account",
        "agency",
        "--domain",
        "acme-staging.example.com",
        "--on",
        droplet.as_str(),
    ];
    let dry = succeeded(run(&[&staging[..], &["--dry-run"]].concat(), a));
    assert!(
        dry.contains(&format!("use droplet {droplet} ({addr})")) && !dry.contains("create droplet"),
        "{dry}"
    );
    succeeded(run(&staging, a));
    let file = pond_json(a);
    assert_eq!(file["environments"][1]["droplets"][0]["id"], id);
    assert_eq!(
        file["environments"][1]["droplets"][0]["host_key"], web["host_key"],
        "the pinned host key is reused"
    );
    assert_eq!(
        file["environments"][1]["database"]["name"], "acme_staging",
        "{file}"
    );
    let tags = droplet_tags(&api, id);
    assert!(
        tags.contains(&"pond-acme-production".to_string())
            && tags.contains(&"pond-acme-staging".to_string()),
        "{tags:?}"
    );

    // blog: a static project with two environments attached to it.
    let blog = static_project("blog", "blog production");
    let b = blog.path();
    for (env, domain, text) in [
        ("production", "blog.example.com", "blog production"),
        ("staging", "blog-staging.example.com", "blog staging"),
    ] {
        std::fs::write(b.join("index.html"), text).unwrap();
        succeeded(run(
            &["attach", env, "--host", &addr, "--domain", domain],
            b,
        ));
        succeeded(run(&["provision", env], b));
        succeeded(run(&["deploy", env, "--tag", "v1"], b));
    }
    // What a browser gets: acme's two environments over HTTPS (each its
    // own certificate on this droplet), blog's over HTTP.
    let serves = |host: &str| common::browse(&addr, host, "/", &api.ca_root).1;
    assert_eq!(serves("acme.example.com"), "acme production");
    assert_eq!(serves("acme-staging.example.com"), "acme staging");
    assert_eq!(serves("blog.example.com"), "blog production");
    assert_eq!(serves("blog-staging.example.com"), "blog staging");

    let status = succeeded(run(&["status", "production"], a));
    assert!(status.contains("setup: in step"), "{status}");
    assert!(
        status.contains("shared with: acme/staging, blog/production, blog/staging"),
        "{status}"
    );
    let check = succeeded(run(&["check", "production"], a));
    assert!(check.contains(&format!("{droplet}: in step")), "{check}");

    // Each project's team keys are its own block: blog's syncs keep acme's.
    let keys = tempfile::tempdir().unwrap();
    let (bob, bob_pub) = common::keypair(keys.path(), "bob");
    succeeded(run(&["team", "add", "bob", "--key", bob_pub.trim()], a));
    succeeded(run(&["access", "sync", "production"], a));
    succeeded(run(&["deploy", "production", "--tag", "v2"], b));
    assert!(can_login(&bob, &addr), "blog's deploy kept acme's team key");

    // A hand-edited vhost and a removed team key are differences.
    let own = c.join("id_ed25519");
    let bob_blob = bob_pub.split_whitespace().nth(1).unwrap().to_string();
    common::ssh(
        &own,
        &addr,
        &format!(
            "echo '# edited by hand' >> /etc/nginx/sites-available/pond-acme-production.conf && grep -vF '{bob_blob}' /root/.ssh/authorized_keys > /root/k && cat /root/k > /root/.ssh/authorized_keys && rm /root/k"
        ),
    );
    assert!(!can_login(&bob, &addr));
    let check = failed(run(&["check", "production"], a));
    assert!(
        check.contains(&format!("{droplet}: 2 differences")),
        "{check}"
    );
    assert!(
        check.contains(
            "/etc/nginx/sites-available/pond-acme-production.conf was changed since it was provisioned"
        ),
        "{check}"
    );
    assert!(check.contains("team keys: missing bob"), "{check}");
    assert!(check.contains("pond check production --fix"), "{check}");
    // Staging shares the server's team keys, not production's vhost.
    let check = failed(run(&["check", "staging"], a));
    assert!(
        check.contains(&format!("{droplet}: 1 difference"))
            && check.contains("team keys: missing bob")
            && !check.contains("pond-acme-production.conf"),
        "{check}"
    );
    let fixed = succeeded(run(&["check", "production", "--fix"], a));
    assert!(fixed.contains(&format!("{droplet}: in step")), "{fixed}");
    let check = succeeded(run(&["check", "staging"], a));
    assert!(check.contains("in step"), "{check}");
    let vhost = common::ssh(
        &own,
        &addr,
        "cat /etc/nginx/sites-available/pond-acme-production.conf",
    );
    assert!(!vhost.contains("edited by hand"), "{vhost}");
    assert!(can_login(&bob, &addr), "--fix gave bob his access back");

    // Destroying acme/production keeps the droplet and the three others.
    let plan = succeeded(run(&["destroy", "production", "--dry-run"], a));
    assert!(
        plan.contains(&format!("keep droplet {droplet}"))
            && plan.contains("acme/staging, blog/production, blog/staging")
            && !plan.contains("delete droplet"),
        "{plan}"
    );
    let out = succeeded(run(&["destroy", "production", "--yes"], a));
    assert!(out.contains("is destroyed"), "{out}");
    api.ok("GET", &format!("/v2/droplets/{id}"), None, 200);
    let tags = droplet_tags(&api, id);
    assert!(
        !tags.contains(&"pond-acme-production".to_string())
            && tags.contains(&"pond-acme-staging".to_string()),
        "{tags:?}"
    );
    assert_ne!(serves("acme.example.com"), "acme production");
    assert_eq!(serves("acme-staging.example.com"), "acme staging");
    assert_eq!(serves("blog.example.com"), "blog production");
    assert_eq!(serves("blog-staging.example.com"), "blog staging");
    let left = common::ssh(
        &own,
        &addr,
        "mariadb -N -e 'SHOW DATABASES'; getent passwd web_acme_production deploy_acme_production || true; ls /var/www/pond/projects/acme",
    );
    assert!(
        left.contains("acme_staging") && !left.contains("acme_production"),
        "{left}"
    );
    assert!(!left.contains("web_acme_production"), "{left}");
    assert_eq!(left.lines().last(), Some("staging"), "{left}");
    let records = api.call("GET", "/v2/domains/acme.example.com/records?type=A", None);
    assert!(
        records.0 == 404 || records.1["domain_records"].as_array().unwrap().is_empty(),
        "{:?}",
        records.1
    );
    let file = pond_json(a);
    assert_eq!(file["environments"].as_array().unwrap().len(), 1);
    assert_eq!(file["environments"][0]["name"], "staging");
    let status = succeeded(run(&["status", "staging"], a));
    assert!(
        status.contains("shared with: blog/production, blog/staging"),
        "{status}"
    );

    // Last (it empties this host's allowance for a while): a burst of 60
    // new SSH connections at once from one address is cut down to the
    // firewall's burst of 30 (plus what refills in the half second each
    // attempt waits).
    let address: std::net::SocketAddr = format!("{addr}:22").parse().unwrap();
    let attempts: Vec<_> = (0..60)
        .map(|_| {
            std::thread::spawn(move || {
                std::net::TcpStream::connect_timeout(
                    &address,
                    std::time::Duration::from_millis(500),
                )
                .is_ok()
            })
        })
        .collect();
    let accepted = attempts
        .into_iter()
        .map(|a| a.join().unwrap_or(false))
        .filter(|ok| *ok)
        .count();
    assert!(
        (25..=40).contains(&accepted),
        "the firewall let {accepted} of 60 new SSH connections through"
    );
}
