//! `pond scale`: a load-balanced PHP environment with its database on its
//! own droplet grows from 2 to 3 web droplets while a bounded request loop
//! runs through the balancer (no failed request: the new droplet joins only
//! once it serves the live build — after a swap, so the live colour is
//! green — with its own database account, only the files the client
//! uploaded, and the others' inactive release and rollback target, so a
//! rollback right after returns every droplet to v1), then deploys and
//! swaps in step with the others, then shrinks to 1 (droplets leave the balancer first,
//! their database accounts go).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::create::{INDEX, assert_live, php_project_with_db, pond, succeeded as ok};
use common::lab::{LabDir, lab_up};

fn pond_json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap()
}

fn web_addresses(p: &std::path::Path) -> Vec<String> {
    pond_json(p)["environments"][0]["droplets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["role"] == "web")
        .map(|d| d["address"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn scale_out_joins_at_the_live_build_without_a_failed_request_and_scale_in_cleans_up() {
    common::require_root();
    let lab = LabDir::new("pond-scale-");
    let api = lab_up(&lab.0);
    let config = tempfile::tempdir().unwrap();
    let index =
        format!("<?php echo trim(file_get_contents(__DIR__ . '/version.txt')), ' '; ?>{INDEX}");
    let (project, dump) = php_project_with_db("grow", &index);
    let p = project.path();
    std::fs::write(p.join("public/version.txt"), "v1").unwrap();
    let run = |args: &[&str]| pond(args, p, config.path(), &api);
    let out = run(&[
        "create",
        "production",
        "--account",
        "agency",
        "--domain",
        "grow.example.com",
        "--image",
        "debian-13-x64",
        "--type",
        "load_balanced",
        "--droplets",
        "2",
        "--db",
        "droplet",
        "--db-dump",
        dump.path().to_str().unwrap(),
    ]);
    assert_live(&out, "http://grow.example.com/");
    std::fs::write(p.join("public/version.txt"), "v2").unwrap();
    ok(run(&["deploy", "production", "--tag", "v2"]));
    ok(run(&["swap", "production"]));
    let file = pond_json(p);
    let env = &file["environments"][0];
    let lb_id = env["load_balancer"]["id"].as_str().unwrap().to_string();
    let lb_ip =
        api.ok("GET", &format!("/v2/load_balancers/{lb_id}"), None, 200)["load_balancer"]["ip"]
            .as_str()
            .unwrap()
            .to_string();
    let db = env["droplets"][2]["address"].as_str().unwrap().to_string();
    let expected = "v2 db ok: gadget,widget";
    assert_eq!(
        common::http_get(&lb_ip, "grow.example.com", "/").1,
        expected
    );

    // --dry-run says what it would do and changes nothing.
    let said = ok(run(&["scale", "production", "3", "--dry-run"]));
    assert!(said.contains("create grow-production-3"), "{said}");
    assert!(said.contains("$6.00/month each"), "{said}");
    assert_eq!(web_addresses(p).len(), 2);

    // A file the running site made in its release (a cache holding that
    // droplet's own secrets, say) is not the project's: a joining droplet
    // gets only what the client uploaded, and makes the rest itself.
    let key = config.path().join("id_ed25519");
    for web in web_addresses(p) {
        common::ssh(
            &key,
            &web,
            "echo made-here > /var/www/pond/projects/grow/production/current/public/made-here.txt",
        );
    }

    // Out, under traffic.
    let stop = Arc::new(AtomicBool::new(false));
    let looping = {
        let (stop, lb_ip) = (stop.clone(), lb_ip.clone());
        std::thread::spawn(move || {
            let (mut total, mut failed) = (0, 0);
            while !stop.load(Ordering::Relaxed) && total < 20_000 {
                let (status, body) = common::http_get(&lb_ip, "grow.example.com", "/");
                total += 1;
                if status != 200 || body != "v2 db ok: gadget,widget" {
                    failed += 1;
                }
            }
            (total, failed)
        })
    };
    let said = ok(run(&["scale", "production", "3"]));
    stop.store(true, Ordering::Relaxed);
    let (total, failed) = looping.join().unwrap();
    eprintln!("through the balancer during scale out: {total} requests, {failed} failed");
    assert!(total > 50, "the loop ran ({total} requests)");
    assert_eq!(failed, 0, "no failed request out of {total}");
    assert!(said.contains("copying release"), "{said}");
    let webs = web_addresses(p);
    assert_eq!(webs.len(), 3);
    let file = pond_json(p);
    let new = &file["environments"][0]["droplets"][2];
    assert_eq!(new["name"], "grow-production-3");
    assert!(new["host_key"].as_str().unwrap().starts_with("SHA256:"));
    let behind = api.ok("GET", &format!("/v2/load_balancers/{lb_id}"), None, 200)["load_balancer"]
        ["droplet_ids"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(behind, 3);
    assert_eq!(
        common::http_get(&webs[2], "grow.example.com", "/").1,
        expected
    );
    let live = common::ssh(
        &key,
        &webs[2],
        "readlink /var/www/pond/projects/grow/production/current",
    );
    assert_eq!(
        live.trim(),
        "green",
        "the same colour is live as on the others"
    );
    let accounts = || {
        let mut hosts: Vec<String> = common::ssh(
            &key,
            &db,
            "mariadb -N -e \"SELECT Host FROM mysql.user WHERE User = 'grow_production'\"",
        )
        .lines()
        .map(str::to_string)
        .collect();
        hosts.sort();
        hosts
    };
    let mut sorted = webs.clone();
    sorted.sort();
    assert_eq!(accounts(), sorted, "one database account per web droplet");
    // Running it again changes nothing.
    let again = ok(run(&["scale", "production", "3"]));
    assert!(again.contains("are behind the load balancer"), "{again}");
    assert_eq!(
        common::ssh(
            &key,
            &webs[2],
            "test -e /var/www/pond/projects/grow/production/current/public/made-here.txt && echo copied || echo absent",
        )
        .trim(),
        "absent",
        "files the site made on another droplet are not copied"
    );

    // The new droplet has the others' colours and rollback target: a
    // rollback right after the scale returns every droplet to v1.
    let said = ok(run(&["rollback", "production"]));
    assert!(said.contains("Rolled back"), "{said}");
    for web in &webs {
        assert_eq!(
            common::http_get(web, "grow.example.com", "/").1,
            "v1 db ok: gadget,widget",
            "{web}"
        );
    }

    // The new droplet deploys and swaps in step with the others.
    std::fs::write(p.join("public/version.txt"), "v3").unwrap();
    ok(run(&["deploy", "production", "--tag", "v3"]));
    ok(run(&["swap", "production"]));
    for web in &webs {
        assert_eq!(
            common::http_get(web, "grow.example.com", "/").1,
            "v3 db ok: gadget,widget",
            "{web}"
        );
    }

    // In: without --yes and no terminal, nothing is deleted.
    let refused = run(&["scale", "production", "1"]);
    assert!(!refused.status.success());
    assert_eq!(web_addresses(p).len(), 3);
    ok(run(&["scale", "production", "1", "--yes"]));
    let left = web_addresses(p);
    assert_eq!(left, webs[..1].to_vec());
    let tagged = api.ok(
        "GET",
        "/v2/droplets?tag_name=pond-grow-production",
        None,
        200,
    );
    assert_eq!(
        tagged["meta"]["total"], 2,
        "one web droplet and the database droplet"
    );
    let behind = api.ok("GET", &format!("/v2/load_balancers/{lb_id}"), None, 200)["load_balancer"]
        ["droplet_ids"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(behind, 1);
    assert_eq!(accounts(), left, "the removed droplets' accounts are gone");
    assert_eq!(
        common::http_get(&lb_ip, "grow.example.com", "/").1,
        "v3 db ok: gadget,widget"
    );
}
