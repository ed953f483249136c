//! The copy the next deploy starts from, made ahead of time: after a
//! deploy, a swap, a rollback or a repoint, each web server starts
//! `common/spare`, which copies the release the next deploy starts from
//! (the newer of the two colours', as `common/deploy-prepare` picks it)
//! in the background (`releases/.spare-<id>`). The next deploy renames that copy
//! into its new release instead of copying a whole release while the user
//! waits; kept releases stay untouched, since the copy has its own files.
//! A copy that is not ready yet is waited for; one that failed or is stale
//! is not used (the deploy copies as before). docs/deploy.md, "The next
//! deploy's copy", says why this beats hard links or archives.

use super::{Connected, EnvUsers, env_root};
use crate::config::ProjectFile;
use crate::plan::{Action, Operation};
use crate::ssh::session::Endpoint;
use crate::ssh::{Sink, Stream};

/// `common/spare`'s script for an environment (the same on every server),
/// copying at once.
pub fn script(file: &ProjectFile, env_name: &str) -> anyhow::Result<crate::plan::Script> {
    script_for(
        &env_root(&file.name, env_name),
        file.keep_builds,
        &EnvUsers::of(&file.name, env_name),
        None,
    )
}

/// `common/spare`'s script for the environment at `root`; with
/// `after_lock_holder` (a deploy's lock holder on that server), the copy
/// waits until that process has ended, so it can be started while the
/// deploy still runs.
pub fn script_for(
    root: &str,
    keep_builds: u32,
    users: &EnvUsers,
    after_lock_holder: Option<u32>,
) -> anyhow::Result<crate::plan::Script> {
    let after = after_lock_holder.map(|pid| pid.to_string());
    super::render_script(
        "common/spare",
        &[
            ("ROOT", root),
            ("KEEP_BUILDS", &keep_builds.to_string()),
            ("SITE_USER", &users.site),
            ("DEPLOY_USER", &users.deploy),
            ("AFTER_PID", after.as_deref().unwrap_or_default()),
        ],
    )
}

/// Starting [`script`] on the droplet at `endpoint`, as a planned operation.
pub fn operation(endpoint: &Endpoint, script: &crate::plan::Script) -> Operation {
    let waits = script
        .inputs
        .iter()
        .any(|(k, v)| k == "AFTER_PID" && !v.is_empty());
    Operation {
        description: if waits {
            "Start preparing the next deploy's copy in the background, once this deploy's lock is released".into()
        } else {
            "Start preparing the next deploy's copy in the background".into()
        },
        target: super::execute::droplet(endpoint),
        action: Action::Script {
            user: endpoint.user.clone(),
            script: script.clone(),
        },
    }
}

/// Starts the copy on every given server at once.
pub async fn start_all(file: &ProjectFile, env_name: &str, servers: &[&Connected], sink: &Sink) {
    match script(file, env_name) {
        Ok(script) => {
            let ops: Vec<Operation> = servers
                .iter()
                .map(|c| operation(&c.server.endpoint, &script))
                .collect();
            futures::future::join_all(servers.iter().zip(&ops).map(|(c, op)| start(c, op, sink)))
                .await;
        }
        Err(e) => sink(
            crate::ssh::LOCAL,
            Stream::Stderr,
            &format!("warning: {e:#}; the next deploy copies the release itself"),
        ),
    }
}

/// Runs `op` (an [`operation`]) on `c`. It only saves time, so a failure
/// is shown as a warning and the deploy or swap stands.
pub async fn start(c: &Connected, op: &Operation, sink: &Sink) {
    let name = c.server.endpoint.name.as_str();
    let quiet = crate::ssh::session::quiet();
    let outcome = super::execute::run(c, op, None, &quiet).await;
    let problem = match outcome {
        Ok(o) if o.exit_code == 0 => return,
        Ok(o) => format!(
            "exit {}: {}",
            o.exit_code,
            crate::ssh::session::last_lines(&o.stderr, 2)
        ),
        Err(e) => format!("{e:#}"),
    };
    tracing::warn!(server = name, "spare copy not started");
    sink(
        name,
        Stream::Stderr,
        &format!(
            "warning: could not start preparing the next deploy's copy ({problem}); the next deploy copies the release itself"
        ),
    );
}
