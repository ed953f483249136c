//! Provision: turn a fresh Debian/Ubuntu server into a Pond server for one
//! environment — base setup and the stack, the database (each web server
//! generates its own password and hands the database server only its
//! one-way hash, so no password crosses the client), the environment's
//! own users, PHP-FPM pool, layout and vhosts, then the project's
//! post-provision hooks, and last a record of what was applied (read back
//! by status and `pond check`). Phases run on every server in parallel; every
//! template is idempotent, so re-running after a cut connection finishes
//! the job.

use std::path::Path;

use anyhow::Context;

use super::Connected;
pub use super::execute::Step;
use crate::config::{Database, DropletRole, Environment, HookUser, ProjectFile, Stack};
use crate::plan::Plan;
use crate::plan::layout::EnvUsers;
use crate::plan::report::Report;
use crate::ssh::{Sink, Stream};

/// Base setup and, on web servers, the web stack, the environment's users
/// and directories, and its PHP-FPM pool.
pub fn setup_steps(
    file: &ProjectFile,
    env: &Environment,
    role: DropletRole,
) -> anyhow::Result<Vec<Step>> {
    let mut steps = vec![Step::new(
        "Base setup",
        "common/base",
        &[("TIMEZONE", "UTC")],
    )?];
    if role == DropletRole::Web {
        let stack = match file.stack {
            Stack::Static => "static/stack",
            Stack::Php | Stack::Wordpress => "php/stack",
        };
        steps.push(Step::new(
            format!("Web stack ({})", file.stack.as_str()),
            stack,
            &[],
        )?);
        let users = EnvUsers::of(&file.name, &env.name);
        steps.push(Step::new(
            format!("Users {} and {}", users.site, users.deploy),
            "common/env-users",
            &[
                ("PROJECT", &file.name),
                ("ENV", &env.name),
                ("SITE_USER", &users.site),
                ("DEPLOY_USER", &users.deploy),
            ],
        )?);
        if file.stack != Stack::Static {
            steps.push(Step::new(
                format!("PHP-FPM pool {}", users.site),
                "php/pool",
                &[
                    ("PROJECT", &file.name),
                    ("ENV", &env.name),
                    ("SITE_USER", &users.site),
                ],
            )?);
        }
    }
    Ok(steps)
}

/// The web server's own database password (made once, kept there), when
/// the environment has a database Pond manages.
pub fn credentials_step(file: &ProjectFile, env: &Environment) -> anyhow::Result<Option<Step>> {
    Ok(match env.database {
        Database::SameDroplet { .. } | Database::OtherDroplet { .. } => Some(Step::new(
            "Database password",
            "mysql/credentials",
            &[
                ("PROJECT", &file.name),
                ("ENV", &env.name),
                ("SITE_USER", &EnvUsers::of(&file.name, &env.name).site),
            ],
        )?),
        Database::None | Database::External { .. } => None,
    })
}

/// The database and its per-web-server accounts; `grants` is
/// `HOST=HASH ...` as [`crate::config::grammar::db_grants`] describes.
pub fn database_step(
    file: &ProjectFile,
    env: &Environment,
    grants: &str,
) -> anyhow::Result<Option<Step>> {
    let (name, user) = match &env.database {
        Database::SameDroplet { name, user } | Database::OtherDroplet { name, user, .. } => {
            (name, user)
        }
        Database::None | Database::External { .. } => return Ok(None),
    };
    Ok(Some(Step::new(
        "Database",
        "mysql/database",
        &[
            ("PROJECT", &file.name),
            ("ENV", &env.name),
            ("DB_NAME", name),
            ("DB_USER", user),
            ("DB_GRANTS", grants),
        ],
    )?))
}

/// The environment's layout and vhosts (web servers only).
pub(super) fn layout_step(file: &ProjectFile, env: &Environment) -> anyhow::Result<Step> {
    let users = EnvUsers::of(&file.name, &env.name);
    Step::new(
        "Layout and vhosts",
        "common/site",
        &[
            ("PROJECT", &file.name),
            ("ENV", &env.name),
            ("DOMAIN", &env.domain),
            ("SECRET_PREFIX", &env.secret_prefix),
            ("STACK", file.stack.as_str()),
            ("WEB_ROOT", &file.web_root),
            ("SITE_USER", &users.site),
            ("DEPLOY_USER", &users.deploy),
            ("HTTPS", yes_no(super::tls::wants_certificate(env))),
            ("HSTS", yes_no(env.https.hsts)),
            (
                "BALANCER_HTTPS",
                yes_no(super::lb_tls::balancer_to_secure(env).is_some()),
            ),
        ],
    )
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The digest of what provisioning applies to a server of `role`: the
/// setup and layout scripts with their inputs (not the database grants,
/// which hold each server's own hash, nor the project's hooks). Recorded on
/// the server by `common/record`; a server whose record differs was
/// provisioned from other templates or other pond.json settings. Pure.
pub fn setup_digest(
    file: &ProjectFile,
    env: &Environment,
    role: DropletRole,
) -> anyhow::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut steps = setup_steps(file, env, role)?;
    if role == DropletRole::Web {
        steps.push(layout_step(file, env)?);
    }
    for step in steps {
        for part in [step.description, step.script.text] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// The last provisioning step: record what was applied (see
/// [`setup_digest`]) and what it left on the server.
pub fn record_step(
    file: &ProjectFile,
    env: &Environment,
    role: DropletRole,
) -> anyhow::Result<Step> {
    let users = EnvUsers::of(&file.name, &env.name);
    let web = role == DropletRole::Web;
    let (db_name, db_user) = match &env.database {
        Database::SameDroplet { name, user } if web => (name.as_str(), user.as_str()),
        Database::OtherDroplet { name, user, .. } if !web => (name.as_str(), user.as_str()),
        _ => ("", ""),
    };
    Step::new(
        "Record what was provisioned",
        "common/record",
        &[
            ("PROJECT", &file.name),
            ("ENV", &env.name),
            ("DIGEST", &setup_digest(file, env, role)?),
            ("SITE_USER", if web { &users.site } else { "" }),
            ("DEPLOY_USER", if web { &users.deploy } else { "" }),
            ("DB_NAME", db_name),
            ("DB_USER", db_user),
        ],
    )
}

/// Layout and vhosts (web servers; with HTTPS off, the certificate's
/// removal), then the post-provision hooks: as the deploy user on web
/// servers, and those marked `root` on every server.
pub fn site_steps(
    file: &ProjectFile,
    env: &Environment,
    role: DropletRole,
    project_root: &Path,
) -> anyhow::Result<Vec<Step>> {
    let mut steps = vec![];
    let users = EnvUsers::of(&file.name, &env.name);
    if role == DropletRole::Web {
        steps.push(layout_step(file, env)?);
        // HTTPS turned off: the vhosts above serve HTTP only; the
        // certificate and its timer go. (Certificates are requested by
        // `pond create` and `pond tls`, once DNS points at the server.)
        if !super::tls::wants_certificate(env) {
            let acme = super::tls::Acme::lets_encrypt(); // unused by the removal
            steps.extend(super::tls::steps(file, env, &acme, false)?);
        }
    }
    for hook in &file.hooks.post_provision {
        if role != DropletRole::Web && hook.run_as() != HookUser::Root {
            continue;
        }
        let path = project_root.join(hook.script());
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading hook {}", path.display()))?;
        steps.push(Step::new(
            format!("Post-provision hook {}", hook.script()),
            "common/hook",
            &[
                ("ROOT", &super::env_root(&file.name, &env.name)),
                ("SITE_USER", &users.site),
                ("DEPLOY_USER", &users.deploy),
                ("HOOK", &hook.line()),
                ("SCRIPT", &text),
            ],
        )?);
    }
    Ok(steps)
}

/// The address a web server's database connections come from, as the
/// database server sees them: `localhost` on the same droplet; its private
/// address when the database server is reached privately (it has a private
/// address, or was given one); else its public address.
pub fn grant_host(env: &Environment, web_index: usize) -> Option<String> {
    match &env.database {
        Database::SameDroplet { .. } => Some("localhost".to_string()),
        Database::OtherDroplet { droplet, .. } => {
            let web = env.droplets.get(web_index)?;
            let db = env.droplets.iter().find(|d| &d.name == droplet)?;
            let is_private = |a: &Option<String>| {
                a.as_deref()
                    .and_then(|a| a.parse::<std::net::Ipv4Addr>().ok())
                    .is_some_and(|a| a.is_private())
            };
            if db.private_address.is_some() || is_private(&db.address) {
                web.private_address.clone().or_else(|| web.address.clone())
            } else {
                web.address.clone()
            }
        }
        Database::None | Database::External { .. } => None,
    }
}

/// What provisioning runs on `server`, in the order it runs (see
/// [`provision_servers`]), for `--dry-run`: the same steps, bound to the
/// server. `own_key` is the key of whoever provisions (kept among the team
/// keys). Pure. The database step is shown with each web server's address
/// and a placeholder hash: the real hash exists only once that server has
/// made its password.
pub fn server_plan(
    file: &ProjectFile,
    env: &Environment,
    server: &super::Server,
    own_key: &str,
    project_root: &Path,
) -> anyhow::Result<Plan> {
    let role = server.role;
    let mut steps = setup_steps(file, env, role)?;
    steps.push(super::access::step(file, own_key)?);
    if role == DropletRole::Web
        && let Some(step) = credentials_step(file, env)?
    {
        steps.push(step);
    }
    let placeholder = format!("*{}", "0".repeat(40));
    let grants: Vec<String> = env
        .droplets
        .iter()
        .enumerate()
        .filter(|(_, d)| d.role == DropletRole::Web)
        .filter_map(|(i, _)| grant_host(env, i))
        .map(|host| format!("{host}={placeholder}"))
        .collect();
    let runs_database = match &env.database {
        Database::SameDroplet { .. } => role == DropletRole::Web,
        Database::OtherDroplet { .. } => role == DropletRole::Database,
        _ => false,
    };
    if runs_database
        && !grants.is_empty()
        && let Some(mut step) = database_step(file, env, &grants.join(" "))?
    {
        step.description = format!(
            "{} (the hashes shown as {placeholder} come from each web server)",
            step.description
        );
        steps.push(step);
    }
    steps.extend(site_steps(file, env, role, project_root)?);
    steps.push(record_step(file, env, role)?);
    Ok(Plan {
        title: format!(
            "provision {} ({} server)",
            server.endpoint.name,
            match role {
                DropletRole::Web => "web",
                DropletRole::Database => "database",
            }
        ),
        operations: steps.iter().map(|s| s.on(&server.endpoint)).collect(),
    })
}

/// Runs `steps(server)` on every server in parallel, each server's steps
/// in order; returns each server's reports, step by step.
async fn run_phase(
    servers: &[&Connected],
    steps: impl Fn(&Connected) -> anyhow::Result<Vec<Step>>,
    sink: &Sink,
) -> anyhow::Result<Vec<Vec<Vec<Report>>>> {
    let runs = servers.iter().map(|c| {
        let steps = steps(c);
        async move {
            let mut outputs = vec![];
            for step in steps? {
                let op = step.on(&c.server.endpoint);
                sink(&c.server.endpoint.name, Stream::Step, &op.description);
                outputs.push(super::execute::run_ok(c, &op, sink).await?.reports);
            }
            anyhow::Ok(outputs)
        }
    });
    futures::future::join_all(runs).await.into_iter().collect()
}

/// Runs provisioning on every server of `env`.
#[tracing::instrument(name = "provision::provision", skip_all, fields(env = %env.name))]
pub async fn provision(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    project_root: &Path,
    sink: &Sink,
) -> anyhow::Result<()> {
    let all: Vec<String> = connected
        .iter()
        .map(|c| c.server.endpoint.name.clone())
        .collect();
    provision_servers(file, env, connected, &all, project_root, sink).await
}

/// Provisions the servers named in `which` and brings the database grants
/// up to date for every web server in `connected` (a web server that joins
/// is granted; one that is gone loses its account).
pub async fn provision_servers(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    which: &[String],
    project_root: &Path,
    sink: &Sink,
) -> anyhow::Result<()> {
    let chosen: Vec<&Connected> = connected
        .iter()
        .filter(|c| which.contains(&c.server.endpoint.name))
        .collect();
    run_phase(&chosen, |c| setup_steps(file, env, c.server.role), sink).await?;
    super::access::sync(file, chosen.iter().copied(), sink).await?;
    database_phase(file, env, connected, which, sink).await?;
    run_phase(
        &chosen,
        |c| {
            let mut steps = site_steps(file, env, c.server.role, project_root)?;
            steps.push(record_step(file, env, c.server.role)?);
            Ok(steps)
        },
        sink,
    )
    .await?;
    for c in chosen {
        sink(&c.server.endpoint.name, Stream::Done, "provisioned");
    }
    Ok(())
}

/// Each web server in `connected` makes (or keeps) its password and hands
/// over its hash; the database server grants exactly those (on the same
/// droplet: each web server named in `which` grants its own).
pub async fn database_phase(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    which: &[String],
    sink: &Sink,
) -> anyhow::Result<()> {
    let Some(step) = credentials_step(file, env)? else {
        return Ok(());
    };
    let webs: Vec<&Connected> = connected
        .iter()
        .filter(|c| c.server.role == DropletRole::Web)
        .collect();
    // The hash is for the database server, not for the log.
    let quiet = crate::ssh::session::quiet();
    let outputs = run_phase(&webs, |_| Ok(vec![step.clone()]), &quiet).await?;
    let mut grants = vec![];
    for (c, out) in webs.iter().zip(outputs) {
        let name = &c.server.endpoint.name;
        let hash = crate::reported!(out.concat(), Report::DbGrantHash { hash } => hash.clone())
            .with_context(|| format!("{name}: mysql/credentials reported no password hash"))?;
        let host = grant_host(env, c.server.index)
            .with_context(|| format!("{name} has no address for the database grant"))?;
        sink(
            name,
            Stream::Step,
            "database password ready (kept on this server)",
        );
        grants.push((name.clone(), format!("{host}={hash}")));
    }
    match &env.database {
        Database::SameDroplet { .. } => {
            let chosen: Vec<&Connected> = webs
                .into_iter()
                .filter(|c| which.contains(&c.server.endpoint.name))
                .collect();
            let grant_of = |c: &Connected| {
                grants
                    .iter()
                    .find(|(name, _)| name == &c.server.endpoint.name)
                    .map(|(_, g)| g.clone())
                    .unwrap_or_default()
            };
            run_phase(
                &chosen,
                |c| {
                    Ok(database_step(file, env, &grant_of(c))?
                        .into_iter()
                        .collect())
                },
                sink,
            )
            .await?;
        }
        Database::OtherDroplet { droplet, .. } => {
            let server = connected
                .iter()
                .find(|c| &c.server.endpoint.name == droplet)
                .with_context(|| {
                    format!(
                        "the database droplet {droplet} is not among {}'s servers",
                        env.name
                    )
                })?;
            let all: Vec<String> = grants.into_iter().map(|(_, g)| g).collect();
            run_phase(
                &[server],
                |_| {
                    Ok(database_step(file, env, &all.join(" "))?
                        .into_iter()
                        .collect())
                },
                sink,
            )
            .await?;
        }
        Database::None | Database::External { .. } => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Droplet;

    fn droplet(name: &str, role: DropletRole, address: &str, private: Option<&str>) -> Droplet {
        Droplet {
            name: name.into(),
            id: None,
            role,
            address: Some(address.into()),
            ssh_user: None,
            private_address: private.map(str::to_string),
            host_key: None,
            joined: false,
        }
    }

    fn env_with_db_droplet(db_private: Option<&str>) -> (ProjectFile, Environment) {
        let file = ProjectFile::starter("shop", Stack::Php);
        let (database, _) =
            crate::tasks::create::database_choice("droplet", "shop", "live", Stack::Php).unwrap();
        let env = Environment {
            name: "live".into(),
            account: None,
            kind: crate::config::EnvironmentKind::Single,
            region: None,
            size: None,
            image: None,
            domain: "shop.example.com".into(),
            secret_prefix: "k3v9q2x8m1zapt".into(),
            health_path: None,
            database,
            droplets: vec![
                droplet(
                    "shop-live-1",
                    DropletRole::Web,
                    "203.0.113.5",
                    Some("10.1.0.5"),
                ),
                droplet(
                    "shop-live-db",
                    DropletRole::Database,
                    "203.0.113.9",
                    db_private,
                ),
            ],
            load_balancer: None,
            https: Default::default(),
        };
        (file, env)
    }

    #[test]
    fn web_servers_make_the_password_and_the_database_server_gets_only_hashes() {
        let (file, env) = env_with_db_droplet(Some("10.1.0.9"));
        let root = Path::new("/nonexistent");
        let servers = crate::tasks::servers(&env, 0).unwrap();
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOwnKey me@laptop";
        let web_plan = server_plan(&file, &env, &servers[0], key, root).unwrap();
        assert_eq!(web_plan.title, "provision shop-live-1 (web server)");
        let web: Vec<&str> = web_plan
            .operations
            .iter()
            .map(|op| op.description.as_str())
            .collect();
        assert_eq!(
            web,
            [
                "Base setup",
                "Web stack (php)",
                "Users web_shop_live and deploy_shop_live",
                "PHP-FPM pool web_shop_live",
                "Team keys",
                "Database password",
                "Layout and vhosts",
                "Record what was provisioned"
            ]
        );
        let target = crate::plan::Target::Droplet {
            name: "shop-live-1".into(),
            address: Some("203.0.113.5".into()),
        };
        assert!(web_plan.operations.iter().all(|op| op.target == target));
        let db = server_plan(&file, &env, &servers[1], key, root).unwrap();
        let text = |i: usize| match &db.operations[i].action {
            crate::plan::Action::Script { script, .. } => script.text.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(db.operations.len(), 4, "{db:?}");
        assert_eq!(db.operations[1].description, "Team keys");
        assert!(text(1).contains(key), "the provisioner's key is kept");
        assert!(db.operations[2].description.starts_with("Database"));
        let grants = format!("DB_GRANTS='10.1.0.5=*{}'", "0".repeat(40));
        assert!(text(2).contains(&grants), "{}", text(2));
        assert!(!text(2).contains("db-password"));
    }

    #[test]
    fn grants_use_private_addresses_only_when_the_database_is_reached_privately() {
        let (_, env) = env_with_db_droplet(Some("10.1.0.9"));
        assert_eq!(grant_host(&env, 0).as_deref(), Some("10.1.0.5"));
        let (_, env) = env_with_db_droplet(None);
        assert_eq!(grant_host(&env, 0).as_deref(), Some("203.0.113.5"));
        let (_, mut env) = env_with_db_droplet(None);
        env.droplets[1].address = Some("10.1.0.77".into());
        assert_eq!(grant_host(&env, 0).as_deref(), Some("10.1.0.5"));
        env.database = Database::SameDroplet {
            name: "shop".into(),
            user: "shop".into(),
        };
        assert_eq!(grant_host(&env, 0).as_deref(), Some("localhost"));
    }
}
