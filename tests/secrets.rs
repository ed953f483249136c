//! No secret where it must not be. A whole flow runs on the lab — account
//! added (token into a real Secret Service), `pond create` of a PHP
//! environment with MariaDB, a config file that uses the server-held DB
//! password, deploy, status, logs, preview — then every byte of CLI output
//! (its debug log on stderr included) and every file Pond wrote on the
//! client (its config dir with the log file, the project) is scanned for the DigitalOcean token, the private key, the database
//! password and two app secrets (`pond secret set` from stdin, `pond
//! secret generate`) that a config template fills in on the server; a
//! template needing a secret the server lacks stops the deploy, naming it.
//! On the server the password file is root's, readable by the
//! environment's group only, and the app really uses it (the page reaches
//! MariaDB).

mod common;

use std::path::Path;

use common::keyring::SecretService;
use common::lab::{LabDir, lab_up};

fn files_under(dir: &Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_symlink() {
            continue;
        }
        if path.is_dir() {
            files_under(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
}

#[test]
fn no_token_key_or_db_password_leaks_to_output_or_client_files() {
    common::require_root();
    let lab = LabDir::new("pond-secrets-");
    let api = lab_up(&lab.0);
    let keyring = SecretService::start();
    let config = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let mut outputs: Vec<String> = vec![];
    // Every run also logs, at debug, to a file in the config dir (scanned
    // below with the rest) and to stderr (scanned with the outputs).
    let logs = config.path().join("logs");
    let logs_text = logs.to_str().unwrap().to_string();
    let mut pond = |args: &[&str], stdin: &str| {
        let out = keyring.pond(
            config.path(),
            args,
            stdin,
            &[("POND_LOG_DIR", &logs_text), ("POND_LOG", "pond=debug")],
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "pond {args:?}:\n{text}");
        outputs.push(text.clone());
        text
    };

    pond(
        &[
            "init",
            "--name",
            "vault",
            "--stack",
            "php",
            "--dir",
            p.to_str().unwrap(),
        ],
        "",
    );
    std::fs::create_dir_all(p.join("public")).unwrap();
    std::fs::create_dir_all(p.join("deploy")).unwrap();
    std::fs::write(
        p.join("deploy/env.tmpl"),
        "DB_DATABASE={{ database.name }}\nDB_USERNAME={{ database.user }}\nDB_PASSWORD={{ secrets.db_password }}\n",
    )
    .unwrap();
    std::fs::write(
        p.join("public/index.php"),
        r#"<?php
$env = [];
foreach (file(__DIR__ . '/../.env', FILE_IGNORE_NEW_LINES) as $line) {
    [$k, $v] = explode('=', $line, 2);
    $env[$k] = trim($v, '"');
}
$db = new mysqli('localhost', $env['DB_USERNAME'], $env['DB_PASSWORD'], $env['DB_DATABASE']);
echo $db->connect_errno ? "db error\n" : "db ok\n";
"#,
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

    let url = format!("{}/v2", api.url);
    pond(
        &[
            "account",
            "add",
            "lab",
            "--api-url",
            &url,
            "--acme-directory",
            &api.acme_directory,
            "--acme-ca",
            &api.acme_ca,
        ],
        &format!("{}\n", api.token),
    );
    let project_arg = ["--project", p.to_str().unwrap()];
    let with = |args: &[&'static str]| -> Vec<String> {
        args.iter()
            .chain(project_arg.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |pond: &mut dyn FnMut(&[&str], &str) -> String, args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        pond(&refs, "")
    };
    let run_with_stdin =
        |pond: &mut dyn FnMut(&[&str], &str) -> String, args: Vec<String>, stdin: &str| {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            pond(&refs, stdin)
        };
    let created = run(
        &mut pond,
        with(&[
            "create",
            "production",
            "--account",
            "lab",
            "--domain",
            "vault.example.com",
            "--image",
            "debian-13-x64",
        ]),
    );
    assert!(
        created.contains("production: https://vault.example.com/"),
        "{created}"
    );
    // App secrets: one set from stdin (with characters bash and sed would
    // mangle), one generated on the server; templates use both.
    const MAIL_PASSWORD: &str = "m@il-&-p\\a$$word 'q' *";
    let set = run_with_stdin(
        &mut pond,
        with(&["secret", "set", "production", "MAIL_PASSWORD"]),
        &format!("{MAIL_PASSWORD}\n"),
    );
    assert!(set.contains("MAIL_PASSWORD is set"), "{set}");
    run(
        &mut pond,
        with(&["secret", "generate", "production", "APP_KEY", "--base64"]),
    );
    let listed = run(&mut pond, with(&["secret", "list", "production"]));
    assert!(
        listed.contains("APP_KEY") && listed.contains("MAIL_PASSWORD"),
        "{listed}"
    );
    // A template needing a secret the server lacks stops the deploy, saying which.
    std::fs::write(
        p.join("deploy/env.tmpl"),
        "DB_DATABASE={{ database.name }}\nDB_USERNAME={{ database.user }}\nDB_PASSWORD={{ secrets.db_password }}\nAPP_KEY=\"base64:{{ secrets.APP_KEY }}\"\nMAIL_PASSWORD=\"{{ secrets.MAIL_PASSWORD }}\"\nSENTRY_DSN={{ secrets.SENTRY_DSN }}\n",
    )
    .unwrap();
    let mut args = with(&["deploy", "production", "--tag", "missing"]);
    let refused = keyring.pond(
        config.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "",
        &[],
    );
    let refused_text = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(!refused.status.success(), "{refused_text}");
    assert!(
        refused_text.contains("needs the secret SENTRY_DSN, which is not set on this server: pond secret set production SENTRY_DSN"),
        "{refused_text}"
    );
    assert!(
        refused_text.contains("failed at step config: config file .env could not be filled in"),
        "{refused_text}"
    );
    let refused_output = refused_text;
    std::fs::write(
        p.join("deploy/env.tmpl"),
        "DB_DATABASE={{ database.name }}\nDB_USERNAME={{ database.user }}\nDB_PASSWORD={{ secrets.db_password }}\nAPP_KEY=\"base64:{{ secrets.APP_KEY }}\"\nMAIL_PASSWORD=\"{{ secrets.MAIL_PASSWORD }}\"\n",
    )
    .unwrap();
    args.clear();
    std::fs::write(p.join("public/extra.txt"), "two").unwrap();
    run(&mut pond, with(&["deploy", "production", "--tag", "two"]));
    run(&mut pond, with(&["preview", "production"]));
    run(&mut pond, with(&["swap", "production"]));
    run(&mut pond, with(&["status", "--json"]));
    run(&mut pond, with(&["logs", "production", "--lines", "50"]));
    run(&mut pond, with(&["releases", "production"]));
    run(
        &mut pond,
        vec!["account".into(), "list".into(), "--json".into()],
    );

    // The secrets themselves.
    let pond_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    let address = pond_json["environments"][0]["droplets"][0]["address"]
        .as_str()
        .unwrap()
        .to_string();
    let key = config.path().join("id_ed25519");
    // A PHP log line is the site's to write (its log is the site user's
    // file): an endless line with a terminal escape reaches `pond logs` cut
    // at 4 KiB, the escape shown as `?`, never sent to the terminal.
    common::ssh(
        &key,
        &address,
        r"printf '\033]0;pwned\007%s\n' $(head -c 300000 /dev/zero | tr '\0' x) >> /var/log/php-fpm/web_vault_production.log",
    );
    let logs_out = run(&mut pond, with(&["logs", "production", "--lines", "3"]));
    assert!(logs_out.contains("?]0;pwned?xxxx"), "{logs_out}");
    assert!(!logs_out.contains('\u{1b}') && !logs_out.contains('\u{7}'));
    let longest = logs_out.lines().map(str::len).max().unwrap_or(0);
    assert!(
        longest < 4200,
        "a log line of {longest} bytes reached the terminal"
    );
    let server = common::ssh(
        &key,
        &address,
        "f=/var/www/pond/projects/vault/production/config/db-password; stat -c '%a %U' \"$f\"; cat \"$f\"",
    );
    let mut lines = server.lines();
    let (mode_owner, db_password) = (
        lines.next().unwrap().to_string(),
        lines.next().unwrap().to_string(),
    );
    assert!(
        db_password.len() >= 32,
        "a generated password: {db_password:?}"
    );
    let (mode, owner) = mode_owner.split_once(' ').unwrap();
    assert_eq!(
        (mode, owner),
        ("640", "root"),
        "the password file is root's, readable by the environment's group only"
    );
    assert_eq!(
        common::browse(&address, "vault.example.com", "/", &api.ca_root).1,
        "db ok\n",
        "the app uses it"
    );
    let env_file = common::ssh(
        &key,
        &address,
        "cat /var/www/pond/projects/vault/production/current/.env",
    );
    assert!(
        env_file.contains(&format!("MAIL_PASSWORD=\"{MAIL_PASSWORD}\"\n")),
        "the set secret reaches .env unchanged:\n{env_file}"
    );
    let app_key = env_file
        .lines()
        .find_map(|l| l.strip_prefix("APP_KEY=\"base64:"))
        .map(|k| k.trim_end_matches('"'))
        .unwrap_or_default()
        .to_string();
    assert_eq!(app_key.len(), 44, "32 random bytes in base64: {env_file}");
    let private = std::fs::read_to_string(&key).unwrap();
    let key_body: Vec<&str> = private
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .collect();
    assert!(!key_body.is_empty());

    // The log file holds the tasks, their steps per server and the API
    // calls (and, scanned below, no secret).
    let log: String = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    for span in [
        "deploy::deploy{env=production}",
        "swap::swap{env=production force=false}",
        "template=common/deploy-apply",
        "server=vault-production-1",
        "step ran exit=0",
        "path=\"/droplets\"",
        "command{name=deploy}",
    ] {
        assert!(log.contains(span), "{span} in the log:\n{log}");
    }

    // Scan every output and every file Pond wrote on the client.
    let mut files = vec![];
    files_under(config.path(), &mut files);
    files_under(p, &mut files);
    let mut scanned = 0;
    for (path, bytes) in &files {
        if path == &key {
            continue; // the private key's own file
        }
        let text = String::from_utf8_lossy(bytes);
        scanned += 1;
        assert!(!text.contains(&api.token), "DO token in {}", path.display());
        assert!(
            !text.contains(&db_password),
            "DB password in {}",
            path.display()
        );
        for secret in [MAIL_PASSWORD, app_key.as_str()] {
            assert!(
                !text.contains(secret),
                "an app secret in {}",
                path.display()
            );
        }
        for line in &key_body {
            assert!(
                !text.contains(line),
                "private key material in {}",
                path.display()
            );
        }
    }
    for text in outputs.iter().chain([&refused_output]) {
        assert!(!text.contains(&api.token), "DO token in output:\n{text}");
        assert!(
            !text.contains(&db_password),
            "DB password in output:\n{text}"
        );
        for secret in [MAIL_PASSWORD, app_key.as_str()] {
            assert!(!text.contains(secret), "an app secret in output:\n{text}");
        }
        for line in &key_body {
            assert!(!text.contains(line), "private key material in output");
        }
    }
    eprintln!(
        "secrets scan: {} command outputs and {scanned} client files, none holds the token, the key or the DB password",
        outputs.len()
    );
}
