//! The environment commands' definitions (clap) and dispatch, with the
//! smaller deploy-side commands inline: `key`, `preview`, `rollback --to`,
//! `releases`, `logs`; `provision` and `deploy` are [`super::deploy`]. Each loads pond.json, connects to
//! the environment's servers (see [`super::session`]), calls one engine
//! task, prints progress on stderr and results on stdout. Server
//! management commands live in [`super::manage`].

use std::path::PathBuf;
use std::sync::Arc;

use pond::ssh::{self, Sink, Stream};
use pond::tasks::{self, operate};

use super::create::{CreateArgs, create};
use super::manage::*;
use super::session::*;
use super::summary::*;

#[derive(clap::Subcommand)]
pub enum Ops {
    /// Print your SSH public key (generating the key pair if absent).
    Key {
        /// Print only the public key line.
        #[arg(long)]
        public: bool,
    },
    /// Create a new server on DigitalOcean (or the lab) for a new environment: droplet, SSH, provisioning, DNS, first deploy.
    #[command(visible_alias = "new-server")]
    Create {
        #[command(flatten)]
        args: Box<CreateArgs>,
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
        /// Database: same (MariaDB on the server), host:IPV4 (MariaDB on another existing
        /// server, reached over SSH as root) or none.
        #[arg(long, default_value = "same")]
        db: String,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Set up the environment's servers: packages, web stack, database, layout, vhosts, hooks.
    Provision {
        env: String,
        /// Show each server's plan, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: print the plan's scripts in full.
        #[arg(long, requires = "dry_run")]
        scripts: bool,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Deploy the project to the inactive colour of an environment.
    Deploy {
        env: String,
        /// Build tag recorded with the release (default: git short hash, or "manual").
        #[arg(long)]
        tag: Option<String>,
        /// Show what would be sent and each server's plan, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: print the plan's scripts in full.
        #[arg(long, requires = "dry_run")]
        scripts: bool,
        /// End a stuck deploy that holds the lock, then deploy.
        #[arg(long)]
        break_lock: bool,
        /// Load this SQL dump (mysqldump/mariadb-dump output) into the environment's database.
        #[arg(long, value_name = "FILE")]
        db_dump: Option<PathBuf>,
        /// Copy a database into the environment's, dumped on the server it
        /// lives on over SSH with your key (ssh://USER@HOST[:PORT]/DATABASE).
        #[arg(long, value_name = "ssh://USER@HOST/DB", value_parser = tasks::transfer::DbSource::parse, conflicts_with = "db_dump")]
        db_from: Option<tasks::transfer::DbSource>,
        /// Copy this directory's files into the first shared path (e.g. storage).
        #[arg(long, value_name = "DIR")]
        attachments: Option<PathBuf>,
        /// Load --db-dump/--db-from/--attachments even into an environment that
        /// is already live (its data is overwritten) without asking.
        #[arg(long)]
        yes: bool,
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
        /// Show which colour would go live, its health and each server's plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: print the plan's scripts in full.
        #[arg(long, requires = "dry_run")]
        scripts: bool,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Make the release that was live before the last swap live again (at once when
    /// the inactive colour still holds it; pointed back and health-checked when a
    /// deploy replaced it); or, with --to, an older release kept on the servers.
    Rollback {
        env: String,
        /// A release id from `pond releases` to make live (health-checked first).
        #[arg(long)]
        to: Option<String>,
        /// Make it live even if its health check fails.
        #[arg(long)]
        force: bool,
        /// Also restore the database snapshot the undone swap took before its
        /// pre-swap hooks (everything written since is lost; asks first).
        #[arg(long, conflicts_with = "to")]
        with_data: bool,
        /// With --with-data: do not ask to type the environment name back.
        #[arg(long, requires = "with_data")]
        yes: bool,
        /// Show which release would go live and the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: print the plan's scripts in full.
        #[arg(long, requires = "dry_run")]
        scripts: bool,
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
    /// Compare each server of an environment with what Pond set up there (templates and
    /// settings, the files it wrote, users, packages, firewall, team keys); --fix provisions again.
    Check {
        env: String,
        /// Provision again (idempotent) and sync team keys, then check once more.
        #[arg(long)]
        fix: bool,
        /// Print the differences as JSON on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Run one command in a release of the environment as its site user (e.g. `pond exec production -- php artisan migrate:status`); its exit code is Pond's.
    Exec {
        #[command(flatten)]
        args: super::exec::ExecArgs,
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
        /// One of pond.json's processes (or `schedule`): its output from the journal instead.
        #[arg(long, value_name = "NAME")]
        process: Option<String>,
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
    /// Scale a load-balanced environment to N web droplets: new ones are
    /// provisioned, brought to the live build and health-checked before they
    /// join the load balancer; removed ones leave it before they are deleted.
    Scale {
        env: String,
        /// Web droplets wanted (1-20).
        droplets: u32,
        /// Do not ask to type the environment name back when droplets are deleted.
        #[arg(long)]
        yes: bool,
        /// List what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Delete an environment Pond created: its droplets, its DNS records, its load balancer and its certificate; then drop it from pond.json.
    Destroy {
        env: String,
        /// Do not ask to type the environment name back.
        #[arg(long)]
        yes: bool,
        /// List what would be deleted; change nothing.
        #[arg(long)]
        dry_run: bool,
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

/// How a dry run shows its plan: outlined, or with `--scripts` in full.
fn shown(scripts: bool) -> super::deploy::Mode {
    if scripts {
        super::deploy::Mode::DryRunScripts
    } else {
        super::deploy::Mode::DryRun
    }
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
        Ops::Create { args, project } => create(&project, *args),
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
            scripts,
            project,
        } => super::deploy::provision(
            &project,
            &env,
            match (dry_run, scripts) {
                (false, _) => super::deploy::Mode::Deploy,
                (true, false) => super::deploy::Mode::DryRun,
                (true, true) => super::deploy::Mode::DryRunScripts,
            },
        ),
        Ops::Deploy {
            env,
            tag,
            dry_run,
            scripts,
            break_lock,
            db_dump,
            db_from,
            attachments,
            yes,
            project,
        } => super::deploy::deploy(
            &project,
            &env,
            tag,
            match (dry_run, scripts) {
                (false, _) => super::deploy::Mode::Deploy,
                (true, false) => super::deploy::Mode::DryRun,
                (true, true) => super::deploy::Mode::DryRunScripts,
            },
            break_lock,
            tasks::transfer::Transfer {
                db_dump,
                db_from,
                attachments,
            },
            yes,
        ),
        Ops::Preview { env, project } => {
            let (mut open, s) = open_env(&project, &env)?;
            let e = open.env().clone();
            let rt = runtime()?;
            let health = rt.block_on(async {
                let connected = connect(&mut open, &s).await?;
                let health = operate::health(&open.project.file, &e, &connected, &s).await?;
                anyhow::Ok((health, connected))
            });
            let (health, connected) = s.outcome(health)?;
            println!(
                "{}",
                super::tls::served_urls(&open.project.file, &e, &connected, &rt).preview
            );
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
            force,
            dry_run: true,
            scripts,
            project,
        } => preview_swap(&project, &env, force, shown(scripts)),
        Ops::Rollback {
            env,
            to,
            force,
            with_data,
            dry_run: true,
            scripts,
            project,
            ..
        } => preview_rollback(
            &project,
            &env,
            to.as_deref(),
            (force, with_data),
            shown(scripts),
        ),
        Ops::Swap {
            env,
            force,
            project,
            ..
        } => swap(&project, &env, force),
        Ops::Rollback {
            env,
            to: None,
            force,
            with_data,
            yes,
            project,
            ..
        } => rollback(&project, &env, force, with_data, yes),
        Ops::Rollback {
            env,
            to: Some(release),
            force,
            project,
            ..
        } => {
            let (mut open, s) = open_env(&project, &env)?;
            let e = open.env().clone();
            let started = std::time::Instant::now();
            let live = runtime()?.block_on(async {
                let connected = connect(&mut open, &s).await?;
                tasks::swap::rollback_to(&open.project.file, &e, &connected, &release, force, &s)
                    .await
            });
            let live = s.outcome(live)?;
            println!(
                "{} is live on {} with release {release} ({}).",
                live.as_str(),
                e.name,
                took(started)
            );
            Ok(())
        }
        Ops::Releases { env, project } => {
            let (mut open, _) = open_env(&project, &env)?;
            let e = open.env().clone();
            let statuses = runtime()?.block_on(async {
                let connected = connect(&mut open, &ssh::session::quiet()).await?;
                anyhow::Ok(operate::status(&open.project.file, &e, &connected).await)
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
        Ops::Exec { args, project } => super::exec::run(&project, args),
        Ops::Check {
            env,
            fix,
            json,
            project,
        } => super::check::run(&project, &env, fix, json),
        Ops::Logs {
            env,
            lines,
            follow,
            process,
            project,
        } => {
            let (mut open, s) = open_env(&project, &env)?;
            let p = &open.project;
            let step = tasks::logs::step(&p.file, &env, lines, follow, process.as_deref())?;
            // A log line is the site's to write: control characters (a
            // terminal escape) are shown as `?`, never sent to the terminal,
            // and a followed line is cut at 4096 characters as the server
            // cuts the ones it shows first.
            let printer: Sink = Arc::new(|host: &str, _s: Stream, line: &str| {
                let shown: String = line
                    .chars()
                    .take(4096)
                    .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
                    .collect();
                println!("[{host}] {shown}")
            });
            runtime()?.block_on(async {
                let connected = s.outcome(connect(&mut open, &s).await)?;
                tasks::logs::show(&step, &connected, &printer).await
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
        Ops::Destroy {
            env,
            yes,
            dry_run,
            project,
        } => destroy(&project, &env, yes, dry_run),
        Ops::Scale {
            env,
            droplets,
            yes,
            dry_run,
            project,
        } => super::scale::scale(&project, &env, droplets, yes, dry_run),
    }
}
