//! `pond secret set|generate|list|remove ENV …`: the environment's app
//! secrets on its servers ([`pond::tasks::secrets`]). A value comes from
//! stdin or a hidden prompt, never from the command line; listing shows
//! names and when each was set, never values.

use std::io::{IsTerminal, Read};

use anyhow::Context;
use clap::Subcommand;

use super::session::*;
use pond::tasks::secrets;

#[derive(Subcommand)]
pub enum SecretCommand {
    /// Set a secret: the value from stdin, or a hidden prompt on a terminal.
    Set {
        env: String,
        /// A-Z, 0-9 and '_' (e.g. MAIL_PASSWORD); templates use {{ secrets.NAME }}.
        name: String,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Generate a random secret on the server (it never reaches this machine's disk or screen).
    Generate {
        env: String,
        name: String,
        /// Random bytes.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(16..=256))]
        bytes: u32,
        /// Base64 instead of hex (Laravel's APP_KEY: `APP_KEY=base64:{{ secrets.APP_KEY }}`).
        #[arg(long)]
        base64: bool,
        /// Replace a secret that is already set (a new APP_KEY loses what the old one encrypted).
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// List the secrets' names and when each was set (never values).
    List {
        env: String,
        /// Print the list as JSON on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        project: ProjectArg,
    },
    /// Remove a secret from the environment's servers.
    Remove {
        env: String,
        name: String,
        #[command(flatten)]
        project: ProjectArg,
    },
}

/// The value from stdin (one trailing newline dropped), or a hidden prompt.
fn read_value(name: &str) -> anyhow::Result<Vec<u8>> {
    let stdin = std::io::stdin();
    let mut value = if stdin.is_terminal() {
        super::account::prompt_hidden(&format!("Value of {name} (not shown): "))?.into_bytes()
    } else {
        let mut bytes = vec![];
        stdin
            .lock()
            .read_to_end(&mut bytes)
            .context("reading the value from stdin")?;
        bytes
    };
    if value.ends_with(b"\n") {
        value.pop();
        if value.ends_with(b"\r") {
            value.pop();
        }
    }
    if value.is_empty() {
        anyhow::bail!(
            "no value given for {name} (pipe it on stdin or type it at the prompt); nothing was set"
        );
    }
    pond::tasks::secrets::check_value(name, &value)?;
    Ok(value)
}

pub fn run(command: SecretCommand) -> super::CliResult {
    let (env, project) = match &command {
        SecretCommand::Set { env, project, .. }
        | SecretCommand::Generate { env, project, .. }
        | SecretCommand::List { env, project, .. }
        | SecretCommand::Remove { env, project, .. } => (env.clone(), project.clone()),
    };
    let check = |name: &str| {
        pond::config::grammar::secret_name(name).map_err(|e| {
            super::Failure::invalid(
                anyhow::anyhow!("secret name {}: {e}", pond::config::show(name)),
                vec![],
            )
        })
    };
    let value = match &command {
        SecretCommand::Set { name, .. } => {
            check(name)?;
            Some(read_value(name)?)
        }
        SecretCommand::Generate { name, .. } | SecretCommand::Remove { name, .. } => {
            check(name)?;
            None
        }
        SecretCommand::List { .. } => None,
    };
    let (mut open, s) = open_env(&project, &env)?;
    let rt = runtime()?;
    let connected = s.outcome(rt.block_on(connect(&mut open, &s)))?;
    let (p, e) = (&open.project, open.env());
    match command {
        SecretCommand::Set { name, .. } => {
            let value = value.unwrap_or_default();
            s.outcome(rt.block_on(secrets::set(&p.file, e, &connected, &name, &value, &s)))?;
            println!("{name} is set on {env}'s servers; the next deploy fills it in.");
        }
        SecretCommand::Generate {
            name,
            bytes,
            base64,
            replace,
            ..
        } => {
            let how = secrets::Generate {
                bytes,
                base64,
                replace,
            };
            s.outcome(rt.block_on(secrets::generate(&p.file, e, &connected, &name, how, &s)))?;
            println!("{name} is generated on {env}'s servers; the next deploy fills it in.");
        }
        SecretCommand::Remove { name, .. } => {
            s.outcome(rt.block_on(secrets::remove(&p.file, e, &connected, &name, &s)))?;
            println!("{name} is removed from {env}'s servers.");
        }
        SecretCommand::List { json, .. } => {
            let listed = s.outcome(rt.block_on(secrets::list(&p.file, e, &connected)))?;
            if json {
                let out: Vec<_> = listed
                    .iter()
                    .map(|(server, secrets)| serde_json::json!({"server": server, "secrets": secrets}))
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out).context("serializing")?
                );
            } else {
                for (server, secrets) in &listed {
                    println!("{server}:");
                    if secrets.is_empty() {
                        println!("  (no secrets)");
                    }
                    for secret in secrets {
                        println!("  {:<24} set {}", secret.name, secret.set_at);
                    }
                }
            }
        }
    }
    Ok(())
}
