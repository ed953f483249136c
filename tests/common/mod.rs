//! Helpers shared by the lab integration tests (they need root, like CI).

#![allow(dead_code)]

pub mod create;
pub mod deploy;
pub mod keyring;
pub mod lab;
pub mod webdriver;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The base-image cache shared by every test run on this machine.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("POND_LAB_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/pond-lab"))
}

/// Fails the test with a clear reason when not root.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the lab tests need root (network namespaces, mounts); run the README's test command as root"
    );
}

/// A fresh ed25519 key pair in `dir`; returns (private key path, public line).
pub fn keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public.trim().to_string())
}

/// Runs a command on a lab droplet with the OpenSSH client; returns
/// (stdout, the host key fingerprint the server presented).
pub fn ssh(key: &Path, address: &str, command: &str) -> String {
    let out = Command::new("ssh")
        .args([
            "-n",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
        ])
        .args([
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg("-i")
        .arg(key)
        .arg(format!("root@{address}"))
        .arg(command)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh {address} {command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The SHA256 fingerprint of the ed25519 host key a server presents on
/// port 22.
pub fn presented_host_key(address: &str) -> String {
    let fingerprint = scan(address, 22);
    assert!(!fingerprint.is_empty(), "no host key from {address}");
    fingerprint
}

/// The SHA256 fingerprint of the ed25519 host key presented on
/// `address:port` (empty if none answered), via ssh-keyscan.
pub fn scan(address: &str, port: u16) -> String {
    let scan = Command::new("ssh-keyscan")
        .args(["-t", "ed25519", "-T", "5", "-p", &port.to_string(), address])
        .output()
        .unwrap();
    let mut child = Command::new("ssh-keygen")
        .args(["-lf", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&scan.stdout).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// What a browser shows for `http://host/path` at `address`: the page, or,
/// when HTTP redirects to HTTPS (a certificate is in place), the HTTPS page
/// verified against the lab CA's root `ca_root`; (status, body).
pub fn browse(address: &str, host: &str, path: &str, ca_root: &str) -> (u16, String) {
    let (status, body) = http_get(address, host, path);
    if status != 301 {
        return (status, body);
    }
    match try_https_get(address, host, path, ca_root) {
        Ok(answer) => answer,
        Err(error) => (0, error),
    }
}

/// The certificate `addr:443` presents for `host` (SNI): its serial and
/// its SAN names, sorted.
pub fn presented(addr: &str, host: &str) -> (String, Vec<String>) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo | openssl s_client -connect {addr}:443 -servername {host} 2>/dev/null | openssl x509 -noout -serial -ext subjectAltName"
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let serial = text
        .lines()
        .find_map(|l| l.strip_prefix("serial="))
        .unwrap_or_else(|| panic!("no certificate from {addr} for {host}: {text}"))
        .to_string();
    let mut names: Vec<String> = text
        .split([',', '\n'])
        .filter_map(|p| p.trim().strip_prefix("DNS:"))
        .map(str::to_string)
        .collect();
    names.sort();
    (serial, names)
}

/// [`https_get`], with a failed TLS connection as `Err(curl's message)`.
pub fn try_https_get(
    address: &str,
    host: &str,
    path: &str,
    ca_root: &str,
) -> Result<(u16, String), String> {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", ca_root, "--resolve"])
        .arg(format!("{host}:443:{address}"))
        .args(["-w", "\n%{http_code}"])
        .arg(format!("https://{host}{path}"))
        .output()
        .expect("running curl");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, status) = text.rsplit_once('\n').unwrap();
    Ok((status.trim().parse().unwrap(), body.to_string()))
}

/// An HTTPS GET to `address:443` for `host` (SNI and Host), verifying the
/// certificate against the lab CA's root `ca_root`; (status, body).
pub fn https_get(address: &str, host: &str, path: &str, ca_root: &str) -> (u16, String) {
    try_https_get(address, host, path, ca_root)
        .unwrap_or_else(|e| panic!("curl https://{host}{path} at {address}: {e}"))
}

/// A plain HTTP GET to `address:80` with a Host header; (status, body).
pub fn http_get(address: &str, host: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect((address, 80)).expect("connect to port 80");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // HTTP/1.0: the body comes plain, never chunked.
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
