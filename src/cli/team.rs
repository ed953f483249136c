//! `pond team list|add|remove`: the team's public keys in pond.json (each
//! member's OpenSSH public key). Only public keys: a private key is refused
//! by the same rules as the file. `pond access sync [ENV]` writes them to
//! the servers (provision and deploy do it too), so a removed member is
//! refused there.

use clap::Subcommand;

use super::session::{ProjectArg, connect, load_project, open_loaded, runtime, sink};
use super::{CliResult, Failure};
use pond::project::InitError;

#[derive(Subcommand)]
pub enum TeamCommand {
    /// List the team's keys.
    List {
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Add (or replace) a member's public key.
    Add {
        /// The member's name (a-z, 0-9, '-').
        name: String,
        /// One OpenSSH public key line, e.g. "ssh-ed25519 AAAA… ana@laptop".
        #[arg(long, allow_hyphen_values = true)]
        key: String,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Remove a member's key.
    Remove {
        name: String,
        #[command(flatten)]
        project: ProjectArg,
    },
}

pub fn run(command: TeamCommand) -> CliResult {
    match command {
        TeamCommand::List { project } => {
            let p = load_project(&project)?;
            if p.file.team_keys.is_empty() {
                println!("No team keys in {}.", p.path.display());
            }
            for k in &p.file.team_keys {
                println!("{:<20} {}", k.name, k.public_key);
            }
            Ok(())
        }
        TeamCommand::Add { name, key, project } => {
            let mut p = load_project(&project)?;
            p.add_team_key(&name, &key).map_err(|e| match e {
                InitError::Invalid(problems) => {
                    Failure::invalid(anyhow::anyhow!("the key was not added"), problems)
                }
                InitError::Other(e) => Failure::from(e),
            })?;
            eprintln!("Added {name}'s key to {} (commit it).", p.path.display());
            Ok(())
        }
        TeamCommand::Remove { name, project } => {
            let mut p = load_project(&project)?;
            p.remove_team_key(&name)
                .map_err(|e| Failure::invalid(e, vec![]))?;
            eprintln!("Removed {name}'s key from {}.", p.path.display());
            Ok(())
        }
    }
}

#[derive(Subcommand)]
pub enum AccessCommand {
    /// Write the team's keys (and yours) to every server of ENV, or of
    /// every environment: keys no longer in pond.json are refused from then.
    Sync {
        /// The environment (default: all of them).
        env: Option<String>,
        #[command(flatten)]
        project: ProjectArg,
    },
}

pub fn run_access(command: AccessCommand) -> CliResult {
    let AccessCommand::Sync { env, project } = command;
    let mut p = load_project(&project)?;
    let envs: Vec<String> = match &env {
        Some(name) => vec![
            pond::tasks::find_env(&p.file, name)
                .map_err(|e| Failure::invalid(e, vec![]))?
                .1
                .name
                .clone(),
        ],
        None => p.file.environments.iter().map(|e| e.name.clone()).collect(),
    };
    if envs.is_empty() {
        eprintln!("pond.json has no environments; nothing to sync.");
        return Ok(());
    }
    let s = sink();
    let rt = runtime()?;
    for name in envs {
        let mut open = open_loaded(p, &name)?;
        s.outcome(rt.block_on(async {
            let connected = connect(&mut open, &s).await?;
            pond::tasks::access::sync(&open.project.file, &connected, &s).await
        }))?;
        p = open.project;
    }
    println!(
        "Team access in step: {} key(s) from {} plus yours.",
        p.file.team_keys.len(),
        p.path.display()
    );
    Ok(())
}
