//! Running `pond` against a test's lab API as the account `agency`, and
//! checking that `pond create` finished.

use std::process::{Command, Output};

/// `pond ARGS --project PROJECT` with its config in `config`, talking to
/// the lab's API.
pub fn pond(
    args: &[&str],
    project: &std::path::Path,
    config: &std::path::Path,
    api: &super::lab::Api,
) -> Output {
    command(args, project, config, api).output().unwrap()
}

/// [`pond`] that also checks name servers against the lab's DNS.
pub fn pond_with_dns(
    args: &[&str],
    project: &std::path::Path,
    config: &std::path::Path,
    api: &super::lab::Api,
) -> Output {
    command(args, project, config, api)
        .env("POND_DNS_RESOLVER", &api.dns)
        .output()
        .unwrap()
}

/// The command [`pond`] runs, for a test that spawns it itself.
pub fn command(
    args: &[&str],
    project: &std::path::Path,
    config: &std::path::Path,
    api: &super::lab::Api,
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pond"));
    command
        .args(args)
        .arg("--project")
        .arg(project)
        .env("POND_CONFIG_DIR", config)
        .env("POND_LAB_API_URL", format!("{}/v2", api.url))
        .env("POND_LAB_TOKEN", &api.token)
        .env("POND_ACME_DIRECTORY", &api.acme_directory)
        .env("POND_ACME_CA", &api.acme_ca)
        .env_remove("POND_DO_TOKEN")
        .env_remove("POND_DNS_RESOLVER")
        .stdin(std::process::Stdio::null());
    command
}

/// A static-site project made with `pond init`, with an index.html.
pub fn static_project(name: &str, index: &str) -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    let init = std::process::Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(["init", "--name", name, "--stack", "static", "--dir"])
        .arg(project.path())
        .output()
        .unwrap();
    assert!(init.status.success());
    std::fs::write(project.path().join("index.html"), index).unwrap();
    project
}

/// The command's stdout and stderr together, after checking it succeeded.
pub fn succeeded(out: Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

/// `pond create` succeeded and printed the production URL.
pub fn assert_live(out: &Output, production: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("production: {production}")),
        "{stdout}"
    );
}

/// A page that lists the `items` table of the environment's database,
/// connecting with the values the config template rendered into `.env`.
pub const INDEX: &str = r#"<?php
$env = parse_ini_file(__DIR__ . '/../.env');
try {
    $db = new mysqli($env['DB_HOST'], $env['DB_USERNAME'], $env['DB_PASSWORD'], $env['DB_DATABASE']);
    $rows = $db->query('SELECT name FROM items ORDER BY name')->fetch_all();
    echo 'db ok: ', implode(',', array_column($rows, 0));
} catch (Throwable $e) {
    echo 'db error: ', $e->getMessage();
}
"#;

/// A PHP project `name` (web root `public`) whose `public/index.php` is
/// `index` and whose `.env` is rendered from pond.json and the server-held
/// database password; and a dump creating `items` with two rows.
pub fn php_project_with_db(
    name: &str,
    index: &str,
) -> (tempfile::TempDir, tempfile::NamedTempFile) {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let init = Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(["init", "--name", name, "--stack", "php", "--dir"])
        .arg(p)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    std::fs::create_dir_all(p.join("public")).unwrap();
    std::fs::create_dir_all(p.join("deploy")).unwrap();
    std::fs::write(p.join("public/index.php"), index).unwrap();
    std::fs::write(
        p.join("deploy/env.tmpl"),
        "DB_HOST={{ database.host }}\nDB_DATABASE={{ database.name }}\nDB_USERNAME={{ database.user }}\nDB_PASSWORD={{ secrets.db_password }}\n",
    )
    .unwrap();
    let dump = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        dump.path(),
        "CREATE TABLE items (name VARCHAR(20));\nINSERT INTO items VALUES ('widget'), ('gadget');\n",
    )
    .unwrap();
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    file["web_root"] = "public".into();
    file["config_files"] = serde_json::json!([{"template": "deploy/env.tmpl", "target": ".env"}]);
    std::fs::write(
        p.join("pond.json"),
        serde_json::to_string_pretty(&file).unwrap(),
    )
    .unwrap();
    (project, dump)
}
