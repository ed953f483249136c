//! Deploy: send the project tree to the inactive colour of every web server
//! of an environment, as DESIGN.md §4 describes. First every web server's
//! lock is taken and every server reports what the new release starts
//! from; then data brought along (a dump, a database copied over SSH,
//! attachments) is loaded, still under the locks and only into an
//! environment that has never been deployed unless the caller confirmed
//! overwriting live data; then per server: the new release is made from its
//! base, only changed files are sent (tar + zstd over the same SSH
//! channel), post-deploy hooks run, the inactive colour is pointed at the
//! release, state and log are recorded. The live colour is never touched.

mod server;

use std::path::Path;
use std::sync::Arc;

use anyhow::bail;
use futures::FutureExt;

use super::manifest;
use super::state::release_id;
use super::{Connected, env_root};
use crate::config::{Colour, DropletRole, ProjectFile};
use crate::plan::Plan;
use crate::ssh::{Sink, Stream};
use server::{Job, SharedScan};

/// What a deploy will do or did on one server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerDeploy {
    pub server: String,
    pub release: String,
    pub colour: Colour,
    pub first: bool,
    pub files_sent: usize,
    pub bytes_sent: u64,
    pub files_deleted: usize,
    /// What runs on the server once its lock is held and it has said what
    /// it has (`deploy-apply` with the upload, and the next deploy's copy,
    /// which waits for the lock to be released): shown by a dry run, run
    /// by a deploy.
    pub plan: Plan,
}

/// Options of a deploy.
#[derive(Clone)]
pub struct DeployOptions {
    pub tag: String,
    pub dry_run: bool,
    pub break_lock: bool,
    /// Data to load under the locks before the files are applied.
    pub data: Option<DataLoad>,
    /// The local scan, if the caller started it early ([`start_scan`]);
    /// not used when a build step runs first (except in a dry run, which
    /// does not build).
    pub scan: Option<LocalScan>,
}

/// Data brought along with a deploy, and whether the user confirmed that
/// it may overwrite the data of an environment that is already live.
#[derive(Clone)]
pub struct DataLoad {
    pub transfer: super::transfer::Transfer,
    /// For `--db-from`: the key that reaches the source server.
    pub identity: crate::ssh::Identity,
    pub overwrite_live: bool,
}

/// The local scan of a project (what each file's hash is), running: a
/// caller may start it before connecting (`DeployOptions::scan`).
#[derive(Clone)]
pub struct LocalScan(SharedScan);

/// Starts the local scan of `project_root` (needs a Tokio runtime). Its
/// result is what the tree holds when it runs: with a build step, start
/// it only after the build (the deploy does so itself).
pub fn start_scan(
    file: &ProjectFile,
    project_root: &Path,
    sink: &Sink,
) -> anyhow::Result<LocalScan> {
    let root = project_root.to_path_buf();
    let ignore = file.ignore_file.clone();
    let canonical = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
    let key = blake3::hash(canonical.to_string_lossy().as_bytes())
        .to_hex()
        .to_string();
    let cache = crate::settings::cache_dir()?
        .join("hash-cache")
        .join(format!("{}.tsv", &key[..16]));
    let sink = Arc::clone(sink);
    let scan = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let scanned = manifest::scan_cached(&root, &ignore, &cache);
        tracing::info!(ms = started.elapsed().as_millis() as u64, "local scan");
        if let Ok(m) = &scanned {
            let total: u64 = m.values().map(|e| e.size).sum();
            sink(
                crate::ssh::LOCAL,
                Stream::Done,
                &format!(
                    "{} files ({} bytes) to deploy from {}",
                    m.len(),
                    total,
                    root.display()
                ),
            );
        }
        scanned
    });
    Ok(LocalScan(
        async move {
            match scan.await {
                Ok(Ok(m)) => Ok(Arc::new(m)),
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(e) => Err(format!("the local scan stopped: {e}")),
            }
        }
        .boxed()
        .shared(),
    ))
}

/// Refuses a project whose `web_root` is not in it, before anything is
/// sent, saying where the entry page really is when it can find one.
pub fn check_project(file: &ProjectFile, project_root: &Path) -> anyhow::Result<()> {
    // A build step may make the web root (`dist`): checked after it runs.
    if file.web_root.is_empty()
        || project_root.join(&file.web_root).is_dir()
        || !file.hooks.build.is_empty()
    {
        return Ok(());
    }
    check_web_root(file, project_root)
}

/// The web root exists in the project, or a clear error naming the field
/// and where the entry page is.
fn check_web_root(file: &ProjectFile, project_root: &Path) -> anyhow::Result<()> {
    if file.web_root.is_empty() || project_root.join(&file.web_root).is_dir() {
        return Ok(());
    }
    let found = crate::project::propose_web_root(project_root, file.stack);
    let hint = if project_root.join(&found).is_dir() && found != file.web_root {
        let shown = if found.is_empty() {
            "\"\" (the project itself)".to_string()
        } else {
            format!("{found:?}")
        };
        format!(
            "; the entry page is under {}, so set \"web_root\": {shown}",
            if found.is_empty() {
                "the project's top"
            } else {
                found.as_str()
            }
        )
    } else {
        String::new()
    };
    bail!(
        "pond.json: web_root is {:?}, but {} has no such directory, so the site would answer 404{hint}. Nothing was sent",
        file.web_root,
        project_root.display()
    )
}

/// Scans the project and deploys it to every web server in parallel.
#[tracing::instrument(name = "deploy::deploy", skip_all, fields(env = %env_name))]
pub async fn deploy(
    file: &ProjectFile,
    project_root: &Path,
    env_name: &str,
    connected: Vec<Connected>,
    options: &DeployOptions,
    sink: &Sink,
) -> anyhow::Result<Vec<ServerDeploy>> {
    super::state::check_tag(&options.tag)?;
    check_project(file, project_root)?;
    if options.dry_run && options.break_lock {
        bail!(
            "--break-lock ends the deploy holding the lock, so it cannot go with --dry-run; nothing was changed"
        );
    }
    // The build step first: what it makes is what the scan finds. A dry run
    // compares the tree as it is.
    if !options.dry_run && !file.hooks.build.is_empty() {
        super::build::run(&file.hooks.build, project_root, sink).await?;
        check_web_root(file, project_root)?;
    } else if !file.hooks.build.is_empty() {
        sink(
            crate::ssh::LOCAL,
            Stream::Done,
            "build step not run (dry run): comparing the tree as it is",
        );
    }
    // The local scan (hashing what changed) runs while each server takes
    // its lock and reports what it has (begun earlier, while connecting,
    // when the caller started it); each job waits for it only when it
    // needs the comparison.
    let local: SharedScan = match &options.scan {
        Some(scan) if options.dry_run || file.hooks.build.is_empty() => scan.0.clone(),
        _ => start_scan(file, project_root, sink)?.0,
    };
    let (_, env) = super::find_env(file, env_name)?;
    let mut rendered = super::configs::render_all(file, env, project_root)?;
    let config_targets: Vec<String> = rendered.iter().map(|(t, _)| t.clone()).collect();
    // What the release declares for its processes and schedule goes with
    // it (common/processes reads the live release's).
    rendered.extend(super::processes::release_files(file));
    let generated = Arc::new(rendered);
    // Secrets pond.json declares are made where unset before anything is
    // filled in with them.
    let made =
        super::secrets::ensure_generated(file, env, &connected, options.dry_run, sink).await?;
    if options.dry_run {
        for what in made {
            sink(crate::ssh::LOCAL, Stream::Done, &format!("would {what}"));
        }
    }
    let release = release_id(&options.tag);
    let root = env_root(&file.name, env_name);
    let hooks = crate::config::hook_lines(&file.hooks.post_deploy);
    let shared = file.shared_paths.join("\n");
    let framework = if file.stack == crate::config::Stack::Php {
        super::shared_tree::Framework::detect(project_root)
    } else {
        None
    };
    let (shared_tree, left_out) =
        super::shared_tree::shared_tree(project_root, &file.shared_paths, framework)?;
    if left_out > 0 {
        sink(
            crate::ssh::LOCAL,
            Stream::Done,
            &format!(
                "the shared paths hold many directories locally: {left_out} of them are not made on the server by this deploy"
            ),
        );
    }
    let job = Job {
        root: root.clone(),
        users: super::EnvUsers::of(&file.name, env_name),
        release: release.clone(),
        project_root: project_root.to_path_buf(),
        local: local.clone(),
        hooks,
        shared,
        shared_tree,
        store: super::upload_store::Store::for_project(project_root).ok(),
        framework: framework.map(|f| f.as_str()).unwrap_or_default(),
        generated: Arc::clone(&generated),
        config_targets: config_targets.join("\n"),
        keep_builds: file.keep_builds,
        link_copy: file.stack == crate::config::Stack::Static && file.hooks.post_deploy.is_empty(),
        options: options.clone(),
        sink: Arc::clone(sink),
    };
    let web: Vec<&Connected> = connected
        .iter()
        .filter(|c| c.server.role == DropletRole::Web)
        .collect();
    // 1. Every web server's lock, so nothing below races another deploy;
    // each server is asked what the new release starts from alongside (it
    // waits, reading nothing, until the lock is this deploy's). The team's
    // keys go to every server meanwhile, for the whole deploy (not under
    // the lock: they are not the environment's); their failure is told
    // once the deploy is done, as nothing of the release depends on them.
    let access = async {
        if options.dry_run {
            Ok(())
        } else {
            super::access::sync(file, &connected, sink).await
        }
    };
    let locked = async {
        let taken = futures::future::join_all(web.iter().map(|c| job.lock_and_prepare(c))).await;
        let mut locks = vec![];
        let mut prepared = vec![];
        let mut failure = None;
        for t in taken {
            match t {
                Ok((lock, p)) => {
                    locks.push(lock);
                    prepared.push(p);
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        let result = match failure {
            Some(e) => Err(e),
            None => {
                job.under_locks(file, env_name, &connected, &web, &locks, prepared)
                    .await
            }
        };
        // The locks are let go while what the environment now runs is
        // recorded here (so the next deploy can send differences against
        // it): neither waits for the other.
        let record = async {
            if result.is_ok()
                && !options.dry_run
                && let Some(store) = job.store.clone()
                && let Ok(local) = local.clone().await
            {
                let env_name = env_name.to_string();
                let _ = tokio::task::spawn_blocking(move || store.record(&env_name, &local)).await;
            }
        };
        futures::future::join(
            futures::future::join_all(locks.into_iter().map(|lock| lock.release())),
            record,
        )
        .await;
        result
    };
    let (result, access) = futures::future::join(locked, access).await;
    let reports = match (result, &access) {
        (Ok(reports), _) => reports,
        (Err(e), Ok(())) => return Err(e),
        (Err(e), Err(keys)) => {
            return Err(e.context(format!(
                "the deploy failed (below), and the team's keys were not written either ({keys:#})"
            )));
        }
    };
    // A first deploy went live at once: its pre-swap hooks (migrations) run
    // once, on the first web server, then its processes and schedule start.
    let first_live = async {
        if !options.dry_run && reports.iter().any(|r| r.first) {
            if !file.hooks.pre_swap.is_empty()
                && let Some(first) = web.first()
            {
                super::pre_swap::run_pre_swap_hooks(file, env, first, &release, sink)
                    .await
                    .map_err(|e| {
                        e.context(format!(
                            "release {release} is live on {} (a first deploy), but its pre-swap hooks failed; fix them, deploy again and swap (the swap runs them, and starts the processes and scheduled backups)",
                            env_name
                        ))
                    })?;
            }
            super::processes::apply(file, env, &web, sink).await?;
            super::backups::apply_schedule(file, env, &connected, sink).await?;
        }
        anyhow::Ok(())
    };
    if let Err(e) = first_live.await {
        return Err(match access {
            Ok(()) => e,
            Err(keys) => e.context(format!(
                "the team's keys were not written either ({keys:#})"
            )),
        });
    }
    access.map_err(|e| {
        e.context(format!(
            "release {release} was deployed to {env_name}, but the team's keys (pond.json's team_keys) were not written; deploy again to write them"
        ))
    })?;
    Ok(reports)
}
