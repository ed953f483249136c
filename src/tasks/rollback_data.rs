//! What a rollback does with the data: the database snapshot the swap
//! being undone took (recorded in each web server's `state.json`),
//! checked before anything changes, and restored after the code went back
//! (`pond rollback --with-data`); a plain rollback leaves the data and
//! says which snapshot it did not restore.

use anyhow::bail;

use super::Connected;
use super::swap::{Rollback, ServerRead, read_servers};
use crate::config::{Colour, Environment, ProjectFile};
use crate::ssh::Sink;

/// A rollback's outcome with how the units followed: every error is told.
pub(super) fn both(
    done: anyhow::Result<Rollback>,
    units: anyhow::Result<()>,
) -> anyhow::Result<Rollback> {
    match (done, units) {
        (Ok(done), Ok(())) => Ok(done),
        (Ok(_), Err(u)) => Err(u),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(u)) => Err(e.context(format!("and besides: {u:#}"))),
    }
}

/// The snapshot the swap being undone took (all web servers must record
/// the same). With `with_data` it must exist on the database's server, or
/// the rollback is refused before anything changes.
pub(super) async fn data_to_restore(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    snaps: &[ServerRead],
    with_data: bool,
) -> anyhow::Result<Option<String>> {
    let recorded = snaps[0].status.state.snapshot.clone();
    if snaps.iter().any(|s| s.status.state.snapshot != recorded) {
        let each: Vec<String> = snaps
            .iter()
            .map(|s| {
                format!(
                    "{}: {}",
                    s.name,
                    s.status.state.snapshot.as_deref().unwrap_or("none")
                )
            })
            .collect();
        bail!(
            "the servers record different database snapshots for the last swap ({}); nothing was rolled back",
            each.join(", ")
        );
    }
    if !with_data {
        return Ok(recorded);
    }
    let Some(id) = recorded else {
        bail!(
            "the last change of what is live recorded no database snapshot (a swap takes one only when it has pre-swap hooks and a database Pond manages; a rollback never takes one), so --with-data has nothing to restore; nothing was rolled back. Roll back without --with-data to leave the data as it is; `pond backup list` shows backups and snapshots to restore by hand"
        );
    };
    super::snapshots::check_restorable(file, env, connected, &id)
        .await
        .map_err(|e| e.context("nothing was rolled back"))?;
    Ok(Some(id))
}

/// What `rollback --with-data` would restore, for its confirmation: the
/// snapshot the last swap took, as the database's server lists it.
pub async fn data_to_roll_back(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
) -> anyhow::Result<super::snapshots::Snapshot> {
    let snaps = read_servers(file, env, connected).await?;
    let id = data_to_restore(file, env, connected, &snaps, true)
        .await?
        .expect("with_data returns the snapshot or refuses");
    super::snapshots::check_restorable(file, env, connected, &id).await
}

/// After the code went back: restores the data when asked.
#[allow(clippy::too_many_arguments)]
pub(super) async fn finish_rollback(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    live: Colour,
    release: String,
    repointed: bool,
    snapshot: Option<String>,
    with_data: bool,
    sink: &Sink,
) -> anyhow::Result<Rollback> {
    if with_data && let Some(id) = &snapshot {
        super::snapshots::restore(file, env, connected, id, sink)
            .await
            .map_err(|e| {
                e.context(format!(
                    "release {release} is live again, but the database was not restored; snapshot {id} is still on the database's server: `pond backup restore {} {id}` restores it", env.name
                ))
            })?;
    }
    Ok(Rollback {
        live,
        release,
        repointed,
        restored: snapshot.clone().filter(|_| with_data),
        data_left: snapshot.filter(|_| !with_data),
    })
}
