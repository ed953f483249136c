//! Commands that change which servers an environment has: `attach`,
//! `repin`, `unbind`, `destroy`. `create` is [`super::create`], `status`
//! [`super::status`], the swap family [`super::swap`].

use std::io::IsTerminal;

use anyhow::Context;

use pond::config::{self, Droplet, DropletRole, Environment, EnvironmentKind, grammar};
use pond::ssh;
use pond::tasks;

use super::session::*;

pub(super) use super::status::status;
pub(super) use super::swap::{preview_rollback, preview_swap, rollback, swap};
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
    // A server pond.json already has (another environment's) keeps its
    // name, id and pinned host key: the same droplet, not a new one.
    let known = p
        .file
        .environments
        .iter()
        .flat_map(|e| &e.droplets)
        .find(|d| d.address.as_deref() == Some(host) && d.role == DropletRole::Web)
        .cloned();
    let droplet_name = match &known {
        Some(d) => d.name.clone(),
        None => format!("{}-{env}-1", p.file.name)
            .chars()
            .take(63)
            .collect::<String>(),
    };
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
            id: known.as_ref().and_then(|d| d.id),
            role: DropletRole::Web,
            address: Some(host.to_string()),
            ssh_user: (user != "root").then(|| user.to_string()),
            private_address: known.as_ref().and_then(|d| d.private_address.clone()),
            host_key: known.as_ref().and_then(|d| d.host_key.clone()),
            joined: known.is_some(),
        }]
        .into_iter()
        .chain(database_server)
        .collect(),
        load_balancer: None,
        https: Default::default(),
    });
    let problems = config::validate(&p.file, Some(&p.root));
    if !problems.is_empty() {
        return Err(super::Failure::invalid(
            anyhow::anyhow!("the new environment would not be valid"),
            problems,
        ));
    }
    let mut open = open_loaded(p, env)?;
    let s = sink();
    s.outcome(runtime()?.block_on(async {
        let connected = connect(&mut open, &s).await?;
        for c in &connected {
            let op = tasks::execute::on(
                c,
                "checking the server",
                "common/hello",
                &[("GREETING", "pond attach")],
            )?;
            tasks::execute::run_ok(c, &op, &ssh::session::quiet()).await?;
        }
        anyhow::Ok(())
    }))?;
    // Saved here too: a host key pond.json already pinned is not news to
    // `connect`, which saves only new pins.
    let (p, e) = (&open.project, open.env());
    p.save()?;
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

pub(super) fn repin(
    arg: &ProjectArg,
    env: &str,
    droplet: &str,
    expect: Option<&str>,
) -> super::CliResult {
    let mut p = load_project(arg)?;
    let i = p.env_index(env)?;
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
    // Every environment's record of this server (one droplet may serve
    // several) gets the new key.
    let (id, address) = {
        let d = &p.file.environments[i].droplets[server.index];
        (d.id, d.address.clone())
    };
    p.file.environments[i].droplets[server.index].host_key = Some(presented.clone());
    for d in p.file.environments.iter_mut().flat_map(|e| &mut e.droplets) {
        if address.is_some() && d.address == address && d.id == id {
            d.host_key = Some(presented.clone());
        }
    }
    p.save()?;
    println!(
        "Pinned {presented} for {droplet} in {}; commit it so your team trusts it too.",
        p.path.display()
    );
    Ok(())
}

pub(super) fn unbind(
    arg: &ProjectArg,
    env: &str,
    purge: bool,
    yes: bool,
    dry_run: bool,
) -> super::CliResult {
    let p = load_project(arg)?;
    let i = p.env_index(env)?;
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
            let servers = tasks::servers(&p.file.environments[i], i)?;
            for plan in tasks::shared_server::purge_plans(&p.file, env, &servers)? {
                println!("{plan}");
            }
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
    // Only a purge goes to the servers (and so needs the key).
    let s = sink();
    let rt = runtime()?;
    let (mut p, connected) = if purge {
        let mut open = open_loaded(p, env)?;
        let connected = s.outcome(rt.block_on(connect(&mut open, &s)))?;
        (open.project, connected)
    } else {
        (p, vec![])
    };
    s.outcome(rt.block_on(tasks::shared_server::unbind(
        &mut p.file,
        &p.path,
        env,
        &connected,
        purge,
        &s,
    )))?;
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
    let p = load_project(arg)?;
    let (_, e) = tasks::find_env(&p.file, env).map_err(|e| super::Failure::invalid(e, vec![]))?;
    let account = e.account.clone().unwrap_or_default();
    let client = super::account::client_for(&account)?;
    let rt = runtime()?;
    // What each server says it hosts, so a droplet other environments use
    // is kept (an unreachable one is judged by pond.json and its tags).
    let mut open = open_loaded(p, env)?;
    let (statuses, _) = rt.block_on(open.project.statuses(&[open.index], &open.identity))?;
    let hosted = tasks::shared_server::hosted_by_id(statuses);
    let plan = rt.block_on(tasks::destroy::plan(
        &client,
        &open.project.file,
        env,
        &hosted,
    ))?;
    println!("Destroying {env} will:");
    for line in plan.lines() {
        println!("  {line}");
    }
    if dry_run {
        println!("The DigitalOcean requests, in the order they are sent:");
        for line in plan.request_plan().outline() {
            println!("  {line}");
        }
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
            connect(&mut open, &s).await?
        };
        let p = &mut open.project;
        tasks::destroy::execute(&client, &mut p.file, &p.path, &plan, &servers, &s).await
    }))?;
    println!("Environment {env} is destroyed.");
    Ok(())
}
