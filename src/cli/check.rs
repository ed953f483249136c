//! `pond check ENV [--fix] [--json]`: per server, what differs from what
//! Pond set up there ([`pond::tasks::check`]); `--fix` provisions the
//! environment again (idempotent, team keys included) and checks once more.
//! Exits 1 while a difference remains, so a script can act on it.

use anyhow::Context;

use pond::tasks::{self, check, operate::ServerStatus};

use super::session::*;

pub(super) fn run(arg: &ProjectArg, env: &str, fix: bool, json: bool) -> super::CliResult {
    let (mut open, s) = open_env(arg, env)?;
    let own = open.identity.public_line();
    let rt = runtime()?;
    let read = |open: &mut OpenEnv| -> anyhow::Result<Vec<ServerStatus>> {
        let OpenEnv {
            project: p,
            index,
            identity,
            ..
        } = open;
        let (mut all, pinned) = rt.block_on(p.statuses(&[*index], identity))?;
        if pinned {
            eprintln!(
                "Pinned new host keys in {} (commit it so your team shares them).",
                p.path.display()
            );
        }
        Ok(all.pop().map(|(_, s)| s).unwrap_or_default())
    };
    let mut statuses = read(&mut open)?;
    let differs = |statuses: &[ServerStatus], p: &Project| {
        statuses
            .iter()
            .any(|s| s.error.is_some() || !check::differences(&p.file, s, Some(&own)).is_empty())
    };
    if fix && differs(&statuses, &open.project) {
        let e = open.env().clone();
        let acme = super::account::acme_for(e.account.as_deref().unwrap_or_default())?;
        s.outcome(rt.block_on(async {
            let connected = connect(&mut open, &s).await?;
            let p = &open.project;
            tasks::provision::provision(&p.file, &e, &connected, &p.root, &s).await?;
            tasks::tls::refresh_timer(&p.file, &e, &connected, &acme, &s).await
        }))?;
        statuses = read(&mut open)?;
    }
    let p = &open.project;
    if json {
        let servers: Vec<_> = statuses
            .iter()
            .map(|s| {
                serde_json::json!({
                    "server": s.server,
                    "error": s.error,
                    "differences": check::differences(&p.file, s, Some(&own)),
                    "hosted": s.hosted,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"environment": env, "servers": servers})
            )
            .context("serializing")?
        );
    } else {
        for s in &statuses {
            if let Some(err) = &s.error {
                println!("{}: unreachable — {err}", s.server);
                continue;
            }
            let found = check::differences(&p.file, s, Some(&own));
            println!("{}: {}", s.server, check::summary(&found));
            for line in &found {
                println!("  - {line}");
            }
        }
    }
    if differs(&statuses, p) {
        if !json {
            eprintln!(
                "{}",
                if fix {
                    format!("Differences remain after provisioning {env} again; see above.")
                } else {
                    format!(
                        "Run `pond check {env} --fix` to provision {env} again (idempotent) and bring its team keys in step."
                    )
                }
            );
        }
        return Err(super::Failure::silent(1));
    }
    Ok(())
}
