//! `pond status [ENV] [--json]`: every server of every environment, as
//! it reports itself, and a load-balanced environment's balancer.

use anyhow::Context;

use pond::tasks;

use super::session::*;

pub(super) fn status(arg: &ProjectArg, only: Option<&str>, json: bool) -> super::CliResult {
    let mut p = load_project(arg)?;
    let id = identity()?;
    let names: Vec<String> = match only {
        Some(n) => vec![tasks::find_env(&p.file, n)?.1.name.clone()],
        None => p.file.environments.iter().map(|e| e.name.clone()).collect(),
    };
    let indices: Vec<usize> = names
        .iter()
        .map(|n| p.env_index(n))
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
            let now = tasks::state::unix_now();
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
