//! `pond lab ...`: start, inspect, stop and remove the offline lab.
//!
//! `up` prints only the `export` lines (API URL, token, DNS) on stdout (so
//! `eval "$(pond lab up)"` works); progress and notes go to stderr.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use pond_lab::{self as lab, daemon, sys};

use super::CliResult;

#[derive(clap::Args)]
pub struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(clap::Subcommand)]
enum LabCommand {
    /// Start the lab in the background (API, apt proxy, recorded droplets)
    /// and print the environment for using it.
    Up {
        #[command(flatten)]
        dir: DirArg,
        /// Port of the API on 127.0.0.1 (default: a free one, kept for this lab).
        #[arg(long)]
        port: Option<u16>,
        /// An API token the lab accepts (repeat for several; default: generated once).
        #[arg(long = "token")]
        tokens: Vec<String>,
    },
    /// Show whether the lab runs, its API URL and DNS, the images it boots,
    /// and its droplets.
    Status {
        #[command(flatten)]
        dir: DirArg,
        /// Print the status as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Stop the lab and its droplets; their disks and records are kept.
    Down {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Stop the lab and delete everything it made (droplets, records, cache).
    Destroy {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Run the lab in the foreground (what `up` starts in the background).
    #[command(hide = true)]
    Serve {
        #[command(flatten)]
        dir: DirArg,
    },
}

#[derive(clap::Args)]
struct DirArg {
    /// The lab's directory.
    #[arg(long, default_value = lab::DEFAULT_DIR)]
    dir: PathBuf,
}

pub fn run(args: LabArgs) -> CliResult {
    dispatch(args).map_err(Into::into)
}

fn dispatch(args: LabArgs) -> anyhow::Result<()> {
    match args.command {
        LabCommand::Up { dir, port, tokens } => up(&dir.dir, port, &tokens),
        LabCommand::Status { dir, json } => status(&dir.dir, json),
        LabCommand::Down { dir } => {
            sys::require_root("pond lab down")?;
            let was_running = daemon::stop(&dir.dir)?;
            eprintln!(
                "{}",
                if was_running {
                    "The lab is stopped; `pond lab up` starts it again with the same droplets."
                } else {
                    "The lab was not running; cleaned up what it left."
                }
            );
            Ok(())
        }
        LabCommand::Destroy { dir } => destroy(&dir.dir),
        LabCommand::Serve { dir } => {
            std::fs::create_dir_all(&dir.dir)?;
            daemon::serve(&absolute(&dir.dir)?)
        }
    }
}

fn absolute(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))
}

fn print_exports(r: &daemon::Running) {
    println!("export POND_LAB_API_URL={}", r.url);
    println!("export POND_LAB_TOKEN={}", r.token);
    if let Some(dns) = &r.dns {
        println!("export POND_DNS_RESOLVER={dns}");
    }
    if let (Some(directory), Some(ca)) = (&r.acme_directory, &r.acme_ca) {
        println!("export POND_ACME_DIRECTORY={directory}");
        let ca = pond::plan::quote::quote(ca).unwrap_or_else(|_| ca.clone());
        println!("export POND_ACME_CA={ca}");
    }
}

/// Sends `GET /v2/account` with the token; true on a 200.
fn api_answers(r: &daemon::Running) -> bool {
    let Some(hostport) = r
        .url
        .strip_prefix("http://")
        .and_then(|u| u.split('/').next())
    else {
        return false;
    };
    let Ok(mut stream) = std::net::TcpStream::connect(hostport) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!(
        "GET /v2/account HTTP/1.1\r\nHost: {hostport}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        r.token
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

fn up(dir: &Path, port: Option<u16>, tokens: &[String]) -> anyhow::Result<()> {
    sys::require_root("pond lab up")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = absolute(dir)?;
    if let Some(r) = daemon::running(&dir) {
        if (port.is_some() || !tokens.is_empty()) && !tokens.iter().any(|t| t == &r.token) {
            eprintln!("The lab is already up; --port/--token apply the next time it starts.");
        }
        if api_answers(&r) {
            eprintln!("The lab is up (pid {}).", r.pid);
            print_exports(&r);
            return Ok(());
        }
        bail!(
            "the lab process {} runs but its API does not answer; run `pond lab down` and try again",
            r.pid
        );
    }
    daemon::load_or_create_config(&dir, tokens, port)?;
    let log_path = dir.join("lab.log");
    let log = std::fs::File::create(&log_path)?;
    let exe = std::env::current_exe().context("finding the pond executable")?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(exe)
            .args(["lab", "serve", "--dir"])
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0) // not stopped by the terminal's Ctrl-C
            .spawn()
            .context("starting the lab process")?
    };
    eprintln!(
        "Starting the lab in {} (log: {})",
        dir.display(),
        log_path.display()
    );
    let started = Instant::now();
    let mut shown = 0usize;
    loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        for line in text[shown.min(text.len())..].lines() {
            eprintln!("  {line}");
        }
        shown = text.len();
        if let Some(status) = child.try_wait()? {
            bail!(
                "the lab stopped while starting ({status}); its log is above and in {}",
                log_path.display()
            );
        }
        if let Some(r) = daemon::running(&dir)
            && api_answers(&r)
        {
            eprintln!(
                "The lab is up after {:.1} s. Use it with: eval \"$(pond lab up)\"",
                started.elapsed().as_secs_f64()
            );
            print_exports(&r);
            // The lab keeps running after we exit; it is reaped by init.
            std::mem::forget(child);
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(600) {
            sys::signal(child.id(), nix::sys::signal::Signal::SIGTERM);
            bail!(
                "the lab did not become ready within 600 s; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn status(dir: &Path, json: bool) -> anyhow::Result<()> {
    let running = daemon::running(dir);
    let state: lab::api::state::LabState = std::fs::read_to_string(dir.join("state.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let net = daemon::net_of(&absolute(dir).unwrap_or(dir.to_path_buf()));
    let droplet_dns = format!("{}:{}", net.host_address(), lab::dns::DROPLET_PORT);
    if json {
        let droplets: Vec<_> = state
            .droplets
            .iter()
            .map(|d| {
                serde_json::json!({
                    "id": d.id,
                    "name": d.name,
                    "image": d.image,
                    "status": d.status,
                    "address": net.droplet_address(d.slot).to_string(),
                    "tags": d.tags,
                })
            })
            .collect();
        // The slugs the lab boots, as its `/v2/images` lists them.
        let images: Vec<_> = lab::api::catalog::images()
            .into_iter()
            .filter_map(|i| i["slug"].as_str().map(str::to_string))
            .collect();
        let out = serde_json::json!({
            "dir": dir.display().to_string(),
            "running": running.is_some(),
            "pid": running.as_ref().map(|r| r.pid),
            "api_url": running.as_ref().map(|r| r.url.clone()),
            "dns": running.as_ref().and_then(|r| r.dns.clone()),
            "droplet_dns": running.as_ref().map(|_| droplet_dns),
            "acme_directory": running.as_ref().and_then(|r| r.acme_directory.clone()),
            "acme_ca": running.as_ref().and_then(|r| r.acme_ca.clone()),
            "ca_root": running.as_ref().and_then(|r| r.ca_root.clone()),
            "images": images,
            "droplets": droplets,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    match &running {
        Some(r) => {
            println!("Lab: up (pid {}), API {}", r.pid, r.url);
            if let Some(dns) = &r.dns {
                println!("DNS: {dns} (host), {droplet_dns} (droplets)");
            }
            if let (Some(directory), Some(root)) = (&r.acme_directory, &r.ca_root) {
                println!("ACME CA: {directory} (certificates verify with {root})");
            }
        }
        None => println!("Lab: down ({}); start it with `pond lab up`", dir.display()),
    }
    if state.droplets.is_empty() {
        println!("No droplets.");
    }
    for d in &state.droplets {
        println!(
            "  {:<12} {:<24} {:<7} {:<15} {}",
            d.id,
            d.name,
            d.status,
            net.droplet_address(d.slot),
            d.tags.join(",")
        );
    }
    Ok(())
}

fn destroy(dir: &Path) -> anyhow::Result<()> {
    sys::require_root("pond lab destroy")?;
    if !dir.exists() {
        eprintln!("Nothing to destroy: {} does not exist.", dir.display());
        return Ok(());
    }
    let dir = absolute(dir)?;
    if !dir.join("lab.json").exists() {
        bail!(
            "{} does not look like a lab directory (no lab.json); refusing to delete it",
            dir.display()
        );
    }
    daemon::stop(&dir)?;
    let leftovers = lab::machine::mounts_under(&dir);
    if !leftovers.is_empty() {
        bail!(
            "mounts remain under {}: {}",
            dir.display(),
            leftovers.join(", ")
        );
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("deleting {}", dir.display()))?;
    eprintln!("Deleted the lab in {}.", dir.display());
    Ok(())
}
