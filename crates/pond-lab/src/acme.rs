//! The lab's certificate authority: Pebble, Let's Encrypt's ACME test
//! server (Debian's `pebble`), run as the lab's own child on the bridge
//! address. It validates HTTP-01 on droplets' port 80 and DNS-01 through
//! the lab's DNS server, so a droplet gets a certificate the way a real one
//! gets Let's Encrypt's.
//!
//! Pebble ships no certificate for its own listener: the lab makes one
//! (`listener-ca.pem` signs it; ACME clients trust that file to reach the
//! directory). Pebble makes a new issuing root at every start; the lab saves
//! it as `root.pem` (what verifies the certificates Pebble issued since).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Pebble's ACME port on the bridge.
pub const PORT: u16 = 14000;
/// Pebble's management port (its roots) on the bridge.
pub const MANAGEMENT_PORT: u16 = 15000;
/// How long Pebble's certificates are valid: Let's Encrypt's 90 days.
pub const VALIDITY_SECONDS: u64 = 90 * 24 * 3600;

/// A started Pebble and the files clients need.
pub struct Ca {
    pub child: Child,
    /// `https://<bridge>:14000/dir`.
    pub directory: String,
    /// The PEM an ACME client trusts to reach the directory.
    pub listener_ca: PathBuf,
    /// The PEM of Pebble's issuing root: verifies the lab's certificates.
    pub root: PathBuf,
}

/// Makes the listener's certificate (once), starts Pebble in the
/// foreground as a child, waits for its directory and saves its root.
pub fn start(dir: &Path, address: Ipv4Addr, dns: std::net::SocketAddr) -> anyhow::Result<Ca> {
    std::fs::create_dir_all(dir)?;
    let listener_ca = dir.join("listener-ca.pem");
    let cert = dir.join("listener.pem");
    let key = dir.join("listener.key");
    if !cert.exists() || !listener_ca.exists() || !key.exists() || !names_address(&cert, address) {
        make_listener_certificate(dir, address)?;
    }
    let config = dir.join("pebble.json");
    let text = serde_json::json!({"pebble": {
        "listenAddress": format!("{address}:{PORT}"),
        "managementListenAddress": format!("{address}:{MANAGEMENT_PORT}"),
        "certificate": cert,
        "privateKey": key,
        "httpPort": 80,
        "tlsPort": 443,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
        "certificateValidityPeriod": VALIDITY_SECONDS,
    }});
    std::fs::write(&config, serde_json::to_vec_pretty(&text)?)?;
    let log_path = dir.join("pebble.log");
    let log = std::fs::File::create(&log_path)?;
    let mut child = Command::new("pebble")
        .arg("-config")
        .arg(&config)
        .arg("-dnsserver")
        .arg(dns.to_string())
        // No artificial delays before validation, no random "bad nonce"
        // rejections, and every order validated afresh (no reuse of an
        // earlier authorization): the lab is for tests that must not flake.
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .env("PEBBLE_AUTHZREUSE", "0")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting pebble (is the pebble package installed?)")?;
    let directory = format!("https://{address}:{PORT}/dir");
    let root = dir.join("root.pem");
    let _ = std::fs::remove_file(&root);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait()? {
            let out = std::fs::read_to_string(&log_path).unwrap_or_default();
            bail!("pebble exited at start ({status}): {}", out.trim());
        }
        // The root as the management interface serves it (and with it, a
        // directory that answers: both listeners start together).
        if let Ok(pem) = fetch(
            &listener_ca,
            &format!("https://{address}:{MANAGEMENT_PORT}/roots/0"),
        ) && pem.contains("BEGIN CERTIFICATE")
            && fetch(&listener_ca, &directory).is_ok_and(|d| d.contains("newOrder"))
        {
            std::fs::write(&root, pem)?;
            return Ok(Ca {
                child,
                directory,
                listener_ca,
                root,
            });
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "pebble did not serve {directory} within 15 s; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET over HTTPS trusting only `ca`, with curl (the lab's one HTTPS client).
fn fetch(ca: &Path, url: &str) -> anyhow::Result<String> {
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "2", "--cacert"])
        .arg(ca)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .context("running curl")?;
    if !out.status.success() {
        bail!("{url}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// True when the listener certificate names `address` (a lab whose subnet
/// moved needs a new one).
fn names_address(cert: &Path, address: Ipv4Addr) -> bool {
    Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(cert)
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout).contains(&format!("IP Address:{address}"))
        })
}

/// A small CA (`listener-ca.pem`) and the listener's certificate for the
/// bridge address, signed by it, with openssl.
fn make_listener_certificate(dir: &Path, address: Ipv4Addr) -> anyhow::Result<()> {
    let run = |args: &[&str]| -> anyhow::Result<()> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .context("running openssl (is the openssl package installed?)")?;
        if !out.status.success() {
            bail!(
                "openssl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    };
    let san = format!("subjectAltName=IP:{address}");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "listener-ca.key",
        "-out",
        "listener-ca.pem",
        "-days",
        "3650",
        "-subj",
        "/CN=Pond lab ACME listener CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ])?;
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "listener.key",
        "-out",
        "listener.csr",
        "-subj",
        "/CN=Pond lab ACME",
    ])?;
    std::fs::write(
        dir.join("listener.ext"),
        format!("{san}\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )?;
    run(&[
        "x509",
        "-req",
        "-in",
        "listener.csr",
        "-CA",
        "listener-ca.pem",
        "-CAkey",
        "listener-ca.key",
        "-CAcreateserial",
        "-out",
        "listener.pem",
        "-days",
        "3650",
        "-extfile",
        "listener.ext",
    ])?;
    Ok(())
}
