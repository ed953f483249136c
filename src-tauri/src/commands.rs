//! The commands the window calls. Each converts its arguments, runs one
//! engine task, and converts the result for the window; progress streams
//! through a `Channel`. Engine work runs on its own runtime on a blocking
//! thread, so a slow server never stalls the window's event loop.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use tauri::ipc::Channel;

use crate::view::*;
use pond::config::{self, Stack};
use pond::project::{self, OpenEnv, OpenError, Project};
use pond::settings::Settings;
use pond::ssh::{Sink, Stream, session::quiet};
use pond::tasks::{self, deploy, operate};

pub type Res<T> = Result<T, UiError>;

/// Runs an engine future on a runtime of its own, off the window's threads.
pub async fn engine<T, F, Fut>(work: F) -> Res<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
{
    tauri::async_runtime::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the engine's runtime")?;
        rt.block_on(work())
    })
    .await
    .map_err(|e| anyhow!("the task stopped unexpectedly: {e}"))?
    .map_err(UiError::from)
}

/// Runs blocking work (the keychain, files) off the window's threads.
pub async fn blocking<T, F>(work: F) -> Res<T>
where
    T: Send + 'static,
    F: FnOnce() -> anyhow::Result<T> + Send + 'static,
{
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| anyhow!("the task stopped unexpectedly: {e}"))?
        .map_err(UiError::from)
}

/// Progress lines to the window, in order.
pub fn channel_sink(channel: Channel<Progress>) -> Sink {
    Arc::new(move |host: &str, stream: Stream, line: &str| {
        let stream = match stream {
            Stream::Step | Stream::Done => "step",
            Stream::Stdout => "out",
            Stream::Stderr => "err",
        };
        let _ = channel.send(Progress {
            host: host.to_string(),
            stream: stream.to_string(),
            line: line.to_string(),
        });
    })
}

/// Opens a project; a file that does not validate is an error listing its
/// problems with their JSON paths.
pub fn open(dir: &str) -> anyhow::Result<Project> {
    Project::open(Path::new(dir)).map_err(|e| match e {
        OpenError::Load(load) => {
            let problems: Vec<String> = load.problems().iter().map(|p| p.to_string()).collect();
            anyhow!("{load}: {}", problems.join("; "))
        }
        other => anyhow!(other),
    })
}

/// Opens one environment of a project with the user's key.
pub async fn open_env(dir: &str, env: &str) -> anyhow::Result<OpenEnv> {
    open(dir)?.open_env(env).await
}

/// Opens one environment of a project and connects to its servers.
pub async fn connect(
    dir: &str,
    env: &str,
    sink: &Sink,
) -> anyhow::Result<(OpenEnv, Vec<tasks::Connected>)> {
    let mut open = open_env(dir, env).await?;
    let (connected, _) = open.connect(sink).await?;
    Ok((open, connected))
}

#[tauri::command]
pub fn app_info() -> AppInfo {
    AppInfo {
        version: pond::VERSION.to_string(),
        templates: pond::plan::template::ids()
            .into_iter()
            .map(str::to_string)
            .collect(),
    }
}

/// The project folder given on the command line (`pond-app DIR`), if any.
#[tauri::command]
pub fn startup_project() -> Option<String> {
    std::env::args_os()
        .skip(1)
        .find(|a| !a.to_string_lossy().starts_with('-'))
        .map(|a| std::path::absolute(PathBuf::from(a)).unwrap_or_default())
        .map(|p| p.display().to_string())
}

#[tauri::command]
pub async fn open_project(dir: String) -> Res<Opened> {
    blocking(move || {
        // A folder that is not there is an error, not "no pond.json yet":
        // nothing could be created in it.
        if !Path::new(&dir).is_dir() && !Path::new(&dir).is_file() {
            return Err(anyhow!("{dir} does not exist"));
        }
        let opened = match Project::open(Path::new(&dir)) {
            Ok(p) => Opened::Project {
                project: ProjectView::new(&p.root, &p.path, &p.file),
            },
            Err(OpenError::Missing(_)) => Opened::Missing { dir: dir.clone() },
            Err(OpenError::Load(e)) => {
                if e.problems().is_empty() {
                    return Err(anyhow!(e));
                }
                Opened::Invalid {
                    file: config::resolve_path(Path::new(&dir)).display().to_string(),
                    problems: e.problems().iter().map(ProblemView::from).collect(),
                }
            }
        };
        // The recent list is a convenience: a broken settings file must not
        // stop a project from opening.
        if let Ok(mut settings) = Settings::load() {
            settings.remember_project(&PathBuf::from(&dir));
            let _ = settings.save();
        }
        Ok(opened)
    })
    .await
}

#[tauri::command]
pub async fn recent_projects() -> Res<Vec<String>> {
    blocking(|| {
        Ok(Settings::load()?
            .recent_projects
            .iter()
            .map(|p| p.display().to_string())
            .collect())
    })
    .await
}

#[tauri::command]
pub async fn init_project(req: InitRequest) -> Res<ProjectView> {
    let stack: Stack = req
        .stack
        .parse()
        .map_err(|e: String| UiError::from(anyhow!(e)))?;
    let dir = PathBuf::from(&req.dir);
    match project::init(&dir, &req.name, stack, false) {
        Ok(done) => Ok(ProjectView::new(&dir, &done.path, &done.file)),
        Err(project::InitError::Invalid(problems)) => Err(UiError {
            message: "the project cannot be created".into(),
            hint: None,
            problems: problems.iter().map(ProblemView::from).collect(),
        }),
        Err(project::InitError::Other(e)) => Err(e.into()),
    }
}

#[tauri::command]
pub async fn env_status(req: EnvRef) -> Res<EnvStatus> {
    engine(move || async move {
        let OpenEnv {
            project: mut p,
            index,
            identity,
            ..
        } = open_env(&req.dir, &req.env).await?;
        let (mut all, _) = p.statuses(&[index], &identity).await?;
        let (e, statuses) = all.remove(0);
        let balancer = crate::serving::balancer(&e).await;
        let urls = crate::serving::urls_from_status(
            &e,
            &statuses,
            balancer.as_ref().is_some_and(|b| b.serves),
        );
        let own = identity.public_line();
        let servers: Vec<ServerView> = statuses
            .into_iter()
            .map(|s| ServerView::of(s, &p.file, &e.name, &own))
            .collect();
        Ok(EnvStatus {
            env: e.name,
            checked_at: pond::tasks::state::now(),
            production_url: urls.production,
            preview_url: urls.preview,
            balancer_https_needs_attention: balancer.as_ref().is_some_and(|b| b.needs_attention),
            balancer_https: balancer.map(|b| b.line),
            servers,
        })
    })
    .await
}

#[tauri::command]
pub async fn deploy(
    req: DeployRequest,
    on_event: Channel<Progress>,
    runs: tauri::State<'_, crate::cancel::Runs>,
) -> Res<DeployResult> {
    const CANCELLED: &str = "Deploy cancelled. The live colour was not touched; the inactive colour may hold an unfinished release, which the next deploy replaces. If the next deploy says the lock is held, wait ~15 s for the server to notice.";
    let run_id = req.run_id.clone();
    crate::cancel::cancellable(&runs, run_id, CANCELLED, move || async move {
        let sink = channel_sink(on_event);
        let (open, connected) = connect(&req.dir, &req.env, &sink).await?;
        let p = &open.project;
        let tag = req
            .tag
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| project::default_tag(&p.root));
        let options = deploy::DeployOptions {
            scan: None,
            tag,
            dry_run: req.dry_run,
            break_lock: false,
            data: None,
        };
        let sessions = pond::tasks::CloneSessions::clone_sessions(&connected[..]);
        let reports =
            deploy::deploy(&p.file, &p.root, &req.env, connected, &options, &sink).await?;
        let e = open.env();
        let urls = crate::serving::urls(&p.file, e, &sessions).await;
        let first = reports.first();
        Ok(DeployResult {
            colour: first
                .map(|r| r.colour.as_str().to_string())
                .unwrap_or_default(),
            first: first.is_some_and(|r| r.first),
            preview_url: urls.preview,
            hooks: p
                .file
                .hooks
                .post_deploy
                .iter()
                .map(|h| h.script().to_string())
                .collect(),
            servers: reports
                .iter()
                .map(|r| ServerDeployView {
                    server: r.server.clone(),
                    release: r.release.clone(),
                    files_sent: r.files_sent as u32,
                    bytes_sent: r.bytes_sent as f64,
                    files_deleted: r.files_deleted as u32,
                    plan: PlannedStep::all(&r.plan),
                })
                .collect(),
        })
    })
    .await
}

#[tauri::command]
pub async fn check_health(req: EnvRef, on_event: Channel<Progress>) -> Res<Vec<HealthView>> {
    engine(move || async move {
        let sink = channel_sink(on_event);
        let (open, connected) = connect(&req.dir, &req.env, &sink).await?;
        let (p, e) = (&open.project, open.env().clone());
        let health = operate::health(&p.file, &e, &connected, &sink).await?;
        Ok(health.into_iter().map(HealthView::from).collect())
    })
    .await
}

#[tauri::command]
pub async fn swap(req: SwapRequest, on_event: Channel<Progress>) -> Res<SwapResult> {
    engine(move || async move {
        let sink = channel_sink(on_event);
        let (open, connected) = connect(&req.dir, &req.env, &sink).await?;
        let (p, e) = (&open.project, open.env().clone());
        let live = tasks::swap::swap(&p.file, &e, &connected, req.force, &sink).await?;
        Ok(SwapResult {
            live: live.as_str().to_string(),
            production_url: crate::serving::urls(&p.file, &e, &connected)
                .await
                .production,
        })
    })
    .await
}

/// Makes the release that was live before the last swap live again (the
/// engine's rollback: pointed back and health-checked when a deploy has
/// replaced it in the inactive colour; refused, saying why, when none is
/// recorded or kept); with `with_data`, restores the database snapshot that
/// swap took (the window asked for the environment's name first).
#[tauri::command]
pub async fn rollback(req: RollbackRequest, on_event: Channel<Progress>) -> Res<RollbackResult> {
    engine(move || async move {
        let sink = channel_sink(on_event);
        let (open, connected) = connect(&req.dir, &req.env, &sink).await?;
        let (p, e) = (&open.project, open.env().clone());
        let done =
            tasks::swap::rollback(&p.file, &e, &connected, false, req.with_data, &sink).await?;
        Ok(RollbackResult {
            live: done.live.as_str().to_string(),
            release: done.release,
            restored: done.restored,
            data_left: done.data_left,
        })
    })
    .await
}

/// What a swap would run now (the engine's plan: one swap per web
/// server), or why it would be refused; the swap window shows it with the
/// health check.
#[tauri::command]
pub async fn swap_plan(req: EnvRef) -> Res<PlanView> {
    engine(move || async move {
        let (open, connected) = connect(&req.dir, &req.env, &quiet()).await?;
        let plan =
            tasks::swap::swap_plan(&open.project.file, open.env(), &connected, false).await?;
        Ok(PlanView::from(&plan))
    })
    .await
}

/// What [`rollback`] or [`rollback_to`] would run now (the engine's plans:
/// pointing the inactive colour at the release when needed, then the
/// swap), or why it would be refused; the windows show it before asking.
#[tauri::command]
pub async fn rollback_plan(req: RollbackPlanRequest) -> Res<Vec<PlanView>> {
    engine(move || async move {
        let (open, connected) = connect(&req.dir, &req.env, &quiet()).await?;
        let plans = tasks::swap::rollback_plan(
            &open.project.file,
            open.env(),
            &connected,
            req.release.as_deref(),
            false,
            req.with_data,
        )
        .await?;
        Ok(plans.iter().map(PlanView::from).collect())
    })
    .await
}

/// Makes a kept release live: the inactive colour is pointed at it,
/// health-checked, then swapped in (the window showed that plan first).
#[tauri::command]
pub async fn rollback_to(req: RollbackToRequest, on_event: Channel<Progress>) -> Res<SwapResult> {
    engine(move || async move {
        let sink = channel_sink(on_event);
        let (open, connected) = connect(&req.dir, &req.env, &sink).await?;
        let (p, e) = (&open.project, open.env().clone());
        let live =
            tasks::swap::rollback_to(&p.file, &e, &connected, &req.release, false, &sink).await?;
        Ok(SwapResult {
            live: live.as_str().to_string(),
            production_url: crate::serving::urls(&p.file, &e, &connected)
                .await
                .production,
        })
    })
    .await
}

/// The deploy log and error-log tails of every server of an environment.
#[tauri::command]
pub async fn server_logs(req: LogRequest) -> Res<Vec<Progress>> {
    engine(move || async move {
        let collected: Arc<Mutex<Vec<Progress>>> = Arc::default();
        let into = collected.clone();
        let sink: Sink = Arc::new(move |host: &str, _s: Stream, line: &str| {
            if let Ok(mut v) = into.lock() {
                v.push(Progress {
                    host: host.to_string(),
                    stream: "out".into(),
                    line: line.to_string(),
                });
            }
        });
        let (open, connected) = connect(&req.dir, &req.env, &quiet()).await?;
        let p = &open.project;
        let step = tasks::logs::step(&p.file, &req.env, req.lines, false, None)?;
        tasks::logs::show(&step, &connected, &sink).await?;
        let lines = collected.lock().map(|v| v.clone()).unwrap_or_default();
        Ok(lines)
    })
    .await
}
