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

pub(super) fn provision(project: &ProjectArg, env: &str, mode: Mode) -> super::CliResult {
    let p = load_project(project)?;
    let e = p.file.environments[p.env_index(env)?].clone();
    let acme = super::account::acme_for(e.account.as_deref().unwrap_or_default())?;
    let mut open = open_loaded(p, env)?;
    if mode != Mode::Deploy {
        let p = &open.project;
        let own = open.identity.public_line();
        for server in tasks::servers(&e, open.index)? {
            let mut plan = provision::server_plan(&p.file, &e, &server, &own, &p.root)?;
            if server.role == DropletRole::Web && tasks::tls::wants_certificate(&e) {
                let timer = tasks::tls::timer_step(&p.file, &e, &acme)?;
                plan.operations.push(timer.on(&server.endpoint));
            }
            print_plan(&plan, mode);
        }
        // With --scripts the output is bash (comments between scripts).
        let comment = if mode == Mode::DryRunScripts {
            "# "
        } else {
            ""
        };
        if e.kind == pond::config::EnvironmentKind::LoadBalanced {
            println!(
                "{comment}Then the load balancer: {}",
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
        if mode == Mode::DryRun {
            println!(
                "Nothing was changed (dry run). `pond provision {env} --dry-run --scripts` prints the scripts in full."
            );
        }
        return Ok(());
    }
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
        let connected = connect(&mut open, &s).await?;
        let p = &open.project;
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

/// A dry run's plan: outlined, or in full with its scripts.
pub(super) fn print_plan(plan: &pond::plan::Plan, mode: Mode) {
    match mode {
        Mode::Deploy => {}
        Mode::DryRun => {
            println!("The plan: {}", plan.title);
            for line in plan.outline() {
                println!("  {line}");
            }
        }
        Mode::DryRunScripts => println!("{plan}"),
    }
}

/// How `pond deploy` and `pond provision` run.
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
    let p = load_project(project)?;
    p.env_index(env)?;
    let tag = tag.unwrap_or_else(|| default_tag(&p.root));
    for path in transfer.db_dump.iter().chain(&transfer.attachments) {
        if !path.exists() {
            return Err(anyhow::anyhow!("{} does not exist", path.display()).into());
        }
    }
    deploy::check_project(&p.file, &p.root)?;
    let mut open = open_loaded(p, env)?;
    let s = sink();
    let started = std::time::Instant::now();
    let rt = runtime()?;
    // The local scan runs while the servers are reached: not before a
    // build step (the deploy runs that, then scans), nor when a question
    // may follow (what is saved while it waits must be sent).
    let may_ask = !transfer.is_empty() && !yes && !dry_run && std::io::stdin().is_terminal();
    let scan = if (open.project.file.hooks.build.is_empty() || dry_run) && !may_ask {
        let _inside = rt.enter();
        Some(deploy::start_scan(
            &open.project.file,
            &open.project.root,
            &s,
        )?)
    } else {
        None
    };
    let connected = match rt.block_on(connect(&mut open, &s)) {
        Ok(connected) => connected,
        Err(e) => {
            // Without waiting for the scan, which nothing will read.
            rt.shutdown_background();
            return Err(e.into());
        }
    };
    let (p, e) = (&open.project, open.env().clone());
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
        scan,
        data: (!transfer.is_empty()).then(|| deploy::DataLoad {
            transfer,
            identity: open.identity.clone(),
            overwrite_live,
        }),
    };
    let servers = web_count(&connected);
    let sessions = pond::tasks::CloneSessions::clone_sessions(&connected[..]);
    // What the servers serve over HTTPS (for the URLs printed at the end)
    // is asked alongside the deploy, which does not change it.
    // (A deploy that fails drops the question at once.)
    let (reports, urls) = rt.block_on(async {
        let deploying = deploy::deploy(&p.file, &p.root, env, connected, &options, &s);
        if dry_run {
            return (deploying.await, None);
        }
        let urls = async { Ok(super::tls::served_urls_async(&p.file, &e, &sessions).await) };
        match futures::future::try_join(deploying, urls).await {
            Ok((reports, urls)) => (Ok(reports), Some(urls)),
            Err(e) => (Err(e), None),
        }
    });
    let reports = s.outcome(reports)?;
    // A preview certificate renewed (or first made) now changes them.
    let renewed = !dry_run && super::tls::renew_previews_if_due(&p.file, &e, &sessions, &rt, &s);
    for r in &reports {
        print_plan(&r.plan, mode);
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
    if let (false, Some(urls)) = (reports.is_empty(), urls) {
        let urls = if renewed {
            super::tls::served_urls(&p.file, &e, &sessions, &rt)
        } else {
            urls
        };
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
