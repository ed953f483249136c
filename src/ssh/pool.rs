//! A pool of authenticated sessions, one per server (address, port, user),
//! reused across operations and tasks for as long as the connection lives.
//! The CLI makes one per command; the desktop app keeps one for its
//! lifetime, so status refreshes and deploys do not reconnect.

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
