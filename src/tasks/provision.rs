//! Provision: turn a fresh Debian/Ubuntu server into a Pond server for one
//! environment — base setup, the stack (nginx, PHP-FPM), the environment's
//! layout and vhosts, its database, then the project's post-provision
//! hooks. Every template is idempotent, so re-running after a cut
//! connection finishes the job.

use std::path::Path;

use anyhow::Context;

use super::{Connected, render};
use crate::config::{Database, DropletRole, Environment, ProjectFile, Stack};
use crate::ssh::{Sink, Stream};

/// The scripts provisioning runs on one server, in order, as
/// (description, rendered script). Pure: inspectable without a server.
pub fn plan(
    file: &ProjectFile,
    env: &Environment,
    role: DropletRole,
    project_root: &Path,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut steps = vec![(
        "Base setup".to_string(),
        render("common/base", &[("TIMEZONE", "UTC")])?,
    )];
    let db = match &env.database {
        Database::SameDroplet { name, user } => Some((name, user)),
        Database::OtherDroplet { name, user, .. } if role == DropletRole::Database => {
            Some((name, user))
        }
        _ => None,
    };
    if role == DropletRole::Web {
        let stack = match file.stack {
            Stack::Static => "static/stack",
            Stack::Php | Stack::Wordpress => "php/stack",
        };
        steps.push((
            format!("Web stack ({})", file.stack.as_str()),
            render(stack, &[])?,
        ));
    }
    if let Some((name, user)) = db {
        steps.push((
            "Database".to_string(),
            render(
                "mysql/database",
                &[
                    ("PROJECT", &file.name),
                    ("ENV", &env.name),
                    ("DB_NAME", name),
                    ("DB_USER", user),
                ],
            )?,
        ));
    }
    if role == DropletRole::Web {
        steps.push((
            "Layout and vhosts".to_string(),
            render(
                "common/site",
                &[
                    ("PROJECT", &file.name),
                    ("ENV", &env.name),
                    ("DOMAIN", &env.domain),
                    ("SECRET_PREFIX", &env.secret_prefix),
                    ("STACK", file.stack.as_str()),
                    ("WEB_ROOT", &file.web_root),
                ],
            )?,
        ));
    }
    for hook in &file.hooks.post_provision {
        let path = project_root.join(hook);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading hook {}", path.display()))?;
        steps.push((format!("Post-provision hook {hook}"), text));
    }
    Ok(steps)
}

/// Runs the provisioning plan on every server in parallel.
pub async fn provision(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    project_root: &Path,
    sink: &Sink,
) -> anyhow::Result<()> {
    let runs = connected.iter().map(|c| async move {
        let name = &c.server.endpoint.name;
        for (what, script) in plan(file, env, c.server.role, project_root)? {
            sink(name, Stream::Step, &what);
            c.session.run_ok(&what, &script, sink).await?;
        }
        sink(name, Stream::Step, "provisioned");
        anyhow::Ok(())
    });
    for r in futures::future::join_all(runs).await {
        r?;
    }
    Ok(())
}
