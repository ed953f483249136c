//! Tasks: what Pond does to an environment, composed of operations on its
//! servers and on DigitalOcean — provision, deploy, health check, swap,
//! rollback, status, logs, scale, create, destroy. Each task builds its
//! operations as values (rendered templates, API requests: the pure plan
//! layer), hands them to the one executor (`execute`), and reports
//! progress to a sink. The CLI and the GUI call exactly these functions.

pub mod access;
pub mod acme_txt;
pub mod backups;
pub mod balancer;
pub mod build;
pub mod check;
pub mod configs;
pub mod create;
mod create_plan;
pub mod deploy;
pub mod destroy;
pub mod dns;
pub mod droplets;
pub mod exec;
pub mod execute;
pub mod lb_tls;
pub mod logs;
pub mod manifest;
pub mod operate;
pub mod pre_swap;
pub mod preview_tls;
pub mod processes;
pub mod provision;
pub mod rollback_data;
pub mod scale;
pub mod secrets;
pub mod shared_server;
pub mod shared_tree;
pub mod snapshots;
pub mod spare;
pub mod state;
pub mod swap;
pub mod tls;
pub mod transfer;
pub mod upload_store;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};

use crate::config::{DropletRole, Environment, ProjectFile};
use crate::plan::Template;
use crate::ssh::{Endpoint, HostKeyCheck, Identity, Session, Sink, Stream};

pub use crate::plan::layout::{EnvUsers, env_root, provision_record};

/// Finds an environment by name, with a clear error listing the others.
pub fn find_env<'a>(file: &'a ProjectFile, name: &str) -> anyhow::Result<(usize, &'a Environment)> {
    file.environments.iter().enumerate().find(|(_, e)| e.name == name).with_context(|| {
        let known: Vec<&str> = file.environments.iter().map(|e| e.name.as_str()).collect();
        if known.is_empty() {
            format!("pond.json has no environment {name:?}; it has none yet (add one with `pond attach`)")
        } else {
            format!("pond.json has no environment {name:?}; it has: {}", known.join(", "))
        }
    })
}

/// A request to stop long work at its next step boundary, where the
/// servers are in a state the task can describe (set from another thread,
/// e.g. the window's Cancel button). Cloning shares the request.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Fails with "Stopped before {next} as asked. {state}" when a stop
    /// was requested.
    pub fn check(&self, next: &str, state: &str) -> anyhow::Result<()> {
        if self.requested() {
            bail!("Stopped before {next}, as asked. {state}");
        }
        Ok(())
    }
}

/// One droplet of an environment, ready to connect to.
#[derive(Debug, Clone)]
pub struct Server {
    /// Index in `environments[i].droplets`, to record a pinned key.
    pub index: usize,
    pub endpoint: Endpoint,
    pub pinned: Option<String>,
    pub role: DropletRole,
}

/// The servers of an environment (web droplets first).
pub fn servers(env: &Environment, env_index: usize) -> anyhow::Result<Vec<Server>> {
    let mut out = vec![];
    for (j, d) in env.droplets.iter().enumerate() {
        let address = d.address.clone().with_context(|| {
            format!(
                "environments[{env_index}].droplets[{j}] ({}) has no address yet",
                d.name
            )
        })?;
        out.push(Server {
            index: j,
            endpoint: Endpoint {
                name: d.name.clone(),
                address,
                port: 22,
                user: d.ssh_user.clone().unwrap_or_else(|| "root".into()),
            },
            pinned: d.host_key.clone(),
            role: d.role,
        });
    }
    if out.is_empty() {
        bail!(
            "environment {} has no servers yet; add one with `pond attach` or create it with `pond provision`",
            env.name
        );
    }
    out.sort_by_key(|s| s.role != DropletRole::Web);
    Ok(out)
}

/// A connected server and, when it was first-use, the key to pin.
pub struct Connected {
    pub server: Server,
    pub session: Arc<Session>,
    pub new_pin: Option<String>,
}

/// Connects to every server in parallel, checking pinned host keys and
/// trusting on first use where none is pinned yet.
pub async fn connect_all(
    servers: &[Server],
    identity: &Identity,
    sink: &Sink,
) -> anyhow::Result<Vec<Connected>> {
    connect_all_pooled(&crate::ssh::Pool::new(), servers, identity, sink).await
}

/// [`connect_all`] through a pool: a session still open to the same
/// address and user is reused instead of reconnecting when it presented
/// the pinned host key, or for a server with none pinned yet.
pub async fn connect_all_pooled(
    pool: &crate::ssh::Pool,
    servers: &[Server],
    identity: &Identity,
    sink: &Sink,
) -> anyhow::Result<Vec<Connected>> {
    let attempts = servers.iter().map(|server| {
        let identity = identity.clone();
        let sink = Arc::clone(sink);
        let server = server.clone();
        async move {
            let check = match &server.pinned {
                Some(fp) => HostKeyCheck::Pinned(fp.clone()),
                None => HostKeyCheck::FirstUse,
            };
            let started = std::time::Instant::now();
            let got = pool.get(&server.endpoint, &identity, check).await;
            let ms = started.elapsed().as_millis() as u64;
            match &got {
                Ok(_) => tracing::info!(server = %server.endpoint.name, ms, "connected"),
                Err(e) => tracing::warn!(server = %server.endpoint.name, ms, error = %format!("{e:#}"), "not connected"),
            }
            let (session, _fresh) = got?;
            let new_pin = server.pinned.is_none().then(|| session.host_key.clone());
            if let Some(pin) = &new_pin {
                sink(
                    &server.endpoint.name,
                    Stream::Done,
                    &format!("first connection: pinning host key {pin}"),
                );
            }
            anyhow::Ok(Connected {
                server,
                session,
                new_pin,
            })
        }
    });
    let results = futures::future::join_all(attempts).await;
    results.into_iter().collect()
}

/// Another handle on the same sessions (for a task that consumes them).
pub trait CloneSessions {
    fn clone_sessions(&self) -> Vec<Connected>;
}

impl CloneSessions for [Connected] {
    fn clone_sessions(&self) -> Vec<Connected> {
        self.iter()
            .map(|c| Connected {
                server: c.server.clone(),
                session: Arc::clone(&c.session),
                new_pin: c.new_pin.clone(),
            })
            .collect()
    }
}

/// Records first-use host keys in the project file (caller saves it).
pub fn record_pins(file: &mut ProjectFile, env_index: usize, connected: &[Connected]) -> bool {
    let mut changed = false;
    for c in connected {
        if let Some(pin) = &c.new_pin {
            file.environments[env_index].droplets[c.server.index].host_key = Some(pin.clone());
            changed = true;
        }
    }
    changed
}

/// Renders a shipped template with inputs given as pairs: the whole
/// [`Script`](crate::plan::Script) (template, inputs, text), for a plan.
pub fn render_script(id: &str, inputs: &[(&str, &str)]) -> anyhow::Result<crate::plan::Script> {
    let values: BTreeMap<String, String> = inputs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(Template::builtin(id)?.render(&values)?)
}

/// Who is acting, for locks and logs: `user@host`.
pub fn actor() -> String {
    format!(
        "{}@{}",
        crate::platform::user_name(),
        crate::platform::host_name()
    )
}
