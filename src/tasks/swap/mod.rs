//! Changing which release is live: `swap` (the inactive colour goes live
//! after its health check), `rollback` (back to the release that was live
//! before the last swap, as `metadata/state.json` records it), and
//! `rollback --to` (an older kept release). Every change is checked twice:
//! by the client against what each server reports (every server must hold
//! the same release in the colour going live), and by the server script
//! under the environment's lock against the releases the client saw, so a
//! deploy or swap that lands in between is refused, never made live
//! unchecked. A swap runs the pre-swap hooks first (after a database
//! snapshot, [`super::pre_swap`]); `rollback --with-data` restores that
//! snapshot after the code went back ([`super::rollback_data`]). After any change the environment's
//! processes follow the new live release ([`super::processes`]). The
//! operations each server runs are built, without touching a server, in
//! [`plan`].

use anyhow::{Context, bail};

use super::operate::{ServerStatus, health, status};
use super::{CloneSessions, Connected};
use plan::{Going, go_live_plan, point_plan, swap_back_operation};
pub use plan::{rollback_plan, swap_plan};

mod plan;
use crate::config::{Colour, DropletRole, Environment, ProjectFile};
use crate::plan::Operation;
use crate::ssh::{Sink, Stream};

/// What one web server's colours point at, as it reported them.
#[derive(Debug, Clone)]
pub(super) struct ServerRead {
    pub(super) name: String,
    /// Where it was read (what a plan's operations for it target).
    pub(super) endpoint: crate::ssh::session::Endpoint,
    pub(super) live: Colour,
    pub(super) status: ServerStatus,
}

impl ServerRead {
    /// The release id a colour's link points at (`-` when none).
    pub(super) fn release(&self, colour: Colour) -> String {
        self.status
            .links
            .iter()
            .find(|(c, _)| c == colour.as_str())
            .map(|(_, target)| target.trim_start_matches("releases/").to_string())
            .unwrap_or_else(|| "-".into())
    }
}

/// Reads every web server (in parallel) and checks they agree on the live
/// colour and that their state files are sound.
pub(super) async fn read_servers(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
) -> anyhow::Result<Vec<ServerRead>> {
    let web: Vec<Connected> = connected
        .clone_sessions()
        .into_iter()
        .filter(|c| c.server.role == DropletRole::Web)
        .collect();
    if web.is_empty() {
        bail!("environment {} has no web servers", env.name);
    }
    let mut out = vec![];
    for st in status(file, env, &web).await {
        if let Some(e) = &st.error {
            bail!("reading the state of {}: {e}", st.server);
        }
        let live = st.live.with_context(|| {
            format!(
                "{} is not provisioned (no live colour); run pond provision {}",
                st.server, env.name
            )
        })?;
        let endpoint = web
            .iter()
            .find(|c| c.server.endpoint.name == st.server)
            .map(|c| c.server.endpoint.clone())
            .with_context(|| format!("{} answered but was not asked", st.server))?;
        out.push(ServerRead {
            endpoint,
            name: st.server.clone(),
            live,
            status: st,
        });
    }
    let live = out[0].live;
    if out.iter().any(|s| s.live != live) {
        let each: Vec<String> = out
            .iter()
            .map(|s| format!("{}: {}", s.name, s.live.as_str()))
            .collect();
        bail!(
            "the servers disagree on the live colour ({}); run `pond status {}` and swap the odd one back",
            each.join(", "),
            env.name
        );
    }
    Ok(out)
}

/// The session a snapshot was read through.
pub(super) fn session_of<'a>(connected: &'a [Connected], snap: &ServerRead) -> &'a Connected {
    connected
        .iter()
        .find(|c| c.server.endpoint.name == snap.name)
        .expect("snapshots come from these sessions")
}

/// Refuses unless every server's `colour` points at the same release.
fn same_release_everywhere(snaps: &[ServerRead], colour: Colour) -> anyhow::Result<String> {
    let first = snaps[0].release(colour);
    if snaps.iter().all(|s| s.release(colour) == first) {
        return Ok(first);
    }
    let each: Vec<String> = snaps
        .iter()
        .map(|s| format!("{}: {}", s.name, s.release(colour)))
        .collect();
    bail!(
        "{} does not hold the same release on every server ({}); going live would serve mixed releases. Deploy again so every server has the same build, or swap anyway with --force",
        colour.as_str(),
        each.join(", ")
    )
}

/// Refuses when the health check of the inactive colour fails anywhere.
async fn require_healthy(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    next: Colour,
    sink: &Sink,
) -> anyhow::Result<()> {
    for h in health(file, env, connected, sink).await? {
        if !h.healthy {
            bail!(
                "{} is not healthy on {} (HTTP {} from {}{}); not swapping. Details:\n{}\nFix it and deploy again, or swap anyway with --force",
                next.as_str(),
                h.server,
                h.status,
                h.host,
                env.health_path(file),
                h.details
            );
        }
    }
    Ok(())
}

/// Makes the inactive colour live on every web server. Unless `force`,
/// refuses when the inactive colour holds different releases on different
/// servers or is not healthy. If any server's swap fails, those already
/// swapped are swapped back.
#[tracing::instrument(name = "swap::swap", skip_all, fields(env = %env.name, force = force))]
pub async fn swap(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    force: bool,
    sink: &Sink,
) -> anyhow::Result<Colour> {
    let snaps = read_servers(file, env, connected).await?;
    let next = snaps[0].live.other();
    if !force {
        same_release_everywhere(&snaps, next)?;
        require_healthy(file, env, connected, next, sink).await?;
    }
    let ran = super::pre_swap::before_swap(file, env, connected, &snaps, next, sink).await?;
    let units = go_live(
        file,
        env,
        connected,
        &snaps,
        Going {
            op: "swap",
            forced: force,
            snapshot: ran.snapshot.as_deref(),
        },
        sink,
    )
    .await
    .map_err(|e| {
        if !ran.hooks_ran {
            return e;
        }
        let undo = ran
            .snapshot
            .as_ref()
            .map(|id| format!(" `pond backup restore {} {id}` puts the database back as it was before them.", env.name))
            .unwrap_or_default();
        e.context(format!(
            "the pre-swap hooks (migrations) had already run, so the database has changed although the swap did not go through (pond status shows what is live).{undo}"
        ))
    })?;
    units?;
    Ok(next)
}

/// What a rollback did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rollback {
    /// The colour live now.
    pub live: Colour,
    /// The release live now.
    pub release: String,
    /// Whether the inactive colour had to be pointed back at it (a deploy
    /// had replaced it), and so was health-checked first.
    pub repointed: bool,
    /// The database snapshot restored (`--with-data`).
    pub restored: Option<String>,
    /// The snapshot of the swap undone that was *not* restored (a plain
    /// rollback leaves the data as it is).
    pub data_left: Option<String>,
}

/// Returns every web server to the release that was live before the last
/// swap (recorded in state.json), whatever the inactive colour holds now:
/// when a deploy has since replaced it, the inactive colour is pointed back
/// at that release first; either way it is health-checked (unless `force`)
/// before it goes live.
/// Refuses, saying why, when no such release is recorded or kept.
#[tracing::instrument(name = "swap::rollback", skip_all, fields(env = %env.name))]
pub async fn rollback(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    force: bool,
    with_data: bool,
    sink: &Sink,
) -> anyhow::Result<Rollback> {
    let snaps = read_servers(file, env, connected).await?;
    let snapshot =
        super::rollback_data::data_to_restore(file, env, connected, &snaps, with_data).await?;
    let release = rollback_target(env, &snaps)?;
    let live = snaps[0].live;
    let inactive = live.other();
    let in_place = snaps.iter().all(|s| s.release(inactive) == release);
    if in_place {
        // Health-checked too: a release rolled back from (a second
        // rollback returns to it) may be the very build that was bad.
        if !force {
            require_healthy(file, env, connected, inactive, sink).await?;
        }
        let units = go_live(file, env, connected, &snaps, Going::rollback(force), sink).await?;
        let done = super::rollback_data::finish_rollback(
            file, env, connected, inactive, release, false, snapshot, with_data, sink,
        )
        .await;
        return super::rollback_data::both(done, units);
    }
    for s in &snaps {
        sink(
            &s.name,
            Stream::Step,
            &format!(
                "{} now holds {} (deployed after the swap); pointing it back at {release}, the release live before",
                inactive.as_str(),
                s.release(inactive)
            ),
        );
    }
    let (live, units) = rollback_to_release(file, env, connected, &release, force, sink).await?;
    let done = super::rollback_data::finish_rollback(
        file, env, connected, live, release, true, snapshot, with_data, sink,
    )
    .await;
    super::rollback_data::both(done, units)
}

/// The release a plain rollback returns to: the one every server records
/// as live before the last swap, still kept everywhere; else why not.
fn rollback_target(env: &Environment, snaps: &[ServerRead]) -> anyhow::Result<String> {
    let mut target: Option<String> = None;
    for s in snaps {
        let Some(previous) = s.status.state.previous.clone() else {
            bail!(
                "{} records no release that was live before the last swap (nothing was swapped yet, or the swap predates Pond recording it); pick one with `pond releases {}` and `pond rollback {} --to ID`",
                s.name,
                env.name,
                env.name
            );
        };
        match &target {
            Some(t) if *t != previous => bail!(
                "the servers record different releases to roll back to ({}: {t}, {}: {previous}); pick one with `pond rollback {} --to ID`",
                snaps[0].name,
                s.name,
                env.name
            ),
            _ => target = Some(previous),
        }
        if !s.status.releases_on_disk.contains(target.as_ref().unwrap()) {
            bail!(
                "release {} (live before the last swap) is no longer kept on {}; pick another with `pond releases {}`",
                target.as_ref().unwrap(),
                s.name,
                env.name
            );
        }
    }
    Ok(target.expect("at least one web server"))
}

/// Points the inactive colour of every web server at a kept release, then
/// makes it live after its health check (unless `force`).
#[tracing::instrument(name = "swap::rollback_to", skip_all, fields(env = %env.name, release = %release))]
pub async fn rollback_to(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    release: &str,
    force: bool,
    sink: &Sink,
) -> anyhow::Result<Colour> {
    let (live, units) = rollback_to_release(file, env, connected, release, force, sink).await?;
    units?;
    Ok(live)
}

/// [`rollback_to`], with how the units followed as a separate result.
async fn rollback_to_release(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    release: &str,
    force: bool,
    sink: &Sink,
) -> anyhow::Result<(Colour, anyhow::Result<()>)> {
    point_inactive(file, env, connected, release, sink).await?;
    let snaps = read_servers(file, env, connected).await?;
    let next = snaps[0].live.other();
    same_release_everywhere(&snaps, next)?;
    if !force {
        require_healthy(file, env, connected, next, sink)
            .await
            .map_err(|e| {
                e.context(format!(
                    "{} now points at {release} but stays inactive",
                    next.as_str()
                ))
            })?;
    }
    let units = go_live(file, env, connected, &snaps, Going::rollback(force), sink).await?;
    Ok((next, units))
}

/// Swaps every server to its inactive colour, as the snapshots saw it; on
/// a failure, swaps back the servers already done. Then the environment's
/// units follow the new live release: how that went is the inner result
/// (the swap stands either way), so a caller can finish its own work first.
async fn go_live(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    snaps: &[ServerRead],
    going: Going<'_>,
    sink: &Sink,
) -> anyhow::Result<anyhow::Result<()>> {
    let op = going.op;
    let plan = go_live_plan(file, env, snaps, &going)?;
    let mut swapped: Vec<(&Connected, &ServerRead)> = vec![];
    for (snap, planned) in snaps.iter().zip(&plan.operations) {
        let c = session_of(connected, snap);
        match swap_one(c, planned, snap.live.other(), sink).await {
            Ok(()) => swapped.push((c, snap)),
            Err(e) => {
                let mut stuck = vec![];
                for (done, was) in swapped {
                    let undone = match swap_back_operation(file, env, was) {
                        Ok(undo) => swap_one(done, &undo, was.live, sink).await,
                        Err(e) => Err(e),
                    };
                    if let Err(back_failed) = undone {
                        stuck.push(format!("{}: {back_failed:#}", was.name));
                    }
                }
                if !stuck.is_empty() {
                    return Err(e.context(format!(
                        "and swapping back failed, so these servers now serve the other colour: {}. Run pond status and swap them by hand",
                        stuck.join("; ")
                    )));
                }
                return Err(e);
            }
        }
    }
    // The processes already restarted in the new live release (common/swap);
    // now their units follow what that release declares.
    let web: Vec<&Connected> = swapped.iter().map(|(c, _)| *c).collect();
    super::spare::start_all(file, &env.name, &web, sink).await;
    let units = async {
        super::processes::apply(file, env, &web, sink).await?;
        super::backups::apply_schedule(file, env, connected, sink).await
    };
    Ok(units.await.map_err(|e| {
        e.context(format!(
            "{} is live, but its processes, schedule or scheduled backups may still follow the release before; `pond status {}` shows them, and the next swap or rollback applies them again",
            op_target(op),
            env.name
        ))
    }))
}

/// What went live, for a message.
fn op_target(op: &str) -> &'static str {
    if op == "rollback" {
        "the release rolled back to"
    } else {
        "the new release"
    }
}

/// Runs one server's planned swap to `next`.
async fn swap_one(c: &Connected, op: &Operation, next: Colour, sink: &Sink) -> anyhow::Result<()> {
    let outcome = super::execute::run(c, op, None, sink).await?;
    if outcome.exit_code != 0 {
        bail!(
            "swapping {} on {} failed: {}",
            next.as_str(),
            c.server.endpoint.name,
            crate::ssh::session::last_lines(&format!("{}\n{}", outcome.stdout, outcome.stderr), 6)
        );
    }
    Ok(())
}

/// Points the inactive colour of every web server at an older release
/// (kept on the servers), ready to be swapped in. Each server checks under
/// its lock that the colour still points where the client saw it.
pub async fn point_inactive(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    release: &str,
    sink: &Sink,
) -> anyhow::Result<Colour> {
    let snaps = read_servers(file, env, connected).await?;
    let inactive = snaps[0].live.other();
    let (plan, _) = point_plan(file, env, &snaps, release)?;
    for (snap, op) in snaps.iter().zip(&plan.operations) {
        let c = session_of(connected, snap);
        let outcome = super::execute::run(c, op, None, sink).await?;
        if outcome.exit_code != 0 {
            bail!(
                "pointing {} at {release} on {} failed: {}",
                inactive.as_str(),
                snap.name,
                crate::ssh::session::last_lines(
                    &format!("{}\n{}", outcome.stdout, outcome.stderr),
                    4
                )
            );
        }
    }
    let pointed: Vec<&Connected> = snaps.iter().map(|s| session_of(connected, s)).collect();
    super::spare::start_all(file, &env.name, &pointed, sink).await;
    Ok(inactive)
}
