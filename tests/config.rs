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
            "region": "ams3", "size": "s-1vcpu-1gb", "image": "debian-13-x64",
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
fn a_load_balancer_id_is_a_uuid_as_it_goes_into_request_paths() {
    let with_id = |id: &str| {
        let mut v = base();
        v["environments"][0]["type"] = "load_balanced".into();
        v["environments"][0]["load_balancer"] = serde_json::json!({"name": "acme-lb", "id": id});
        problems(&v.to_string())
    };
    assert_eq!(
        with_id("4de7ac8b-495b-4884-9a69-1050c6793cd6"),
        Vec::<String>::new()
    );
    let found = with_id("../droplets/5");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "environments[0].load_balancer.id: \"../droplets/5\" is not a valid load balancer id"
        ),
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

/// Whether the shipped template `id` renders with `input` set to `value`
/// (every other input a valid sample).
fn template_accepts(id: &str, input: &str, value: &str) -> bool {
    use pond::plan::Template;
    let template = Template::builtin(id).unwrap();
    let mut values = std::collections::BTreeMap::new();
    for i in &template.inputs {
        let sample = match i.name.as_str() {
            "PROJECT" => "acme",
            "ENV" => "production",
            "DOMAIN" => "example.com",
            "SECRET_PREFIX" => "k3v9q2x8m1zapt",
            "STACK" => "php",
            "ROOT" => "/var/www/pond/projects/acme/production",
            "HOST" => "k3v9q2x8m1zapt.example.com",
            "HEALTH_PATH" => "/",
            "DB_NAME" => "acme",
            "DB_USER" => "acme",
            "DB_GRANTS" => "localhost=*0123456789ABCDEF0123456789ABCDEF01234567",
            "SHARED" => "storage",
            "WEB_ROOT" => "public",
            "SITE_USER" => "web_acme_production",
            "DEPLOY_USER" => "deploy_acme_production",
            "HTTPS" | "HSTS" | "BALANCER_HTTPS" => "yes",
            other => panic!("no sample for {id} input {other}"),
        };
        values.insert(i.name.clone(), sample.to_string());
    }
    values.insert(input.to_string(), value.to_string());
    template.render(&values).is_ok()
}

#[test]
fn a_file_loads_exactly_when_its_values_render_into_the_templates_they_reach() {
    let candidates = [
        "",
        "public",
        "web/public",
        "../",
        "..",
        "a/../b",
        "/srv",
        "public/",
        "a;b",
        "a{b}",
        "a b",
        "a'b",
        ".pond",
        ".pond/x",
        ".pond-seeded",
        "storage",
        "wp-content/uploads",
        "/health",
        "health",
        "acme",
        "Acme",
        "example.com",
        "k3v9q2x8m1zapt",
    ];
    // (pointer in pond.json, its JSON path, the template input it reaches)
    let fields = [
        ("/web_root", "web_root", "common/site", "WEB_ROOT"),
        (
            "/shared_paths/0",
            "shared_paths[0]",
            "common/attachments",
            "SHARED",
        ),
        (
            "/health_path",
            "health_path",
            "common/health",
            "HEALTH_PATH",
        ),
        ("/name", "name", "common/site", "PROJECT"),
        (
            "/environments/0/name",
            "environments[0].name",
            "common/site",
            "ENV",
        ),
        (
            "/environments/0/domain",
            "environments[0].domain",
            "common/site",
            "DOMAIN",
        ),
        (
            "/environments/0/secret_prefix",
            "environments[0].secret_prefix",
            "common/site",
            "SECRET_PREFIX",
        ),
        (
            "/environments/0/database/name",
            "environments[0].database.name",
            "mysql/database",
            "DB_NAME",
        ),
        (
            "/environments/0/database/user",
            "environments[0].database.user",
            "mysql/database",
            "DB_USER",
        ),
    ];
    let mut refused = 0;
    for (pointer, path, id, input) in fields {
        for value in candidates {
            let mut v = base();
            v["shared_paths"] = serde_json::json!(["storage"]);
            v["web_root"] = "public".into();
            v["health_path"] = "/".into();
            *v.pointer_mut(pointer).unwrap() = value.into();
            let found = problems(&v.to_string());
            let loads = !found.iter().any(|p| p.starts_with(&format!("{path}: ")));
            assert_eq!(
                loads,
                template_accepts(id, input, value),
                "{path} = {value:?}: pond.json {} it but template {id} {} it for {input}: {found:?}",
                if loads { "accepts" } else { "refuses" },
                if loads { "refuses" } else { "accepts" },
            );
            refused += usize::from(!loads);
        }
    }
    assert!(refused > 50, "{refused}");
}

#[test]
fn a_web_root_outside_the_release_is_refused_when_loaded() {
    for (value, why) in [
        ("../", "no '..'"),
        ("public;root", "only A-Z, a-z, 0-9, '.', '_', '-' and '/'"),
        (".pond", "Pond's own directory in each release"),
    ] {
        let mut v = base();
        v["web_root"] = value.into();
        let found = problems(&v.to_string());
        assert_eq!(found.len(), 1, "{value:?}: {found:?}");
        assert!(
            found[0].starts_with(&format!("web_root: {value:?} is not a valid web root; ")),
            "{found:?}"
        );
        assert!(found[0].contains(why), "{found:?}");
    }
}

#[test]
fn every_path_grammar_gives_an_example_of_its_own_kind() {
    let mut v = base();
    v["web_root"] = "../".into();
    v["shared_paths"] = serde_json::json!(["../storage"]);
    v["config_files"] = serde_json::json!([{"template": "deploy/env.tmpl", "target": "../.env"}]);
    v["hooks"] = serde_json::json!({"post_deploy": ["../hook.sh"]});
    let found = problems(&v.to_string());
    let message = |path: &str| {
        found
            .iter()
            .find(|p| p.starts_with(&format!("{path}: ")))
            .unwrap_or_else(|| panic!("no problem at {path}: {found:#?}"))
            .clone()
    };
    for (path, example, not) in [
        ("web_root", "like public ", "post-deploy"),
        (
            "shared_paths[0]",
            "like storage or wp-content/uploads ",
            "post-deploy",
        ),
        ("config_files[0].target", "like .env ", "post-deploy"),
        (
            "hooks.post_deploy[0]",
            "like deploy/post-deploy.sh ",
            "storage",
        ),
    ] {
        let m = message(path);
        assert!(m.contains(example), "{m}");
        assert!(!m.contains(not), "{m}");
    }
}

#[test]
fn ponds_own_names_are_refused_as_shared_paths_and_config_targets() {
    let mut v = base();
    v["shared_paths"] = serde_json::json!([
        "storage",
        ".pond-seeded",
        ".pond",
        ".pond/cache",
        "wp-content/uploads"
    ]);
    v["config_files"] = serde_json::json!([
        {"template": "deploy/env.tmpl", "target": ".env"},
        {"template": "deploy/env.tmpl", "target": "storage/x"},
        {"template": "deploy/env.tmpl", "target": "storage"},
        {"template": "deploy/env.tmpl", "target": ".pond/x"},
        {"template": "deploy/env.tmpl", "target": "wp-content/uploads/a.php"},
        {"template": "deploy/env.tmpl", "target": "storage-config/x"},
    ]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("deploy")).unwrap();
    std::fs::write(dir.path().join("deploy/env.tmpl"), "X=1\n").unwrap();
    std::fs::write(dir.path().join("pond.json"), v.to_string()).unwrap();
    let err = config::load(&dir.path().join("pond.json")).unwrap_err();
    let found: Vec<String> = err.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        found,
        vec![
            "shared_paths[1]: \".pond-seeded\" is not a valid shared path; .pond-seeded is Pond's own marker file in the server's shared/ directory; choose another name",
            "shared_paths[2]: \".pond\" is not a valid shared path; .pond is Pond's own directory in each release; choose another name",
            "shared_paths[3]: \".pond/cache\" is not a valid shared path; .pond is Pond's own directory in each release; choose another name",
            "config_files[1].target: \"storage/x\" is inside shared path \"storage\" (shared_paths[0]): it would be written into the persistent data every release shares; put it outside the shared paths",
            "config_files[2].target: \"storage\" is inside shared path \"storage\" (shared_paths[0]): it would be written into the persistent data every release shares; put it outside the shared paths",
            "config_files[3].target: \".pond/x\" is not a valid config file target; .pond is Pond's own directory in each release; choose another name",
            "config_files[4].target: \"wp-content/uploads/a.php\" is inside shared path \"wp-content/uploads\" (shared_paths[4]): it would be written into the persistent data every release shares; put it outside the shared paths",
        ],
        "{found:#?}"
    );
}

#[test]
fn pond_validate_refuses_what_provisioning_would() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = base();
    v["web_root"] = "../".into();
    std::fs::write(dir.path().join("pond.json"), v.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pond"))
        .arg("validate")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("web_root: \"../\" is not a valid web root"),
        "{stderr}"
    );
}

#[test]
fn two_environments_never_share_a_database_on_one_server() {
    let mut v = base();
    let mut staging = v["environments"][0].clone();
    staging["name"] = "staging".into();
    staging["domain"] = "staging.example.com".into();
    v["environments"].as_array_mut().unwrap().push(staging);
    for env in v["environments"].as_array_mut().unwrap() {
        env["droplets"] = serde_json::json!([{"name": format!("acme-{}-1", env["name"].as_str().unwrap()), "address": "198.18.0.9"}]);
    }
    let found = problems(&v.to_string());
    assert_eq!(
        found,
        [
            "environments[1].database.name: environment \"production\" already uses database \"acme\" on 198.18.0.9; two environments on one server need their own (e.g. \"acme_staging\")",
            "environments[1].database.user: environment \"production\" already uses database user \"acme\" on 198.18.0.9; two environments on one server need their own (e.g. \"acme_staging\")",
        ]
    );
    // On servers of their own, the same names are fine.
    v["environments"][1]["droplets"][0]["address"] = "198.18.0.10".into();
    assert!(problems(&v.to_string()).is_empty());
}

#[test]
fn shared_paths_neither_nest_nor_hold_the_web_root() {
    let mut v = base();
    v["web_root"] = "public".into();
    v["shared_paths"] = serde_json::json!(["storage", "storage/app/public", "public"]);
    let found = problems(&v.to_string());
    assert_eq!(
        found,
        [
            "shared_paths[1]: \"storage/app/public\" is inside shared path \"storage\" (shared_paths[0]); list only the outer one",
            "shared_paths: shared_paths[2] \"public\" holds the web root \"public\"; the site would serve and run what it writes itself",
        ]
    );
}
