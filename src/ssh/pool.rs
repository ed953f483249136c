//! A pool of authenticated sessions, one per server (address, port, user):
//! asked again for a server after a session to it is up, it gives that
//! live session (with the same pinned host key) instead of reconnecting.
//! Today each `tasks::connect_all` makes its own pool and connects to all
//! servers at once, so nothing is reused in practice: the CLI and the
//! desktop app connect afresh for each command — a pool kept across
//! commands is not built.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::{Endpoint, HostKeyCheck, Identity, Session};

#[derive(Default)]
pub struct Pool {
    sessions: Mutex<HashMap<(String, u16, String), Arc<Session>>>,
}

impl Pool {
    pub fn new() -> Pool {
        Pool::default()
    }

    /// A live session to `endpoint`, connecting (and checking the host
    /// key) only when there is none or the old one has closed.
    pub async fn get(
        &self,
        endpoint: &Endpoint,
        identity: &Identity,
        check: HostKeyCheck,
    ) -> anyhow::Result<(Arc<Session>, bool)> {
        let key = (
            endpoint.address.clone(),
            endpoint.port,
            endpoint.user.clone(),
        );
        if let Some(s) = self.sessions.lock().await.get(&key)
            && !s.is_closed()
            && matches!(&check, HostKeyCheck::Pinned(fp) if fp == &s.host_key)
        {
            return Ok((Arc::clone(s), false));
        }
        let session = Arc::new(Session::connect(endpoint, identity, check).await?);
        self.sessions.lock().await.insert(key, Arc::clone(&session));
        Ok((session, true))
    }

    /// How many sessions are open (for tests and the status line).
    pub async fn open(&self) -> usize {
        self.sessions
            .lock()
            .await
            .values()
            .filter(|s| !s.is_closed())
            .count()
    }
}
