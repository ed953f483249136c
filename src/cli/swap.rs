//! The swap family: `swap`, `rollback` (with `--with-data`) and the dry
//! runs of both, `rollback --to`'s included, which say what would go live
//! and from where. (`rollback --to` itself runs in [`super::ops`].)

use pond::tasks::{self, operate};

use super::deploy::{Mode, print_plan};
use super::manage::confirm_by_typing;
use super::session::*;
use super::summary::*;

/// `swap --dry-run`: what would go live, whether its health check passes,
/// and the plan the swap would run (built as the swap builds it).
pub(super) fn preview_swap(
    arg: &ProjectArg,
    env: &str,
    force: bool,
    mode: Mode,
) -> super::CliResult {
    let (mut open, s) = open_env(arg, env)?;
    let e = open.env().clone();
    s.outcome(runtime()?.block_on(async {
        let connected = connect(&mut open, &s).await?;
        let p = &open.project;
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
        if !p.file.hooks.pre_swap.is_empty() {
            println!(
                "First, the pre-swap hooks ({}) would run on the first web server, after a database snapshot.",
                p.file
                    .hooks
                    .pre_swap
                    .iter()
                    .map(|h| h.script())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        match tasks::swap::swap_plan(&p.file, &e, &connected, force).await {
            Ok(plan) => print_plan(&plan, mode),
            Err(refused) => println!("The swap would be refused: {refused:#}"),
        }
        println!("Nothing was changed (dry run).");
        anyhow::Ok(())
    }))?;
    Ok(())
}

/// `rollback --dry-run` (and `--to ID --dry-run`): which release would go
/// live, whether the inactive colour would have to be pointed at it, and
/// the plans the rollback would run.
pub(super) fn preview_rollback(
    arg: &ProjectArg,
    env: &str,
    to: Option<&str>,
    (force, with_data): (bool, bool),
    mode: Mode,
) -> super::CliResult {
    let (mut open, s) = open_env(arg, env)?;
    let e = open.env().clone();
    s.outcome(runtime()?.block_on(async {
        let connected = connect(&mut open, &s).await?;
        let p = &open.project;
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
                "{}: would make release {target} live{} ({})",
                st.server,
                if !kept {
                    " — refused: it is no longer kept here".to_string()
                } else if holds && to.is_none() {
                    String::new()
                } else if holds {
                    format!(
                        ", pointing {} at it again first",
                        inactive.map(|c| c.as_str()).unwrap_or("the inactive colour")
                    )
                } else {
                    format!(
                        ", pointing {} back at it first",
                        inactive.map(|c| c.as_str()).unwrap_or("the inactive colour")
                    )
                },
                if force {
                    "not health-checked: --force"
                } else {
                    "health-checked first"
                }
            );
        }
        let planned = tasks::swap::rollback_plan(&p.file, &e, &connected, to, force, with_data);
        let refused = match planned.await {
            Ok(plans) => {
                plans.iter().for_each(|plan| print_plan(plan, mode));
                false
            }
            Err(refused) => {
                println!("The rollback would be refused: {refused:#}");
                true
            }
        };
        if with_data && !refused {
            println!(
                "Then (--with-data) the database is restored from the snapshot the undone swap took, after asking."
            );
        }
        println!("Nothing was changed (dry run).");
        anyhow::Ok(())
    }))?;
    Ok(())
}

pub(super) fn swap(arg: &ProjectArg, env: &str, force: bool) -> super::CliResult {
    let (mut open, s) = open_env(arg, env)?;
    let e = open.env().clone();
    let started = std::time::Instant::now();
    let rt = runtime()?;
    let (live, connected) = s.outcome(rt.block_on(async {
        let connected = connect(&mut open, &s).await?;
        let p = &open.project;
        let live = tasks::swap::swap(&p.file, &e, &connected, force, &s).await?;
        anyhow::Ok((live, connected))
    }))?;
    println!(
        "{} is live on {} ({}) in {}: {}. Undo with: pond rollback {env}",
        live.as_str(),
        plural(web_count(&connected), "server"),
        e.name,
        took(started),
        super::tls::served_urls(&open.project.file, &e, &connected, &rt).production
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
    let (mut open, s) = open_env(arg, env)?;
    let e = open.env().clone();
    let started = std::time::Instant::now();
    let rt = runtime()?;
    let connected = s.outcome(rt.block_on(connect(&mut open, &s)))?;
    let p = &open.project;
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
