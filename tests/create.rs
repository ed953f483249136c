//! `pond create`: the new-server flow against the lab's DO-compatible API —
//! droplet created with Pond's tags and the user's key, host key pinned,
//! provisioned, DNS pointed, first deploy serving; and a droplet that never
//! becomes active is deleted so nothing is left by tag; `pond destroy`
//! deletes the droplets and Pond's DNS records, and only those.

mod common;

use std::process::Command;

use common::create::{assert_live, command, pond, pond_with_dns, static_project};
use common::lab::{LabDir, lab_up};
use serde_json::json;

#[test]
fn create_builds_a_working_environment_and_leaves_no_orphans_on_failure() {
    common::require_root();
    let lab = LabDir::new("pond-create-");
    let api = lab_up(&lab.0);
    let config = tempfile::tempdir().unwrap();
    let project = static_project("fresh", "created by pond");
    let p = project.path();

    let out = pond(
        &[
            "create",
            "production",
            "--account",
            "agency",
            "--domain",
            "fresh.example.com",
            "--image",
            "debian-13-x64",
        ],
        p,
        config.path(),
        &api,
    );
    assert_live(&out, "https://fresh.example.com/");

    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    let env = &file["environments"][0];
    assert_eq!(file["accounts"][0]["name"], "agency");
    assert_eq!(env["account"], "agency");
    let droplet = &env["droplets"][0];
    assert!(droplet["id"].is_u64() && droplet["host_key"].as_str().unwrap().starts_with("SHA256:"));
    let addr = droplet["address"].as_str().unwrap().to_string();
    assert_eq!(
        common::https_get(&addr, "fresh.example.com", "/", &api.ca_root).1,
        "created by pond"
    );
    // Plain HTTP redirects to HTTPS.
    let (status, _) = common::http_get(&addr, "fresh.example.com", "/");
    assert_eq!(status, 301);

    let tagged = api.ok(
        "GET",
        "/v2/droplets?tag_name=pond-fresh-production",
        None,
        200,
    );
    assert_eq!(tagged["meta"]["total"], 1);
    let records = api.ok(
        "GET",
        "/v2/domains/fresh.example.com/records?type=A",
        None,
        200,
    );
    let prefix = env["secret_prefix"].as_str().unwrap();
    let mut names: Vec<&str> = records["domain_records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort();
    let mut expected = vec![
        "@".to_string(),
        "www".to_string(),
        prefix.to_string(),
        format!("{prefix}-blue"),
        format!("{prefix}-green"),
    ];
    expected.sort();
    assert_eq!(names, expected);
    assert!(
        records["domain_records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["data"] == addr.as_str())
    );

    // --dry-run lists every action with the size's monthly price, creates nothing.
    let before = std::fs::read_to_string(p.join("pond.json")).unwrap();
    let out = pond(
        &[
            "create",
            "staging",
            "--account",
            "agency",
            "--domain",
            "staging.fresh.example.com",
            "--size",
            "s-1vcpu-2gb",
            "--dry-run",
        ],
        p,
        config.path(),
        &api,
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{listed}");
    assert!(
        listed.contains(
            "create droplet fresh-staging-1 (ams3, s-1vcpu-2gb, debian-13-x64, about $12.00/month)"
        ),
        "{listed}"
    );
    assert!(
        listed.contains("point DNS: staging.fresh.example.com"),
        "{listed}"
    );
    // The request that creates the droplet, as the run sends it.
    assert!(
        listed.contains(r#"Post /v2/droplets {"name":"fresh-staging-1","region":"ams3","size":"s-1vcpu-2gb","image":"debian-13-x64","ssh_keys":[""#),
        "{listed}"
    );
    assert_eq!(
        api.ok("GET", "/v2/droplets?tag_name=pond-fresh-staging", None, 200)["meta"]["total"],
        0
    );
    assert_eq!(
        std::fs::read_to_string(p.join("pond.json")).unwrap(),
        before
    );

    // The name servers are checked (against the lab's DNS): the zone the
    // domain is in must be delegated to DigitalOcean.
    let dry_run = [
        "create",
        "staging",
        "--account",
        "agency",
        "--domain",
        "staging.fresh.example.com",
        "--dry-run",
    ];
    let delegate = |servers: &[&str]| {
        api.ok(
            "PUT",
            "/_lab/delegations/fresh.example.com",
            Some(json!({ "nameservers": servers })),
            200,
        );
        String::from_utf8(pond_with_dns(&dry_run, p, config.path(), &api).stdout).unwrap()
    };
    let said = delegate(&["ns1.registrar.test", "ns2.registrar.test"]);
    assert!(
        said.contains("DNS: fresh.example.com uses ns1.registrar.test, ns2.registrar.test, not DigitalOcean: set its name servers to ns1, ns2 and ns3.digitalocean.com"),
        "{said}"
    );
    let said = delegate(&[
        "ns1.digitalocean.com",
        "ns2.digitalocean.com",
        "ns3.digitalocean.com",
    ]);
    assert!(
        said.contains("DNS: fresh.example.com is delegated to DigitalOcean"),
        "{said}"
    );

    // A droplet that never becomes active: deleted, nothing left, pond.json untouched.
    api.ok(
        "POST",
        "/_lab/faults",
        Some(json!({"never_active": 1})),
        200,
    );
    let out = pond(
        &[
            "create",
            "staging",
            "--account",
            "agency",
            "--domain",
            "staging.fresh.example.com",
            "--image",
            "debian-13-x64",
            "--active-timeout",
            "3",
        ],
        p,
        config.path(),
        &api,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("did not become active within 3 s") && err.contains("nothing is left behind"),
        "{err}"
    );
    let tagged = api.ok("GET", "/v2/droplets?tag_name=pond-fresh-staging", None, 200);
    assert_eq!(tagged["meta"]["total"], 0, "no orphan droplets");
    assert_eq!(
        std::fs::read_to_string(p.join("pond.json")).unwrap(),
        before
    );

    // Destroy: refused without a terminal or --yes, listed by --dry-run,
    // then droplets, Pond's DNS records and the environment are gone; a
    // record Pond did not make stays.
    api.ok(
        "POST",
        "/v2/domains/fresh.example.com/records",
        Some(json!({"type": "A", "name": "mail", "data": "198.18.255.1"})),
        201,
    );
    let out = pond(&["destroy", "production"], p, config.path(), &api);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --yes"));
    let out = pond(
        &["destroy", "production", "--dry-run"],
        p,
        config.path(),
        &api,
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{listed}");
    assert!(
        listed.contains("delete droplet fresh-production-1"),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("delete DNS record fresh.example.com A {addr}")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!(
            "delete DNS record {prefix}-blue.fresh.example.com A"
        )),
        "{listed}"
    );
    assert!(!listed.contains("mail"), "{listed}");
    // The requests as planned: the destroy below sends exactly these.
    let droplet_id = api.ok(
        "GET",
        "/v2/droplets?tag_name=pond-fresh-production",
        None,
        200,
    )["droplets"][0]["id"]
        .as_u64()
        .unwrap();
    assert!(
        listed.contains("The DigitalOcean requests, in the order they are sent:")
            && listed.contains(&format!(
                "delete droplet fresh-production-1 (id {droplet_id}, {addr}) — on DigitalOcean account agency; Delete /v2/droplets/{droplet_id}"
            )),
        "{listed}"
    );
    assert_eq!(
        api.ok(
            "GET",
            "/v2/droplets?tag_name=pond-fresh-production",
            None,
            200
        )["meta"]["total"],
        1
    );

    let out = pond(&["destroy", "production", "--yes"], p, config.path(), &api);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        api.ok(
            "GET",
            "/v2/droplets?tag_name=pond-fresh-production",
            None,
            200
        )["meta"]["total"],
        0
    );
    let records = api.ok(
        "GET",
        "/v2/domains/fresh.example.com/records?type=A",
        None,
        200,
    );
    let left: Vec<&str> = records["domain_records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["mail"]);
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    assert_eq!(file["environments"].as_array().unwrap().len(), 0);
}

#[test]
fn create_load_balanced_puts_three_droplets_behind_a_balancer_and_swaps_without_a_failed_request() {
    common::require_root();
    let lab = LabDir::new("pond-create-lb-");
    let api = lab_up(&lab.0);
    let config = tempfile::tempdir().unwrap();
    let project = static_project("fleet", "one");
    let p = project.path();

    let args = [
        "create",
        "production",
        "--account",
        "agency",
        "--domain",
        "fleet.example.com",
        "--image",
        "debian-13-x64",
        "--type",
        "load_balanced",
        "--droplets",
        "3",
    ];
    let out = pond(&args, p, config.path(), &api);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    let env = &file["environments"][0];
    assert_eq!(env["type"], "load_balanced");
    let droplets = env["droplets"].as_array().unwrap();
    assert_eq!(droplets.len(), 3);
    assert!(
        droplets
            .iter()
            .all(|d| d["host_key"].as_str().unwrap().starts_with("SHA256:"))
    );
    let lb_id = env["load_balancer"]["id"].as_str().unwrap().to_string();
    let lb = api.ok("GET", &format!("/v2/load_balancers/{lb_id}"), None, 200);
    let lb_ip = lb["load_balancer"]["ip"].as_str().unwrap().to_string();
    let mut behind: Vec<u64> =
        serde_json::from_value(lb["load_balancer"]["droplet_ids"].clone()).unwrap();
    let mut ids: Vec<u64> = droplets.iter().map(|d| d["id"].as_u64().unwrap()).collect();
    behind.sort();
    ids.sort();
    assert_eq!(behind, ids, "every droplet is behind the balancer");
    let records = api.ok(
        "GET",
        "/v2/domains/fleet.example.com/records?type=A",
        None,
        200,
    );
    let apex = records["domain_records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "@")
        .unwrap();
    assert_eq!(
        apex["data"],
        lb_ip.as_str(),
        "the domain points at the balancer"
    );
    // HTTPS at the balancer; HTTP is redirected there.
    assert_eq!(
        common::https_get(&lb_ip, "fleet.example.com", "/", &api.ca_root).1,
        "one"
    );
    assert_eq!(common::http_get(&lb_ip, "fleet.example.com", "/").0, 301);

    // Deploy + swap while a bounded request loop runs through the balancer.
    std::fs::write(p.join("index.html"), "two").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let looping = {
        let (stop, lb_ip, ca_root) = (stop.clone(), lb_ip.clone(), api.ca_root.clone());
        std::thread::spawn(move || {
            let (mut total, mut failed, mut saw_two) = (0, 0, false);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && total < 20_000 {
                let (status, body) =
                    common::try_https_get(&lb_ip, "fleet.example.com", "/", &ca_root)
                        .unwrap_or((0, String::new()));
                total += 1;
                if status != 200 || !(body == "one" || body == "two") {
                    failed += 1;
                }
                saw_two |= body == "two";
            }
            (total, failed, saw_two)
        })
    };
    let deployed = pond(
        &["deploy", "production", "--tag", "two"],
        p,
        config.path(),
        &api,
    );
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let swapped = pond(&["swap", "production"], p, config.path(), &api);
    assert!(
        swapped.status.success(),
        "{}",
        String::from_utf8_lossy(&swapped.stderr)
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (total, failed, saw_two) = looping.join().unwrap();
    eprintln!("through the balancer during deploy + swap: {total} requests, {failed} failed");
    // Each request is a curl (a new TLS connection): tens, not thousands.
    assert!(total > 20, "the loop ran ({total} requests)");
    assert_eq!(failed, 0, "no failed request out of {total}");
    assert!(saw_two, "the swap reached the balancer's traffic");
    for d in droplets {
        let addr = d["address"].as_str().unwrap();
        assert_eq!(common::http_get(addr, "fleet.example.com", "/").1, "two");
    }

    // Destroy removes the balancer too.
    let out = pond(&["destroy", "production", "--yes"], p, config.path(), &api);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        api.ok("GET", "/v2/load_balancers", None, 200)["meta"]["total"],
        0
    );
    assert_eq!(
        api.ok("GET", "/v2/certificates", None, 200)["meta"]["total"],
        0,
        "the balancer's certificate went with it"
    );
    // No record is left pointing at the balancer's address (DO would hand
    // it to someone else: a takeover of the domain and its previews).
    let (status, left, _) = api.call(
        "GET",
        "/v2/domains/fleet.example.com/records?per_page=200",
        None,
    );
    let pointing: Vec<&serde_json::Value> = match status {
        404 => vec![],
        200 => left["domain_records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["data"] == lb_ip.as_str())
            .collect(),
        other => panic!("listing records after destroy: {other} {left}"),
    };
    assert!(
        pointing.is_empty(),
        "records left pointing at the deleted balancer: {pointing:?}"
    );
    assert_eq!(
        api.ok(
            "GET",
            "/v2/droplets?tag_name=pond-fleet-production",
            None,
            200
        )["meta"]["total"],
        0
    );
}

#[test]
fn a_create_stopped_midway_is_resumed_without_new_droplets() {
    use std::io::{BufRead, BufReader};
    common::require_root();
    let lab = LabDir::new("pond-create-resume-");
    let api = lab_up(&lab.0);
    let config = tempfile::tempdir().unwrap();
    let project = static_project("halt", "resumed");
    let p = project.path();

    // Ctrl-C while it provisions: the run stops after the current step and
    // says what state the droplet is in.
    let create = [
        "create",
        "production",
        "--account",
        "agency",
        "--domain",
        "halt.example.com",
        "--image",
        "debian-13-x64",
    ];
    let mut child = command(&create, p, config.path(), &api)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = vec![];
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("== Web stack") && !seen.iter().any(|l| l.contains("Stopping after")) {
            let interrupted = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(interrupted.success());
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "a stopped run does not report success");
    let said = seen.join("\n");
    assert!(said.contains("== Web stack"), "{said}");
    assert!(
        said.contains("Stopped before loading data and the first deploy, as asked")
            && said.contains("pond create production --resume"),
        "{said}"
    );
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    assert!(
        file["environments"][0]["droplets"][0]["id"].is_u64(),
        "the droplet is recorded"
    );

    let out = pond(
        &["create", "production", "--resume"],
        p,
        config.path(),
        &api,
    );
    assert_live(&out, "https://halt.example.com/");
    let tagged = api.ok(
        "GET",
        "/v2/droplets?tag_name=pond-halt-production",
        None,
        200,
    );
    assert_eq!(tagged["meta"]["total"], 1, "no new droplet");
    let addr = file["environments"][0]["droplets"][0]["address"]
        .as_str()
        .unwrap();
    assert_eq!(
        common::https_get(addr, "halt.example.com", "/", &api.ca_root).1,
        "resumed"
    );
    // Resuming again is harmless.
    let again = pond(
        &["create", "production", "--resume"],
        p,
        config.path(),
        &api,
    );
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
