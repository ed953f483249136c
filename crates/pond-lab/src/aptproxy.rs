//! The lab's apt proxy: apt-cacher-ng run as the lab's own child process,
//! with a minimal config (no mirror remapping), listening only on the lab
//! bridge address, so droplets install packages from the host's mirror and
//! repeated installs come from its cache.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::net::LabNet;

/// Port of the proxy on the lab bridge.
pub const PORT: u16 = 3142;

/// Starts apt-cacher-ng in the foreground as a child and waits until it
/// accepts connections on the bridge address.
pub fn start(dir: &Path, net: &LabNet) -> anyhow::Result<Child> {
    let conf = dir.join("conf");
    let cache = dir.join("cache");
    let logs = dir.join("log");
    for d in [&conf, &cache, &logs] {
        std::fs::create_dir_all(d)?;
    }
    let addr = net.host_address();
    std::fs::write(
        conf.join("acng.conf"),
        format!(
            "CacheDir: {}\nLogDir: {}\nPort: {PORT}\nBindAddress: {addr}\nForeGround: 1\n\
             ReportPage: acng-report.html\nExThreshold: 4\n",
            cache.display(),
            logs.display()
        ),
    )?;
    let log = std::fs::File::create(logs.join("stdout.log"))?;
    let mut child = Command::new("apt-cacher-ng")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting apt-cacher-ng (is the apt-cacher-ng package installed?)")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            let out = std::fs::read_to_string(logs.join("stdout.log")).unwrap_or_default();
            bail!("apt-cacher-ng exited at start ({status}): {}", out.trim());
        }
        if std::net::TcpStream::connect_timeout(&(addr, PORT).into(), Duration::from_millis(100))
            .is_ok()
        {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    bail!("apt-cacher-ng did not listen on {addr}:{PORT} within 10 s")
}
