//! Hostile pond.json files: a generated corpus of malicious and malformed
//! values in every field a server or DNS ever sees. Each must be refused
//! with an error naming its JSON path — no panic, no partial acceptance —
//! and a command given such a file must stop before contacting any server.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// A valid file whose environment points at an address nothing answers on.
fn base() -> Value {
    json!({
        "schema_version": 1, "name": "acme", "stack": "php",
        "accounts": [{"name": "agency"}],
        "team_keys": [{"name": "alice", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop"}],
        "shared_paths": ["storage"],
        "environments": [{
            "name": "production", "account": "agency", "type": "single",
            "region": "ams3", "size": "s-1vcpu-1gb", "image": "debian-13-x64",
            "domain": "shop.example.com", "secret_prefix": "k3v9q2x8m1zapt",
            "database": {"placement": "same_droplet", "name": "acme", "user": "acme"},
            "droplets": [{"name": "acme-1", "address": "198.18.255.254"}]
        }]
    })
}

const HOSTILE: &[&str] = &[
    "$(reboot)",
    "`id`",
    "a'; rm -rf / #",
    "a\"b",
    "line\nbreak",
    "../../etc/passwd",
    "аcme", // Cyrillic а
    "a b",
    "",
    "x\u{202e}y",
];

/// (JSON pointer of a string field, what the error's path must say)
const FIELDS: &[(&str, &str)] = &[
    ("/name", "name"),
    ("/environments/0/name", "environments[0].name"),
    ("/environments/0/domain", "environments[0].domain"),
    (
        "/environments/0/secret_prefix",
        "environments[0].secret_prefix",
    ),
    (
        "/environments/0/database/name",
        "environments[0].database.name",
    ),
    (
        "/environments/0/database/user",
        "environments[0].database.user",
    ),
    ("/environments/0/region", "environments[0].region"),
    (
        "/environments/0/droplets/0/name",
        "environments[0].droplets[0].name",
    ),
    (
        "/environments/0/droplets/0/address",
        "environments[0].droplets[0].address",
    ),
    ("/shared_paths/0", "shared_paths[0]"),
    ("/team_keys/0/public_key", "team_keys[0].public_key"),
];

fn problems_of(value: &Value) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pond.json");
    std::fs::write(&path, value.to_string()).unwrap();
    match pond::config::load(&path) {
        Ok(_) => vec![],
        Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn hostile_strings_in_every_field_are_refused_with_their_path() {
    assert!(
        problems_of(&base()).is_empty(),
        "the base file must be valid"
    );
    let mut cases = 0;
    for (pointer, path) in FIELDS {
        for hostile in HOSTILE {
            let mut v = base();
            *v.pointer_mut(pointer).unwrap() = json!(hostile);
            let found = problems_of(&v);
            assert!(
                found.iter().any(|p| p.starts_with(&format!("{path}: "))),
                "{pointer} = {hostile:?} was not refused at {path}: {found:?}"
            );
            cases += 1;
        }
    }
    // Names that become DNS labels, tags and paths are lowercase only.
    for (pointer, path) in &FIELDS[..8] {
        let mut v = base();
        *v.pointer_mut(pointer).unwrap() = json!("ACME");
        assert!(
            problems_of(&v)
                .iter()
                .any(|p| p.starts_with(&format!("{path}: "))),
            "{pointer} accepted ACME"
        );
        cases += 1;
    }
    // The web root may be empty (the release itself); nothing else hostile.
    for hostile in HOSTILE.iter().filter(|h| !h.is_empty()) {
        let mut v = base();
        v["web_root"] = json!(hostile);
        assert!(
            problems_of(&v).iter().any(|p| p.starts_with("web_root: ")),
            "web_root = {hostile:?} was not refused"
        );
        cases += 1;
    }
    eprintln!("{cases} hostile values refused, each with its JSON path");
    assert!(cases >= 50, "{cases} cases");
}

#[test]
fn malformed_shapes_are_refused_with_their_path() {
    let huge = "a".repeat(100_000);
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut v = base();
                v["keep_builds"] = json!(-1);
                v
            },
            "keep_builds",
        ),
        (
            {
                let mut v = base();
                v["keep_builds"] = json!(1e40);
                v
            },
            "keep_builds",
        ),
        (
            {
                let mut v = base();
                v["keep_builds"] = json!(10_000);
                v
            },
            "keep_builds",
        ),
        (
            {
                let mut v = base();
                v["environments"][0]["type"] = json!("cluster");
                v
            },
            "environments[0].type",
        ),
        (
            {
                let mut v = base();
                v["environments"][0]["database"] = json!({"placement": "same_droplet"});
                v
            },
            "environments[0].database",
        ),
        (
            {
                let mut v = base();
                v["environments"][0]["droplets"][0]["id"] = json!("12");
                v
            },
            "environments[0].droplets[0].id",
        ),
        (
            {
                let mut v = base();
                v["environments"][0]["extra"] = json!(true);
                v
            },
            "environments[0].extra",
        ),
        (
            {
                let mut v = base();
                v["environments"][0]["domain"] = json!(huge);
                v
            },
            "environments[0].domain",
        ),
        (
            {
                let mut v = base();
                v["environments"] = json!({"0": 1});
                v
            },
            "environments",
        ),
        (
            {
                let mut v = base();
                v["hooks"] = json!({"post_deploy": [deep]});
                v
            },
            "(document)",
        ),
        (
            {
                let mut v = base();
                v["stack"] = json!(null);
                v
            },
            "stack",
        ),
        (json!("just a string"), "(document)"),
    ];
    eprintln!(
        "{} malformed files refused, each with its JSON path",
        cases.len()
    );
    for (value, path) in cases {
        let found = problems_of(&value);
        assert!(
            found.iter().any(|p| p.starts_with(path)),
            "expected a problem at {path}, got {found:?}"
        );
    }
}

#[test]
fn a_command_with_a_hostile_file_stops_before_any_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = base();
    v["environments"][0]["domain"] = json!("shop.example.com; curl evil");
    std::fs::write(dir.path().join("pond.json"), v.to_string()).unwrap();
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(["deploy", "production", "--project"])
        .arg(dir.path())
        .env("POND_CONFIG_DIR", dir.path().join("config"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("environments[0].domain: \"shop.example.com; curl evil\"")
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "it must not have tried to connect"
    );
    assert!(
        !dir.path().join("config").exists(),
        "not even a key was generated"
    );
}
