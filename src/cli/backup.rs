//! `pond backup ENV` (take one now), `pond backup list|restore|download
//! ENV …`: the environment's backups on its servers
//! ([`pond::tasks::backups`]). A restore says what it replaces and asks for
//! the environment's name first (`--yes` without a terminal).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::session::*;
use pond::tasks::backups;

/// `pond backup`'s arguments: an environment to back up now, or a
/// subcommand.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    command: Option<BackupCommand>,
    /// Back up this environment now: its database and shared paths, on its servers.
    env: Option<String>,
    #[command(flatten)]
    project: ProjectArg,
}

#[derive(Subcommand)]
pub enum BackupCommand {
    /// List the backups kept on the environment's servers, and how the last run went.
    List {
        env: String,
        /// Print the list as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Put a backup back: the database and the shared paths as they were
    /// (a backup of the present is taken first).
    Restore {
        env: String,
        /// The backup's id (`pond backup list`).
        id: String,
        /// Do not ask to type the environment name back.
        #[arg(long)]
        yes: bool,
    },
    /// Copy a backup's files (database dump, shared paths, manifest) into a local directory.
    Download {
        env: String,
        id: String,
        /// Where to put them (made if missing).
        dir: PathBuf,
    },
}

pub fn run(args: BackupArgs) -> super::CliResult {
    let env = match (&args.command, &args.env) {
        (Some(BackupCommand::List { env, .. }), _)
        | (Some(BackupCommand::Restore { env, .. }), _)
        | (Some(BackupCommand::Download { env, .. }), _)
        | (None, Some(env)) => env.clone(),
        (None, None) => {
            return Err(super::Failure::usage(
                "which environment? `pond backup ENV` takes a backup now; `pond backup list ENV` lists them",
            ));
        }
    };
    let (mut open, s) = open_env(&args.project, &env)?;
    let rt = runtime()?;
    let connected = s.outcome(rt.block_on(connect(&mut open, &s)))?;
    let (p, e) = (&open.project, open.env());
    match args.command {
        None => {
            let taken = s.outcome(rt.block_on(backups::take(&p.file, e, &connected, &s)))?;
            println!("Backup {taken} of {env} is kept on its servers (pond backup list {env}).");
        }
        Some(BackupCommand::List { json, .. }) => {
            let listed = s.outcome(rt.block_on(backups::list(&p.file, e, &connected)))?;
            if json {
                let out: Vec<_> = listed
                    .iter()
                    .map(|(server, backups, last)| serde_json::json!({"server": server, "backups": backups, "last_run": last}))
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out).context("serializing")?
                );
                return Ok(());
            }
            for (server, kept, last) in &listed {
                println!("{server}:");
                if kept.is_empty() {
                    println!("  (no backups)");
                }
                for b in kept {
                    println!("  {}  {}  {} bytes", b.id, b.at, b.bytes);
                }
                match last {
                    Some(l) if l.running => println!("  a run started {} is not finished", l.at),
                    Some(l) if l.ok => println!("  last run {}: ok", l.at),
                    Some(l) => println!("  last run {}: FAILED — {}", l.at, l.detail),
                    None => {}
                }
            }
        }
        Some(BackupCommand::Restore {
            id: backup, yes, ..
        }) => {
            let what = format!(
                "This replaces {env}'s database and shared paths with backup {backup}: what was written since is lost (a backup of the present is taken first)."
            );
            if yes {
                eprintln!("{what}");
            } else {
                super::manage::confirm_by_typing(&env, &what, "pond backup restore")?;
            }
            s.outcome(rt.block_on(backups::restore(&p.file, e, &connected, &backup, &s)))?;
            println!("{env} is restored from backup {backup}.");
        }
        Some(BackupCommand::Download {
            id: backup, dir, ..
        }) => {
            let written = s.outcome(
                rt.block_on(backups::download(&p.file, e, &connected, &backup, &dir, &s)),
            )?;
            for f in &written {
                println!("{}", f.display());
            }
        }
    }
    Ok(())
}
