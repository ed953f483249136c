//! Database snapshots of an environment (`mysql/snapshot`), kept by root
//! on the server its database lives on: the one a swap with pre-swap hooks
//! takes first (`swap-<release going live>-at-<time>`, kept while that
//! release is kept on the web servers), which `pond rollback --with-data` restores.
//! An environment without a database, or with one Pond does not manage
//! (`external`), has none.

use anyhow::{Context, bail};

use super::{Connected, execute};
use crate::config::{Database, DropletRole, Environment, ProjectFile};
use crate::plan::report::Report;
use crate::ssh::Sink;
use crate::ssh::session::Outcome;

/// A snapshot as its server lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Snapshot {
    pub id: String,
    /// Compressed size.
    pub bytes: u64,
    /// When it was taken (unix seconds).
    pub taken: u64,
}

/// The id of the snapshot a swap takes before `release` goes live, at
/// `at` (RFC 3339): `swap-<release>-at-<YYYYMMDDTHHMMSSZ>`, so a second
/// attempt never overwrites the first one's.
pub fn swap_id(release: &str, at: &str) -> String {
    let compact: String = at
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T' || *c == 'Z')
        .collect();
    format!("swap-{release}-at-{compact}")
}

/// The server holding the environment's database and the database's
/// name; None when Pond manages no database for it.
fn database_server<'a>(
    env: &Environment,
    connected: &'a [Connected],
) -> anyhow::Result<Option<(&'a Connected, String)>> {
    Ok(match &env.database {
        Database::None | Database::External { .. } => None,
        Database::SameDroplet { name, .. } => {
            let web = connected
                .iter()
                .find(|c| c.server.role == DropletRole::Web)
                .with_context(|| format!("{} has no web server", env.name))?;
            Some((web, name.clone()))
        }
        Database::OtherDroplet { droplet, name, .. } => {
            let server = connected
                .iter()
                .find(|c| &c.server.endpoint.name == droplet)
                .with_context(|| {
                    format!(
                        "the database droplet {droplet} of {} is not connected",
                        env.name
                    )
                })?;
            Some((server, name.clone()))
        }
    })
}

/// The environment's database on its server, where `mysql/snapshot` runs.
struct Snapshots<'a> {
    server: &'a Connected,
    db: String,
    file: &'a ProjectFile,
    env: &'a Environment,
}

impl<'a> Snapshots<'a> {
    /// None when Pond manages no database for `env`.
    fn of(
        file: &'a ProjectFile,
        env: &'a Environment,
        connected: &'a [Connected],
    ) -> anyhow::Result<Option<Snapshots<'a>>> {
        Ok(
            database_server(env, connected)?.map(|(server, db)| Snapshots {
                server,
                db,
                file,
                env,
            }),
        )
    }

    /// Runs `mysql/snapshot` doing `action` there (a non-zero exit is an
    /// error).
    async fn run(
        &self,
        description: impl Into<String>,
        action: &str,
        id: &str,
        keep: &str,
        sink: &Sink,
    ) -> anyhow::Result<Outcome> {
        let op = execute::on(
            self.server,
            description,
            "mysql/snapshot",
            &[
                ("PROJECT", &self.file.name),
                ("ENV", &self.env.name),
                ("DB_NAME", &self.db),
                ("ACTION", action),
                ("ID", id),
                ("KEEP", keep),
            ],
        )?;
        execute::run_ok(self.server, &op, sink).await
    }

    fn server_name(&self) -> &str {
        &self.server.server.endpoint.name
    }
}

/// Takes snapshot `id` of the environment's database. None (and nothing
/// done) when Pond manages no database for it.
pub async fn take(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    id: &str,
    sink: &Sink,
) -> anyhow::Result<Option<Snapshot>> {
    let Some(db) = Snapshots::of(file, env, connected)? else {
        return Ok(None);
    };
    let name = &db.db;
    let out = db
        .run(format!("snapshot of {name}"), "take", id, "", sink)
        .await
        .with_context(|| format!("taking a snapshot of {name} on {}", db.server_name()))?;
    Ok(parse(&out.reports).into_iter().next())
}

/// Restores snapshot `id` into the environment's database.
#[tracing::instrument(name = "snapshots::restore", skip_all, fields(env = %env.name, snapshot = %id))]
pub async fn restore(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    id: &str,
    sink: &Sink,
) -> anyhow::Result<()> {
    let Some(db) = Snapshots::of(file, env, connected)? else {
        bail!(
            "{} has no database Pond manages, so no snapshot to restore",
            env.name
        );
    };
    let name = &db.db;
    db.run(
        format!("restoring {name} from {id}"),
        "restore",
        id,
        "",
        sink,
    )
    .await
    .with_context(|| {
        format!(
            "restoring {name} on {} from snapshot {id}",
            db.server_name()
        )
    })?;
    Ok(())
}

/// Checks snapshot `id` can be restored: it is on the database's server
/// and MariaDB runs there. Returns it as listed.
pub async fn check_restorable(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    id: &str,
) -> anyhow::Result<Snapshot> {
    let Some(db) = Snapshots::of(file, env, connected)? else {
        bail!(
            "{} has no database Pond manages, so no snapshot to restore",
            env.name
        );
    };
    let out = db
        .run(
            "listing snapshots",
            "list",
            "",
            "",
            &crate::ssh::session::quiet(),
        )
        .await?;
    if crate::reported!(out.reports, Report::Mariadb { running } => *running) == Some(false) {
        bail!(
            "MariaDB is not running on {}, so snapshot {id} cannot be restored; nothing was changed",
            db.server_name()
        );
    }
    parse(&out.reports)
        .into_iter()
        .find(|s| s.id == id)
        .with_context(|| {
            format!(
                "snapshot {id} is no longer on {} (its release is no longer kept?); nothing was changed",
                db.server_name()
            )
        })
}

/// Removes the swap snapshots whose release is not in `kept` (the
/// releases the web servers still keep).
pub async fn prune(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    kept: &[String],
    sink: &Sink,
) -> anyhow::Result<()> {
    let Some(db) = Snapshots::of(file, env, connected)? else {
        return Ok(());
    };
    let kept = kept.join("\n");
    db.run(
        "removing snapshots of releases no longer kept",
        "prune",
        "",
        &kept,
        sink,
    )
    .await?;
    Ok(())
}

fn parse(reports: &[Report]) -> Vec<Snapshot> {
    crate::all_reported!(reports, Report::Snapshot { id, bytes, mtime } => Snapshot {
        id: id.clone(),
        bytes: *bytes,
        taken: *mtime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_parse_and_ids_name_the_release() {
        assert_eq!(
            parse(&crate::plan::report::reports_of(
                "echo noise
                 report snapshot id swap-20261206T030000Z-v2-at-20261206T031005Z bytes 1234 mtime 1765000000"
            )),
            [Snapshot {
                id: "swap-20261206T030000Z-v2-at-20261206T031005Z".into(),
                bytes: 1234,
                taken: 1765000000
            }]
        );
        assert_eq!(
            swap_id("20261206T030000Z-v2", "2026-12-06T03:10:05Z"),
            "swap-20261206T030000Z-v2-at-20261206T031005Z"
        );
    }
}
