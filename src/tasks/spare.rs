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

use super::{Connected, EnvUsers, env_root, render};
use crate::config::ProjectFile;
use crate::ssh::{Sink, Stream};

/// `common/spare`'s script for an environment.
pub fn script(file: &ProjectFile, env_name: &str) -> anyhow::Result<String> {
    let users = EnvUsers::of(&file.name, env_name);
    render(
        "common/spare",
        &[
            ("ROOT", &env_root(&file.name, env_name)),
            ("KEEP_BUILDS", &file.keep_builds.to_string()),
            ("SITE_USER", &users.site),
            ("DEPLOY_USER", &users.deploy),
        ],
    )
}

/// Starts the copy on every given server at once.
pub async fn start_all(file: &ProjectFile, env_name: &str, servers: &[&Connected], sink: &Sink) {
    match script(file, env_name) {
        Ok(script) => {
            futures::future::join_all(servers.iter().map(|c| start(c, &script, sink))).await;
        }
        Err(e) => sink(
            crate::ssh::LOCAL,
            Stream::Stderr,
            &format!("warning: {e:#}; the next deploy copies the release itself"),
        ),
    }
}

/// Starts the copy on one server with [`script`]'s text. It only saves
/// time, so a failure is shown as a warning and the operation stands.
pub async fn start(c: &Connected, script: &str, sink: &Sink) {
    let name = c.server.endpoint.name.as_str();
    let quiet = crate::ssh::session::quiet();
    let outcome = c.session.run(script, None, &quiet).await;
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
