//! Starting a lab for a test through the real `pond lab` CLI, and a small
//! client for its DO-compatible API.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Api {
    pub url: String,
    pub token: String,
    /// The lab's DNS (`127.0.0.1:PORT`, UDP).
    pub dns: String,
    /// The lab CA's ACME directory and the PEM that reaches it.
    pub acme_directory: String,
    pub acme_ca: String,
    /// The lab CA's issuing root (verifies the lab's certificates).
    pub ca_root: String,
}

impl Api {
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, Vec<(String, String)>) {
        let req = ureq::request(method, &format!("{}{path}", self.url))
            .set("Authorization", &format!("Bearer {}", self.token));
        let result = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let headers: Vec<(String, String)> = response
            .headers_names()
            .iter()
            .map(|h| {
                (
                    h.clone(),
                    response.header(h).unwrap_or_default().to_string(),
                )
            })
            .collect();
        let text = response.into_string().unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, value, headers)
    }

    pub fn ok(&self, method: &str, path: &str, body: Option<Value>, expect: u16) -> Value {
        let (status, value, _) = self.call(method, path, body);
        assert_eq!(status, expect, "{method} {path}: {value}");
        value
    }
}

/// The lab's directory; `down` + `destroy` in Drop even if the test fails.
pub struct LabDir(pub PathBuf);

impl Drop for LabDir {
    fn drop(&mut self) {
        let _ = pond(&["lab", "destroy", "--dir"], &self.0);
    }
}

pub fn pond(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pond"))
        .args(args)
        .arg(dir)
        .env("POND_LAB_CACHE", super::cache_dir())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

pub fn lab_up(dir: &Path) -> Api {
    let out = pond(&["lab", "up", "--dir"], dir);
    assert!(
        out.status.success(),
        "lab up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        5,
        "stdout must be exactly the five export lines: {stdout}"
    );
    let url = lines[0].strip_prefix("export POND_LAB_API_URL=").unwrap();
    let token = lines[1].strip_prefix("export POND_LAB_TOKEN=").unwrap();
    let dns = lines[2].strip_prefix("export POND_DNS_RESOLVER=").unwrap();
    let directory = lines[3]
        .strip_prefix("export POND_ACME_DIRECTORY=")
        .unwrap();
    let ca = lines[4]
        .strip_prefix("export POND_ACME_CA=")
        .unwrap()
        .trim_matches('\'');
    Api {
        url: url.trim_end_matches("/v2").to_string(),
        token: token.to_string(),
        dns: dns.to_string(),
        acme_directory: directory.to_string(),
        acme_ca: ca.to_string(),
        ca_root: Path::new(ca)
            .with_file_name("root.pem")
            .display()
            .to_string(),
    }
}

pub fn wait_active(api: &Api, tag: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = api.ok("GET", &format!("/v2/droplets?tag_name={tag}"), None, 200);
        let droplets = list["droplets"].as_array().unwrap().clone();
        if droplets.len() == count && droplets.iter().all(|d| d["status"] == "active") {
            return droplets;
        }
        assert!(
            Instant::now() < deadline,
            "droplets not active within 60 s: {list}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn address(d: &Value) -> String {
    d["networks"]["v4"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_string()
}

impl LabDir {
    /// A fresh lab directory under /var/tmp (destroyed on drop).
    pub fn new(prefix: &str) -> LabDir {
        LabDir(
            tempfile::Builder::new()
                .prefix(prefix)
                .tempdir_in("/var/tmp")
                .unwrap()
                .keep(),
        )
    }
}
