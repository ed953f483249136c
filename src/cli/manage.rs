//! Commands that change which servers an environment has or inspect them:
//! `create`, `attach`, `repin`, `unbind`, `status`, and the swap family
//! (`swap`, `rollback`, their dry runs).

use std::io::IsTerminal;

use anyhow::Context;

use pond::config::{self, Droplet, DropletRole, Environment, EnvironmentKind, grammar};
use pond::ssh::{self};
use pond::tasks::{self, operate};

use super::session::*;
use super::summary::*;

pub(super) use pond::project::{default_tag, new_secret_prefix};

pub(super) fn attach(
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
    if db == "droplet" {
        return Err(super::Failure::usage(
            "--db droplet creates a droplet; pond attach only adds servers that exist (use same, none or host:ADDR, or pond create --db droplet)",
        ));
    }
    let (database, database_server) =
        tasks::create::database_choice(db, &p.file.name, env, p.file.stack)
            .map_err(|e| super::Failure::invalid(anyhow::anyhow!("--db {e}"), vec![]))?;
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
        }]
        .into_iter()
        .chain(database_server)
        .collect(),
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
    s.outcome(runtime()?.block_on(async {
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
    }))?;
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
pub(super) fn preview_swap(arg: &ProjectArg, env: &str, check_health: bool) -> super::CliResult {
    let mut p = load_project(arg)?;
    let i = env_index(&p, env)?;
    let id = identity()?;
    let s = sink();
    let e = p.file.environments[i].clone();
    s.outcome(runtime()?.block_on(async {
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
    }))?;
    Ok(())
}

/// `rollback --dry-run` (and `--to ID --dry-run`): which release would go
/// live, and whether the inactive colour would have to be pointed at it.
pub(super) fn preview_rollback(arg: &ProjectArg, env: &str, to: Option<&str>) -> super::CliResult {
    let mut p = load_project(arg)?;
    let i = env_index(&p, env)?;
    let id = identity()?;
    let s = sink();
    let e = p.file.environments[i].clone();
    s.outcome(runtime()?.block_on(async {
        let connected = connect(&mut p, i, &id, &s).await?;
        for st in operate::status(&p.file, &e, &connected).await {
            if let Some(err) = &st.error {
                println!("{}: cannot tell — {err}", st.server);
                continue;
            }
            let target = to.map(str::to_string).or(st.state.previous.clone());
            let Some(target) = target else {
                println!(
                    "{}: no release live before the last swap is recorded; the rollback would be refused (pick one with pond releases {env})",
                    st.server
                );
                continue;
            };
            let inactive = st.live.map(|l| l.other());
            let holds = inactive.is_some_and(|c| {
                st.links
                    .iter()
                    .any(|(colour, t)| colour == c.as_str() && t.ends_with(&target))
            });
            let kept = st.releases_on_disk.contains(&target);
            println!(
                "{}: would make release {target} live{} (health-checked first)",
                st.server,
                if !kept {
                    " — refused: it is no longer kept here".to_string()
                } else if holds {
                    String::new()
                } else {
                    format!(
                        ", pointing {} back at it first",
                        inactive.map(|c| c.as_str()).unwrap_or("the inactive colour")
                    )
                }
            );
        }
        println!("Nothing was changed (dry run).");
        anyhow::Ok(())
    }))?;
    Ok(())
}

#[derive(clap::Args)]
pub struct CreateArgs {
    env: String,
    /// Name of the DigitalOcean account (recorded in pond.json; never the
    /// token). Asked on a terminal when missing.
    #[arg(long)]
    account: Option<String>,
    /// The environment's domain. Asked on a terminal when missing.
    #[arg(long)]
    domain: Option<String>,
    #[arg(long, default_value = "ams3")]
    region: String,
    #[arg(long, default_value = "s-1vcpu-1gb")]
    size: String,
    /// DigitalOcean image slug. Default: the newest image Pond tests
    /// (debian-13-x64) that the account offers.
    #[arg(long)]
    image: Option<String>,
    /// Database: same (MariaDB on the web droplet), droplet (a new database
    /// droplet), host:IPV4 (an existing server, reached over SSH as root) or none.
    #[arg(long, default_value = "same")]
    db: String,
    /// single (one droplet) or load_balanced (droplets behind a DigitalOcean load balancer).
    #[arg(long = "type", default_value = "single", value_parser = ["single", "load_balanced"])]
    kind: String,
    /// Web droplets of a load-balanced environment.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=20))]
    droplets: u32,
    /// A SQL dump to load into the new database before the first deploy.
    #[arg(long, value_name = "FILE")]
    db_dump: Option<std::path::PathBuf>,
    /// A database to copy into the new one before the first deploy, dumped
    /// on the server it lives on over SSH with your key.
    #[arg(long, value_name = "ssh://USER@HOST/DB", value_parser = tasks::transfer::DbSource::parse, conflicts_with = "db_dump")]
    db_from: Option<tasks::transfer::DbSource>,
    /// A directory uploaded into the shared storage before the first deploy.
    #[arg(long, value_name = "DIR")]
    attachments: Option<std::path::PathBuf>,
    /// Build tag of the first deploy.
    #[arg(long, visible_alias = "build-tag", default_value = "first")]
    tag: String,
    /// Secret prefix of the preview hosts (generated when absent).
    #[arg(long)]
    secret_prefix: Option<String>,
    /// Seconds to wait for the droplet to become active before deleting it.
    #[arg(long, default_value_t = 300)]
    active_timeout: u64,
    /// List every action (and the monthly cost); create nothing.
    #[arg(long)]
    dry_run: bool,
    /// Continue a run that stopped after its droplets were created (they are
    /// in pond.json): provision, DNS, first deploy, health.
    #[arg(long, conflicts_with_all = ["account", "domain", "dry_run"])]
    resume: bool,
    /// Put the environment on this droplet, which already serves other
    /// environments (of this project, or another in the account): no new
    /// droplet; provisioning adds only what is missing.
    #[arg(long, value_name = "DROPLET", conflicts_with_all = ["kind", "droplets", "region", "size", "image"])]
    on: Option<String>,
    /// Never ask: what is missing is an error (for scripts).
    #[arg(long)]
    yes: bool,
}

pub(super) fn create(arg: &ProjectArg, a: CreateArgs) -> super::CliResult {
    let started = std::time::Instant::now();
    let mut p = load_project(arg)?;
    // Before anything is created and billed.
    tasks::deploy::check_project(&p.file, &p.root)?;
    if a.resume {
        return resume(p, a);
    }
    let interactive = std::io::stdin().is_terminal() && !a.yes;
    let (account, domain) = match (a.account.clone(), a.domain.clone()) {
        (Some(account), Some(domain)) => (account, domain),
        (account, domain) if interactive => (
            match account {
                Some(a) => a,
                None => ask_account()?,
            },
            match domain {
                Some(d) => d,
                None => ask_domain()?,
            },
        ),
        _ => {
            return Err(super::Failure::usage(
                "--account and --domain are required (on a terminal, without --yes, Pond asks for them)",
            ));
        }
    };
    let (database, database_server) =
        tasks::create::database_choice(a.db.as_str(), &p.file.name, &a.env, p.file.stack)
            .map_err(|e| super::Failure::invalid(anyhow::anyhow!("--db {e}"), vec![]))?;
    let mut input = tasks::create::NewServer {
        account,
        env: a.env.clone(),
        region: a.region,
        size: a.size,
        image: a
            .image
            .clone()
            .unwrap_or_else(|| pond::digitalocean::DEFAULT_IMAGE.into()),
        domain,
        secret_prefix: a.secret_prefix.unwrap_or_else(new_secret_prefix),
        database,
        database_server,
        tag: a.tag,
        active_timeout: std::time::Duration::from_secs(a.active_timeout),
        transfer: tasks::transfer::Transfer {
            db_dump: a.db_dump,
            db_from: a.db_from,
            attachments: a.attachments,
        },
        load_balanced: a.kind == "load_balanced",
        web_droplets: if a.kind == "load_balanced" {
            a.droplets
        } else {
            1
        },
        on: None,
    };
    for path in input
        .transfer
        .db_dump
        .iter()
        .chain(&input.transfer.attachments)
    {
        if !path.exists() {
            return Err(anyhow::anyhow!("{} does not exist", path.display()).into());
        }
    }
    input
        .check()
        .map_err(|e| super::Failure::invalid(e, vec![]))?;
    let client = super::account::client_for(&input.account)?;
    let rt = runtime()?;
    if let Some(name) = &a.on {
        let (droplet, region, size, image) =
            rt.block_on(tasks::shared_server::find_droplet(&client, &p.file, name))?;
        input.region = region;
        input.size = size;
        input.image = image;
        input.on = Some(droplet);
        input
            .check()
            .map_err(|e| super::Failure::invalid(e, vec![]))?;
    } else if a.image.is_none() {
        // A listing that fails (a bad token, the API down) is reported by
        // the create's own first step, the account check.
        if let Ok(image) = rt.block_on(client.default_image(&input.region)) {
            input.image = image;
        }
    }
    if let Some(warning) = pond::digitalocean::untested_warning(&input.image) {
        eprintln!("warning: {warning}");
    }
    let dns = match rt.block_on(pond::delegation::check_for(&client, &input.domain)) {
        Some(Ok(d)) => Some((d.to_digitalocean, d.note(&input.domain))),
        Some(Err(e)) => Some((false, format!("could not check the name servers: {e:#}"))),
        None => None,
    };
    if a.dry_run {
        let catalog = rt.block_on(client.catalog())?;
        let price = catalog
            .sizes
            .iter()
            .find(|s| s.slug == input.size)
            .map(|s| s.price_monthly);
        println!("Creating {} would:", input.env);
        for line in input.plan_lines(&p.file.name, price) {
            println!("  {line}");
        }
        if let Some((_, note)) = &dns {
            println!("DNS: {note}");
        }
        return Ok(());
    }
    if let Some((false, note)) = &dns {
        eprintln!("warning: {note}");
    }
    let id = identity()?;
    let s = sink();
    let stop = stop_on_ctrl_c(&rt);
    let urls = s.outcome(rt.block_on(tasks::create::new_server(
        &client,
        &mut p.file,
        &p.path,
        &p.root,
        &id,
        &input,
        &stop,
        &s,
    )))?;
    print_urls(&a.env, &urls, started);
    Ok(())
}

/// Asks which registered account pays (the only one is the default).
fn ask_account() -> Result<String, super::Failure> {
    let settings = pond::settings::Settings::load()?;
    let names: Vec<&str> = settings.accounts.iter().map(|a| a.name.as_str()).collect();
    if names.is_empty() {
        return Err(anyhow::anyhow!(
            "no DigitalOcean account is registered; add one with `pond account add NAME`"
        )
        .into());
    }
    let default = (names.len() == 1).then(|| names[0].to_string());
    loop {
        let question = match &default {
            Some(d) => format!("DigitalOcean account [{d}]: "),
            None => format!("DigitalOcean account ({}): ", names.join(", ")),
        };
        let answer = super::init::prompt(&question)?;
        let answer = match (&default, answer.is_empty()) {
            (Some(d), true) => d.clone(),
            _ => answer,
        };
        if names.contains(&answer.as_str()) {
            return Ok(answer);
        }
        eprintln!("{} is not a registered account", config::show(&answer));
    }
}

/// Asks for the domain until it is a valid one.
fn ask_domain() -> Result<String, super::Failure> {
    loop {
        let answer = super::init::prompt("Domain (like shop.example.com): ")?;
        match grammar::domain(&answer) {
            Ok(()) => return Ok(answer),
            Err(expected) => eprintln!("{} is not a domain; {expected}", config::show(&answer)),
        }
    }
}

fn resume(mut p: Project, a: CreateArgs) -> super::CliResult {
    let started = std::time::Instant::now();
    let (_, env) =
        tasks::find_env(&p.file, &a.env).map_err(|e| super::Failure::invalid(e, vec![]))?;
    let account = env.account.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "{} was attached, not created by Pond; use pond provision / deploy",
            a.env
        )
    })?;
    let client = super::account::client_for(&account)?;
    let transfer = tasks::transfer::Transfer {
        db_dump: a.db_dump,
        db_from: a.db_from,
        attachments: a.attachments,
    };
    let id = identity()?;
    let s = sink();
    let rt = runtime()?;
    let stop = stop_on_ctrl_c(&rt);
    let urls = s.outcome(rt.block_on(tasks::create::resume(
        &client,
        &mut p.file,
        &p.path,
        &p.root,
        &id,
        &a.env,
        &a.tag,
        &transfer,
        &stop,
        &s,
    )))?;
    print_urls(&a.env, &urls, started);
    Ok(())
}

fn print_urls(env: &str, urls: &tasks::create::Urls, started: std::time::Instant) {
    println!("Environment {env} is live (created in {}).", took(started));
    println!("  production: {}", urls.production);
    println!("  preview:    {}", urls.preview);
    println!("  blue:       {}", urls.blue);
    println!("  green:      {}", urls.green);
}

pub(super) fn swap(arg: &ProjectArg, env: &str, force: bool) -> super::CliResult {
    let mut p = load_project(arg)?;
    let i = env_index(&p, env)?;
    let id = identity()?;
    let s = sink();
    let e = p.file.environments[i].clone();
    let started = std::time::Instant::now();
    let (live, servers) = s.outcome(runtime()?.block_on(async {
        let connected = connect(&mut p, i, &id, &s).await?;
        let live = tasks::swap::swap(&p.file, &e, &connected, force, &s).await?;
        anyhow::Ok((live, web_count(&connected)))
    }))?;
    println!(
        "{} is live on {} ({}) in {}: http://{}/. Undo with: pond rollback {env}",
        live.as_str(),
        plural(servers, "server"),
        e.name,
        took(started),
        e.domain
    );
    Ok(())
}

pub(super) fn rollback(arg: &ProjectArg, env: &str, force: bool) -> super::CliResult {
    let mut p = load_project(arg)?;
    let i = env_index(&p, env)?;
    let id = identity()?;
    let s = sink();
    let e = p.file.environments[i].clone();
    let started = std::time::Instant::now();
    let (done, servers) = s.outcome(runtime()?.block_on(async {
        let connected = connect(&mut p, i, &id, &s).await?;
        let done = tasks::swap::rollback(&p.file, &e, &connected, force, &s).await?;
        anyhow::Ok((done, web_count(&connected)))
    }))?;
    println!(
        "Rolled back: {} is live on {} ({}) with release {}{} in {}.",
        done.live.as_str(),
        plural(servers, "server"),
        e.name,
        done.release,
        if done.repointed {
            " (pointed back at it and health-checked)"
        } else {
            ""
        },
        took(started)
    );
    Ok(())
}

pub(super) fn repin(
    arg: &ProjectArg,
    env: &str,
    droplet: &str,
    expect: Option<&str>,
) -> super::CliResult {
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

pub(super) fn status(arg: &ProjectArg, only: Option<&str>, json: bool) -> super::CliResult {
    let mut p = load_project(arg)?;
    let id = identity()?;
    let names: Vec<String> = match only {
        Some(n) => vec![tasks::find_env(&p.file, n)?.1.name.clone()],
        None => p.file.environments.iter().map(|e| e.name.clone()).collect(),
    };
    let indices: Vec<usize> = names
        .iter()
        .map(|n| env_index(&p, n))
        .collect::<anyhow::Result<_>>()?;
    let (all, pinned) = runtime()?.block_on(p.statuses(&indices, &id))?;
    if pinned {
        eprintln!(
            "Pinned new host keys in {} (commit it so your team shares them).",
            p.path.display()
        );
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
            if let Some(keys) = &s.access_keys {
                let own = id.public_line();
                println!(
                    "    team keys: {}",
                    tasks::access::check(&p.file, Some(&own), keys, s.access_outside).describe()
                );
            }
            if let Some(drift) = &s.drift {
                println!(
                    "    setup: {}",
                    if drift.is_empty() {
                        "in step".to_string()
                    } else {
                        format!("{} (pond check {})", drift.join("; "), e.name)
                    }
                );
            }
            let others: Vec<&String> = s
                .hosted
                .iter()
                .filter(|h| **h != format!("{}/{}", p.file.name, e.name))
                .collect();
            if !others.is_empty() {
                println!(
                    "    shared with: {}",
                    others
                        .iter()
                        .map(|h| h.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
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

pub(super) fn unbind(
    arg: &ProjectArg,
    env: &str,
    purge: bool,
    yes: bool,
    dry_run: bool,
) -> super::CliResult {
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
                tasks::shared_server::unbind_script(&p.file.name, env)?
            );
        }
        println!("No droplet is ever deleted by unbind.");
        return Ok(());
    }
    if !yes {
        let what = if purge {
            "forget its servers and remove Pond's files from them"
        } else {
            "forget its servers"
        };
        confirm_by_typing(
            env,
            &format!("This will {what} for environment {env} (droplets are never deleted)."),
            "unbinding",
        )?;
    }
    let id = if purge { Some(identity()?) } else { None };
    let s = sink();
    s.outcome(runtime()?.block_on(async {
        let connected = match &id {
            Some(id) => connect(&mut p, i, id, &s).await?,
            None => vec![],
        };
        tasks::shared_server::unbind(&mut p.file, &p.path, env, &connected, purge, &s).await
    }))?;
    println!("Environment {env} removed from {}.", p.path.display());
    Ok(())
}

/// Asks the user to type the environment name back; without a terminal,
/// refuses unless the caller passed `--yes`.
pub(super) fn confirm_by_typing(env: &str, what: &str, doing: &str) -> super::CliResult {
    if !std::io::stdin().is_terminal() {
        return Err(super::Failure::usage(&format!(
            "{doing} needs confirmation: pass --yes (stdin is not a terminal)"
        )));
    }
    eprint!("{what} Type the environment name to confirm: ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    if answer.trim() != env {
        return Err(anyhow::anyhow!("not confirmed; nothing changed").into());
    }
    Ok(())
}

pub(super) fn destroy(arg: &ProjectArg, env: &str, yes: bool, dry_run: bool) -> super::CliResult {
    let mut p = load_project(arg)?;
    let (_, e) = tasks::find_env(&p.file, env).map_err(|e| super::Failure::invalid(e, vec![]))?;
    let account = e.account.clone().unwrap_or_default();
    let client = super::account::client_for(&account)?;
    let rt = runtime()?;
    // What each server says it hosts, so a droplet other environments use
    // is kept (an unreachable one is judged by pond.json and its tags).
    let i = env_index(&p, env)?;
    let id = identity()?;
    let (statuses, _) = rt.block_on(p.statuses(&[i], &id))?;
    let hosted: Vec<(String, Vec<String>)> = statuses
        .into_iter()
        .flat_map(|(_, servers)| servers)
        .filter(|s| s.error.is_none())
        .map(|s| (s.server, s.hosted))
        .collect();
    let plan = rt.block_on(tasks::destroy::plan(&client, &p.file, env, &hosted))?;
    println!("Destroying {env} will:");
    for line in plan.lines() {
        println!("  {line}");
    }
    if dry_run {
        println!("(dry run: nothing changed)");
        return Ok(());
    }
    if !yes {
        confirm_by_typing(
            env,
            "This cannot be undone; the servers and their data are gone.",
            "destroying",
        )?;
    }
    let s = sink();
    s.outcome(rt.block_on(async {
        let servers = if plan.shared.is_empty() {
            vec![]
        } else {
            connect(&mut p, i, &id, &s).await?
        };
        tasks::destroy::execute(&client, &mut p.file, &p.path, &plan, &servers, &s).await
    }))?;
    println!("Environment {env} is destroyed.");
    Ok(())
}
