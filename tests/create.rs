//! `pond create`: the new-server flow against the lab's DO-compatible API —
//! droplet created with Pond's tags and the user's key, host key pinned,
//! provisioned, DNS pointed, first deploy serving; and a droplet that never
//! becomes active is deleted so nothing is left by tag; `pond destroy`
//! deletes the droplets and Pond's DNS records, and only those.

mod common;

use std::process::{Command, Output};

use common::lab::{LabDir, lab_up};
use serde_json::json;

fn pond(
    args: &[&str],
    project: &std::path::Path,
    config: &std::path::Path,
    api: &common::lab::Api,
) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(args)
        .arg("--project")
        .arg(project)
        .env("POND_CONFIG_DIR", config)
        .env("POND_LAB_API_URL", format!("{}/v2", api.url))
        .env("POND_LAB_TOKEN", &api.token)
        .env_remove("POND_DO_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn create_builds_a_working_environment_and_leaves_no_orphans_on_failure() {
    common::require_root();
    let lab = LabDir::new("pond-create-");
    let api = lab_up(&lab.0);
    let config = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let init = Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(["init", "--name", "fresh", "--stack", "static", "--dir"])
        .arg(p)
        .output()
        .unwrap();
    assert!(init.status.success());
    std::fs::write(p.join("index.html"), "created by pond").unwrap();

    let out = pond(
        &[
            "create",
            "production",
            "--account",
            "agency",
            "--domain",
            "fresh.example.com",
            "--image",
            "debian-12-x64",
        ],
        p,
        config.path(),
        &api,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("production: http://fresh.example.com/"),
        "{stdout}"
    );

    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    let env = &file["environments"][0];
    assert_eq!(file["accounts"][0]["name"], "agency");
    assert_eq!(env["account"], "agency");
    let droplet = &env["droplets"][0];
    assert!(droplet["id"].is_u64() && droplet["host_key"].as_str().unwrap().starts_with("SHA256:"));
    let addr = droplet["address"].as_str().unwrap().to_string();
    assert_eq!(
        common::http_get(&addr, "fresh.example.com", "/").1,
        "created by pond"
    );

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
    assert!(listed.contains("create droplet fresh-staging-1 (ams3, s-1vcpu-2gb, ubuntu-24-04-x64, about $12.00/month)"), "{listed}");
    assert!(
        listed.contains("point DNS: staging.fresh.example.com"),
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
            "debian-12-x64",
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
