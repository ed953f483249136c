//! Helpers for the deploy tests: a user with their own Pond config driving
//! the `pond` CLI, droplets made through the lab API with the user's key,
//! and small file helpers.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use super::lab::{Api, LabDir, address, lab_up, wait_active};

pub struct User {
    pub config: tempfile::TempDir,
}

impl User {
    pub fn pond(&self, project: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pond"));
        cmd.args(args);
        // `key` and `init` are not about an existing project.
        if !matches!(args.first(), Some(&"key" | &"init")) {
            cmd.arg("--project").arg(project);
        }
        cmd.env("POND_CONFIG_DIR", self.config.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// `pond init --dir PROJECT --name NAME --stack STACK`.
    pub fn init(&self, project: &Path, name: &str, stack: &str) {
        self.ok(
            project,
            &[
                "init",
                "--dir",
                project.to_str().unwrap(),
                "--name",
                name,
                "--stack",
                stack,
            ],
        );
    }

    /// `pond attach production --host ADDR --domain DOMAIN`.
    pub fn attach(&self, project: &Path, addr: &str, domain: &str) -> String {
        self.ok(
            project,
            &["attach", "production", "--host", addr, "--domain", domain],
        )
    }

    pub fn ok(&self, project: &Path, args: &[&str]) -> String {
        let out = self.pond(project, args);
        assert!(
            out.status.success(),
            "pond {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// A fresh lab and a user (with their own Pond config dir) to drive it.
pub fn start(prefix: &str) -> (LabDir, Api, User) {
    let lab = LabDir::new(prefix);
    let api = lab_up(&lab.0);
    (
        lab,
        api,
        User {
            config: tempfile::tempdir().unwrap(),
        },
    )
}

pub fn read_pond_json(project: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(project.join("pond.json")).unwrap()).unwrap()
}

pub fn write_pond_json(project: &Path, file: &serde_json::Value) {
    std::fs::write(
        project.join("pond.json"),
        serde_json::to_string_pretty(file).unwrap(),
    )
    .unwrap();
}

/// Starts `pond deploy ENV --tag TAG` in the background.
pub fn spawn_deploy(
    user: &User,
    project: &Path,
    env: &str,
    tag: &str,
) -> std::thread::JoinHandle<Output> {
    let (config, project) = (user.config.path().to_path_buf(), project.to_path_buf());
    let (env, tag) = (env.to_string(), tag.to_string());
    std::thread::spawn(move || {
        Command::new(env!("CARGO_BIN_EXE_pond"))
            .args(["deploy", &env, "--tag", &tag, "--project"])
            .arg(&project)
            .env("POND_CONFIG_DIR", config)
            .output()
            .unwrap()
    })
}

/// A droplet created through the lab API with the user's Pond key
/// (registered once per lab).
pub fn droplet(api: &Api, user: &User, name: &str) -> (u64, String) {
    let public = user
        .ok(Path::new("."), &["key", "--public"])
        .trim()
        .to_string();
    let keys = api.ok("GET", "/v2/account/keys", None, 200);
    let known = keys["ssh_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["public_key"] == public.as_str())
        .map(|k| k["id"].clone());
    let key_id = match known {
        Some(id) => id,
        None => api.ok(
            "POST",
            "/v2/account/keys",
            Some(json!({"name": name, "public_key": public})),
            201,
        )["ssh_key"]["id"]
            .clone(),
    };
    let created = api.ok(
        "POST",
        "/v2/droplets",
        Some(json!({"name": name, "size": "s-1vcpu-1gb", "image": "debian-13-x64", "ssh_keys": [key_id], "tags": [name]})),
        202,
    );
    let d = wait_active(api, name, 1).remove(0);
    (created["droplet"]["id"].as_u64().unwrap(), address(&d))
}

pub fn write(project: &Path, rel: &str, text: &str) {
    let path = project.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

pub fn secret_prefix(project: &Path) -> String {
    read_pond_json(project)["environments"][0]["secret_prefix"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `stat -c '%i %Y %n'` of every file of the live release, over SSH.
pub fn live_files(user: &User, addr: &str) -> String {
    let key = user.config.path().join("id_ed25519");
    super::ssh(
        &key,
        addr,
        "cd /var/www/pond/projects/acme/production/current/ && find . -type f -exec stat -c '%i %Y %n' {} + | sort",
    )
}

/// Every file under `dir`.
pub fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Copies `from` into `to` resolving symlinks; links that point nowhere
/// (into packages not installed here) are left out.
pub fn copy_resolved(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let Ok(meta) = std::fs::metadata(&src) else {
            continue;
        };
        if meta.is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_resolved(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}
