//! What runs right before a swap: pond.json's pre-swap hooks (e.g.
//! migrations), once per environment on the first web server, in the
//! release about to go live and under the environment's lock, after a
//! snapshot of the environment's database ([`super::snapshots`]) that
//! `pond rollback --with-data` can restore. A first deploy, which goes
//! live without a swap, runs the hooks too ([`run_pre_swap_hooks`]).

use anyhow::bail;

use super::swap::{ServerRead, session_of};
use super::{Connected, env_root, execute};
use crate::config::{Colour, Environment, ProjectFile};
use crate::ssh::{Sink, Stream};

/// What ran before a swap.
pub(super) struct BeforeSwap {
    /// The database snapshot taken.
    pub snapshot: Option<String>,
    /// Whether pre-swap hooks ran (and may have changed the database).
    pub hooks_ran: bool,
}

/// With pre-swap hooks: snapshots the environment's database (when Pond
/// manages one; each snapshot has an id of its own, so a second attempt
/// never overwrites the one taken before the first), drops the snapshots
/// of releases no longer kept, then runs the hooks in the release about to
/// go live on the first web server, under its lock. A failed hook stops
/// the swap.
pub(super) async fn before_swap(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    snaps: &[ServerRead],
    next: Colour,
    sink: &Sink,
) -> anyhow::Result<BeforeSwap> {
    if file.hooks.pre_swap.is_empty() {
        return Ok(BeforeSwap {
            snapshot: None,
            hooks_ran: false,
        });
    }
    let release = snaps[0].release(next);
    let id = super::snapshots::swap_id(&release, &super::state::now());
    let taken = super::snapshots::take(file, env, connected, &id, sink).await?;
    if taken.is_none() {
        sink(
            crate::ssh::LOCAL,
            Stream::Done,
            &format!(
                "no database snapshot before the pre-swap hooks: {} has no database Pond manages",
                env.name
            ),
        );
    } else {
        let mut kept: Vec<String> = snaps
            .iter()
            .flat_map(|s| s.status.releases_on_disk.iter().cloned())
            .collect();
        kept.sort();
        kept.dedup();
        super::snapshots::prune(file, env, connected, &kept, sink).await?;
    }
    let first = session_of(connected, &snaps[0]);
    if let Err(e) = run_pre_swap_hooks(file, env, first, &release, sink).await {
        let ran = e.downcast_ref::<NoHookRan>().is_none();
        let kept = taken
            .filter(|_| ran)
            .map(|t| {
                format!(
                    " A hook may have changed the database before it failed: `pond backup restore {} {}` puts back the snapshot taken before them.",
                    env.name, t.id
                )
            })
            .unwrap_or_default();
        return Err(e.context(format!(
            "nothing was swapped ({} stays live).{kept}",
            snaps[0].live.as_str()
        )));
    }
    Ok(BeforeSwap {
        snapshot: taken.map(|t| t.id),
        hooks_ran: true,
    })
}

/// The pre-swap hooks were refused before any ran (the lock was held, or
/// the release changed): the database is as it was.
#[derive(Debug)]
pub struct NoHookRan(String);

impl std::fmt::Display for NoHookRan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoHookRan {}

/// Runs pond.json's pre-swap hooks on `server` in `release` (which its
/// inactive colour must hold), under the environment's lock; their output
/// is in the error when one fails. Also run after a first deploy, which
/// goes live without a swap.
pub async fn run_pre_swap_hooks(
    file: &ProjectFile,
    env: &Environment,
    server: &Connected,
    release: &str,
    sink: &Sink,
) -> anyhow::Result<()> {
    let users = crate::plan::layout::EnvUsers::of(&file.name, &env.name);
    let op = execute::on(
        server,
        "pre-swap hooks",
        "common/pre-swap",
        &[
            ("ROOT", &env_root(&file.name, &env.name)),
            ("EXPECT_RELEASE", release),
            ("HOOKS", &crate::config::hook_lines(&file.hooks.pre_swap)),
            ("SITE_USER", &users.site),
            ("DEPLOY_USER", &users.deploy),
        ],
    )?;
    let outcome = execute::run(server, &op, None, sink).await?;
    if outcome.exit_code == 75 {
        return Err(NoHookRan(format!(
            "{}: {}",
            server.server.endpoint.name,
            crate::ssh::session::last_lines(&outcome.stderr, 1)
        ))
        .into());
    }
    if outcome.exit_code == 3 && outcome.stderr.contains("no hook ran") {
        return Err(NoHookRan(crate::ssh::session::last_lines(&outcome.stderr, 3)).into());
    }
    if outcome.exit_code != 0 {
        bail!(
            "the pre-swap hooks failed on {} (exit {}):\n{}",
            server.server.endpoint.name,
            outcome.exit_code,
            crate::ssh::session::last_lines(&format!("{}\n{}", outcome.stdout, outcome.stderr), 12)
        );
    }
    Ok(())
}
