//! What every environment command needs: the loaded project, the user's
//! key, progress output (spinners on a terminal, plain lines otherwise), a
//! runtime, and connections to an environment's servers that pin host keys
//! on first use and save them.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use pond::ssh::{Identity, Sink, Stream};
use pond::tasks::Connected;

/// `--project DIR` shared by every environment command.
#[derive(clap::Args, Clone)]
pub struct ProjectArg {
    /// The project directory (holding pond.json).
    #[arg(long, default_value = ".", global = true)]
    pub(super) project: PathBuf,
}

pub(super) use pond::project::Project;

pub(super) fn load_project(arg: &ProjectArg) -> Result<Project, super::Failure> {
    Project::open(&arg.project).map_err(|e| match e {
        pond::project::OpenError::Load(load) => super::Failure::from(load),
        missing => super::Failure::from(anyhow::anyhow!(
            "{missing}; create one with `pond init`, or pass --project DIR"
        )),
    })
}

/// The user's key (see [`pond::project::user_identity`]), saying so when
/// it was just generated.
pub(super) fn identity() -> anyhow::Result<Identity> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (identity, created) = rt.block_on(pond::project::user_identity())?;
    if created {
        eprintln!(
            "Generated your SSH key {} ({})",
            identity.path.display(),
            identity.fingerprint()
        );
    }
    Ok(identity)
}

/// Progress on stderr: on a terminal, one live spinner line per server
/// showing its latest output, with steps and errors printed above; else
/// plain `[server] line` lines (logs, CI).
pub(super) fn sink() -> Sink {
    if !std::io::stderr().is_terminal() {
        return Arc::new(|host: &str, stream: Stream, line: &str| {
            let mut err = std::io::stderr().lock();
            let _ = match stream {
                Stream::Step => writeln!(err, "[{host}] == {line}"),
                Stream::Stdout | Stream::Stderr => writeln!(err, "[{host}] {line}"),
            };
        });
    }
    let multi = indicatif::MultiProgress::new();
    let bars = Spinners(Default::default());
    let style = indicatif::ProgressStyle::with_template("{spinner} [{prefix}] {wide_msg}")
        .expect("valid template");
    Arc::new(move |host: &str, stream: Stream, line: &str| {
        let mut bars = bars.0.lock().expect("progress lock");
        let bar = bars.entry(host.to_string()).or_insert_with(|| {
            let bar = multi.add(indicatif::ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.set_prefix(host.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        match stream {
            Stream::Step => {
                let _ = multi.println(format!("[{host}] == {line}"));
                bar.set_message(line.to_string());
            }
            Stream::Stderr => {
                let _ = multi.println(format!("[{host}] {line}"));
            }
            Stream::Stdout => bar.set_message(line.to_string()),
        }
    })
}

/// Clears the spinners when the progress sink goes away.
pub(super) struct Spinners(
    std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
);

impl Drop for Spinners {
    fn drop(&mut self) {
        if let Ok(bars) = self.0.lock() {
            for bar in bars.values() {
                bar.finish_and_clear();
            }
        }
    }
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// A stop request tied to Ctrl-C: the first one asks the task to stop at its
/// next step (it then says what state the servers are in), a second one
/// ends at once.
pub(super) fn stop_on_ctrl_c(rt: &tokio::runtime::Runtime) -> pond::tasks::Stop {
    let stop = pond::tasks::Stop::default();
    let flag = stop.clone();
    rt.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.request();
            eprintln!("\nStopping after the current step (Ctrl-C again stops at once)…");
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    stop
}

/// Connects to an environment's servers and saves first-use host keys.
pub(super) async fn connect(
    project: &mut Project,
    env_index: usize,
    identity: &Identity,
    sink: &Sink,
) -> anyhow::Result<Vec<Connected>> {
    let (connected, pinned) = project.connect(env_index, identity, sink).await?;
    if pinned {
        eprintln!(
            "Pinned new host keys in {} (commit it so your team shares them).",
            project.path.display()
        );
    }
    Ok(connected)
}

pub(super) fn env_index(project: &Project, name: &str) -> anyhow::Result<usize> {
    project.env_index(name)
}
