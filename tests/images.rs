//! The images Pond tests, on systemd lab droplets: a PHP app with MariaDB
//! on `debian-12-x64` is created (PHP version found on the server),
//! deployed, swapped and rolled back, then rebooted through the API — its
//! services come back by their units and the live page is unchanged. The
//! default image for `pond create` is the newest one Pond tests, and the
//! lab refuses an image it cannot boot with DO's 422.

mod common;

use common::create::{INDEX, assert_live, php_project_with_db, pond, succeeded as ok};
use common::lab::{LabDir, lab_up};

#[test]
fn php_with_mariadb_on_debian_12_deploys_swaps_rolls_back_and_survives_a_reboot() {
    common::require_root();
    let lab = LabDir::new("pond-images-");
    let api = lab_up(&lab.0);
    let config = tempfile::tempdir().unwrap();

    // An image the lab cannot boot: DO's 422, naming the ones it can.
    let refused = api.call(
        "POST",
        "/v2/droplets",
        Some(
            serde_json::json!({"name": "u-1", "region": "ams3", "size": "s-1vcpu-1gb",
                                "image": "ubuntu-24-04-x64"}),
        ),
    );
    assert_eq!(refused.0, 422, "{}", refused.1);
    assert_eq!(refused.1["id"], "unprocessable_entity");
    let message = refused.1["message"].as_str().unwrap();
    assert!(
        message.contains("debian-13-x64") && message.contains("debian-12-x64"),
        "{message}"
    );
    let images = api.ok("GET", "/v2/images?type=distribution", None, 200);
    let slugs: Vec<&str> = images["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["slug"].as_str())
        .collect();
    assert_eq!(slugs, ["debian-13-x64", "debian-12-x64"]);

    let (project, dump) = php_project_with_db("old", INDEX);
    let p = project.path();
    let index = p.join("public/index.php");
    let page = |v: &str| {
        format!(
            "<?php echo '{v} on PHP ', PHP_MAJOR_VERSION, '.', PHP_MINOR_VERSION, ' '; ?>{INDEX}"
        )
    };
    std::fs::write(&index, page("v1")).unwrap();
    let dump_arg = dump.path().to_str().unwrap();
    let out = pond(
        &[
            "create",
            "production",
            "--account",
            "agency",
            "--domain",
            "old.example.com",
            "--image",
            "debian-12-x64",
            "--db-dump",
            dump_arg,
        ],
        p,
        config.path(),
        &api,
    );
    assert_live(&out, "https://old.example.com/");
    let file = common::deploy::read_pond_json(p);
    let address = file["environments"][0]["droplets"][0]["address"]
        .as_str()
        .unwrap()
        .to_string();
    let served = || common::browse(&address, "old.example.com", "/", &api.ca_root);
    assert_eq!(
        served(),
        (200, "v1 on PHP 8.2 db ok: gadget,widget".into()),
        "Debian 12's PHP, found on the server"
    );

    std::fs::write(&index, page("v2")).unwrap();
    ok(pond(
        &["deploy", "production", "--tag", "v2"],
        p,
        config.path(),
        &api,
    ));
    ok(pond(&["swap", "production"], p, config.path(), &api));
    assert!(served().1.starts_with("v2 on PHP 8.2"), "{:?}", served());
    ok(pond(&["rollback", "production"], p, config.path(), &api));
    assert!(served().1.starts_with("v1 on PHP 8.2"), "{:?}", served());
    let status_before = ok(pond(&["status", "production"], p, config.path(), &api));

    // A reboot through the API: every service comes back by its unit.
    let id = file["environments"][0]["droplets"][0]["id"]
        .as_u64()
        .unwrap();
    let action = api.ok(
        "POST",
        &format!("/v2/droplets/{id}/actions"),
        Some(serde_json::json!({"type": "reboot"})),
        201,
    );
    let action_id = action["action"]["id"].as_u64().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let a = api.ok("GET", &format!("/v2/actions/{action_id}"), None, 200);
        match a["action"]["status"].as_str().unwrap() {
            "completed" => break,
            "in-progress" => {}
            other => panic!("reboot ended {other}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reboot never completed"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let key = config.path().join("id_ed25519");
    let units = common::ssh(
        &key,
        &address,
        "systemctl is-system-running --wait; systemctl is-active nginx php8.2-fpm mariadb",
    );
    assert_eq!(units, "running\nactive\nactive\nactive\n");
    assert!(
        served().1.starts_with("v1 on PHP 8.2 db ok: gadget,widget"),
        "{:?}",
        served()
    );
    let status_after = ok(pond(&["status", "production"], p, config.path(), &api));
    let live = |s: &str| {
        s.lines()
            .find(|l| l.contains(": live "))
            .map(str::to_string)
    };
    assert_eq!(live(&status_before), live(&status_after), "{status_after}");
    assert!(
        status_after.contains("nginx running, php-fpm running, mariadb running"),
        "{status_after}"
    );
}

#[test]
fn a_new_server_gets_the_newest_tested_image() {
    common::require_root();
    let lab = LabDir::new("pond-images-default-");
    let api = lab_up(&lab.0);
    let config = tempfile::tempdir().unwrap();
    let project = common::create::static_project("fresh", "<h1>fresh</h1>\n");
    let p = project.path();
    let dry_run = |image: &[&str]| {
        let mut args = vec![
            "create",
            "production",
            "--account",
            "agency",
            "--domain",
            "fresh.example.com",
            "--dry-run",
        ];
        args.extend(image);
        ok(pond(&args, p, config.path(), &api))
    };
    let text = dry_run(&[]);
    assert!(text.contains("debian-13-x64"), "{text}");
    assert!(!text.contains("not tested"), "{text}");
    let text = dry_run(&["--image", "ubuntu-24-04-x64"]);
    assert!(
        text.contains("warning: image ubuntu-24-04-x64 is not tested by Pond"),
        "{text}"
    );
}
