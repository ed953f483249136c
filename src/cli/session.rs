//! What every environment command needs: the loaded project, the user's
//! key, progress output (spinners on a terminal, plain lines otherwise), a
//! runtime, and connections to an environment's servers that pin host keys
//! on first use and save them.

use std::path::PathBuf;

use pond::ssh::{Identity, Sink};
use pond::tasks::Connected;

use super::progress::Progress;

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

/// The command's progress on stderr (see [`super::progress`]): spinners
/// whose steps end as ✓/✗ lines on a terminal, plain lines otherwise.
pub(super) fn sink() -> Progress {
    Progress::new()
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
