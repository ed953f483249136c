//! `pond scale ENV N`: shows what scaling a load-balanced environment
//! takes (with the monthly price of new droplets; `--dry-run` adds the
//! DigitalOcean requests the run sends), asks before deleting droplets,
//! then runs the engine's scale task with live progress.

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
    let mut open = open_loaded(p, env)?;
    let plan = tasks::scale::plan(
        &open.project.file,
        env,
        droplets,
        price,
        &open.identity.public_line(),
    )
    .map_err(|e| super::Failure::invalid(e, vec![]))?;
    println!(
        "Scaling {env} from {} to {} web droplets will:",
        plan.current, plan.target
    );
    for line in &plan.lines {
        println!("  {line}");
    }
    if dry_run {
        if !plan.requests.operations.is_empty() {
            println!("The DigitalOcean requests known before the run, in the order they are sent:");
            for line in plan.requests.outline() {
                println!("  {line}");
            }
        }
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
