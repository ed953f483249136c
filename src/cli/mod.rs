//! Command-line interface: clap definitions, dispatch, and the one place
//! that turns errors into stderr text and exit codes.

mod account;
mod backup;
mod check;
mod create;
mod deploy;
mod exec;
mod init;
#[cfg(all(target_os = "linux", feature = "lab"))]
mod lab;
mod manage;
mod ops;
mod progress;
mod scale;
mod secret;
mod session;
mod status;
mod summary;
mod swap;
mod team;
mod tls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};

use pond::config::{self, LoadError};
use pond::plan::{Action, Operation, Plan, Target, Template, TemplateError, template};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the operation failed (I/O, network, server)
  2  wrong command-line usage
  3  invalid input: the project file or a value given does not pass validation";

/// Run web apps on your own DigitalOcean servers: provision, deploy to the
/// inactive colour, preview, swap, roll back.
#[derive(Parser)]
#[command(name = "pond", bin_name = "pond", version, after_help = EXIT_CODES, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log what Pond does to stderr (-v: each task, step and server with
    /// its time; -vv: also each API call). `POND_LOG` takes a filter
    /// instead, `POND_LOG_DIR` adds a daily log file there.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Command {
    /// Create a starter pond.json in a project directory.
    Init(init::InitArgs),
    /// Check a pond.json and report every problem with its JSON path.
    Validate {
        /// The project file, or a directory holding pond.json.
        #[arg(default_value = "pond.json")]
        path: PathBuf,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of pond.json.
    Schema,
    /// Print the script a template would run, without running anything.
    /// Without a template, list the templates and their inputs.
    Plan {
        /// Template id, e.g. common/hello.
        template: Option<String>,
        /// An input value, NAME=VALUE; repeat for each input.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Print the plan as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Your DigitalOcean accounts (tokens live in the OS keychain).
    #[command(subcommand)]
    Account(account::AccountCommand),
    /// The team's public keys in pond.json.
    #[command(subcommand)]
    Team(team::TeamCommand),
    /// Team access on the servers.
    #[command(subcommand)]
    Access(team::AccessCommand),
    /// The environment's app secrets on its servers ({{ secrets.NAME }} in config templates).
    #[command(subcommand)]
    Secret(secret::SecretCommand),
    /// The environment's backups (database and shared paths) on its servers.
    Backup(backup::BackupArgs),
    /// The domain's HTTPS certificate on each web server; --renew gets a new one now.
    Tls(tls::TlsArgs),
    #[command(flatten)]
    Ops(ops::Ops),
    /// The offline lab: a DigitalOcean-compatible API whose droplets are
    /// real Debian servers in network namespaces on this machine (root only).
    #[cfg(all(target_os = "linux", feature = "lab"))]
    Lab(lab::LabArgs),
}

/// An error with the exit code it maps to.
pub struct Failure {
    code: u8,
    /// `None` when the command already reported the failure on stdout.
    error: Option<anyhow::Error>,
    /// Located problems printed one per line under the error.
    problems: Vec<config::Problem>,
}

impl Failure {
    fn invalid(error: anyhow::Error, problems: Vec<config::Problem>) -> Failure {
        Failure {
            code: 3,
            error: Some(error),
            problems,
        }
    }

    fn usage(message: &str) -> Failure {
        Failure {
            code: 2,
            error: Some(anyhow!("{message}")),
            problems: vec![],
        }
    }

    fn silent(code: u8) -> Failure {
        Failure {
            code,
            error: None,
            problems: vec![],
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure {
            code: 1,
            error: Some(error),
            problems: vec![],
        }
    }
}

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Failure {
        match e {
            LoadError::Invalid { .. } => {
                let problems = e.problems().to_vec();
                Failure::invalid(e.into(), problems)
            }
            LoadError::Io { .. } => Failure::from(anyhow::Error::from(e)),
        }
    }
}

impl From<TemplateError> for Failure {
    fn from(e: TemplateError) -> Failure {
        Failure::invalid(e.into(), vec![])
    }
}

pub type CliResult = Result<(), Failure>;

/// Parses arguments, runs the command, prints errors, returns the exit code.
/// Output read by a command that stopped reading (`pond … | head`) ends
/// Pond quietly, as it ends other command-line tools, not with a panic
/// message: `println!` panics on a closed stdout, and Rust leaves SIGPIPE
/// ignored (which the SSH connections need), so the panic is told apart
/// here and becomes exit 141 (128 + SIGPIPE), the shell's usual status.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if cfg!(unix)
            && message.starts_with("failed printing to stdout")
            && message.contains("os error 32")
        {
            std::process::exit(141);
        }
        default(info);
    }));
}

pub fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    let _logs = pond::logging::init_cli(cli.verbose);
    let what = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let span = tracing::info_span!("command", name = %what);
    let _in = span.enter();
    let started = std::time::Instant::now();
    let result = run(cli.command);
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        ok = result.is_ok(),
        "command done"
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(error) = &failure.error {
                eprintln!("error: {error}");
                for problem in &failure.problems {
                    eprintln!("  {problem}");
                }
                for cause in error.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
            }
            ExitCode::from(failure.code)
        }
    }
}

fn run(command: Command) -> CliResult {
    match command {
        Command::Init(args) => init::run(args),
        Command::Validate { path, json } => validate(&path, json),
        Command::Schema => {
            print!("{}", config::json_schema());
            Ok(())
        }
        Command::Plan {
            template,
            set,
            json,
        } => plan(template.as_deref(), &set, json),
        #[cfg(all(target_os = "linux", feature = "lab"))]
        Command::Lab(args) => lab::run(args),
        Command::Account(command) => account::run(command),
        Command::Team(command) => team::run(command),
        Command::Access(command) => team::run_access(command),
        Command::Secret(command) => secret::run(command),
        Command::Backup(args) => backup::run(args),
        Command::Tls(args) => tls::run(args),
        Command::Ops(op) => ops::run(op),
    }
}

fn validate(path: &Path, json: bool) -> CliResult {
    let path = config::resolve_path(path);
    let result = config::load(&path);
    if json {
        let (valid, problems) = match &result {
            Ok(_) => (true, vec![]),
            Err(LoadError::Invalid { problems, .. }) => (false, problems.clone()),
            Err(e @ LoadError::Io { .. }) => {
                (false, vec![config::Problem::new("(file)", error_chain(e))])
            }
        };
        let out = serde_json::json!({
            "file": path.display().to_string(),
            "valid": valid,
            "problems": problems,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).context("serializing")?
        );
        // The result is on stdout; keep stderr quiet but keep the exit code.
        return match result {
            Ok(_) => Ok(()),
            Err(LoadError::Invalid { .. }) => Err(Failure::silent(3)),
            Err(LoadError::Io { .. }) => Err(Failure::silent(1)),
        };
    }
    let file = result?;
    println!(
        "{} is valid: project {}, stack {}, {} environment{}",
        path.display(),
        file.name,
        file.stack.as_str(),
        file.environments.len(),
        if file.environments.len() == 1 {
            ""
        } else {
            "s"
        }
    );
    Ok(())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn plan(template_id: Option<&str>, set: &[String], json: bool) -> CliResult {
    let Some(id) = template_id else {
        return list_templates(json);
    };
    let template = Template::builtin(id)?;
    let mut values = BTreeMap::new();
    for pair in set {
        let (name, value) = pair.split_once('=').ok_or_else(|| {
            Failure::invalid(
                anyhow!("--set {}: expected NAME=VALUE", config::show(pair)),
                vec![],
            )
        })?;
        if values.insert(name.to_string(), value.to_string()).is_some() {
            return Err(Failure::invalid(
                anyhow!("--set {name} is given twice"),
                vec![],
            ));
        }
    }
    let script = template.render(&values)?;
    let plan = Plan {
        title: format!("template {id}"),
        operations: vec![Operation {
            description: template.summary.clone(),
            target: Target::Unbound,
            action: Action::Script {
                user: "root".into(),
                script,
            },
        }],
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan).context("serializing the plan")?
        );
    } else {
        print!("{plan}");
    }
    Ok(())
}

fn list_templates(json: bool) -> CliResult {
    let templates = template::ids()
        .into_iter()
        .map(Template::builtin)
        .collect::<Result<Vec<_>, _>>()?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&templates).context("serializing")?
        );
        return Ok(());
    }
    for t in templates {
        println!("{}  {}", t.id, t.summary);
        for i in &t.inputs {
            let req = if i.required { "required" } else { "optional" };
            println!(
                "    {} ({}, {req}): {}",
                i.name,
                i.kind.as_str(),
                i.description
            );
        }
    }
    Ok(())
}
