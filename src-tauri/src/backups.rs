//! The environment's backups from its panel: the list with each server's
//! last run, "Back up now", and a restore (the window asks for the
//! environment's name first; the engine takes a backup of the present
//! before it restores) — `pond backup` for the window
//! ([`pond::tasks::backups`]).

use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use ts_rs::TS;

use crate::commands::{Res, channel_sink, connect, engine};
use crate::view::{EnvRef, Progress};
use pond::tasks::backups;

/// One backup as one server keeps it.
#[derive(Debug, Serialize, TS)]
pub struct BackupView {
    pub server: String,
    pub id: String,
    /// When it was taken (UTC, RFC 3339).
    pub at: String,
    pub bytes: u64,
}

/// A server's last backup run: ok, or what went wrong.
#[derive(Debug, Serialize, TS)]
pub struct BackupRunView {
    pub server: String,
    pub at: String,
    pub ok: bool,
    /// Started at `at`, not finished (yet).
    pub running: bool,
    pub detail: String,
}

#[derive(Debug, Serialize, TS)]
pub struct BackupsView {
    /// Newest first, per server.
    pub backups: Vec<BackupView>,
    pub last_runs: Vec<BackupRunView>,
}

/// Restore this backup (its id from the list).
#[derive(Debug, Deserialize, TS)]
pub struct BackupRequest {
    pub dir: String,
    pub env: String,
    pub id: String,
}

#[tauri::command]
pub async fn list_backups(req: EnvRef) -> Res<BackupsView> {
    engine(move || async move {
        let sink = pond::ssh::session::quiet();
        let (open, connected) = connect(&req.dir, &req.env, &sink).await?;
        let (p, env) = (&open.project, open.env().clone());
        let mut view = BackupsView {
            backups: vec![],
            last_runs: vec![],
        };
        for (server, kept, last) in backups::list(&p.file, &env, &connected).await? {
            view.backups.extend(kept.into_iter().map(|b| BackupView {
                server: server.clone(),
                id: b.id,
                at: b.at,
                bytes: b.bytes,
            }));
            if let Some(l) = last {
                view.last_runs.push(BackupRunView {
                    server,
                    at: l.at,
                    ok: l.ok,
                    running: l.running,
                    detail: l.detail,
                });
            }
        }
        Ok(view)
    })
    .await
}

/// Takes a backup now; returns its id.
#[tauri::command]
pub async fn take_backup(req: EnvRef, on_event: Channel<Progress>) -> Res<String> {
    engine(move || async move {
        let sink = channel_sink(on_event);
        let (open, connected) = connect(&req.dir, &req.env, &sink).await?;
        let (p, env) = (&open.project, open.env().clone());
        backups::take(&p.file, &env, &connected, &sink).await
    })
    .await
}

/// Restores a backup (the window asked for the environment's name).
#[tauri::command]
pub async fn restore_backup(req: BackupRequest, on_event: Channel<Progress>) -> Res<String> {
    engine(move || async move {
        let sink = channel_sink(on_event);
        let (open, connected) = connect(&req.dir, &req.env, &sink).await?;
        let (p, env) = (&open.project, open.env().clone());
        backups::restore(&p.file, &env, &connected, &req.id, &sink).await?;
        Ok(format!("{} is restored from backup {}.", req.env, req.id))
    })
    .await
}
