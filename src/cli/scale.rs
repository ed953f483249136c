//! `pond scale ENV N`: shows what scaling a load-balanced environment
//! takes (with the monthly price of new droplets), asks before deleting
//! droplets, then runs the engine's scale task with live progress.

use super::manage::confirm_by_typing;
use super::session::*;
use pond::tasks;

pub(super) fn scale(
    arg: &ProjectArg,
    env: &str,
    droplets: u32,
    yes: bool,
    dry_run: bool,
) -> super::CliResult {
    let p = load_project(arg)?;
    let (_, e) = tasks::find_env(&p.file, env).map_err(|e| super::Failure::invalid(e, vec![]))?;
    let account = e.account.clone().unwrap_or_default();
    let size = e.size.clone();
    let client = super::account::client_for(&account)?;
    let rt = runtime()?;
    let price = match size {
        Some(size) => rt
            .block_on(client.catalog())
            .ok()
            .and_then(|c| c.sizes.into_iter().find(|s| s.slug == size))
            .map(|s| s.price_monthly),
        None => None,
    };
    let plan = tasks::scale::plan(&p.file, env, droplets, price)
        .map_err(|e| super::Failure::invalid(e, vec![]))?;
    println!(
        "Scaling {env} from {} to {} web droplets will:",
        plan.current, plan.target
    );
    for line in &plan.lines {
        println!("  {line}");
    }
    if dry_run {
        println!("(dry run: nothing changed)");
        return Ok(());
    }
    if !plan.remove.is_empty() && !yes {
        confirm_by_typing(
            env,
            "The deleted droplets and anything stored only on them are gone.",
            "deleting droplets",
        )?;
    }
    let mut open = open_loaded(p, env)?;
    let s = sink();
    let p = &mut open.project;
    s.outcome(rt.block_on(tasks::scale::execute(
        &client,
        &mut p.file,
        &p.path,
        &p.root,
        &open.identity,
        &plan,
        &s,
    )))?;
    println!(
        "{env} runs {} web droplets behind its load balancer.",
        plan.target
    );
    Ok(())
}
