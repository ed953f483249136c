//! `pond exec ENV [--colour live|inactive] [--server NAME] -- COMMAND
//! ARGS…`: runs one command in a release of the environment as its site
//! user ([`pond::tasks::exec`]); the command's output goes to this
//! process's stdout and stderr as it comes, and its exit code becomes
//! Pond's.

use std::io::Write;
use std::sync::Arc;

use pond::ssh::{Sink, Stream};
use pond::tasks::exec::{self, Colour};

use super::session::*;

#[derive(clap::Args)]
pub struct ExecArgs {
    env: String,
    /// The release to run in: the live one, or the inactive colour's.
    #[arg(long, value_enum, default_value = "live")]
    colour: Colour,
    /// The web server to run on (default: the environment's first).
    #[arg(long)]
    server: Option<String>,
    /// Seconds the command may run before it is stopped.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    timeout: u32,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

pub(super) fn run(arg: &ProjectArg, a: ExecArgs) -> super::CliResult {
    let (mut open, progress) = open_env(arg, &a.env)?;
    let rt = runtime()?;
    let connected = progress.outcome(rt.block_on(connect(&mut open, &progress)))?;
    let (p, e) = (&open.project, open.env().clone());
    // The command's own output, as it is: stdout to stdout, the rest to stderr.
    let passthrough: Sink = Arc::new(|_: &str, stream: Stream, line: &str| {
        if stream == Stream::Stdout {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        } else {
            eprintln!("{line}");
        }
    });
    let code = rt.block_on(exec::run(
        &p.file,
        &e,
        &connected,
        a.server.as_deref(),
        a.colour,
        &a.command,
        a.timeout,
        &passthrough,
    ))?;
    match u8::try_from(code) {
        Ok(0) => Ok(()),
        Ok(code) => Err(super::Failure::silent(code)),
        Err(_) => Err(super::Failure::silent(1)),
    }
}
