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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use futures::FutureExt;

use super::manifest::{self, Manifest};
use super::state::{ReleaseRecord, ServerState, log_line, now, release_id};
use super::{Connected, actor, env_root, render};
use crate::config::{Colour, DropletRole, ProjectFile};
use crate::plan::report::Report;
use crate::ssh::{Sink, Stream};

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
}

/// Options of a deploy.
#[derive(Clone)]
pub struct DeployOptions {
    pub tag: String,
    pub dry_run: bool,
    pub break_lock: bool,
    /// Data to load under the locks before the files are applied.
    pub data: Option<DataLoad>,
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
    // its lock and reports what it has; each job waits for it only when it
    // needs the comparison.
    let local: SharedScan = {
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
        async move {
            match scan.await {
                Ok(Ok(m)) => Ok(Arc::new(m)),
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(e) => Err(format!("the local scan stopped: {e}")),
            }
        }
        .boxed()
        .shared()
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
        framework: framework.map(|f| f.as_str()).unwrap_or_default(),
        generated: Arc::clone(&generated),
        config_targets: config_targets.join("\n"),
        keep_builds: file.keep_builds,
        link_copy: file.stack == crate::config::Stack::Static && file.hooks.post_deploy.is_empty(),
        spare: super::spare::script(file, env_name)?,
        options: options.clone(),
        sink: Arc::clone(sink),
    };
    let web: Vec<&Connected> = connected
        .iter()
        .filter(|c| c.server.role == DropletRole::Web)
        .collect();
    // 1. Every web server's lock, so nothing below races another deploy.
    // The team's keys go to every server meanwhile (not under the lock:
    // they are not the environment's).
    let access = async {
        if options.dry_run {
            Ok(())
        } else {
            super::access::sync(file, &connected, sink).await
        }
    };
    let (taken, access) = futures::future::join(
        futures::future::join_all(web.iter().map(|c| job.lock(c))),
        access,
    )
    .await;
    let mut locks = vec![];
    let mut failure = access.err();
    for t in taken {
        match t {
            Ok(lock) => locks.push(lock),
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if let Some(e) = failure {
        for lock in locks {
            lock.release().await;
        }
        return Err(e);
    }
    let result = job
        .under_locks(file, env_name, &connected, &web, &locks)
        .await;
    for lock in locks {
        lock.release().await;
    }
    let reports = result?;
    // A first deploy went live at once: its pre-swap hooks (migrations) run
    // once, on the first web server, then its processes and schedule start.
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
    Ok(reports)
}

/// What one server reported before the deploy: where the new release goes
/// and what it starts from.
struct Prepared {
    server: String,
    target: Colour,
    first: bool,
    base: String,
    /// The server compared against the copy `common/spare` made of the
    /// base, so the release must start from it.
    spare: bool,
    state: ServerState,
    remote: Manifest,
    stale: Vec<String>,
}

/// The local scan, awaited by every server's job.
type SharedScan =
    futures::future::Shared<futures::future::BoxFuture<'static, Result<Arc<Manifest>, String>>>;

struct Job {
    root: String,
    users: super::EnvUsers,
    release: String,
    project_root: PathBuf,
    local: SharedScan,
    hooks: String,
    shared: String,
    /// The project's tree under its shared paths ([`super::shared_tree`]).
    shared_tree: String,
    /// `laravel` when the project is a Laravel app, else empty.
    framework: &'static str,
    generated: Arc<Vec<(String, Vec<u8>)>>,
    config_targets: String,
    keep_builds: u32,
    /// Nothing rewrites release files in place (a static site without
    /// hooks), so a kept base release may be copied with hard links.
    link_copy: bool,
    /// `common/spare`, started once the release is in place.
    spare: String,
    options: DeployOptions,
    sink: Sink,
}

impl Job {
    /// Takes the environment's lock on one server (breaking a stuck one
    /// first when asked, and saying whose it was).
    async fn lock(&self, c: &Connected) -> anyhow::Result<crate::ssh::session::HeldLock> {
        let name = &c.server.endpoint.name;
        let by = actor();
        let holder = serde_json::json!({"user": by, "op": "deploy", "release": self.release, "started": now(), "client_pid": std::process::id()});
        let lock_script = render(
            "common/lock",
            &[
                ("ROOT", &self.root),
                ("HOLDER", &holder.to_string()),
                ("BREAK", if self.options.break_lock { "yes" } else { "" }),
                ("DEPLOY_USER", &self.users.deploy),
            ],
        )?;
        let lock = match c.session.hold_lock(&lock_script).await? {
            Ok(lock) => lock,
            Err(holder) => bail!(
                "another deploy holds the lock on {name}: {holder}. Wait for it, or if it is stuck, re-run with --break-lock"
            ),
        };
        if let Some(ended) = &lock.ended {
            (self.sink)(
                name,
                Stream::Done,
                &format!("broke the lock: ended the work of its holder {ended}"),
            );
        }
        (self.sink)(name, Stream::Done, "lock taken");
        Ok(lock)
    }

    /// Everything done while every web server's lock is held.
    async fn under_locks(
        &self,
        file: &ProjectFile,
        env_name: &str,
        connected: &[Connected],
        web: &[&Connected],
        locks: &[crate::ssh::session::HeldLock],
    ) -> anyhow::Result<Vec<ServerDeploy>> {
        let prepared = futures::future::join_all(web.iter().map(|c| self.prepare(c))).await;
        let prepared: Vec<Prepared> = prepared.into_iter().collect::<anyhow::Result<_>>()?;
        let data = self
            .options
            .data
            .as_ref()
            .filter(|d| !self.options.dry_run && !d.transfer.is_empty());
        if let Some(data) = data {
            let live: Vec<&str> = prepared
                .iter()
                .filter(|p| !p.first)
                .map(|p| p.server.as_str())
                .collect();
            if !live.is_empty() && !data.overwrite_live {
                bail!(
                    "environment {env_name} is already deployed on {}: loading a database or attachments now would overwrite its live data. Nothing was changed. To do it anyway, confirm by typing the environment's name (on a terminal) or pass --yes",
                    live.join(", ")
                );
            }
            super::transfer::transfer(
                file,
                env_name,
                connected,
                &data.transfer,
                &data.identity,
                &self.sink,
            )
            .await?;
        }
        let applies = web
            .iter()
            .zip(prepared)
            .zip(locks)
            .map(|((c, p), lock)| self.apply(c, p, lock.pid));
        futures::future::join_all(applies)
            .await
            .into_iter()
            .collect()
    }

    /// Asks one server what the new release starts from (changes nothing).
    async fn prepare(&self, c: &Connected) -> anyhow::Result<Prepared> {
        let name = c.server.endpoint.name.as_str();
        let prepare = render(
            "common/deploy-prepare",
            &[
                ("ROOT", &self.root),
                ("DEPLOY_USER", &self.users.deploy),
                ("KEEP_BUILDS", &self.keep_builds.to_string()),
            ],
        )?;
        let quiet = crate::ssh::session::quiet();
        let prepared = c
            .session
            .run_ok("preparing the release", &prepare, &quiet)
            .await?;
        let Some(Report::Prepared {
            target,
            first,
            base,
            state,
            spare,
        }) = crate::reported!(prepared.reports, r @ Report::Prepared { .. } => r.clone())
        else {
            bail!("{name}: common/deploy-prepare reported nothing");
        };
        let target = match target.as_str() {
            "blue" => Colour::Blue,
            "green" => Colour::Green,
            other => bail!("{name}: unexpected target colour {other}"),
        };
        let state = ServerState::parse(&state)
            .with_context(|| format!("{name}: reading {}/metadata/state.json", self.root))?;
        Ok(Prepared {
            server: name.to_string(),
            target,
            first,
            // deploy-apply's word for none.
            base: base.unwrap_or_else(|| "-".to_string()),
            spare,
            state,
            remote: manifest::parse_remote(&prepared.stdout),
            stale: manifest::parse_stale(&prepared.stdout),
        })
    }

    /// Builds the release on one server and points the inactive colour at it.
    async fn apply(
        &self,
        c: &Connected,
        p: Prepared,
        lock_pid: u32,
    ) -> anyhow::Result<ServerDeploy> {
        let name = c.server.endpoint.name.as_str();
        let step = |text: &str| (self.sink)(name, Stream::Step, text);
        let keep = self.keep_builds.to_string();
        let Prepared {
            target,
            first,
            base,
            spare,
            state,
            remote,
            stale,
            ..
        } = p;
        let local = self.local.clone().await.map_err(|e| anyhow::anyhow!(e))?;
        let mut delta = manifest::delta(&local, &remote, &stale);
        if !first {
            // Shared paths live on the server once seeded by the first
            // deploy: later uploads neither overwrite nor delete them.
            let shared: Vec<&str> = self.shared.lines().filter(|l| !l.is_empty()).collect();
            let outside = |path: &String| {
                !shared
                    .iter()
                    .any(|s| path == s || path.starts_with(&format!("{s}/")))
            };
            delta.send.retain(outside);
            delta.delete.retain(outside);
            delta.bytes = delta
                .send
                .iter()
                .filter_map(|p| local.get(p))
                .map(|e| e.size)
                .sum();
        }
        step(&format!(
            "release {} for {} (base {}): {} files to send ({} bytes), {} to delete",
            self.release,
            target.as_str(),
            base,
            delta.send.len(),
            delta.bytes,
            delta.delete.len()
        ));
        let report = ServerDeploy {
            server: name.to_string(),
            release: self.release.clone(),
            colour: target,
            first,
            files_sent: delta.send.len(),
            bytes_sent: delta.bytes,
            files_deleted: delta.delete.len(),
        };
        if self.options.dry_run {
            // Prepare changes nothing; the report is all.
            return Ok(report);
        }

        let by = actor();
        let record = ReleaseRecord {
            id: self.release.clone(),
            tag: self.options.tag.clone(),
            at: now(),
            by: by.clone(),
        };
        let next = state.after_deploy(target, first, record);
        let log = log_line(
            "deploy",
            &by,
            serde_json::json!({"release": self.release, "colour": target, "first": first, "files_sent": delta.send.len(), "bytes": delta.bytes}),
        );
        let deleted = delta.delete.join("\n");
        let apply = render(
            "common/deploy-apply",
            &[
                ("ROOT", &self.root),
                ("RELEASE", &self.release),
                ("BASE", &base),
                ("SPARE", if spare { "yes" } else { "" }),
                ("LOCK_PID", &lock_pid.to_string()),
                ("LINK_COPY", if self.link_copy { "yes" } else { "" }),
                ("TARGET", target.as_str()),
                ("FIRST", if first { "yes" } else { "no" }),
                ("DELETED", &deleted),
                ("SHARED_PATHS", &self.shared),
                ("SHARED_TREE", &self.shared_tree),
                ("FRAMEWORK", self.framework),
                ("CONFIG_FILES", &self.config_targets),
                ("HOOKS", &self.hooks),
                ("STATE", &next.to_json()),
                ("LOG_LINE", &log),
                ("KEEP_BUILDS", &keep),
                ("SITE_USER", &self.users.site),
                ("DEPLOY_USER", &self.users.deploy),
            ],
        )?;
        // Build the upload on a thread, streaming into the SSH channel.
        let (reader, writer) = tokio::io::duplex(1 << 20);
        let root = self.project_root.clone();
        let send = delta.send.clone();
        let generated = Arc::clone(&self.generated);
        let builder = tokio::task::spawn_blocking(move || {
            let writer = tokio_util::io::SyncIoBridge::new(writer);
            manifest::write_upload(writer, &root, &send, &local, &generated)
        });
        let outcome = c
            .session
            .run(&apply, Some(Box::new(reader)), &self.sink)
            .await?;
        // Either side can stop the stream: a local file that cannot be read
        // truncates the upload, a server that fails stops reading it. Show
        // both causes when both happened.
        let built = builder.await?;
        for (step, ms) in
            crate::all_reported!(outcome.reports, Report::StepDone { name, ms } => (name, ms))
        {
            tracing::debug!(server = name, step = %step, ms, "deploy-apply step");
        }
        if outcome.exit_code != 0 {
            let local = built
                .err()
                .map(|e| format!(" (the upload stopped too: {e:#})"))
                .unwrap_or_default();
            if let Some((step, reason)) =
                crate::reported!(outcome.reports, Report::Failed { step, reason } => (step, reason))
            {
                // What came before the step's own line (a hook's output).
                let own = format!("step {step}: ");
                let before: String = outcome
                    .stderr
                    .lines()
                    .filter(|l| !l.starts_with(&own))
                    .collect::<Vec<_>>()
                    .join("\n");
                let before = crate::ssh::session::last_lines(&before, 6);
                bail!(
                    "deploying to {name} failed at step {step}: {reason}. The live colour was not touched{}{local}",
                    if before.is_empty() {
                        String::new()
                    } else {
                        format!(" (output: {before})")
                    }
                );
            }
            bail!(
                "deploying to {name} failed (exit {}); the live colour was not touched: {}{local}",
                outcome.exit_code,
                crate::ssh::session::last_lines(&outcome.stderr, 8)
            );
        }
        built.with_context(|| {
            format!("building the upload for {name} failed; the live colour was not touched")
        })?;
        (self.sink)(
            name,
            Stream::Done,
            &format!("{} now runs release {}", target.as_str(), self.release),
        );
        super::spare::start(c, &self.spare, &self.sink).await;
        Ok(report)
    }
}
