//! One server's part of a deploy: its lock, what it reports the new
//! release starts from, the plan built from that and the local scan
//! (`deploy-apply` with the upload, and the next deploy's copy started
//! alongside it, waiting on the server until the lock is released), and
//! running that plan.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};

use super::super::manifest::{self, Manifest};
use super::super::state::{ReleaseRecord, ServerState, log_line, now};
use super::super::{Connected, actor, execute};
use super::{DeployOptions, ServerDeploy};
use crate::config::{Colour, ProjectFile};
use crate::plan::Plan;
use crate::plan::report::Report;
use crate::ssh::{Sink, Stream};

/// What one server reported before the deploy: where the new release goes
/// and what it starts from.
pub(super) struct Prepared {
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
pub(super) type SharedScan =
    futures::future::Shared<futures::future::BoxFuture<'static, Result<Arc<Manifest>, String>>>;

pub(super) struct Job {
    pub(super) root: String,
    pub(super) users: crate::tasks::EnvUsers,
    pub(super) release: String,
    pub(super) project_root: PathBuf,
    pub(super) local: SharedScan,
    pub(super) hooks: String,
    pub(super) shared: String,
    /// The project's tree under its shared paths ([`super::shared_tree`]).
    pub(super) shared_tree: String,
    /// What this computer uploaded before, to send changed files as
    /// differences (none when the cache directory is unknown).
    pub(super) store: Option<crate::tasks::upload_store::Store>,
    /// `laravel` when the project is a Laravel app, else empty.
    pub(super) framework: &'static str,
    pub(super) generated: Arc<Vec<(String, Vec<u8>)>>,
    pub(super) config_targets: String,
    pub(super) keep_builds: u32,
    /// Nothing rewrites release files in place (a static site without
    /// hooks), so a kept base release may be copied with hard links.
    pub(super) link_copy: bool,
    pub(super) options: DeployOptions,
    pub(super) sink: Sink,
}

impl Job {
    /// Takes the environment's lock on one server and, sent at the same
    /// time, asks what the new release starts from: the server reads
    /// nothing until the lock carries this deploy's token (a round trip
    /// saved). If the lock cannot be taken, the question is dropped.
    pub(super) async fn lock_and_prepare(
        &self,
        c: &Connected,
    ) -> anyhow::Result<(crate::ssh::session::HeldLock, Prepared)> {
        let token = crate::plan::report::random_hex(16)?;
        futures::future::try_join(self.lock(c, &token), self.prepare(c, &token)).await
    }

    /// Takes the environment's lock on one server (breaking a stuck one
    /// first when asked, and saying whose it was), recording `token`.
    async fn lock(
        &self,
        c: &Connected,
        token: &str,
    ) -> anyhow::Result<crate::ssh::session::HeldLock> {
        let name = &c.server.endpoint.name;
        let by = actor();
        let op = if self.options.dry_run {
            "deploy --dry-run"
        } else {
            "deploy"
        };
        let holder = serde_json::json!({"user": by, "op": op, "release": self.release, "started": now(), "client_pid": std::process::id(), "token": token});
        let lock_op = execute::on(
            c,
            "taking the deploy lock",
            "common/lock",
            &[
                ("ROOT", &self.root),
                ("HOLDER", &holder.to_string()),
                ("BREAK", if self.options.break_lock { "yes" } else { "" }),
                ("DEPLOY_USER", &self.users.deploy),
            ],
        )?;
        let lock = match execute::hold_lock(c, &lock_op).await? {
            Ok(lock) => lock,
            Err(holder) if self.options.dry_run => bail!(
                "another deploy holds the lock on {name}: {holder}. A dry run asks the servers under the lock; try again when it is done"
            ),
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
    pub(super) async fn under_locks(
        &self,
        file: &ProjectFile,
        env_name: &str,
        connected: &[Connected],
        web: &[&Connected],
        locks: &[crate::ssh::session::HeldLock],
        prepared: Vec<Prepared>,
    ) -> anyhow::Result<Vec<ServerDeploy>> {
        let data = self
            .options
            .data
            .as_ref()
            .filter(|d| !d.transfer.is_empty());
        if let Some(data) = data {
            let live: Vec<&str> = prepared
                .iter()
                .filter(|p| !p.first)
                .map(|p| p.server.as_str())
                .collect();
            if !live.is_empty() && !data.overwrite_live && self.options.dry_run {
                bail!(
                    "environment {env_name} is already deployed on {}: a deploy would refuse to load a database or attachments now (they would overwrite its live data) unless you confirm by typing the environment's name or pass --yes. Nothing was changed (dry run)",
                    live.join(", ")
                );
            }
            if !live.is_empty() && !data.overwrite_live {
                bail!(
                    "environment {env_name} is already deployed on {}: loading a database or attachments now would overwrite its live data. Nothing was changed. To do it anyway, confirm by typing the environment's name (on a terminal) or pass --yes",
                    live.join(", ")
                );
            }
            if self.options.dry_run {
                (self.sink)(
                    crate::ssh::LOCAL,
                    Stream::Done,
                    "would load the data brought along (database, attachments) first, under the locks",
                );
            } else {
                crate::tasks::transfer::transfer(
                    file,
                    env_name,
                    connected,
                    &data.transfer,
                    &data.identity,
                    &self.sink,
                )
                .await?;
            }
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

    /// Asks one server what the new release starts from (changes nothing),
    /// once its lock carries `token`.
    async fn prepare(&self, c: &Connected, token: &str) -> anyhow::Result<Prepared> {
        let name = c.server.endpoint.name.as_str();
        let prepare = execute::on(
            c,
            "preparing the release",
            "common/deploy-prepare",
            &[
                ("ROOT", self.root.as_str()),
                ("DEPLOY_USER", &self.users.deploy),
                ("KEEP_BUILDS", &self.keep_builds.to_string()),
                ("LOCK_TOKEN", token),
            ],
        )?;
        let quiet = crate::ssh::session::quiet();
        let prepared = execute::run_ok(c, &prepare, &quiet).await?;
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

    /// What runs on the server at `endpoint` once it has said what it has
    /// (`p`) and the upload is known (`delta`): `deploy-apply` (joining the
    /// lock held by `lock_pid`), and the next deploy's copy, which starts
    /// alongside it and waits for that lock holder to end. Pure.
    fn plan(
        &self,
        endpoint: &crate::ssh::session::Endpoint,
        p: &Prepared,
        delta: &manifest::Delta,
        reference: &crate::tasks::upload_store::Reference,
        lock_pid: u32,
    ) -> anyhow::Result<Plan> {
        let (target, first) = (p.target, p.first);
        let by = actor();
        let record = ReleaseRecord {
            id: self.release.clone(),
            tag: self.options.tag.clone(),
            at: now(),
            by: by.clone(),
        };
        let next = p.state.after_deploy(target, first, record);
        let log = log_line(
            "deploy",
            &by,
            serde_json::json!({"release": self.release, "colour": target, "first": first, "files_sent": delta.send.len(), "bytes": delta.bytes}),
        );
        let deleted = delta.delete.join("\n");
        // Where the upload puts files in a release made from a base: the
        // server looks there for links first (none in a new one).
        let above = if p.base == "-" {
            String::new()
        } else {
            manifest::directories_above(
                delta
                    .send
                    .iter()
                    .map(String::as_str)
                    .chain(self.generated.iter().map(|(path, _)| path.as_str()))
                    .chain([manifest::MANIFEST_DELTA]),
            )
            .join("\n")
        };
        let differences = if reference.paths.is_empty() {
            String::new()
        } else {
            format!(", {} of them as differences", reference.paths.len())
        };
        let apply = crate::tasks::execute::script(
            format!(
                "Build release {} from {} with the upload ({} files, {} bytes{differences}; {} deleted) and point {}",
                self.release,
                if p.base == "-" { "nothing" } else { &p.base },
                delta.send.len(),
                delta.bytes,
                delta.delete.len(),
                if first {
                    "both colours at it (a first deploy: it goes live)".to_string()
                } else {
                    format!("{} at it", target.as_str())
                }
            ),
            endpoint,
            "common/deploy-apply",
            &[
                ("ROOT", &self.root),
                ("RELEASE", &self.release),
                ("BASE", &p.base),
                ("SPARE", if p.spare { "yes" } else { "" }),
                ("LOCK_PID", &lock_pid.to_string()),
                ("LINK_COPY", if self.link_copy { "yes" } else { "" }),
                ("TARGET", target.as_str()),
                ("FIRST", if first { "yes" } else { "no" }),
                ("DELETED", &deleted),
                ("ABOVE", &above),
                ("REFERENCES", &reference.paths.join("\n")),
                ("REFERENCE_SHA256", &reference.sha256),
                (
                    "REFERENCE_BYTES",
                    &if reference.paths.is_empty() {
                        String::new()
                    } else {
                        reference.prefix.len().to_string()
                    },
                ),
                ("SHARED_PATHS", &self.shared),
                ("SHARED_TREE", &self.shared_tree),
                ("FRAMEWORK", self.framework),
                ("CONFIG_FILES", &self.config_targets),
                ("HOOKS", &self.hooks),
                ("STATE", &next.to_json()),
                ("LOG_LINE", &log),
                ("KEEP_BUILDS", &self.keep_builds.to_string()),
                ("SITE_USER", &self.users.site),
                ("DEPLOY_USER", &self.users.deploy),
            ],
        )?;
        // Started alongside deploy-apply, it copies once this deploy's lock
        // holder has ended: off the deploy's critical path.
        let spare = crate::tasks::spare::script_for(
            &self.root,
            self.keep_builds,
            &self.users,
            Some(lock_pid),
        )?;
        Ok(Plan {
            title: format!(
                "deploy {} to {} on {}",
                self.release,
                target.as_str(),
                endpoint.name
            ),
            operations: vec![apply, crate::tasks::spare::operation(endpoint, &spare)],
        })
    }

    /// Runs `apply` (a `deploy-apply` operation) on `c`, fed the upload of
    /// `send` built on a thread against `reference`: what the server
    /// reported, and whether the upload could be built (a server that
    /// stops reading stops it too).
    async fn upload(
        &self,
        c: &Connected,
        apply: &crate::plan::Operation,
        send: &[String],
        local: &Arc<Manifest>,
        reference: &crate::tasks::upload_store::Reference,
    ) -> (
        anyhow::Result<crate::ssh::session::Outcome>,
        anyhow::Result<()>,
    ) {
        let (reader, writer) = tokio::io::duplex(1 << 20);
        let root = self.project_root.clone();
        let send = send.to_vec();
        let local = Arc::clone(local);
        let generated = Arc::clone(&self.generated);
        let store = self.store.clone();
        let reference = reference.clone();
        let builder = tokio::task::spawn_blocking(move || {
            let writer = tokio_util::io::SyncIoBridge::new(writer);
            manifest::write_upload_against(
                writer,
                &root,
                &send,
                &local,
                &generated,
                &reference,
                store.as_ref(),
            )
        });
        let outcome =
            crate::tasks::execute::run(c, apply, Some(Box::new(reader)), &self.sink).await;
        let built = match builder.await {
            Ok(built) => built,
            Err(e) => Err(anyhow::anyhow!("the upload's builder stopped: {e}")),
        };
        (outcome, built)
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
        let (target, first) = (p.target, p.first);
        let local = self.local.clone().await.map_err(|e| anyhow::anyhow!(e))?;
        let mut delta = manifest::delta(&local, &p.remote, &p.stale);
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
        // Files the server has an older copy of, kept here, go as their
        // differences from it.
        let reference = self
            .store
            .as_ref()
            .map(|s| s.reference(&delta.send, &local, &p.remote, delta.bytes))
            .unwrap_or_default();
        step(&format!(
            "release {} for {} (base {}): {} files to send ({} bytes{}), {} to delete",
            self.release,
            target.as_str(),
            p.base,
            delta.send.len(),
            delta.bytes,
            if reference.paths.is_empty() {
                String::new()
            } else {
                format!("; {} as differences", reference.paths.len())
            },
            delta.delete.len()
        ));
        let mut report = ServerDeploy {
            server: name.to_string(),
            release: self.release.clone(),
            colour: p.target,
            first: p.first,
            files_sent: delta.send.len(),
            bytes_sent: delta.bytes,
            files_deleted: delta.delete.len(),
            plan: self.plan(&c.server.endpoint, &p, &delta, &reference, lock_pid)?,
        };
        if self.options.dry_run {
            // Prepare changed nothing; the plan is all.
            return Ok(report);
        }
        // The next deploy's copy is started at the same time: it waits on
        // the server for this deploy's lock holder to end, so this deploy
        // never waits for it. (A failed deploy's leftovers are cleared by
        // the next one; the copy is of what the colours point at then.)
        let ((mut outcome, mut built), ()) = tokio::join!(
            self.upload(
                c,
                &report.plan.operations[0],
                &delta.send,
                &local,
                &reference
            ),
            crate::tasks::spare::start(c, &report.plan.operations[1], &self.sink)
        );
        let refused = outcome
            .as_ref()
            .map(|o| o.reports.as_slice())
            .unwrap_or_default()
            .iter()
            .find_map(|r| match r {
                Report::Failed { step, reason } if step == "reference" => Some(reason.clone()),
                _ => None,
            })
            .filter(|_| !reference.paths.is_empty());
        if let Some(why) = refused {
            // The server's copies differ from what is kept here (changed
            // there, or a hook made one a link): it put back what it made
            // the release from, so the same release goes again with those
            // files whole.
            (self.sink)(
                name,
                Stream::Step,
                &format!(
                    "{}: sending {} whole instead",
                    why.trim_end_matches("; nothing was changed"),
                    match reference.paths.len() {
                        1 => "that file".to_string(),
                        n => format!("those {n} files"),
                    }
                ),
            );
            let whole = crate::tasks::upload_store::Reference::default();
            report.plan = self.plan(&c.server.endpoint, &p, &delta, &whole, lock_pid)?;
            (outcome, built) = self
                .upload(c, &report.plan.operations[0], &delta.send, &local, &whole)
                .await;
        }
        let outcome = outcome?;
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
                let before = if before.trim().is_empty() {
                    String::new()
                } else {
                    crate::ssh::session::last_lines(&before, 6)
                };
                // Steps after `point` fail with the colour already pointed.
                let state = match step.as_str() {
                    "clean_up" if first => format!(
                        "Both colours already run release {} there (a first deploy)",
                        self.release
                    ),
                    "clean_up" => format!(
                        "{} already runs release {} there; the live colour was not touched",
                        target.as_str(),
                        self.release
                    ),
                    _ => "The live colour was not touched".to_string(),
                };
                bail!(
                    "deploying to {name} failed at step {step}: {reason}. {state}{}{local}",
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
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Target};
    use futures::FutureExt;

    fn job() -> Job {
        let local: SharedScan = futures::future::ready(Ok(Arc::new(Manifest::new())))
            .boxed()
            .shared();
        Job {
            root: "/var/www/pond/projects/acme-shop/production".into(),
            users: crate::tasks::EnvUsers::of("acme-shop", "production"),
            release: "20261206T150000Z-v7".into(),
            project_root: PathBuf::from("."),
            local,
            hooks: "300 deploy deploy/warm.sh".into(),
            shared: "storage".into(),
            shared_tree: String::new(),
            store: None,
            framework: "laravel",
            generated: Arc::new(vec![]),
            config_targets: ".env".into(),
            keep_builds: 5,
            link_copy: false,
            options: DeployOptions {
                scan: None,
                tag: "v7".into(),
                dry_run: true,
                break_lock: false,
                data: None,
            },
            sink: crate::ssh::session::quiet(),
        }
    }

    #[test]
    fn a_servers_plan_is_its_deploy_apply_with_the_upload_then_the_next_copy() {
        let endpoint = crate::ssh::session::Endpoint {
            name: "acme-shop-production-1".into(),
            address: "198.18.0.5".into(),
            port: 22,
            user: "root".into(),
        };
        let prepared = Prepared {
            server: endpoint.name.clone(),
            target: Colour::Green,
            first: false,
            base: "releases/20261205T100000Z-v6".into(),
            spare: true,
            state: ServerState::default(),
            remote: Manifest::new(),
            stale: vec![],
        };
        let delta = manifest::Delta {
            send: vec!["app/Http/Kernel.php".into()],
            delete: vec!["old.php".into(), "older.php".into()],
            bytes: 1234,
        };
        let reference = crate::tasks::upload_store::Reference {
            paths: vec!["app/Http/Kernel.php".into()],
            prefix: b"old kernel".to_vec(),
            sha256: "ab".repeat(32),
        };
        let plan = job()
            .plan(&endpoint, &prepared, &delta, &reference, 4242)
            .unwrap();
        assert_eq!(plan.operations.len(), 2);
        let apply = &plan.operations[0];
        assert_eq!(
            apply.target,
            Target::Droplet {
                name: "acme-shop-production-1".into(),
                address: Some("198.18.0.5".into())
            }
        );
        let Action::Script { user, script } = &apply.action else {
            panic!("not a script")
        };
        assert_eq!(
            (user.as_str(), script.template.as_str()),
            ("root", "common/deploy-apply")
        );
        let input = |name: &str| {
            script
                .inputs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .unwrap()
        };
        assert_eq!(input("TARGET"), "green");
        assert_eq!(input("FIRST"), "no");
        assert_eq!(input("BASE"), "releases/20261205T100000Z-v6");
        assert_eq!(input("SPARE"), "yes");
        assert_eq!(input("LOCK_PID"), "4242");
        assert_eq!(input("REFERENCES"), "app/Http/Kernel.php");
        assert_eq!(input("REFERENCE_SHA256"), "ab".repeat(32));
        assert_eq!(input("REFERENCE_BYTES"), "10");
        assert_eq!(input("DELETED"), "old.php\nolder.php");
        assert_eq!(input("HOOKS"), "300 deploy deploy/warm.sh");
        assert_eq!(input("FRAMEWORK"), "laravel");
        let state = ServerState::parse(input("STATE")).unwrap();
        assert_eq!(state.colours[&Colour::Green].release, "20261206T150000Z-v7");
        // What a dry run prints names the step, the server and its inputs.
        let outline = plan.outline();
        assert!(
            outline[0].starts_with("[1] Build release 20261206T150000Z-v7 from releases/20261205T100000Z-v6 with the upload (1 files, 1234 bytes, 1 of them as differences; 2 deleted) and point green at it — on droplet acme-shop-production-1 (198.18.0.5); as root: common/deploy-apply "),
            "{}",
            outline[0]
        );
        assert!(outline[0].contains(" DELETED=(2 lines) "), "{}", outline[0]);
        let Action::Script { script, .. } = &plan.operations[1].action else {
            panic!("not a script")
        };
        assert_eq!(script.template, "common/spare");
        // It waits for this deploy's lock holder, so it starts alongside.
        assert!(
            script
                .inputs
                .contains(&("AFTER_PID".to_string(), "4242".to_string())),
            "{:?}",
            script.inputs
        );
    }
}
