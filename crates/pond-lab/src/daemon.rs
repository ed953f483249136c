//! The lab's long-running process (`pond lab serve`, started in the
//! background by `pond lab up`): builds or reuses the base, sets up the
//! bridge, the apt proxy, the ACME CA and the DNS server, boots recorded droplets,
//! serves the API, and on TERM/INT stops everything it started, by PID,
//! keeping the records.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::net::LabNet;
use super::runtime::Lab;
use super::{acme, aptproxy, base, cache_dir, dns, lab_id, sys};

/// Persistent settings of a lab (`<dir>/lab.json`, 0600): its tokens and ports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabConfig {
    pub tokens: Vec<String>,
    pub port: u16,
    /// The DNS server's port on 127.0.0.1 (UDP and TCP; the API holds
    /// TCP `port`), claimed at the first start and kept.
    #[serde(default)]
    pub dns_port: u16,
    /// Third octet of the lab's subnet 198.18.<octet>.0/24, claimed at the
    /// first start and kept, so droplet addresses survive down/up.
    #[serde(default)]
    pub octet: u8,
}

/// Written when the API is ready (`<dir>/api.json`); removed on stop.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Running {
    pub pid: u32,
    pub url: String,
    pub token: String,
    /// The lab's DNS for the host (`127.0.0.1:PORT`, UDP and TCP): the
    /// API's domains and the name servers set with
    /// `/_lab/delegations/{zone}`. Droplets ask it on the bridge, port 53.
    #[serde(default)]
    pub dns: Option<String>,
    /// The lab process's start time (`sys::start_time`): a stale file
    /// after a crash or a host reboot never names another process.
    #[serde(default)]
    pub started: Option<u64>,
    /// The lab CA's ACME directory (Pebble on the bridge).
    #[serde(default)]
    pub acme_directory: Option<String>,
    /// The PEM an ACME client trusts to reach that directory.
    #[serde(default)]
    pub acme_ca: Option<String>,
    /// The PEM of the lab CA's issuing root: verifies the certificates it
    /// issued since the lab started.
    #[serde(default)]
    pub ca_root: Option<String>,
}

pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("lab.json")
}

pub fn running_path(dir: &Path) -> PathBuf {
    dir.join("api.json")
}

/// The running lab's API, if its process is alive (the same process that
/// wrote the file: same PID and start time).
pub fn running(dir: &Path) -> Option<Running> {
    let r: Running =
        serde_json::from_str(&std::fs::read_to_string(running_path(dir)).ok()?).ok()?;
    let same = match r.started {
        Some(started) => sys::start_time(r.pid) == Some(started),
        None => true, // written by an older lab: the PID alone
    };
    (sys::alive(r.pid) && same).then_some(r)
}

/// A new API token in DO's format.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("OS randomness");
    format!(
        "dop_v1_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::sys::write_private(path, bytes)?;
    Ok(())
}

/// Loads the lab's config, creating it with the given or generated token
/// and a free port on first use; `tokens`/`port` given later replace them.
pub fn load_or_create_config(
    dir: &Path,
    tokens: &[String],
    port: Option<u16>,
) -> anyhow::Result<LabConfig> {
    let path = config_path(dir);
    let mut config = match std::fs::read_to_string(&path) {
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?
        }
        Err(_) => LabConfig {
            tokens: vec![new_token()],
            port: 0,
            dns_port: 0,
            octet: 0,
        },
    };
    if !tokens.is_empty() {
        config.tokens = tokens.to_vec();
    }
    if let Some(p) = port {
        config.port = p;
    }
    if config.port == 0 {
        config.port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
    }
    if config.dns_port == 0 || config.dns_port == config.port {
        config.dns_port = free_udp_and_tcp_port(config.port)?;
    }
    write_private(&path, &serde_json::to_vec_pretty(&config)?)?;
    Ok(config)
}

/// A loopback port free for both TCP and UDP, other than `not`.
fn free_udp_and_tcp_port(not: u16) -> anyhow::Result<u16> {
    for _ in 0..20 {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = tcp.local_addr()?.port();
        if port != not && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("found no loopback port free for both TCP and UDP for the lab's DNS")
}

/// Runs the lab in the foreground until TERM or INT.
pub fn serve(dir: &Path) -> anyhow::Result<()> {
    sys::require_root("the lab")?;
    let mut config = load_or_create_config(dir, &[], None)?;
    // Who is starting this lab, from the first moment (api.json comes
    // only when the API is ready): `lab down` during a base build or a
    // resume finds it here.
    sys::write_pid_file(&starting_path(dir), std::process::id())?;
    let result = serve_started(dir, &mut config);
    let _ = std::fs::remove_file(starting_path(dir));
    result
}

fn starting_path(dir: &Path) -> PathBuf {
    dir.join("lab.pid")
}

/// The PID of a lab process of `dir` that runs but may not answer yet.
fn starting(dir: &Path) -> Option<u32> {
    sys::read_pid_file(&starting_path(dir))
}

fn serve_started(dir: &Path, config: &mut LabConfig) -> anyhow::Result<()> {
    // Claim the network first: the bridge makes the subnet visible to any
    // other lab starting at the same time.
    let net = LabNet::claim(&lab_id(dir), (config.octet != 0).then_some(config.octet))?;
    if config.octet != net.octet {
        config.octet = net.octet;
        write_private(&config_path(dir), &serde_json::to_vec_pretty(&config)?)?;
    }
    let cache = cache_dir(dir);
    let default = base::image(base::DEFAULT_IMAGE).expect("the default image is listed");
    base::ensure_base(&cache, default, &|m| eprintln!("{m}"))?;
    let mut proxy = aptproxy::start(&dir.join("aptproxy"), &net)?;
    eprintln!(
        "apt proxy (apt-cacher-ng, pid {}) on {}:{}",
        proxy.id(),
        net.host_address(),
        aptproxy::PORT
    );

    // Disks of droplets deleted just before the last stop may be left over.
    if let Ok(entries) = std::fs::read_dir(dir.join("droplets")) {
        let trash: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(".trash-"))
            })
            .collect();
        std::thread::spawn(move || {
            trash
                .into_iter()
                .for_each(|t| drop(std::fs::remove_dir_all(t)))
        });
    }
    let droplet_dns = std::net::SocketAddr::from((net.host_address(), dns::DROPLET_PORT));
    let mut ca = match acme::start(&dir.join("acme"), net.host_address(), droplet_dns) {
        Ok(ca) => ca,
        Err(e) => {
            let _ = proxy.kill();
            let _ = proxy.wait();
            let _ = net.remove_bridge();
            return Err(e.context("starting the lab's ACME CA"));
        }
    };
    eprintln!(
        "ACME CA (pebble, pid {}) at {}",
        ca.child.id(),
        ca.directory
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run_api(dir, config.clone(), net.clone(), cache, &ca));

    let _ = ca.child.kill();
    let _ = ca.child.wait();
    let _ = proxy.kill();
    let _ = proxy.wait();
    let _ = std::fs::remove_file(running_path(dir));
    if let Err(e) = net.remove_bridge() {
        eprintln!("lab: removing the bridge: {e:#}");
    }
    eprintln!("lab stopped");
    result
}

async fn run_api(
    dir: &Path,
    config: LabConfig,
    net: LabNet,
    cache: PathBuf,
    ca: &acme::Ca,
) -> anyhow::Result<()> {
    let lab = Arc::new(Lab::new(
        dir.to_path_buf(),
        net,
        cache,
        config.tokens.clone(),
    )?);
    let result = serve_until_signal(dir, &config, &lab, ca).await;
    // Whatever happened, stop every droplet this process booted.
    lab.shut_down_all().await;
    result
}

async fn serve_until_signal(
    dir: &Path,
    config: &LabConfig,
    lab: &Arc<Lab>,
    ca: &acme::Ca,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
        .await
        .with_context(|| {
            format!(
                "port {} on 127.0.0.1 is taken; start the lab with --port",
                config.port
            )
        })?;
    let url = format!("http://127.0.0.1:{}", config.port);
    let _ = lab.base_url.set(url.clone());
    let _ = lab.acme.set(super::issuer::Endpoint {
        directory: ca.directory.clone(),
        listener_ca: ca.listener_ca.clone(),
    });
    let host_dns = std::net::SocketAddr::from(([127, 0, 0, 1], config.dns_port));
    let droplet_dns = std::net::SocketAddr::from((lab.net.host_address(), dns::DROPLET_PORT));
    // Kept until the API stops: dropping it stops the DNS server.
    let _dns = dns::serve(Arc::clone(lab), &[host_dns, droplet_dns])
        .await
        .context(
            "starting the lab's DNS server (loopback for the host, the bridge for droplets)",
        )?;
    eprintln!("DNS on {host_dns} (host) and {droplet_dns} (droplets)");

    let count = lab.state.lock().await.droplets.len();
    if count > 0 {
        eprintln!("booting {count} recorded droplet(s)");
    }
    lab.resume_droplets().await?;
    let lb_ids: Vec<String> = lab
        .state
        .lock()
        .await
        .load_balancers
        .iter()
        .map(|l| l.id.clone())
        .collect();
    for id in lb_ids {
        lab.start_load_balancer(&id).await?;
    }

    let ready = Running {
        pid: std::process::id(),
        url: format!("{url}/v2"),
        token: config.tokens[0].clone(),
        dns: Some(host_dns.to_string()),
        started: sys::start_time(std::process::id()),
        acme_directory: Some(ca.directory.clone()),
        acme_ca: Some(ca.listener_ca.display().to_string()),
        ca_root: Some(ca.root.display().to_string()),
    };
    write_private(&running_path(dir), &serde_json::to_vec_pretty(&ready)?)?;
    eprintln!("lab API ready at {url}/v2 (pid {})", std::process::id());

    let app = super::api::app(Arc::clone(lab));
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        eprintln!("stopping the lab");
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// The network of an existing lab, as its config recorded it.
pub fn net_of(dir: &Path) -> LabNet {
    let octet = std::fs::read_to_string(config_path(dir))
        .ok()
        .and_then(|t| serde_json::from_str::<LabConfig>(&t).ok())
        .map(|c| c.octet)
        .filter(|o| *o != 0);
    match octet {
        Some(o) => LabNet::with_octet(&lab_id(dir), o),
        None => LabNet::new(&lab_id(dir)),
    }
}

/// Stops droplets of a lab whose process died (crash, kill -9): shuts down
/// every machine recorded in its state and removes its network.
pub fn clean_up_after_crash(dir: &Path) -> anyhow::Result<()> {
    let state: super::api::state::LabState = match std::fs::read_to_string(dir.join("state.json")) {
        Ok(text) => serde_json::from_str(&text)?,
        Err(_) => Default::default(),
    };
    let net = net_of(dir);
    let cache = cache_dir(dir);
    for d in &state.droplets {
        super::runtime::machine_of(dir, &cache, &net, d).shut_down()?;
    }
    // The apt proxy and the CA were the dead lab's children and outlive
    // it; each is the one process of its kind whose command line names
    // this lab's directory.
    let conf = dir.join("aptproxy/conf").to_string_lossy().to_string();
    let pebble = dir.join("acme/pebble.json").to_string_lossy().to_string();
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.flatten() {
            let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if (cmdline.starts_with("apt-cacher-ng") && cmdline.contains(&conf))
                || (cmdline.starts_with("pebble ") && cmdline.contains(&pebble))
            {
                sys::signal(pid, nix::sys::signal::Signal::SIGTERM);
            }
        }
    }
    net.remove_bridge()?;
    let _ = std::fs::remove_file(running_path(dir));
    Ok(())
}

/// Stops a running lab (TERM to its PID, then waits), or cleans up after a
/// dead one.
pub fn stop(dir: &Path) -> anyhow::Result<bool> {
    match running(dir) {
        Some(r) => {
            sys::signal(r.pid, nix::sys::signal::Signal::SIGTERM);
            if !sys::wait_gone(r.pid, std::time::Duration::from_secs(120)) {
                bail!(
                    "the lab (pid {}) did not stop within 120 s; see {}",
                    r.pid,
                    dir.join("lab.log").display()
                );
            }
            Ok(true)
        }
        None => {
            // Still starting (building a base, booting droplets): stop its
            // whole process group (debootstrap, nspawn), then clean up.
            if let Some(pid) = starting(dir) {
                let group = nix::unistd::Pid::from_raw(pid as i32);
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
                sys::signal(pid, nix::sys::signal::Signal::SIGTERM);
                if !sys::wait_gone(pid, std::time::Duration::from_secs(60)) {
                    bail!("the starting lab (pid {pid}) did not stop within 60 s");
                }
                let _ = std::fs::remove_file(starting_path(dir));
            }
            clean_up_after_crash(dir)?;
            Ok(false)
        }
    }
}
