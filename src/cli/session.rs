//! What every environment command needs: [`open_env`] (the loaded project,
//! the environment, the user's key, progress output — spinners on a
//! terminal, plain lines otherwise), a runtime, and [`connect`] to the
//! environment's servers, which pins host keys on first use and saves them.

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

pub(super) use pond::project::{OpenEnv, Project};

pub(super) fn load_project(arg: &ProjectArg) -> Result<Project, super::Failure> {
    Project::open(&arg.project).map_err(|e| match e {
        pond::project::OpenError::Load(load) => super::Failure::from(load),
        missing => super::Failure::from(anyhow::anyhow!(
            "{missing}; create one with `pond init`, or pass --project DIR"
        )),
    })
}

/// The user's key (see [`pond::project::user_identity`]), saying so when
/// it was just generated: for the commands that work without an
/// environment (an environment command gets it from [`open_env`]).
pub(super) fn identity() -> anyhow::Result<Identity> {
    let (identity, created) = block_on(pond::project::user_identity())??;
    if created {
        say_key_generated(&identity);
    }
    Ok(identity)
}

fn say_key_generated(identity: &Identity) {
    eprintln!(
        "Generated your SSH key {} ({})",
        identity.path.display(),
        identity.fingerprint()
    );
}

fn block_on<T>(work: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(work))
}

/// What every environment command starts from: the project at `--project`,
/// its environment `name` with the user's key, and the command's progress.
pub(super) fn open_env(
    arg: &ProjectArg,
    name: &str,
) -> Result<(OpenEnv, Progress), super::Failure> {
    let project = load_project(arg)?;
    Ok((open_loaded(project, name)?, sink()))
}

/// Opens environment `name` of a project already loaded (for a command
/// that checks the project before it needs the key).
pub(super) fn open_loaded(project: Project, name: &str) -> anyhow::Result<OpenEnv> {
    let env = block_on(project.open_env(name))??;
    if env.key_generated {
        say_key_generated(&env.identity);
    }
    Ok(env)
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

/// Connects to an environment's servers, saying so when first-use host
/// keys were pinned and saved.
pub(super) async fn connect(env: &mut OpenEnv, sink: &Sink) -> anyhow::Result<Vec<Connected>> {
    let (connected, pinned) = env.connect(sink).await?;
    if pinned {
        eprintln!(
            "Pinned new host keys in {} (commit it so your team shares them).",
            env.project.path.display()
        );
    }
    Ok(connected)
}
