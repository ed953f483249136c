//! `pond account` against a real Secret Service (gnome-keyring on a private
//! D-Bus) and the lab's DO-compatible API: a wrong token is refused before
//! anything is stored, a good one lands in the keychain (seen by
//! `secret-tool`, an independent client) and nowhere else, `check` uses it,
//! `remove` deletes it, and with no keychain Pond says so and asks per
//! session. Every byte of output and every file Pond wrote is scanned for
//! the token.

mod common;

use std::path::Path;

use common::keyring::SecretService;
use common::lab::{LabDir, lab_up};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn pond(
    ss: &SecretService,
    config: &Path,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> Run {
    let out = ss.pond(config, args, stdin, env);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every regular file under `dir`, as bytes.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path, bytes));
        }
    }
    found
}

#[test]
fn accounts_keep_the_token_in_the_keychain_and_nowhere_else() {
    common::require_root();
    let lab = LabDir::new("pond-acct-");
    let api = lab_up(&lab.0);
    let url = format!("{}/v2", api.url);
    let ss = SecretService::start();
    let config = tempfile::tempdir().unwrap();
    let cfg = config.path();
    let mut seen = Vec::new();
    let mut run = |args: &[&str], stdin: &str, env: &[(&str, &str)]| {
        let r = pond(&ss, cfg, args, stdin, env);
        seen.push(format!("{}{}", r.stdout, r.stderr));
        r
    };

    // A wrong token is refused with DO's message; nothing is registered.
    let r = run(
        &["account", "add", "lab", "--api-url", &url],
        "dop_v1_wrong\n",
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("DigitalOcean said 401: Unable to authenticate you"),
        "{}",
        r.stderr
    );
    let r = run(&["account", "list"], "", &[]);
    assert!(
        r.stdout.contains("Keychain: Secret Service"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("No accounts yet"), "{}", r.stdout);

    // A token on the command line is not even accepted by the parser (its
    // usage error echoes the stray argument back, so it is left out of the
    // scan below).
    let r = pond(&ss, cfg, &["account", "add", "lab", &api.token], "", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("unexpected argument"), "{}", r.stderr);

    // The good token, piped on stdin, lands in the Secret Service.
    let token_line = format!("{}\n", api.token);
    let r = run(
        &["account", "add", "lab", "--api-url", &url],
        &token_line,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("token stored in Secret Service"),
        "{}",
        r.stderr
    );
    let found = ss.search(&["service", "pond", "username", "digitalocean:lab"]);
    assert!(
        found.contains(&format!("secret = {}", api.token)),
        "secret-tool sees: {found}"
    );

    let r = run(&["account", "list", "--json"], "", &[]);
    let list: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(list["keychain"], "Secret Service");
    assert_eq!(list["accounts"][0]["name"], "lab");
    assert_eq!(list["accounts"][0]["api_url"], url.as_str());
    assert_eq!(list["accounts"][0]["token"], "in keychain");

    let r = run(&["account", "check", "lab"], "", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("lab: ") && r.stdout.contains("(active)"),
        "{}",
        r.stdout
    );
    let r = run(&["account", "check", "nope"], "", &[]);
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("known accounts: lab"), "{}", r.stderr);

    // Remove deletes the keychain entry too.
    let r = run(&["account", "remove", "lab"], "", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let found = ss.search(&["service", "pond", "username", "digitalocean:lab"]);
    assert!(
        !found.contains("secret = "),
        "still in the keychain: {found}"
    );

    // No usable keychain: registered, token not stored, asked per session.
    let none = [("POND_KEYCHAIN", "none")];
    let r = run(
        &["account", "add", "lab", "--api-url", &url],
        &token_line,
        &none,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the token was NOT stored: no usable keychain"),
        "{}",
        r.stderr
    );
    let r = run(&["account", "check", "lab"], "", &none);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("set POND_DO_TOKEN or run pond account add lab"),
        "{}",
        r.stderr
    );
    let r = run(
        &["account", "check", "lab"],
        "",
        &[("POND_KEYCHAIN", "none"), ("POND_DO_TOKEN", &api.token)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The token never shows in any output or any file Pond wrote.
    for output in &seen {
        assert!(!output.contains(&api.token), "token in output: {output}");
    }
    let written = files_under(cfg);
    assert!(written.iter().any(|(p, _)| p.ends_with("settings.json")));
    for (path, bytes) in written {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&api.token), "token in {}", path.display());
    }
}
