//! Commands that change which servers an environment has or inspect them:
//! `attach`, `repin`, `unbind`, `destroy`, `status`, and the swap family
//! (`swap`, `rollback`, their dry runs). `create` is [`super::create`].

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
    // Saved here too: a host key pond.json already pinned is not news to
    // `connect`, which saves only new pins.
    config::save(&p.path, &p.file).with_context(|| format!("saving {}", p.path.display()))?;
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

pub(super) fn swap(arg: &ProjectArg, env: &str, force: bool) -> super::CliResult {
    let mut p = load_project(arg)?;
    let i = env_index(&p, env)?;
    let id = identity()?;
    let s = sink();
    let e = p.file.environments[i].clone();
    let started = std::time::Instant::now();
    let rt = runtime()?;
    let (live, connected) = s.outcome(rt.block_on(async {
        let connected = connect(&mut p, i, &id, &s).await?;
        let live = tasks::swap::swap(&p.file, &e, &connected, force, &s).await?;
        anyhow::Ok((live, connected))
    }))?;
    println!(
        "{} is live on {} ({}) in {}: {}. Undo with: pond rollback {env}",
        live.as_str(),
        plural(web_count(&connected), "server"),
        e.name,
        took(started),
        super::tls::served_urls(&p.file, &e, &connected, &rt).production
    );
    Ok(())
}

pub(super) fn rollback(
    arg: &ProjectArg,
    env: &str,
    force: bool,
    with_data: bool,
    yes: bool,
) -> super::CliResult {
    let mut p = load_project(arg)?;
    let i = env_index(&p, env)?;
    let id = identity()?;
    let s = sink();
    let e = p.file.environments[i].clone();
    let started = std::time::Instant::now();
    let rt = runtime()?;
    let connected = s.outcome(rt.block_on(connect(&mut p, i, &id, &s)))?;
    if with_data {
        // Say what is lost and ask, before anything changes.
        let snapshot = s.outcome(rt.block_on(tasks::rollback_data::data_to_roll_back(
            &p.file, &e, &connected,
        )))?;
        let at = utc_minute(snapshot.taken);
        let what = format!(
            "This rolls back the code of {env} and restores its database to snapshot {} (taken {at}, before the last swap): everything written to the database since {at} is lost.",
            snapshot.id
        );
        if yes {
            eprintln!("{what}");
        } else {
            confirm_by_typing(env, &what, "rollback --with-data")?;
        }
    }
    let (done, servers) = s.outcome(rt.block_on(async {
        let done = tasks::swap::rollback(&p.file, &e, &connected, force, with_data, &s).await?;
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
    if let Some(restored) = &done.restored {
        println!(
            "The database was restored from snapshot {restored}. A plain `pond rollback {env}` now would put the newer release back on this older data without its pre-swap hooks: deploy it and swap instead, so they run."
        );
    } else if let Some(left) = &done.data_left {
        println!(
            "The database was left as it is (the swap undone took snapshot {left}; `pond rollback {env} --with-data` would have restored it)."
        );
    }
    Ok(())
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
fn utc_minute(secs: u64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| format!("{secs} (unix time)"))
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
    let rt = runtime()?;
    let (all, pinned) = rt.block_on(p.statuses(&indices, &id))?;
    let balancers: Vec<_> = all
        .iter()
        .map(|(e, _)| super::tls::balancer_status(e, &rt))
        .collect();
    if pinned {
        eprintln!(
            "Pinned new host keys in {} (commit it so your team shares them).",
            p.path.display()
        );
    }
    if json {
        let out: Vec<_> = all
            .iter()
            .zip(&balancers)
            .map(|((e, s), b)| serde_json::json!({"environment": e.name, "domain": e.domain, "servers": s, "load_balancer_https": b.as_ref().map(|(t, _)| t)}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&out).context("serializing")?
        );
        return Ok(());
    }
    for ((e, statuses), balancer) in all.into_iter().zip(balancers) {
        println!("{} ({})", e.name, e.domain);
        if let Some((_, line)) = balancer {
            println!("  load balancer: https {line}");
        }
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
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            for line in tasks::processes::describe(&s, now) {
                println!("    {line}");
            }
            if let Some(t) = &s.tls {
                println!(
                    "    https: {}",
                    tasks::tls::describe(&e.domain, t, now as i64)
                );
            }
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
    let hosted = tasks::shared_server::hosted_by_id(statuses);
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
