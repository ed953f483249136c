//! `pond team list|add|remove`: the team's public keys in pond.json (each
//! member's OpenSSH public key; servers Pond creates accept them). Only
//! public keys: a private key is refused by the same rules as the file.

use clap::Subcommand;

use super::session::{ProjectArg, load_project};
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
