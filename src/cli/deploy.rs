//! `pond provision` (the servers' setup, then the renewal timer and a
//! load balancer's HTTPS) and `pond deploy` (send the changed files to the
//! inactive colour, with data brought in on a first deploy), each with its
//! dry run.

use std::io::IsTerminal;

use pond::config::DropletRole;
use pond::tasks::{self, deploy, operate, provision};

use super::manage::*;
use super::session::*;
use super::summary::*;

pub(super) fn provision(project: &ProjectArg, env: &str, dry_run: bool) -> super::CliResult {
    let mut p = load_project(project)?;
    let i = env_index(&p, env)?;
    let e = p.file.environments[i].clone();
    let acme = super::account::acme_for(e.account.as_deref().unwrap_or_default())?;
    if dry_run {
        for role in [DropletRole::Web, DropletRole::Database] {
            if e.droplets.iter().any(|d| d.role == role) {
                for (what, script) in provision::plan(&p.file, &e, role, &p.root)? {
                    println!("# ---- {what} ({role:?} servers)\n{script}");
                }
            }
        }
        if pond::tasks::tls::wants_certificate(&e) {
            let (what, script) = pond::tasks::tls::timer_step(&p.file, &e, &acme)?;
            println!("# ---- {what} (Web servers)\n{script}");
        }
        if e.kind == pond::config::EnvironmentKind::LoadBalanced {
            println!(
                "# ---- the load balancer: {}",
                if e.https.enabled {
                    format!(
                        "HTTPS with a DigitalOcean-managed certificate for {} (pond tls {} --renew --dry-run shows the requests), unless it serves one already",
                        pond::tasks::lb_tls::names(&e.domain).join(", "),
                        e.name
                    )
                } else {
                    "HTTP only: its HTTPS rule, redirect and certificate removed".to_string()
                }
            );
        }
        return Ok(());
    }
    let id = identity()?;
    let s = sink();
    // The balancer's HTTPS needs the account's token; without it at
    // hand the servers are provisioned all the same, and it is said.
    let balancer_api = match (&e.kind, e.account.as_deref()) {
        (pond::config::EnvironmentKind::LoadBalanced, Some(account)) => {
            let api = super::account::client_quietly(account);
            if api.is_none() {
                eprintln!(
                    "The load balancer's HTTPS is not checked: the token of account {account} is not at hand (pond account add {account})."
                );
            }
            api
        }
        _ => None,
    };
    let provisioned = runtime()?.block_on(async {
        let connected = connect(&mut p, i, &id, &s).await?;
        provision::provision(&p.file, &e, &connected, &p.root, &s).await?;
        pond::tasks::tls::refresh_timer(&p.file, &e, &connected, &acme, &s).await?;
        if let Some(api) = &balancer_api {
            pond::tasks::lb_tls::apply_setting(api, &p.file, &e, &s).await?;
        }
        anyhow::Ok(())
    });
    s.outcome(provisioned)?;
    eprintln!("{} is provisioned. Next: pond deploy {}", e.name, e.name);
    Ok(())
}

/// How `pond deploy` runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Deploy,
    /// Changes nothing; outlines each server's plan.
    DryRun,
    /// Changes nothing; prints each server's plan with its scripts.
    DryRunScripts,
}

pub(super) fn deploy(
    project: &ProjectArg,
    env: &str,
    tag: Option<String>,
    mode: Mode,
    break_lock: bool,
    transfer: tasks::transfer::Transfer,
    yes: bool,
) -> super::CliResult {
    let dry_run = mode != Mode::Deploy;
    let mut p = load_project(project)?;
    let i = env_index(&p, env)?;
    let tag = tag.unwrap_or_else(|| default_tag(&p.root));
    let id = identity()?;
    let s = sink();
    for path in transfer.db_dump.iter().chain(&transfer.attachments) {
        if !path.exists() {
            return Err(anyhow::anyhow!("{} does not exist", path.display()).into());
        }
    }
    deploy::check_project(&p.file, &p.root)?;
    let started = std::time::Instant::now();
    let rt = runtime()?;
    let connected = rt.block_on(connect(&mut p, i, &id, &s))?;
    let e = p.file.environments[i].clone();
    // Data into a live environment overwrites what it holds: ask on
    // a terminal (the engine checks again under the lock).
    let mut overwrite_live = yes;
    if !transfer.is_empty() && !yes && !dry_run && std::io::stdin().is_terminal() {
        let live = rt.block_on(operate::status(&p.file, &e, &connected));
        if live.iter().any(|st| !st.state.releases.is_empty()) {
            confirm_by_typing(
                env,
                &format!(
                    "Environment {env} is live: the data you bring (database, attachments) overwrites its live data."
                ),
                "loading data into a live environment",
            )?;
            overwrite_live = true;
        }
    }
    let options = deploy::DeployOptions {
        tag,
        dry_run,
        break_lock,
        data: (!transfer.is_empty()).then(|| deploy::DataLoad {
            transfer,
            identity: id.clone(),
            overwrite_live,
        }),
    };
    let servers = web_count(&connected);
    let sessions = pond::tasks::CloneSessions::clone_sessions(&connected[..]);
    let reports = s.outcome(rt.block_on(deploy::deploy(
        &p.file, &p.root, env, connected, &options, &s,
    )))?;
    if !dry_run {
        super::tls::renew_previews_if_due(&p.file, &e, &sessions, &rt, &s);
    }
    for r in &reports {
        match mode {
            Mode::Deploy => {}
            Mode::DryRun => {
                println!("{}: the plan ({}):", r.server, r.plan.title);
                for line in r.plan.outline() {
                    println!("  {line}");
                }
            }
            Mode::DryRunScripts => println!("{}", r.plan),
        }
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
    if mode == Mode::DryRun {
        println!(
            "Nothing was changed (dry run). `pond deploy {env} --dry-run --scripts` prints the scripts in full."
        );
    }
    if !dry_run && !reports.is_empty() {
        let urls = super::tls::served_urls(&p.file, &e, &sessions, &rt);
        let r = &reports[0];
        println!(
            "Deployed {} to {} on {} in {}.",
            r.release,
            r.colour.as_str(),
            plural(servers, "server"),
            took(started)
        );
        if r.first {
            println!(
                "First deploy: both colours run it and blue is live at {}",
                urls.production
            );
        } else {
            println!("Preview: {}   then: pond swap {}", urls.preview, e.name);
        }
    }
    Ok(())
}
