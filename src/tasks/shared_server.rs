//! Servers that host several environments (of one project or of several):
//! `pond create ENV --on DROPLET` puts a new environment on a droplet that
//! already runs ([`find_droplet`], then provisioning and the first deploy
//! as for a new droplet); [`hosted_by_id`] gathers what each server says it
//! hosts, for `pond destroy` to keep a droplet others use; [`remove_from`]
//! takes one environment off such a server (layout, users, pool, vhosts,
//! database), and [`unbind`] releases an environment from pond.json
//! (with `purge`, removing its layout from its servers first).

use std::path::Path;

use anyhow::Context;

use super::create::{NewServer, Urls, finish};
use super::droplets::env_tags;
use super::execute::Step;
use super::{Connected, Stop};
use crate::config::{
    self, Database, Droplet, DropletRole, Environment, EnvironmentKind, ProjectFile,
};
use crate::digitalocean::Client;
use crate::plan::Plan;
use crate::ssh::{Identity, Sink, Stream};

/// The droplet called `name` to put a new environment on: the record of a
/// web droplet Pond created for another environment of this project
/// (with its pinned host key), else the account's droplet of that name.
/// Returns it with its region, size and image slugs.
pub async fn find_droplet(
    client: &Client,
    file: &ProjectFile,
    name: &str,
) -> anyhow::Result<(Droplet, String, String, String)> {
    if let Some(lb) = file.environments.iter().find(|e| {
        e.kind == EnvironmentKind::LoadBalanced && e.droplets.iter().any(|d| d.name == name)
    }) {
        anyhow::bail!(
            "{name} is one of {}'s load-balanced droplets, which pond scale may replace or delete; put the environment on a single server's droplet",
            lb.name
        );
    }
    let known = file
        .environments
        .iter()
        .flat_map(|e| &e.droplets)
        .find(|d| d.name == name && d.role == DropletRole::Web && d.id.is_some())
        .cloned();
    let found = match &known {
        Some(d) => client.droplet(d.id.unwrap_or_default()).await?,
        None => client
            .list(
                &format!("/droplets?name={name}"),
                "droplets",
                &format!("looking for droplet {name}"),
            )
            .await?
            .into_iter()
            .filter(|d| d["name"] == name)
            .collect::<Vec<_>>()
            .split_first()
            .map(|(first, rest)| {
                if rest.is_empty() {
                    Ok(first.clone())
                } else {
                    Err(anyhow::anyhow!(
                        "{} droplets are called {name}; rename one, or add the one you mean to pond.json",
                        rest.len() + 1
                    ))
                }
            })
            .with_context(|| {
                format!("no droplet is called {name}, in pond.json or in the account")
            })??,
    };
    let address = Client::public_ipv4(&found)
        .with_context(|| format!("droplet {name} has no public IPv4 address"))?;
    let droplet = Droplet {
        name: name.to_string(),
        id: found["id"].as_u64(),
        role: DropletRole::Web,
        address: Some(address),
        ssh_user: known.as_ref().and_then(|d| d.ssh_user.clone()),
        private_address: Client::private_ipv4(&found),
        host_key: known.and_then(|d| d.host_key),
        joined: true,
    };
    let slug = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    Ok((
        droplet,
        slug(&found["region"]["slug"]),
        slug(&found["size_slug"]),
        slug(&found["image"]["slug"]),
    ))
}

/// `new_server` on a droplet that already runs (`--on`): checks it is
/// active with the recorded address, tags it as this environment's, records
/// the environment, then provisions (only what is missing is installed; the
/// other environments' users, pools and vhosts are left as they are),
/// deploys, checks health and points DNS like a new droplet.
#[allow(clippy::too_many_arguments)]
pub(super) async fn put_on_existing(
    client: &Client,
    file: &mut ProjectFile,
    candidate: ProjectFile,
    path: &Path,
    project_root: &Path,
    identity: &Identity,
    input: &NewServer,
    on: &Droplet,
    stop: &Stop,
    sink: &Sink,
) -> anyhow::Result<Urls> {
    let step = |text: &str| sink(crate::ssh::API, Stream::Step, text);
    let (Some(id), Some(address)) = (on.id, on.address.clone()) else {
        anyhow::bail!("droplet {} has no id and address in pond.json", on.name);
    };
    step(&format!("checking droplet {} ({id})", on.name));
    let found = client.droplet(id).await.with_context(|| {
        format!(
            "droplet {} ({id}) is not in account {}",
            on.name, input.account
        )
    })?;
    if found["status"] != "active" {
        anyhow::bail!(
            "droplet {} ({id}) is {}, not active",
            on.name,
            found["status"]
        );
    }
    if Client::public_ipv4(&found).as_deref() != Some(address.as_str()) {
        anyhow::bail!(
            "droplet {} ({id}) has address {}, not {address} as pond.json says",
            on.name,
            Client::public_ipv4(&found).unwrap_or_default()
        );
    }
    stop.check("tagging the droplet", "Nothing was changed.")?;
    for tag in env_tags(&file.name, &input.env) {
        for request in super::droplets::tag_requests(&input.account, &tag, &on.name, id) {
            super::execute::api(client, &request).await?;
        }
    }
    let env_index = candidate.environments.len() - 1;
    *file = candidate;
    config::save(path, file)?;
    finish(
        client,
        file,
        path,
        project_root,
        identity,
        env_index,
        &address,
        &input.tag,
        &input.transfer,
        &input.acme,
        stop,
        sink,
    )
    .await
}

/// `common/unbind`: removes one environment's layout, vhosts, PHP-FPM pool
/// and users from a server (under the environment's lock), leaving the
/// server and its other environments as they are.
pub fn unbind_step(project: &str, env: &str) -> anyhow::Result<Step> {
    let users = super::EnvUsers::of(project, env);
    Step::new(
        format!("Remove {env}'s layout, vhosts, PHP-FPM pool and users"),
        "common/unbind",
        &[
            ("PROJECT", project),
            ("ENV", env),
            ("SITE_USER", &users.site),
            ("DEPLOY_USER", &users.deploy),
        ],
    )
}

/// `mysql/drop` for the environment's database when it lives on one of its
/// own droplets (None for no database or an external one).
pub fn drop_database_step(file: &ProjectFile, env: &Environment) -> anyhow::Result<Option<Step>> {
    let (name, user) = match &env.database {
        Database::SameDroplet { name, user } | Database::OtherDroplet { name, user, .. } => {
            (name, user)
        }
        Database::None | Database::External { .. } => return Ok(None),
    };
    Ok(Some(Step::new(
        format!("Drop {}'s database {name}", env.name),
        "mysql/drop",
        &[
            ("PROJECT", &file.name),
            ("ENV", &env.name),
            ("DB_NAME", name),
            ("DB_USER", user),
        ],
    )?))
}

/// What removing the environment from `server`, a droplet it shares with
/// others, runs there: on a web server its layout (`common/unbind`), and
/// wherever its database lives (the web droplet, or its database
/// droplet) the database. Pure.
pub fn removal_plan(
    file: &ProjectFile,
    env: &Environment,
    server: &super::Server,
) -> anyhow::Result<Plan> {
    let name = &server.endpoint.name;
    let mut operations = vec![];
    if server.role == DropletRole::Web {
        operations.push(unbind_step(&file.name, &env.name)?.on(&server.endpoint));
    }
    let holds_database = match &env.database {
        Database::SameDroplet { .. } => server.role == DropletRole::Web,
        Database::OtherDroplet { droplet, .. } => droplet == name,
        _ => false,
    };
    if holds_database && let Some(step) = drop_database_step(file, env)? {
        operations.push(step.on(&server.endpoint));
    }
    Ok(Plan {
        title: format!("remove {} from {name}", env.name),
        operations,
    })
}

/// Removes the environment from a server it shares with others (see
/// [`removal_plan`]).
pub async fn remove_from(
    file: &ProjectFile,
    env: &Environment,
    server: &Connected,
    sink: &Sink,
) -> anyhow::Result<()> {
    let name = &server.server.endpoint.name;
    for op in removal_plan(file, env, &server.server)?.operations {
        sink(name, Stream::Step, &op.description);
        super::execute::run_ok(server, &op, sink).await?;
    }
    Ok(())
}

/// What `unbind --purge` runs on each of the environment's web servers
/// (`servers`, as `tasks::servers` lists them). Pure.
pub fn purge_plans(
    file: &ProjectFile,
    env_name: &str,
    servers: &[super::Server],
) -> anyhow::Result<Vec<Plan>> {
    let step = unbind_step(&file.name, env_name)?;
    Ok(servers
        .iter()
        .filter(|s| s.role == DropletRole::Web)
        .map(|s| Plan {
            title: format!("unbind {env_name} from {}", s.endpoint.name),
            operations: vec![step.on(&s.endpoint)],
        })
        .collect())
}

/// What `unbind` will do, one line per action. Pure.
pub fn unbind_lines(env: &Environment, purge: bool) -> Vec<String> {
    let servers: Vec<&str> = env.droplets.iter().map(|d| d.name.as_str()).collect();
    let mut lines = vec![];
    if purge {
        lines.push(format!(
            "remove {}'s layout, vhosts, PHP-FPM pool and users from {} (the servers, the other environments on them and the database stay)",
            env.name,
            servers.join(", ")
        ));
    }
    lines.push(format!(
        "forget {} in pond.json (no droplet is deleted)",
        servers.join(", ")
    ));
    lines
}

/// Releases an environment: with `purge`, its layout goes from each of
/// `connected` (its servers) first; then it leaves pond.json (saved).
pub async fn unbind(
    file: &mut ProjectFile,
    path: &Path,
    env_name: &str,
    connected: &[Connected],
    purge: bool,
    sink: &Sink,
) -> anyhow::Result<()> {
    if purge {
        let servers: Vec<super::Server> = connected.iter().map(|c| c.server.clone()).collect();
        for plan in purge_plans(file, env_name, &servers)? {
            for op in &plan.operations {
                let c = connected
                    .iter()
                    .find(|c| super::execute::target_of(c) == op.target)
                    .expect("planned for one of these servers");
                sink(&c.server.endpoint.name, Stream::Step, &op.description);
                super::execute::run_ok(c, op, sink).await?;
            }
        }
    }
    file.environments.retain(|e| e.name != env_name);
    config::save(path, file)?;
    sink(
        crate::ssh::API,
        Stream::Done,
        &format!("environment {env_name} removed from pond.json"),
    );
    Ok(())
}

/// What each reachable server of an environment says it hosts, by droplet
/// id (from `Project::statuses` of that one environment), for
/// [`super::destroy::plan`]. A server that did not answer, or answered
/// without the list, is left out (judged by pond.json and its tags).
pub fn hosted_by_id(
    statuses: Vec<(Environment, Vec<super::operate::ServerStatus>)>,
) -> Vec<(u64, Vec<String>)> {
    statuses
        .into_iter()
        .flat_map(|(env, servers)| {
            servers.into_iter().filter_map(move |s| {
                let id = env.droplets.iter().find(|d| d.name == s.server)?.id?;
                (s.error.is_none() && !s.hosted.is_empty()).then_some((id, s.hosted))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Target};

    #[test]
    fn removal_drops_the_layout_on_web_servers_and_the_database_where_it_lives() {
        let mut file: ProjectFile =
            serde_json::from_str(include_str!("../../examples/acme-shop/pond.json")).unwrap();
        let (database, db_droplet) =
            super::super::create::database_choice("droplet", "acme-shop", "live", file.stack)
                .unwrap();
        let mut env = file.environments[0].clone();
        env.kind = crate::config::EnvironmentKind::Single;
        env.database = database;
        env.droplets.truncate(1);
        env.droplets[0].address = Some("203.0.113.5".into());
        env.droplets.extend(db_droplet.map(|mut d| {
            d.address = Some("203.0.113.9".into());
            d
        }));
        file.environments = vec![env.clone()];
        let servers = crate::tasks::servers(&env, 0).unwrap();
        let templates = |plan: &Plan| -> Vec<(String, String)> {
            plan.operations
                .iter()
                .map(|op| match (&op.action, &op.target) {
                    (Action::Script { script, .. }, Target::Droplet { name, .. }) => {
                        (name.clone(), script.template.clone())
                    }
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let web = &servers[0];
        let db = &servers[1];
        assert_eq!(
            templates(&removal_plan(&file, &env, web).unwrap()),
            [(web.endpoint.name.clone(), "common/unbind".to_string())]
        );
        assert_eq!(
            templates(&removal_plan(&file, &env, db).unwrap()),
            [(db.endpoint.name.clone(), "mysql/drop".to_string())]
        );
        let purge = purge_plans(&file, &env.name, &servers).unwrap();
        assert_eq!(purge.len(), 1, "only web servers hold a layout");
        assert_eq!(
            templates(&purge[0]),
            [(web.endpoint.name.clone(), "common/unbind".to_string())]
        );
    }
}
