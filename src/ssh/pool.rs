//! A pool of authenticated sessions, one per server (address, port, user),
//! kept for one command: asked for a server it already holds a live
//! session to, it gives that session instead of reconnecting; asked twice
//! at once, the second ask waits for the first connection. A session is
//! reused for a pinned host key only when it presented that very key.
//! [`crate::project::Project::statuses`] asks through one pool for all the
//! environments it reads, so a droplet several environments share
//! (`pond attach` on one server) gets one connection; each other command
//! connects once per server anyway (`tasks::connect_all` makes its own
//! pool), and nothing is kept across commands.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::{Endpoint, HostKeyCheck, Identity, Session};

/// A server's place in the pool: its session once connected. Its own lock
/// is held while connecting, so one server is connected to once; other
/// servers connect meanwhile.
type Slot = Arc<Mutex<Option<Arc<Session>>>>;

#[derive(Default)]
pub struct Pool {
    slots: std::sync::Mutex<HashMap<(String, u16, String), Slot>>,
}

impl Pool {
    pub fn new() -> Pool {
        Pool::default()
    }

    /// A live session to `endpoint`, connecting (and checking the host
    /// key) only when there is none, the old one has closed, or it
    /// presented another key than the pinned one. The flag says whether
    /// the session is new.
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
        let slot = Arc::clone(
            self.slots
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .entry(key)
                .or_default(),
        );
        let mut held = slot.lock().await;
        if let Some(s) = held.as_ref()
            && !s.is_closed()
            && match &check {
                HostKeyCheck::Pinned(fp) => fp == &s.host_key,
                // Its key was checked (or first seen) by this command.
                HostKeyCheck::FirstUse => true,
            }
        {
            return Ok((Arc::clone(s), false));
        }
        let session = Arc::new(Session::connect(endpoint, identity, check).await?);
        *held = Some(Arc::clone(&session));
        Ok((session, true))
    }

    /// How many sessions are open (for tests and the status line).
    pub async fn open(&self) -> usize {
        let slots: Vec<Slot> = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .cloned()
            .collect();
        let mut open = 0;
        for slot in slots {
            if slot.lock().await.as_ref().is_some_and(|s| !s.is_closed()) {
                open += 1;
            }
        }
        open
    }
}
