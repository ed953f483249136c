//! `pond create ENV`: a new environment on new droplets (or, with `--on`,
//! on a droplet that already serves others) — asks what is missing on a
//! terminal, prints the plan with its monthly cost on `--dry-run`, runs
//! the engine's new-server task with live progress (Ctrl-C stops it after
//! the current step), and `--resume` finishes a run that stopped.

use std::io::IsTerminal;

use pond::config::{self, grammar};
use pond::tasks;

use super::manage::new_secret_prefix;
use super::session::*;
use super::summary::*;

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
    let acme = super::account::acme_for(&account)?;
    let mut input = tasks::create::NewServer {
        acme,
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
        let requests = input.droplet_requests(&p.file, &identity()?.public_line())?;
        if !requests.is_empty() {
            let plan = pond::plan::Plan {
                title: format!("create {}", input.env),
                operations: requests,
            };
            println!("The requests creating its droplets, as they are sent:");
            for line in plan.outline() {
                println!("  {line}");
            }
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

fn resume(p: Project, a: CreateArgs) -> super::CliResult {
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
    let acme = super::account::acme_for(&account)?;
    let transfer = tasks::transfer::Transfer {
        db_dump: a.db_dump,
        db_from: a.db_from,
        attachments: a.attachments,
    };
    let mut open = open_loaded(p, &a.env)?;
    let s = sink();
    let rt = runtime()?;
    let stop = stop_on_ctrl_c(&rt);
    let p = &mut open.project;
    let urls = s.outcome(rt.block_on(tasks::create::resume(
        &client,
        &mut p.file,
        &p.path,
        &p.root,
        &open.identity,
        &a.env,
        &a.tag,
        &transfer,
        &acme,
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
    if let Some(problem) = &urls.https_problem {
        println!(
            "HTTPS is not set up yet ({problem}). `pond tls {env} --renew` tries again{}.",
            if urls.load_balanced {
                " (asking DigitalOcean for the load balancer's certificate)"
            } else {
                " (and installs the server's renewal timer, which retries twice a day)"
            }
        );
    }
}
