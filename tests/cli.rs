//! The `pond` CLI contract: commands, exit codes, stdout/stderr split, JSON
//! output, and that `init` works without a terminal.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn pond(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("pond runs")
}

/// Runs `pond ARGS` on a real terminal of 40 rows by 120 columns (`script`,
/// with the directory and environment of `like`), the answers typed ahead.
fn in_terminal(like: Command, args: &str, answers: &[u8]) -> Output {
    use std::io::Write;
    let mut command = Command::new("script");
    if let Some(dir) = like.get_current_dir() {
        command.current_dir(dir);
    }
    for (key, value) in like.get_envs() {
        match value {
            Some(v) => command.env(key, v),
            None => command.env_remove(key),
        };
    }
    let mut child = command
        .args([
            "-qec",
            &format!(
                "stty rows 40 cols 120; {} {args}",
                env!("CARGO_BIN_EXE_pond")
            ),
            "/dev/null",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    child.stdin.as_mut().unwrap().write_all(answers).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn init_without_a_terminal_needs_name_and_stack_then_writes_a_valid_project() {
    let dir = tempfile::tempdir().unwrap();
    let out = pond(&["init"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--name is required when Pond cannot ask"));
    assert!(!dir.path().join("pond.json").exists());

    let out = pond(
        &["init", "--name", "acme-shop", "--stack", "wordpress"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(dir.path().join("pond.json")).unwrap();
    assert!(written.contains("\"stack\": \"wordpress\""));
    assert!(written.contains("\"wp-content/uploads\""));
    let ignore = std::fs::read_to_string(dir.path().join(".pondignore")).unwrap();
    assert!(ignore.contains("/wp-content/uploads/"));

    let out = pond(&["validate"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("is valid: project acme-shop, stack wordpress, 0 environments")
    );

    let out = pond(&["init", "--name", "other", "--stack", "php"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("already exists; pass --force"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("pond.json")).unwrap(),
        written
    );
}

#[test]
fn init_rejects_bad_names_and_stacks() {
    let dir = tempfile::tempdir().unwrap();
    let out = pond(
        &["init", "--name", "Acme Shop", "--stack", "php"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).starts_with("error: --name \"Acme Shop\" is not a valid project name")
    );
    let out = pond(&["init", "--name", "acme", "--stack", "rails"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown stack \"rails\""));
    assert!(!dir.path().join("pond.json").exists());
}

#[test]
fn validate_reports_every_problem_on_stderr_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pond.json"),
        r#"{"schema_version": 1, "name": "acme", "stack": "php", "keep_builds": 0,
            "accounts": [{"name": "agency"}],
            "environments": [{"name": "Prod", "account": "agency", "type": "single",
              "region": "ams3", "size": "s-1vcpu-1gb", "image": "debian-13-x64",
              "domain": "exa mple.com", "secret_prefix": "k3v9q2x8m1zapt",
              "database": {"placement": "none"}}]}"#,
    )
    .unwrap();
    let out = pond(&["validate"], dir.path());
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].ends_with("is not a valid Pond project file (3 problems)"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("  keep_builds: 0 is out of range"),
        "{err}"
    );
    assert!(
        lines[2].starts_with("  environments[0].name: \"Prod\" is not a valid environment name"),
        "{err}"
    );
    assert!(
        lines[3]
            .starts_with("  environments[0].domain: \"exa mple.com\" is not a valid domain name"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let out = pond(&["validate", "--json", "pond.json"], dir.path());
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"].as_array().unwrap().len(), 3);
    assert_eq!(v["problems"][2]["path"], "environments[0].domain");
}

#[test]
fn validate_of_a_missing_file_says_which_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = pond(&["validate", "nope.json"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: cannot read nope.json\n  caused by: No such file"),
        "{err}"
    );
}

#[test]
fn schema_prints_the_committed_schema() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = pond(&["schema"], repo);
    assert!(out.status.success());
    let committed = std::fs::read(repo.join("schema/pond.schema.json")).unwrap();
    assert_eq!(out.stdout, committed);
}

#[test]
fn plan_prints_a_quoted_script_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = pond(
        &["plan", "common/hello", "--set", "GREETING=$(touch owned)'"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("readonly GREETING='$(touch owned)'\\'''\nreadonly WHO=''\n"),
        "{stdout}"
    );
    assert!(!dir.path().join("owned").exists());

    let out = pond(
        &["plan", "common/hello", "--set", "GREETING=x", "--json"],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["operations"][0]["action"]["script"]["template"],
        "common/hello"
    );

    let out = pond(&["plan", "common/hello"], dir.path());
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("needs input GREETING"));
    let out = pond(&["plan", "common/nope"], dir.path());
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(
        err.contains("known templates: ") && err.contains("common/hello"),
        "{err}"
    );
    let out = pond(&["plan", "common/hello", "--set", "GREETING"], dir.path());
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("expected NAME=VALUE"));

    let out = pond(&["plan"], dir.path());
    assert!(text(&out.stdout).contains("common/hello"));
}

#[test]
fn help_documents_exit_codes_and_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let help = text(&pond(&["--help"], dir.path()).stdout);
    assert!(help.contains("Exit codes:"));
    for name in [
        "init",
        "validate",
        "schema",
        "plan",
        "key",
        "attach",
        "provision",
        "deploy",
        "preview",
        "swap",
        "rollback",
        "status",
        "logs",
        "unbind",
        "lab",
    ] {
        assert!(
            help.contains(&format!("  {name} ")),
            "{name} missing from help"
        );
        let sub_help = pond(&[name, "--help"], dir.path());
        assert!(sub_help.status.success(), "{name} --help");
    }
    let lab_help = text(&pond(&["lab", "--help"], dir.path()).stdout);
    for sub in ["up", "status", "down", "destroy"] {
        assert!(
            lab_help.contains(&format!("  {sub} ")),
            "lab {sub} missing from help"
        );
    }
}

#[test]
fn environment_commands_outside_a_project_say_where_they_looked() {
    let dir = tempfile::tempdir().unwrap();
    let out = pond(&["deploy", "production"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: there is no ./pond.json here; create one with `pond init`, or pass --project DIR
"
    );
    pond(&["init", "--name", "acme", "--stack", "static"], dir.path());
    let out = pond(&["swap", "staging"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("pond.json has no environment \"staging\""),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn init_on_a_terminal_asks_and_re_asks_until_the_answer_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("my-shop");
    std::fs::create_dir(&project).unwrap();
    let mut command = Command::new("true");
    command.current_dir(&project);
    let out = in_terminal(command, "init", b"Bad Name\n\nwordpress\n");
    let shown = text(&out.stdout);
    assert!(shown.contains("Project name [my-shop]:"), "{shown}");
    assert!(
        shown.contains("\"Bad Name\" is not a valid project name"),
        "{shown}"
    );
    assert!(
        shown.contains("Stack (php, static, wordpress) [php]:"),
        "{shown}"
    );
    let written = std::fs::read_to_string(project.join("pond.json")).unwrap();
    assert!(
        written.contains("\"name\": \"my-shop\"") && written.contains("\"stack\": \"wordpress\""),
        "{written}"
    );
}

#[test]
fn team_keys_are_added_checked_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(
        pond(&["init", "--name", "crew", "--stack", "static"], d)
            .status
            .success()
    );
    let key = d.join("ana");
    assert!(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "ana@laptop", "-f"])
            .arg(&key)
            .status()
            .unwrap()
            .success()
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let out = pond(&["team", "add", "ana", "--key", public.trim()], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&pond(&["team", "list"], d).stdout);
    assert!(
        listed.starts_with("ana ") && listed.contains("ssh-ed25519 "),
        "{listed}"
    );

    // A private key, a bad name: refused with the JSON path, file unchanged.
    let before = std::fs::read_to_string(d.join("pond.json")).unwrap();
    let private = std::fs::read_to_string(&key).unwrap();
    let out = pond(&["team", "add", "bob", "--key", &private], d);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("team_keys[1].public_key"),
        "{}",
        text(&out.stderr)
    );
    let out = pond(&["team", "add", "$(id)", "--key", public.trim()], d);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("team_keys[1].name"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("pond.json")).unwrap(),
        before
    );

    let out = pond(&["team", "remove", "ana"], d);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&pond(&["team", "list"], d).stdout).contains("No team keys"));
    let out = pond(&["team", "remove", "ana"], d);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("it has: none"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn create_asks_for_what_is_missing_on_a_terminal_and_never_with_yes() {
    let dir = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let project = dir.path().to_str().unwrap();
    let init = pond(
        &[
            "init", "--name", "asked", "--stack", "static", "--dir", project,
        ],
        dir.path(),
    );
    assert!(init.status.success(), "{}", text(&init.stderr));
    // Not a terminal, or --yes: what is missing is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_pond"))
        .args([
            "create",
            "production",
            "--account",
            "agency",
            "--project",
            project,
        ])
        .env("POND_CONFIG_DIR", config.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--account and --domain are required"));
    // A terminal: the domain is asked for, and asked again until valid.
    let mut command = Command::new("true");
    command
        .env("POND_CONFIG_DIR", config.path())
        .env_remove("POND_LAB_API_URL")
        .env_remove("POND_LAB_TOKEN")
        .env_remove("POND_DO_TOKEN");
    let out = in_terminal(
        command,
        &format!("create production --account agency --project {project}"),
        b"not a domain\nshop.example.com\n",
    );
    let shown = text(&out.stdout);
    assert!(shown.contains("Domain (like shop.example.com):"), "{shown}");
    assert!(
        shown.contains("\"not a domain\" is not a domain"),
        "{shown}"
    );
    // The domain was taken; what stops it now is the unregistered account.
    assert!(shown.contains("agency"), "{shown}");
    assert!(!out.status.success());
}

/// A stand-in for the DigitalOcean API on loopback (its base URL): the
/// account check passes, anything after it is refused with a 403.
fn api_refusing_after_the_account_check() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v2", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            let mut header = String::new();
            while reader.read_line(&mut header).unwrap_or(0) > 0 && header != "\r\n" {
                header.clear();
            }
            let (status, body) = if request.starts_with("GET /v2/account ") {
                (
                    "200 OK",
                    r#"{"account": {"email": "ops@example.com", "status": "active"}}"#,
                )
            } else {
                (
                    "403 Forbidden",
                    r#"{"id": "forbidden", "message": "You do not have access for the attempted action."}"#,
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn progress_on_a_terminal_ends_every_step_with_a_mark_and_leaves_no_spinner() {
    let dir = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let project = dir.path().to_str().unwrap();
    let init = pond(
        &[
            "init", "--name", "marks", "--stack", "static", "--dir", project,
        ],
        dir.path(),
    );
    assert!(init.status.success(), "{}", text(&init.stderr));
    let mut command = Command::new("true");
    command
        .env("POND_CONFIG_DIR", config.path())
        .env("POND_DO_TOKEN", "dop_v1_test")
        .env("POND_DO_API_URL", api_refusing_after_the_account_check())
        .env_remove("POND_DNS_RESOLVER")
        .env_remove("POND_LAB_API_URL")
        .env_remove("POND_LAB_TOKEN");
    let out = in_terminal(
        command,
        &format!(
            "create production --account agency --domain shop.example.com --project {project}"
        ),
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let mut terminal = vt100::Parser::new(40, 120, 0);
    terminal.process(&out.stdout);
    let rows: Vec<String> = terminal.screen().rows(0, 120).collect();
    let screen = rows.join("\n");
    let lines: Vec<&str> = rows
        .iter()
        .map(|r| r.trim_end())
        .filter(|r| !r.is_empty())
        .collect();
    let done = lines
        .iter()
        .position(|l| l.starts_with("✓ [digitalocean] checking the account token ("))
        .unwrap_or_else(|| panic!("no done mark for the account check:\n{screen}"));
    assert!(
        lines[done + 1].starts_with("✗ [digitalocean] registering your SSH key ("),
        "the failed step is not crossed out right after:\n{screen}"
    );
    assert!(
        lines[done..].iter().take(2).all(|l| l.ends_with("s)")),
        "{screen}"
    );
    assert!(screen.contains("You do not have access"), "{screen}");
    assert!(
        !screen
            .chars()
            .any(|c| ('\u{2800}'..='\u{28ff}').contains(&c)),
        "a spinner is left on the screen:\n{screen}"
    );
}

#[test]
fn init_proposes_the_web_root_it_finds_and_deploy_refuses_a_missing_one() {
    let init = |files: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "<?php echo 1;").unwrap();
        }
        let out = pond(&["init", "--name", "shop", "--stack", "php"], dir.path());
        assert!(out.status.success(), "{}", text(&out.stderr));
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("pond.json")).unwrap())
                .unwrap();
        (dir, file["web_root"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(init(&["index.php"]).1, "", "a plain PHP app at the top");
    assert_eq!(init(&["public/index.php"]).1, "public", "Laravel's layout");
    assert_eq!(init(&[]).1, "public", "nothing found: the stack's usual");

    // A web root the project lacks is refused before any server is asked
    // (the droplet below is this machine's loopback, where nothing waits).
    let (dir, _) = init(&["index.php"]);
    let path = dir.path().join("pond.json");
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    file["web_root"] = serde_json::json!("public");
    file["environments"] = serde_json::json!([{
        "name": "production", "type": "single", "domain": "shop.example.com",
        "secret_prefix": "k3v9q2x8m1zapt", "database": {"placement": "none"},
        "droplets": [{"name": "web", "address": "127.0.0.1"}]
    }]);
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let config = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(["deploy", "production"])
        .current_dir(dir.path())
        .env("POND_CONFIG_DIR", config.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("web_root is \"public\"")
            && err.contains("set \"web_root\": \"\"")
            && err.contains("Nothing was sent"),
        "{err}"
    );
    assert!(!err.contains("connect"), "no server was asked: {err}");
}

/// User paths come from `dirs`: an existing Linux `~/.config/pond` keeps
/// working, `XDG_CONFIG_HOME` is honoured, `POND_CONFIG_DIR` wins.
#[cfg(target_os = "linux")]
#[test]
fn settings_are_found_in_the_platforms_config_dir() {
    let home = tempfile::tempdir().unwrap();
    let write = |dir: &std::path::Path, account: &str| {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("settings.json"),
            format!(
                r#"{{"accounts": [{{"name": "{account}", "api_url": "http://127.0.0.1:9/v2"}}]}}"#
            ),
        )
        .unwrap();
    };
    write(&home.path().join(".config/pond"), "from-home");
    write(&home.path().join("xdg/pond"), "from-xdg");
    write(&home.path().join("explicit"), "from-env");
    let list = |env: &[(&str, std::path::PathBuf)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pond"));
        cmd.args(["account", "list"])
            .env_remove("POND_CONFIG_DIR")
            .env_remove("XDG_CONFIG_HOME")
            .env("HOME", home.path())
            .env("POND_KEYCHAIN", "none");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(list(&[]).contains("from-home"));
    assert!(list(&[("XDG_CONFIG_HOME", home.path().join("xdg"))]).contains("from-xdg"));
    assert!(
        list(&[
            ("XDG_CONFIG_HOME", home.path().join("xdg")),
            ("POND_CONFIG_DIR", home.path().join("explicit"))
        ])
        .contains("from-env")
    );
}

/// `provision --dry-run` prints each server's plan, in the order the run
/// takes it (the team keys, with the provisioner's own, among it), and
/// contacts no server; `--scripts` prints the same plan's scripts in full.
#[test]
fn provision_dry_run_prints_each_servers_plan_and_asks_no_server() {
    let dir = tempfile::tempdir().unwrap();
    let out = pond(&["init", "--name", "shop", "--stack", "php"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let path = dir.path().join("pond.json");
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Loopback, where nothing listens: a connection would fail the run.
    file["environments"] = serde_json::json!([{
        "name": "production", "type": "single", "domain": "shop.example.com",
        "secret_prefix": "k3v9q2x8m1zapt", "database": {"placement": "none"},
        "droplets": [{"name": "shop-web", "address": "127.0.0.9"}]
    }]);
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let config = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pond"))
            .args(["provision", "production", "--dry-run"])
            .args(extra)
            .current_dir(dir.path())
            .env("POND_CONFIG_DIR", config.path())
            .env_remove("POND_SSH_KEY")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let outline = run(&[]);
    let steps: Vec<&str> = outline
        .lines()
        .filter_map(|l| l.trim().split_once("] ")?.1.split(" — on ").next())
        .collect();
    assert_eq!(
        steps,
        [
            "Base setup",
            "Web stack (php)",
            "Users web_shop_production and deploy_shop_production",
            "PHP-FPM pool web_shop_production",
            "Team keys",
            "Layout and vhosts",
            "Record what was provisioned",
            "Certificate renewal timer",
        ],
        "{outline}"
    );
    assert!(
        outline.contains("The plan: provision shop-web (web server)")
            && outline
                .contains("— on droplet shop-web (127.0.0.9); as root: common/base TIMEZONE=UTC")
            && outline.contains("Nothing was changed (dry run)."),
        "{outline}"
    );
    let own_key = std::fs::read_to_string(config.path().join("id_ed25519.pub")).unwrap();
    let full = run(&["--scripts"]);
    assert!(
        full.contains("# Plan: provision shop-web (web server) (8 operations)")
            && full.contains("# [5] Team keys — on droplet shop-web (127.0.0.9)")
            && full.contains(own_key.split_whitespace().nth(1).unwrap()),
        "{full}"
    );

    // Read by a command that stops reading (`| head`): a quiet end with
    // the shell's status for it, no panic.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(["provision", "production", "--dry-run", "--scripts"])
        .current_dir(dir.path())
        .env("POND_CONFIG_DIR", config.path())
        .env_remove("POND_SSH_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
}
