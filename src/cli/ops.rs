//! The environment commands: `key`, `attach`, `provision`, `deploy`,
//! `preview`, `swap`, `rollback`, `status`, `logs`, `unbind`. Each loads
//! pond.json, connects to the environment's servers (pinning host keys on
//! first use and saving them), calls one engine task, and prints progress
//! as plain `[server] line` lines on stderr; results go to stdout.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use pond::config::{
    self, Database, Droplet, DropletRole, Environment, EnvironmentKind, ProjectFile, Stack, grammar,
};
use pond::ssh::{self, Identity, Sink, Stream};
use pond::tasks::{self, Connected, deploy, operate, provision};

/// `--project DIR` shared by every environment command.
#[derive(clap::Args, Clone)]
pub struct ProjectArg {
    /// The project directory (holding pond.json).
    #[arg(long, default_value = ".", global = true)]
    project: PathBuf,
}

#[derive(clap::Subcommand)]
pub enum Ops {
    /// Print your SSH public key (generating the key pair if absent).
    Key {
        /// Print only the public key line.
        #[arg(long)]
        public: bool,
    },
    /// Create a new server on DigitalOcean (or the lab) for a new environment: droplet, SSH, provisioning, DNS, first deploy.
    Create {
        env: String,
        /// Name of the DigitalOcean account (recorded in pond.json; never the token).
        #[arg(long)]
        account: String,
        /// The environment's domain.
        #[arg(long)]
        domain: String,
        #[arg(long, default_value = "ams3")]
        region: String,
        #[arg(long, default_value = "s-1vcpu-1gb")]
        size: String,
        #[arg(long, default_value = "ubuntu-24-04-x64")]
        image: String,
        /// Database: same (MariaDB on the droplet) or none.
        #[arg(long, default_value = "same")]
        db: String,
        /// Build tag of the first deploy.
        #[arg(long, default_value = "first")]
        tag: String,
        /// Seconds to wait for the droplet to become active before deleting it.
        #[arg(long, default_value_t = 300)]
        active_timeout: u64,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Bind an existing server (any droplet or VPS reachable with your key) to a new environment, pinning its host key.
    Attach {
        env: String,
        /// The server's IPv4 address.
        #[arg(long)]
        host: String,
        /// The environment's domain.
        #[arg(long)]
        domain: String,
        /// SSH user on the server.
        #[arg(long, default_value = "root")]
        user: String,
        /// Database on the server: same (MariaDB on it) or none.
        #[arg(long, default_value = "same")]
        db: String,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Set up the environment's servers: packages, web stack, database, layout, vhosts, hooks.
    Provision {
        env: String,
        /// Print the scripts without running them.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Deploy the project to the inactive colour of an environment.
    Deploy {
        env: String,
        /// Build tag recorded with the release (default: git short hash, or "manual").
        #[arg(long)]
        tag: Option<String>,
        /// Show what would be sent, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// End a stuck deploy that holds the lock, then deploy.
        #[arg(long)]
        break_lock: bool,
        /// Load this SQL dump (mysqldump/mariadb-dump output) into the environment's database.
        #[arg(long, value_name = "FILE")]
        db_dump: Option<PathBuf>,
        /// Copy this directory's files into the first shared path (e.g. storage).
        #[arg(long, value_name = "DIR")]
        attachments: Option<PathBuf>,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Print the secret preview URL of the inactive colour, and check its health.
    Preview {
        env: String,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Make the inactive colour live (after a health check).
    Swap {
        env: String,
        /// Swap even if the health check fails (logged on the server).
        #[arg(long)]
        force: bool,
        /// Show which colour would go live and its health; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Make the previous colour live again, at once; or, with --to, an older release kept on the servers.
    Rollback {
        env: String,
        /// A release id from `pond releases` to make live (health-checked first).
        #[arg(long)]
        to: Option<String>,
        /// With --to: swap even if the release is not healthy.
        #[arg(long)]
        force: bool,
        /// Show which colour would go live; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// List the releases kept on the servers: id, tag, time, user, and which colour runs it.
    Releases {
        env: String,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Show servers, live colour, build tag per colour, last deploy, services, disk.
    Status {
        /// Only this environment.
        env: Option<String>,
        /// Print the status as JSON on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Show the deploy log and the error logs of an environment's servers.
    Logs {
        env: String,
        /// Lines of each log.
        #[arg(long, default_value_t = 50)]
        lines: u32,
        /// Keep following the logs (Ctrl-C to stop).
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Accept a server's new SSH host key on purpose (after a rebuild), replacing the pinned one.
    Repin {
        env: String,
        /// The droplet name (as in pond.json).
        droplet: String,
        /// The new fingerprint you verified out of band (e.g. on the provider's console); required without a terminal.
        #[arg(long)]
        expect: Option<String>,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Forget an environment's servers in pond.json (never deletes a droplet).
    Unbind {
        env: String,
        /// Also remove Pond's layout and vhosts from the servers.
        #[arg(long)]
        purge: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Show what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        project: ProjectArg,
    },
}

struct Project {
    path: PathBuf,
    root: PathBuf,
    file: ProjectFile,
}

fn load_project(arg: &ProjectArg) -> Result<Project, super::Failure> {
    let path = config::resolve_path(&arg.project);
    if !path.exists() {
        return Err(anyhow::anyhow!(
            "there is no {} here; create one with `pond init`, or pass --project DIR",
            path.display()
        )
        .into());
    }
    let file = config::load(&path)?;
    let root = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(Project { path, root, file })
}

/// The user's key: `$POND_SSH_KEY` (an existing OpenSSH key file, or
/// `agent` for the ssh-agent's key) if set, else Pond's own key, generated
/// on first use.
fn identity() -> anyhow::Result<Identity> {
    match std::env::var_os("POND_SSH_KEY") {
        Some(v) if v == "agent" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            return rt.block_on(ssh::key::from_agent());
        }
        Some(path) => return ssh::key::load(Path::new(&path)),
        None => {}
    }
    let path = ssh::key::default_key_path()?;
    let (identity, created) = ssh::key::load_or_generate(&path)?;
    if created {
        eprintln!(
            "Generated your SSH key {} ({})",
            path.display(),
            identity.fingerprint()
        );
    }
    Ok(identity)
}

/// Progress on stderr: on a terminal, one live spinner line per server
/// showing its latest output, with steps and errors printed above; else
/// plain `[server] line` lines (logs, CI).
fn sink() -> Sink {
    if !std::io::stderr().is_terminal() {
        return Arc::new(|host: &str, stream: Stream, line: &str| {
            let mut err = std::io::stderr().lock();
            let _ = match stream {
                Stream::Step => writeln!(err, "[{host}] == {line}"),
                Stream::Stdout | Stream::Stderr => writeln!(err, "[{host}] {line}"),
            };
        });
    }
    let multi = indicatif::MultiProgress::new();
    let bars = Spinners(Default::default());
    let style = indicatif::ProgressStyle::with_template("{spinner} [{prefix}] {wide_msg}")
        .expect("valid template");
    Arc::new(move |host: &str, stream: Stream, line: &str| {
        let mut bars = bars.0.lock().expect("progress lock");
        let bar = bars.entry(host.to_string()).or_insert_with(|| {
            let bar = multi.add(indicatif::ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.set_prefix(host.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        match stream {
            Stream::Step => {
                let _ = multi.println(format!("[{host}] == {line}"));
                bar.set_message(line.to_string());
            }
            Stream::Stderr => {
                let _ = multi.println(format!("[{host}] {line}"));
            }
            Stream::Stdout => bar.set_message(line.to_string()),
        }
    })
}

/// Clears the spinners when the progress sink goes away.
struct Spinners(std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>);

impl Drop for Spinners {
    fn drop(&mut self) {
        if let Ok(bars) = self.0.lock() {
            for bar in bars.values() {
                bar.finish_and_clear();
            }
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Connects to an environment's servers and saves first-use host keys.
async fn connect(
    project: &mut Project,
    env_index: usize,
    identity: &Identity,
    sink: &Sink,
) -> anyhow::Result<Vec<Connected>> {
    let servers = tasks::servers(&project.file.environments[env_index], env_index)?;
    let connected = tasks::connect_all(&servers, identity, sink).await?;
    if tasks::record_pins(&mut project.file, env_index, &connected) {
        config::save(&project.path, &project.file)
            .with_context(|| format!("saving {}", project.path.display()))?;
        eprintln!(
            "Pinned new host keys in {} (commit it so your team shares them).",
            project.path.display()
        );
    }
    Ok(connected)
}

fn env_index(project: &Project, name: &str) -> anyhow::Result<usize> {
    Ok(tasks::find_env(&project.file, name)?.0)
}

pub fn run(op: Ops) -> super::CliResult {
    match op {
        Ops::Key { public } => {
            let id = identity()?;
            if public {
                println!("{}", id.public_line());
            } else {
                println!("key:         {}", id.path.display());
                println!("fingerprint: {}", id.fingerprint());
                println!("public key:  {}", id.public_line());
            }
            Ok(())
        }
        Ops::Create {
            env,
            account,
            domain,
            region,
            size,
            image,
            db,
            tag,
            active_timeout,
            project,
        } => create(
            &project,
            CreateArgs {
                env,
                account,
                domain,
                region,
                size,
                image,
                db,
                tag,
                active_timeout,
            },
        ),
        Ops::Attach {
            env,
            host,
            domain,
            user,
            db,
            project,
        } => attach(&project, &env, &host, &domain, &user, &db),
        Ops::Provision {
            env,
            dry_run,
            project,
        } => {
            let mut p = load_project(&project)?;
            let i = env_index(&p, &env)?;
            let e = p.file.environments[i].clone();
            if dry_run {
                for role in [DropletRole::Web, DropletRole::Database] {
                    if e.droplets.iter().any(|d| d.role == role) {
                        for (what, script) in provision::plan(&p.file, &e, role, &p.root)? {
                            println!("# ---- {what} ({role:?} servers)\n{script}");
                        }
                    }
                }
                return Ok(());
            }
            let id = identity()?;
            let s = sink();
            runtime()?.block_on(async {
                let connected = connect(&mut p, i, &id, &s).await?;
                provision::provision(&p.file, &e, &connected, &p.root, &s).await?;
                eprintln!("{} is provisioned. Next: pond deploy {}", e.name, e.name);
                anyhow::Ok(())
            })?;
            Ok(())
        }
        Ops::Deploy {
            env,
            tag,
            dry_run,
            break_lock,
            db_dump,
            attachments,
            project,
        } => {
            let mut p = load_project(&project)?;
            let i = env_index(&p, &env)?;
            let tag = tag.unwrap_or_else(|| default_tag(&p.root));
            let id = identity()?;
            let s = sink();
            let options = deploy::DeployOptions {
                tag,
                dry_run,
                break_lock,
            };
            let transfer = deploy::Transfer {
                db_dump,
                attachments,
            };
            for path in transfer.db_dump.iter().chain(&transfer.attachments) {
                if !path.exists() {
                    return Err(anyhow::anyhow!("{} does not exist", path.display()).into());
                }
            }
            let reports = runtime()?.block_on(async {
                let connected = connect(&mut p, i, &id, &s).await?;
                if !dry_run && (transfer.db_dump.is_some() || transfer.attachments.is_some()) {
                    deploy::transfer(&p.file, &env, &connected, &transfer, &s).await?;
                }
                deploy::deploy(&p.file, &p.root, &env, connected, &options, &s).await
            })?;
            let e = &p.file.environments[i];
            for r in &reports {
                let verb = if dry_run { "would send" } else { "sent" };
                println!(
                    "{}: {} {} files ({} bytes), deleted {}; release {} on {}",
                    r.server,
                    verb,
                    r.files_sent,
                    r.bytes_sent,
                    r.files_deleted,
                    r.release,
                    r.colour.as_str()
                );
            }
            if !dry_run && !reports.is_empty() {
                if reports[0].first {
                    println!(
                        "First deploy: both colours run it and blue is live at http://{}/",
                        e.domain
                    );
                } else {
                    println!(
                        "Preview: http://{}/   then: pond swap {}",
                        operate::preview_host(e, None),
                        e.name
                    );
                }
            }
            Ok(())
        }
        Ops::Preview { env, project } => {
            let mut p = load_project(&project)?;
            let i = env_index(&p, &env)?;
            let id = identity()?;
            let s = sink();
            let e = p.file.environments[i].clone();
            let health = runtime()?.block_on(async {
                let connected = connect(&mut p, i, &id, &s).await?;
                operate::health(&p.file, &e, &connected, &s).await
            })?;
            println!("http://{}/", operate::preview_host(&e, None));
            for h in health {
                if !h.healthy {
                    eprintln!(
                        "{}: HTTP {} — not healthy:\n{}",
                        h.server, h.status, h.details
                    );
                }
            }
            Ok(())
        }
        Ops::Swap {
            env,
            dry_run: true,
            project,
            ..
        } => preview_swap(&project, &env, true),
        Ops::Rollback {
            env,
            dry_run: true,
            project,
            ..
        } => preview_swap(&project, &env, false),
        Ops::Swap {
            env,
            force,
            project,
            ..
        } => swap(&project, &env, force, "swap"),
        Ops::Rollback {
            env,
            to: None,
            project,
            ..
        } => swap(&project, &env, true, "rollback"),
        Ops::Rollback {
            env,
            to: Some(release),
            force,
            project,
            ..
        } => {
            let mut p = load_project(&project)?;
            let i = env_index(&p, &env)?;
            let id = identity()?;
            let s = sink();
            let e = p.file.environments[i].clone();
            let live = runtime()?.block_on(async {
                let connected = connect(&mut p, i, &id, &s).await?;
                operate::point_inactive(&p.file, &e, &connected, &release, &s).await?;
                operate::swap(&p.file, &e, &connected, force, "rollback", &s).await
            })?;
            println!(
                "{} is live on {} with release {release}.",
                live.as_str(),
                e.name
            );
            Ok(())
        }
        Ops::Releases { env, project } => {
            let mut p = load_project(&project)?;
            let i = env_index(&p, &env)?;
            let id = identity()?;
            let e = p.file.environments[i].clone();
            let statuses = runtime()?.block_on(async {
                let connected = connect(&mut p, i, &id, &ssh::session::quiet()).await?;
                anyhow::Ok(operate::status(&p.file, &e, &connected).await)
            })?;
            for s in statuses {
                if let Some(err) = s.error {
                    println!("{}: unreachable — {err}", s.server);
                    continue;
                }
                println!("{}:", s.server);
                for release in s.releases_on_disk.iter().rev() {
                    let record = s.state.releases.iter().rev().find(|r| &r.id == release);
                    let colours: Vec<String> = s
                        .links
                        .iter()
                        .filter(|(_, target)| target.ends_with(release.as_str()))
                        .map(|(c, _)| {
                            let live = s.live.map(|l| l.as_str()) == Some(c.as_str());
                            if live {
                                format!("{c} (live)")
                            } else {
                                c.clone()
                            }
                        })
                        .collect();
                    println!(
                        "  {release}  tag {:<12} {} by {:<20} {}",
                        record.map(|r| r.tag.as_str()).unwrap_or("?"),
                        record.map(|r| r.at.as_str()).unwrap_or("?"),
                        record.map(|r| r.by.as_str()).unwrap_or("?"),
                        colours.join(", ")
                    );
                }
            }
            Ok(())
        }
        Ops::Repin {
            env,
            droplet,
            expect,
            project,
        } => repin(&project, &env, &droplet, expect.as_deref()),
        Ops::Status { env, json, project } => status(&project, env.as_deref(), json),
        Ops::Logs {
            env,
            lines,
            follow,
            project,
        } => {
            let mut p = load_project(&project)?;
            let i = env_index(&p, &env)?;
            let id = identity()?;
            let root = tasks::env_root(&p.file.name, &env);
            let script = tasks::render(
                "common/logs",
                &[
                    ("ROOT", &root),
                    ("PROJECT", &p.file.name),
                    ("ENV", &env),
                    ("LINES", &lines.to_string()),
                    ("FOLLOW", if follow { "yes" } else { "" }),
                ],
            )?;
            let printer: Sink =
                Arc::new(|host: &str, _s: Stream, line: &str| println!("[{host}] {line}"));
            runtime()?.block_on(async {
                let connected = connect(&mut p, i, &id, &sink()).await?;
                let runs = connected
                    .iter()
                    .map(|c| c.session.run(&script, None, &printer));
                for r in futures::future::join_all(runs).await {
                    r?;
                }
                anyhow::Ok(())
            })?;
            Ok(())
        }
        Ops::Unbind {
            env,
            purge,
            yes,
            dry_run,
            project,
        } => unbind(&project, &env, purge, yes, dry_run),
    }
}

fn default_tag(root: &Path) -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|t| pond::tasks::state::check_tag(t).is_ok())
        .unwrap_or_else(|| "manual".into())
}

fn new_secret_prefix() -> String {
    let mut bytes = [0u8; 14];
    getrandom::fill(&mut bytes).expect("OS randomness");
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn attach(
    arg: &ProjectArg,
    env: &str,
    host: &str,
    domain: &str,
    user: &str,
    db: &str,
) -> super::CliResult {
    let mut p = load_project(arg)?;
    let invalid = |what: &str, value: &str, e: String| {
        super::Failure::invalid(
            anyhow::anyhow!("{what} {} is not valid; {e}", config::show(value)),
            vec![],
        )
    };
    grammar::env_name(env).map_err(|e| invalid("environment name", env, e))?;
    grammar::ipv4(host).map_err(|e| invalid("--host", host, e))?;
    grammar::domain(domain).map_err(|e| invalid("--domain", domain, e))?;
    grammar::unix_user(user).map_err(|e| invalid("--user", user, e))?;
    if p.file.environments.iter().any(|e| e.name == env) {
        return Err(
            anyhow::anyhow!("environment {env:?} already exists in {}", p.path.display()).into(),
        );
    }
    let db_name = p.file.name.replace('-', "_");
    let database = match (db, p.file.stack) {
        ("none", _) | (_, Stack::Static) => Database::None,
        ("same", _) => Database::SameDroplet {
            name: db_name.clone(),
            user: db_name.chars().take(32).collect(),
        },
        (other, _) => {
            return Err(super::Failure::invalid(
                anyhow::anyhow!("--db {other:?}: expected same or none"),
                vec![],
            ));
        }
    };
    let droplet_name = format!("{}-{env}-1", p.file.name)
        .chars()
        .take(63)
        .collect::<String>();
    p.file.environments.push(Environment {
        name: env.to_string(),
        account: None,
        kind: EnvironmentKind::Single,
        region: None,
        size: None,
        image: None,
        domain: domain.to_string(),
        secret_prefix: new_secret_prefix(),
        health_path: None,
        database,
        droplets: vec![Droplet {
            name: droplet_name,
            id: None,
            role: DropletRole::Web,
            address: Some(host.to_string()),
            ssh_user: (user != "root").then(|| user.to_string()),
            private_address: None,
            host_key: None,
        }],
        load_balancer: None,
    });
    let problems = config::validate(&p.file, Some(&p.root));
    if !problems.is_empty() {
        return Err(super::Failure::invalid(
            anyhow::anyhow!("the new environment would not be valid"),
            problems,
        ));
    }
    let i = p.file.environments.len() - 1;
    let id = identity()?;
    let s = sink();
    runtime()?.block_on(async {
        let connected = connect(&mut p, i, &id, &s).await?;
        for c in connected {
            c.session
                .run_ok(
                    "checking the server",
                    "set -euo pipefail\nid -u >/dev/null\n",
                    &ssh::session::quiet(),
                )
                .await?;
        }
        anyhow::Ok(())
    })?;
    let e = &p.file.environments[i];
    println!(
        "Attached {host} as environment {env} of {}; host key pinned.",
        p.file.name
    );
    println!(
        "Preview hosts: {}.{domain}, {}-blue.{domain}, {}-green.{domain}",
        e.secret_prefix, e.secret_prefix, e.secret_prefix
    );
    println!("Next: pond provision {env}");
    Ok(())
}

/// `swap --dry-run` / `rollback --dry-run`: what would go live, and (for a
/// swap) whether its health check passes.
fn preview_swap(arg: &ProjectArg, env: &str, check_health: bool) -> super::CliResult {
    let mut p = load_project(arg)?;
    let i = env_index(&p, env)?;
    let id = identity()?;
    let s = sink();
    let e = p.file.environments[i].clone();
    runtime()?.block_on(async {
        let connected = connect(&mut p, i, &id, &s).await?;
        let root = tasks::env_root(&p.file.name, &e.name);
        let live = operate::live_colour(&root, &connected).await?;
        let statuses = operate::status(&p.file, &e, &connected).await;
        let next = live.other();
        for st in &statuses {
            let c = st.state.colours.get(&next);
            println!(
                "{}: would make {} live (release {}, tag {}); {} is live now",
                st.server,
                next.as_str(),
                c.map(|c| c.release.as_str()).unwrap_or("?"),
                c.map(|c| c.tag.as_str()).unwrap_or("?"),
                live.as_str()
            );
        }
        if check_health {
            for h in operate::health(&p.file, &e, &connected, &s).await? {
                let verdict = if h.healthy {
                    "healthy"
                } else {
                    "NOT healthy: the swap would be refused without --force"
                };
                println!(
                    "{}: {} via {} answers HTTP {} — {verdict}",
                    h.server,
                    next.as_str(),
                    h.host,
                    h.status
                );
            }
        }
        println!("Nothing was changed (dry run).");
        anyhow::Ok(())
    })?;
    Ok(())
}

struct CreateArgs {
    env: String,
    account: String,
    domain: String,
    region: String,
    size: String,
    image: String,
    db: String,
    tag: String,
    active_timeout: u64,
}

/// The API to talk to and its token: `POND_DO_TOKEN` (+ `POND_DO_API_URL`,
/// default DigitalOcean), else the lab's `POND_LAB_TOKEN`/`POND_LAB_API_URL`
/// (what `eval "$(pond lab up)"` sets).
fn do_client() -> anyhow::Result<pond::digitalocean::Client> {
    use pond::digitalocean::{Client, DEFAULT_API_URL, Token};
    if let Ok(token) = std::env::var("POND_DO_TOKEN") {
        let url = std::env::var("POND_DO_API_URL").unwrap_or_else(|_| DEFAULT_API_URL.to_string());
        return Client::new(&url, Token::new(token));
    }
    if let (Ok(token), Ok(url)) = (
        std::env::var("POND_LAB_TOKEN"),
        std::env::var("POND_LAB_API_URL"),
    ) {
        eprintln!("Using the lab at {url} (POND_LAB_API_URL).");
        return Client::new(&url, Token::new(token));
    }
    anyhow::bail!(
        "no DigitalOcean token: set POND_DO_TOKEN (keychain accounts come next), or start the lab with eval \"$(pond lab up)\""
    )
}

fn create(arg: &ProjectArg, a: CreateArgs) -> super::CliResult {
    let mut p = load_project(arg)?;
    let db_name = p.file.name.replace('-', "_");
    let database = match (a.db.as_str(), p.file.stack) {
        ("none", _) | (_, Stack::Static) => Database::None,
        ("same", _) => Database::SameDroplet {
            name: db_name.clone(),
            user: db_name.chars().take(32).collect(),
        },
        (other, _) => {
            return Err(super::Failure::invalid(
                anyhow::anyhow!("--db {other:?}: expected same or none"),
                vec![],
            ));
        }
    };
    let input = tasks::create::NewServer {
        account: a.account,
        env: a.env.clone(),
        region: a.region,
        size: a.size,
        image: a.image,
        domain: a.domain,
        secret_prefix: new_secret_prefix(),
        database,
        tag: a.tag,
        active_timeout: std::time::Duration::from_secs(a.active_timeout),
    };
    let client = do_client()?;
    let id = identity()?;
    let s = sink();
    let urls = runtime()?.block_on(tasks::create::new_server(
        &client,
        &mut p.file,
        &p.path,
        &p.root,
        &id,
        &input,
        &s,
    ))?;
    println!("Environment {} is live.", a.env);
    println!("  production: {}", urls.production);
    println!("  preview:    {}", urls.preview);
    println!("  blue:       {}", urls.blue);
    println!("  green:      {}", urls.green);
    Ok(())
}

fn swap(arg: &ProjectArg, env: &str, force: bool, op: &str) -> super::CliResult {
    let mut p = load_project(arg)?;
    let i = env_index(&p, env)?;
    let id = identity()?;
    let s = sink();
    let e = p.file.environments[i].clone();
    let live = runtime()?.block_on(async {
        let connected = connect(&mut p, i, &id, &s).await?;
        operate::swap(&p.file, &e, &connected, force, op, &s).await
    })?;
    println!(
        "{} is live on {} (http://{}/). Undo with: pond rollback {env}",
        live.as_str(),
        e.name,
        e.domain
    );
    Ok(())
}

fn repin(arg: &ProjectArg, env: &str, droplet: &str, expect: Option<&str>) -> super::CliResult {
    let mut p = load_project(arg)?;
    let i = env_index(&p, env)?;
    let servers = tasks::servers(&p.file.environments[i], i)?;
    let server = servers
        .into_iter()
        .find(|s| s.endpoint.name == droplet)
        .with_context(|| format!("environment {env} has no droplet {droplet:?}"))?;
    let id = identity()?;
    let presented = runtime()?.block_on(async {
        let session =
            ssh::Session::connect(&server.endpoint, &id, ssh::HostKeyCheck::FirstUse).await?;
        let key = session.host_key.clone();
        session.close().await;
        anyhow::Ok(key)
    })?;
    let pinned = server.pinned.clone().unwrap_or_else(|| "(none)".into());
    println!(
        "{droplet} ({}): pinned {pinned}, presents {presented}",
        server.endpoint.address
    );
    if pinned == presented {
        println!("Nothing to do: the key has not changed.");
        return Ok(());
    }
    match expect {
        Some(fp) if fp == presented => {}
        Some(fp) => {
            return Err(anyhow::anyhow!(
                "the server presents {presented}, not the {fp} you expected; not re-pinning"
            )
            .into());
        }
        None if std::io::stdin().is_terminal() => {
            eprint!("Type the new fingerprint's last 6 characters to accept it: ");
            let mut answer = String::new();
            std::io::stdin()
                .read_line(&mut answer)
                .context("reading the confirmation")?;
            if answer.trim().is_empty() || !presented.ends_with(answer.trim()) {
                return Err(anyhow::anyhow!("not confirmed; the pinned key stays").into());
            }
        }
        None => {
            return Err(super::Failure::usage(
                "re-pinning needs confirmation: pass --expect FINGERPRINT (stdin is not a terminal)",
            ));
        }
    }
    p.file.environments[i].droplets[server.index].host_key = Some(presented.clone());
    config::save(&p.path, &p.file).with_context(|| format!("saving {}", p.path.display()))?;
    println!(
        "Pinned {presented} for {droplet} in {}; commit it so your team trusts it too.",
        p.path.display()
    );
    Ok(())
}

fn status(arg: &ProjectArg, only: Option<&str>, json: bool) -> super::CliResult {
    let mut p = load_project(arg)?;
    let id = identity()?;
    let names: Vec<String> = match only {
        Some(n) => vec![tasks::find_env(&p.file, n)?.1.name.clone()],
        None => p.file.environments.iter().map(|e| e.name.clone()).collect(),
    };
    let quiet = ssh::session::quiet();
    let rt = runtime()?;
    let mut all = vec![];
    for name in names {
        let i = env_index(&p, &name)?;
        let e = p.file.environments[i].clone();
        let statuses = rt.block_on(async {
            match connect(&mut p, i, &id, &quiet).await {
                Ok(connected) => operate::status(&p.file, &e, &connected).await,
                Err(err) => e
                    .droplets
                    .iter()
                    .map(|d| operate::ServerStatus {
                        server: d.name.clone(),
                        error: Some(format!("{err:#}")),
                        ..Default::default()
                    })
                    .collect(),
            }
        });
        all.push((e, statuses));
    }
    if json {
        let out: Vec<_> = all.iter().map(|(e, s)| serde_json::json!({"environment": e.name, "domain": e.domain, "servers": s})).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&out).context("serializing")?
        );
        return Ok(());
    }
    for (e, statuses) in all {
        println!("{} ({})", e.name, e.domain);
        for s in statuses {
            if let Some(err) = &s.error {
                println!("  {}: unreachable — {err}", s.server);
                continue;
            }
            let live = s.live.map(|c| c.as_str()).unwrap_or("-");
            println!("  {}: live {live}", s.server);
            for (colour, c) in &s.state.colours {
                println!(
                    "    {:<5} {} (tag {}, {} by {})",
                    colour.as_str(),
                    c.release,
                    c.tag,
                    c.at,
                    c.by
                );
            }
            let services: Vec<String> = s
                .services
                .iter()
                .map(|(n, up)| format!("{n} {}", if *up { "running" } else { "stopped" }))
                .collect();
            println!("    services: {}", services.join(", "));
            if let Some(free) = s.disk_free {
                println!(
                    "    disk free: {:.1} GiB",
                    free as f64 / (1u64 << 30) as f64
                );
            }
            if let Some(last) = &s.last {
                println!(
                    "    last: {} {} by {}",
                    last["at"].as_str().unwrap_or("?"),
                    last["op"].as_str().unwrap_or("?"),
                    last["by"].as_str().unwrap_or("?")
                );
            }
        }
    }
    Ok(())
}

fn unbind(arg: &ProjectArg, env: &str, purge: bool, yes: bool, dry_run: bool) -> super::CliResult {
    let mut p = load_project(arg)?;
    let i = env_index(&p, env)?;
    if dry_run {
        let servers: Vec<&str> = p.file.environments[i]
            .droplets
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        println!(
            "Would remove environment {env} ({}) from {}.",
            servers.join(", "),
            p.path.display()
        );
        if purge {
            println!(
                "Would run on each server:\n{}",
                tasks::render("common/unbind", &[("PROJECT", &p.file.name), ("ENV", env)])?
            );
        }
        println!("No droplet is ever deleted by unbind.");
        return Ok(());
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(super::Failure::usage(
                "unbinding needs confirmation: pass --yes (stdin is not a terminal)",
            ));
        }
        let what = if purge {
            "forget its servers and remove Pond's files from them"
        } else {
            "forget its servers"
        };
        eprint!(
            "This will {what} for environment {env} (droplets are never deleted). Type the environment name to confirm: "
        );
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .context("reading the confirmation")?;
        if answer.trim() != env {
            return Err(anyhow::anyhow!("not confirmed; nothing changed").into());
        }
    }
    if purge {
        let id = identity()?;
        let s = sink();
        let script = tasks::render("common/unbind", &[("PROJECT", &p.file.name), ("ENV", env)])?;
        runtime()?.block_on(async {
            let connected = connect(&mut p, i, &id, &s).await?;
            for c in connected {
                c.session
                    .run_ok("removing Pond's layout", &script, &s)
                    .await?;
            }
            anyhow::Ok(())
        })?;
    }
    p.file.environments.remove(i);
    config::save(&p.path, &p.file).with_context(|| format!("saving {}", p.path.display()))?;
    println!("Environment {env} removed from {}.", p.path.display());
    Ok(())
}
