//! `pond init`: writes a starter pond.json (and a .pondignore) into a
//! project directory, asking for the name and stack on a terminal.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use pond::config::{self, Stack, grammar};

use super::{CliResult, Failure};

#[derive(clap::Args)]
pub struct InitArgs {
    /// The project directory.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Project name (a-z, 0-9, '-'); asked for on a terminal when missing.
    #[arg(long)]
    name: Option<String>,
    /// Stack: php, static or wordpress; asked for on a terminal when missing.
    #[arg(long)]
    stack: Option<Stack>,
    /// Replace an existing pond.json.
    #[arg(long)]
    force: bool,
    /// Print what was written as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: InitArgs) -> CliResult {
    let dir = &args.dir;
    if !dir.is_dir() {
        return Err(anyhow!("{} is not a directory", dir.display()).into());
    }
    let path = dir.join(config::FILE_NAME);
    if path.exists() && !args.force {
        return Err(anyhow!(
            "{} already exists; pass --force to replace it",
            path.display()
        )
        .into());
    }
    let interactive = std::io::stdin().is_terminal();
    let name = match args.name {
        Some(name) => {
            grammar::project_name(&name).map_err(|expected| {
                Failure::invalid(
                    anyhow!(
                        "--name {} is not a valid project name; {expected}",
                        config::show(&name)
                    ),
                    vec![],
                )
            })?;
            name
        }
        None if interactive => ask_name(dir)?,
        None => {
            return Err(usage(
                "--name is required when Pond cannot ask (stdin is not a terminal)",
            ));
        }
    };
    let stack = match args.stack {
        Some(stack) => stack,
        None if interactive => ask_stack()?,
        None => {
            return Err(usage(
                "--stack is required when Pond cannot ask (stdin is not a terminal)",
            ));
        }
    };

    let created = pond::project::init(dir, &name, stack, args.force).map_err(|e| match e {
        pond::project::InitError::Invalid(problems) => {
            Failure::invalid(anyhow!("the starter project is not valid"), problems)
        }
        pond::project::InitError::Other(e) => Failure::from(e),
    })?;
    let (file, ignore_path, wrote_ignore) = (
        created.file,
        dir.join(&created.ignore_file),
        created.wrote_ignore,
    );
    if args.json {
        let out = serde_json::json!({
            "file": path.display().to_string(),
            "ignore_file": wrote_ignore.then(|| ignore_path.display().to_string()),
            "project": file,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).context("serializing")?
        );
    } else {
        println!(
            "Created {} (project {name}, stack {}).",
            path.display(),
            stack.as_str()
        );
        if wrote_ignore {
            println!(
                "Created {} listing what is never deployed.",
                ignore_path.display()
            );
        }
        println!(
            "Commit both files; they hold no secrets. Check the file any time with `pond validate`."
        );
    }
    Ok(())
}

fn usage(message: &str) -> Failure {
    Failure {
        code: 2,
        error: Some(anyhow!("{message}")),
        problems: vec![],
    }
}

/// A project name derived from the directory name, if it fits the grammar.
fn suggested_name(dir: &Path) -> Option<String> {
    let base = std::fs::canonicalize(dir)
        .ok()?
        .file_name()?
        .to_string_lossy()
        .to_lowercase();
    let mut name = String::new();
    for c in base.chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    let name = name
        .trim_end_matches('-')
        .chars()
        .take(32)
        .collect::<String>();
    let name = name.trim_end_matches('-').to_string();
    grammar::project_name(&name).is_ok().then_some(name)
}

pub(super) fn prompt(question: &str) -> anyhow::Result<String> {
    let mut out = std::io::stderr();
    write!(out, "{question}")?;
    out.flush()?;
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line)?;
    if read == 0 {
        return Err(anyhow!("input ended before an answer was given"));
    }
    Ok(line.trim().to_string())
}

fn ask_name(dir: &Path) -> Result<String, Failure> {
    let suggestion = suggested_name(dir);
    loop {
        let question = match &suggestion {
            Some(s) => format!("Project name [{s}]: "),
            None => "Project name: ".to_string(),
        };
        let answer = prompt(&question)?;
        let name = match (&suggestion, answer.is_empty()) {
            (Some(s), true) => s.clone(),
            _ => answer,
        };
        match grammar::project_name(&name) {
            Ok(()) => return Ok(name),
            Err(expected) => eprintln!(
                "{} is not a valid project name; {expected}",
                config::show(&name)
            ),
        }
    }
}

fn ask_stack() -> Result<Stack, Failure> {
    loop {
        let answer = prompt("Stack (php, static, wordpress) [php]: ")?;
        if answer.is_empty() {
            return Ok(Stack::Php);
        }
        match answer.parse() {
            Ok(stack) => return Ok(stack),
            Err(e) => eprintln!("{e}"),
        }
    }
}
