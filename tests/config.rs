//! pond.json: the example loads, saves byte-identically, the committed schema
//! is current, and bad files get every problem reported with its JSON path.

use std::path::{Path, PathBuf};

use pond::config::{self, LoadError, ProjectFile, Stack};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example() -> PathBuf {
    repo().join("examples/acme-shop/pond.json")
}

/// Writes `text` as pond.json in a fresh project dir and loads it.
fn load_text(text: &str) -> (tempfile::TempDir, Result<ProjectFile, LoadError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pond.json");
    std::fs::write(&path, text).unwrap();
    let result = config::load(&path);
    (dir, result)
}

fn problems(text: &str) -> Vec<String> {
    match load_text(text).1 {
        Ok(_) => vec![],
        Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
    }
}

/// A valid file with one environment, as a JSON value to mutate.
fn base() -> serde_json::Value {
    serde_json::json!({
        "schema_version": 1,
        "name": "acme",
        "stack": "php",
        "accounts": [{"name": "agency"}],
        "environments": [{
            "name": "production", "account": "agency", "type": "single",
            "region": "ams3", "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64",
            "domain": "example.com", "secret_prefix": "k3v9q2x8m1zapt",
            "database": {"placement": "same_droplet", "name": "acme", "user": "acme"}
        }]
    })
}

#[test]
fn the_example_loads_and_saves_byte_identically() {
    let file = config::load(&example()).unwrap();
    assert_eq!(file.name, "acme-shop");
    assert_eq!(file.stack, Stack::Php);
    assert_eq!(file.environments.len(), 2);
    let original = std::fs::read_to_string(example()).unwrap();
    assert_eq!(
        config::to_text(&file),
        original,
        "key order or format drifted"
    );

    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("pond.json");
    config::save(&copy, &file).unwrap();
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), original);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["pond.json"], "a temp file was left behind");
}

#[test]
fn the_readme_shows_the_example_verbatim() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let example = std::fs::read_to_string(example()).unwrap();
    assert!(
        readme.contains(&format!("```json\n{example}```")),
        "README.md must include examples/acme-shop/pond.json verbatim in a ```json block"
    );
}

#[test]
fn the_committed_schema_is_current() {
    let committed =
        std::fs::read_to_string(repo().join("schema/pond.schema.json")).unwrap_or_default();
    assert!(
        committed == config::json_schema(),
        "schema/pond.schema.json is stale; regenerate it with `cargo run -- schema > schema/pond.schema.json`"
    );
}

#[test]
fn three_mistakes_are_all_reported_with_paths() {
    let mut v = base();
    v["environments"][0]["domain"] = "exa mple.com".into();
    v["environments"][0]["database"]["user"] = "acme-user".into();
    v["keep_builds"] = 1.into();
    let found = problems(&v.to_string());
    assert_eq!(
        found,
        vec![
            "keep_builds: 1 is out of range; expected 2-50 (blue and green need two releases)".to_string(),
            "environments[0].domain: \"exa mple.com\" is not a valid domain name; expected lowercase labels of a-z, 0-9 and '-' (not at either end of a label), separated by dots, like shop.example.com".to_string(),
            "environments[0].database.user: \"acme-user\" is not a valid database user; expected 1-32 characters of a-z, 0-9 and '_' for a database user, not starting with a digit".to_string(),
        ]
    );
}

#[test]
fn cross_references_and_files_are_checked() {
    let mut v = base();
    let env = v["environments"][0].clone();
    v["environments"].as_array_mut().unwrap().push(env);
    v["environments"][1]["account"] = "personal".into();
    v["environments"][1]["domain"] = "other.example.com".into();
    v["hooks"] = serde_json::json!({"post_deploy": ["deploy/nope.sh"]});
    let found = problems(&v.to_string());
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].starts_with("hooks.post_deploy[0]: hook script \"deploy/nope.sh\" does not exist")
    );
    assert_eq!(
        found[1],
        "environments[1].name: environment name \"production\" is already used by environments[0].name"
    );
    assert_eq!(
        found[2],
        "environments[1].account: account \"personal\" is not listed in accounts (declared: agency)"
    );
}

#[test]
fn an_existing_hook_passes() {
    let mut v = base();
    v["hooks"] = serde_json::json!({"post_deploy": ["deploy/hook.sh"]});
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("deploy")).unwrap();
    std::fs::write(dir.path().join("deploy/hook.sh"), "true\n").unwrap();
    std::fs::write(dir.path().join("pond.json"), v.to_string()).unwrap();
    config::load(&dir.path().join("pond.json")).unwrap();
}

#[test]
fn shape_errors_name_their_path() {
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            {
                let mut v = base();
                v["environments"][0]["type"] = "cluster".into();
                v
            },
            "environments[0].type: unknown variant `cluster`",
        ),
        (
            {
                let mut v = base();
                v["environments"][0]["surprise"] = 1.into();
                v
            },
            "environments[0].surprise: unknown field `surprise`",
        ),
        (
            {
                let mut v = base();
                v["keep_builds"] = "5".into();
                v
            },
            "keep_builds: invalid type: string \"5\"",
        ),
        (
            {
                let mut v = base();
                v["keep_builds"] = serde_json::json!(1e300);
                v
            },
            "keep_builds: invalid type: floating point",
        ),
        (
            {
                let mut v = base();
                v["environments"][0]["database"] =
                    serde_json::json!({"placement": "same_droplet", "name": "a"});
                v
            },
            "environments[0].database: missing field `user`",
        ),
        (
            {
                let mut v = base();
                v["schema_version"] = 99.into();
                v
            },
            "schema_version: 99 is newer than this Pond understands",
        ),
        (
            {
                let mut v = base();
                v["schema_version"] = "1".into();
                v
            },
            "schema_version: \"1\" is not a schema version",
        ),
        (
            {
                let mut v = base();
                v.as_object_mut().unwrap().remove("name");
                v
            },
            "(top level): missing field `name`",
        ),
        (
            serde_json::json!([1, 2]),
            "(document): expected a JSON object",
        ),
    ];
    for (value, expected) in cases {
        let found = problems(&value.to_string());
        assert_eq!(found.len(), 1, "{value}: {found:#?}");
        assert!(
            found[0].starts_with(expected),
            "expected {expected:?}, got {:?}",
            found[0]
        );
    }
}

#[test]
fn duplicate_keys_and_broken_json_are_errors() {
    let found = problems(r#"{"schema_version": 1, "name": "a", "name": "b", "stack": "php"}"#);
    assert!(found[0].contains("duplicate field `name`"), "{found:?}");
    let found = problems("{\"schema_version\": 1,");
    assert!(
        found[0].starts_with("(document): is not valid JSON"),
        "{found:?}"
    );
}

#[test]
fn hostile_names_are_rejected_before_anything_else() {
    for (field, value) in [
        ("name", "$(reboot)"),
        ("name", "acme`id`"),
        ("name", "../etc"),
        ("name", "acme\nshop"),
        ("name", "аcme"), // Cyrillic а
    ] {
        let mut v = base();
        v[field] = value.into();
        let found = problems(&v.to_string());
        assert_eq!(found.len(), 1, "{value:?}: {found:?}");
        assert!(
            found[0].starts_with(&format!("{field}: {value:?} is not a valid project name")),
            "{found:?}"
        );
    }
}

#[test]
fn oversized_files_are_refused_unread() {
    let big = format!(
        "{{\"schema_version\": 1, \"name\": \"{}\"}}",
        "a".repeat(2 * 1024 * 1024)
    );
    let found = problems(&big);
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("(file): is 2097"), "{found:?}");
}

#[test]
fn a_directory_path_means_its_pond_json() {
    assert_eq!(
        config::resolve_path(&repo().join("examples/acme-shop")),
        example()
    );
    assert_eq!(
        config::resolve_path(Path::new("x.json")),
        Path::new("x.json")
    );
}
