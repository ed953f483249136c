//! Backups of an environment (`pond backup`, pond.json `backups`): its
//! database, dumped on the server it lives on, and its shared paths, packed
//! by the site user on the first web server (`common/backup`), each kept by
//! root on its server with a MANIFEST of sizes and checksums. One id names
//! the parts on every server. Scheduled backups are the same script run by
//! a systemd timer (`common/backup-schedule`); every run, scheduled or
//! not, records its outcome on the server, which `pond status` shows.

use std::path::Path;

use anyhow::{Context, bail};

use super::{Connected, execute};
use crate::config::{Database, DropletRole, Environment, ProjectFile};
use crate::plan::Operation;
use crate::plan::report::Report;
use crate::ssh::Sink;

/// What one server holds of an environment's backups.
struct Part<'a> {
    server: &'a Connected,
    /// The database, when it lives here.
    database: Option<String>,
    /// Whether the shared paths live here.
    shared: bool,
}

/// Which server holds which part: the database's server its dump, the
/// first web server the shared paths (one server can hold both).
fn parts<'a>(env: &Environment, connected: &'a [Connected]) -> anyhow::Result<Vec<Part<'a>>> {
    let web = connected
        .iter()
        .find(|c| c.server.role == DropletRole::Web)
        .with_context(|| format!("{} has no web server", env.name))?;
    let mut parts = vec![Part {
        server: web,
        database: None,
        shared: true,
    }];
    match &env.database {
        Database::SameDroplet { name, .. } => parts[0].database = Some(name.clone()),
        Database::OtherDroplet { droplet, name, .. } => {
            let server = connected
                .iter()
                .find(|c| &c.server.endpoint.name == droplet)
                .with_context(|| format!("the database droplet {droplet} is not connected"))?;
            parts.push(Part {
                server,
                database: Some(name.clone()),
                shared: false,
            });
        }
        Database::None | Database::External { .. } => {}
    }
    Ok(parts)
}

/// `common/backup` doing `action` (with backup `id`) on `part`'s server,
/// as the operation the executor runs there.
fn operation(
    description: impl Into<String>,
    file: &ProjectFile,
    env: &Environment,
    part: &Part,
    action: &str,
    id: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<Operation> {
    let users = super::EnvUsers::of(&file.name, &env.name);
    let shared = if part.shared {
        file.shared_paths.join("\n")
    } else {
        String::new()
    };
    let mut inputs: Vec<(&str, &str)> = vec![
        ("PROJECT", &file.name),
        ("ENV", &env.name),
        ("SITE_USER", &users.site),
        ("ACTION", action),
        ("ID", id),
        ("DB_NAME", part.database.as_deref().unwrap_or_default()),
        ("SHARED_PATHS", &shared),
    ];
    inputs.extend_from_slice(extra);
    execute::on(part.server, description, "common/backup", &inputs)
}

/// A new backup id: `backup-<UTC time>-manual`.
pub fn new_id() -> String {
    id_now("manual")
}

/// `backup-<UTC time>-<kind>`.
fn id_now(kind: &str) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_default();
    format!("backup-{at}-{kind}")
}

/// Takes a backup now on every server holding a part; returns its id.
pub async fn take(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    sink: &Sink,
) -> anyhow::Result<String> {
    let id = new_id();
    for part in parts(env, connected)? {
        let op = operation("backup", file, env, &part, "take", &id, &[])?;
        execute::run_ok(part.server, &op, sink)
            .await
            .with_context(|| {
                format!("backup {id} failed on {}", part.server.server.endpoint.name)
            })?;
    }
    Ok(id)
}

/// One backup as a server lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Listed {
    pub id: String,
    /// When it was taken (UTC, RFC 3339).
    pub at: String,
    /// Its compressed size here.
    pub bytes: u64,
}

/// A server's last backup run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastRun {
    pub at: String,
    pub ok: bool,
    /// Started at `at` and not finished yet (or killed without a word).
    pub running: bool,
    /// The backup's id, or what went wrong.
    pub detail: String,
}

impl From<&crate::plan::report::LastRun> for LastRun {
    fn from(run: &crate::plan::report::LastRun) -> LastRun {
        LastRun {
            at: run.at.clone(),
            ok: run.result == "ok",
            running: run.result == "running",
            detail: run.detail.trim().to_string(),
        }
    }
}

/// Each part server's backups and last run: (server, backups, last run).
pub async fn list(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
) -> anyhow::Result<Vec<(String, Vec<Listed>, Option<LastRun>)>> {
    let mut out = vec![];
    for part in parts(env, connected)? {
        let op = operation("listing backups", file, env, &part, "list", "", &[])?;
        let o = execute::run_ok(part.server, &op, &crate::ssh::session::quiet()).await?;
        let (listed, last) = parse_list(&o.reports);
        out.push((part.server.server.endpoint.name.clone(), listed, last));
    }
    Ok(out)
}

fn parse_list(reports: &[Report]) -> (Vec<Listed>, Option<LastRun>) {
    let mut listed = crate::all_reported!(reports, Report::Backup { id, at, bytes } => Listed {
        id: id.clone(),
        at: at.clone(),
        bytes: *bytes,
    });
    listed.sort_by(|a, b| b.id.cmp(&a.id));
    let last = crate::reported!(reports, Report::BackupRun(run) => LastRun::from(run));
    (listed, last)
}

/// Restores backup `id` on every server holding a part of it (each takes a
/// backup of the present first), after checking every part is there; an
/// id `swap-…` is the database snapshot a swap took
/// ([`super::snapshots`]), restored after a backup of the present.
#[tracing::instrument(name = "backups::restore", skip_all, fields(env = %env.name))]
pub async fn restore(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    id: &str,
    sink: &Sink,
) -> anyhow::Result<()> {
    if id.starts_with("swap-") {
        super::snapshots::check_restorable(file, env, connected, id).await?;
        let before = take(file, env, connected, sink).await?;
        sink(
            crate::ssh::LOCAL,
            crate::ssh::Stream::Done,
            &format!("backup {before} of the present taken first"),
        );
        return super::snapshots::restore(file, env, connected, id, sink).await;
    }
    check_id(id)?;
    let listed = list(file, env, connected).await?;
    let missing: Vec<&str> = listed
        .iter()
        .filter(|(_, kept, _)| !kept.iter().any(|b| b.id == id))
        .map(|(server, _, _)| server.as_str())
        .collect();
    if !missing.is_empty() {
        bail!(
            "backup {id} is not on {} (each server keeps its own part; scheduled backups of an environment whose database has its own droplet are taken on each server at its own time, so restore a manual one); nothing was restored",
            missing.join(", ")
        );
    }
    // One id for the backup of the present every part takes first, so the
    // restore can be undone as a whole.
    let before = id_now("before-restore");
    for part in parts(env, connected)? {
        let extra = [("BEFORE_ID", before.as_str())];
        let op = operation(
            format!("restoring {id}"),
            file,
            env,
            &part,
            "restore",
            id,
            &extra,
        )?;
        execute::run_ok(part.server, &op, sink)
            .await
            .with_context(|| format!("restoring {id} on {}", part.server.server.endpoint.name))?;
    }
    Ok(())
}

/// Copies backup `id`'s files into `dir` (`<server>-MANIFEST`,
/// `<server>-database.sql.zst`, `<server>-shared.tar.zst`); returns the
/// files written.
pub async fn download(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    id: &str,
    dir: &Path,
    sink: &Sink,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    check_id(id)?;
    std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
    let mut written = vec![];
    for part in parts(env, connected)? {
        let name = &part.server.server.endpoint.name;
        // One of the backup's files, printed by the server.
        let print = |description: String, f: &str| {
            operation(description, file, env, &part, "print", id, &[("FILE", f)])
        };
        let op = print("reading the manifest".into(), "MANIFEST")?;
        let manifest = execute::run_ok(part.server, &op, &crate::ssh::session::quiet())
            .await
            .with_context(|| format!("backup {id} on {name}"))?;
        let mut files = vec![("MANIFEST".to_string(), manifest.stdout.clone())];
        for line in manifest.stdout.lines() {
            if let Some(rest) = line.strip_prefix("FILE ")
                && let Some(f) = rest.split_whitespace().next()
            {
                files.push((f.to_string(), String::new()));
            }
        }
        for (f, text) in files {
            let to = dir.join(format!("{name}-{f}"));
            if f == "MANIFEST" {
                std::fs::write(&to, text).with_context(|| format!("writing {}", to.display()))?;
            } else {
                let out = tokio::fs::File::create(&to)
                    .await
                    .with_context(|| format!("writing {}", to.display()))?;
                let op = print(format!("copying {f}"), &f)?;
                let outcome = execute::run_piped(part.server, &op, Box::new(out), sink).await?;
                if outcome.exit_code != 0 {
                    bail!(
                        "copying {f} of {id} from {name} failed: {}",
                        outcome.stderr.trim()
                    );
                }
            }
            written.push(to);
        }
    }
    Ok(written)
}

/// Installs or removes the scheduled backups pond.json asks for, on each
/// server holding a part.
pub async fn apply_schedule(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    sink: &Sink,
) -> anyhow::Result<()> {
    for part in parts(env, connected)? {
        // The timer's script is an input of the one installing it.
        let (every, scheduled) = match &file.backups {
            Some(b) => {
                let keep = b.keep.to_string();
                let extra = [("KEEP", keep.as_str())];
                let op = operation(
                    "scheduled backup",
                    file,
                    env,
                    &part,
                    "scheduled",
                    "",
                    &extra,
                )?;
                (b.schedule.as_str(), execute::script_text(&op).to_string())
            }
            None => ("", String::new()),
        };
        let install = execute::on(
            part.server,
            "scheduled backups",
            "common/backup-schedule",
            &[
                ("PROJECT", &file.name),
                ("ENV", &env.name),
                ("SCHEDULE", every),
                ("SCRIPT", &scheduled),
            ],
        )?;
        execute::run_ok(part.server, &install, sink).await?;
    }
    Ok(())
}

fn check_id(id: &str) -> anyhow::Result<()> {
    let ok = id.strip_prefix("backup-").is_some_and(|rest| {
        rest.len() > 17 && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if !ok {
        bail!(
            "{id:?} is not a backup id; `pond backup list ENV` shows them (backup-<time>-<kind>)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_give_backups_newest_first_and_the_last_run() {
        let (listed, last) = parse_list(&crate::plan::report::reports_of(
            "report backup id backup-20261206T010000Z-scheduled at 2026-12-06T01:00:00Z bytes 100
             report backup id backup-20261206T020000Z-manual at 2026-12-06T02:00:00Z bytes 250
             report backup-run at 2026-12-06T03:00:00Z result failed detail 'MariaDB is not running on this server'",
        ));
        assert_eq!(listed[0].id, "backup-20261206T020000Z-manual");
        assert_eq!(listed[1].bytes, 100);
        let last = last.unwrap();
        assert!(!last.ok);
        assert_eq!(last.detail, "MariaDB is not running on this server");
        assert!(new_id().starts_with("backup-20") && new_id().ends_with("-manual"));
        assert!(check_id("backup-20261206T020000Z-manual").is_ok());
        assert!(check_id("../etc").is_err());
    }
}
