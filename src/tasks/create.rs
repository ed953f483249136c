//! The new-server task (what the GUI wizard drives): create the droplet on
//! DigitalOcean, wait until it is active, pin its host key, provision it,
//! point DNS at it (domain and preview hosts), deploy the project, check
//! its health, and record the environment in pond.json. If the droplet
//! never becomes usable, the droplets this run created are deleted, so a
//! failure leaves no orphans.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use reqwest::Method;
use serde_json::json;

use super::{CloneSessions, deploy, operate, provision};
use crate::config::{
    self, AccountRef, Database, Droplet, DropletRole, Environment, EnvironmentKind, ProjectFile,
    Stack,
};
use crate::digitalocean::Client;
use crate::ssh::{Identity, Sink, Stream};

/// What the wizard asks for.
#[derive(Debug, Clone)]
pub struct NewServer {
    pub account: String,
    pub env: String,
    pub region: String,
    pub size: String,
    pub image: String,
    pub domain: String,
    pub secret_prefix: String,
    pub database: Database,
    pub tag: String,
    pub active_timeout: Duration,
    /// A database dump and attachments loaded before the first deploy.
    pub transfer: deploy::Transfer,
    /// Web droplets; more than one, or `load_balanced`, puts a DigitalOcean
    /// load balancer in front of them.
    pub web_droplets: u32,
    pub load_balanced: bool,
}

impl NewServer {
    pub fn is_load_balanced(&self) -> bool {
        self.load_balanced || self.web_droplets > 1
    }

    /// Every action the run will take, in order, for the review page and
    /// `--dry-run`. Pure.
    pub fn plan_lines(&self, project: &str, price_monthly: Option<f64>) -> Vec<String> {
        let n = self.web_droplets.max(1);
        let droplet = if n == 1 {
            format!("droplet {project}-{}-1", self.env)
        } else {
            format!("{n} droplets {project}-{}-1…{n}", self.env)
        };
        let cost = price_monthly
            .map(|p| format!(", about ${:.2}/month", p * f64::from(n)))
            .unwrap_or_default();
        let mut lines = vec![
            format!("check the token of account {}", self.account),
            "register your SSH public key (and the team's) with the account".to_string(),
            format!(
                "create {droplet} ({}, {}, {}{cost}) tagged pond, pond-{project}, pond-{project}-{}",
                self.region, self.size, self.image, self.env
            ),
            "wait until active, then pin SSH host keys in pond.json".to_string(),
        ];
        if self.is_load_balanced() {
            lines.push(format!(
                "create load balancer {project}-{}-lb (HTTP 80) in front of them (billed by DigitalOcean on top of the droplets)",
                self.env
            ));
        }
        let db = match &self.database {
            Database::None => "no database".to_string(),
            Database::SameDroplet { name, .. } => {
                format!("MariaDB on the droplet with database {name} (password generated there)")
            }
            Database::OtherDroplet { droplet, .. } => format!("MariaDB on droplet {droplet}"),
            Database::External { host, .. } => format!("the database at {host}"),
        };
        lines.push(format!(
            "provision: nginx, the web stack, {db}, layout and vhosts"
        ));
        lines.push(format!(
            "point DNS: {d}, {p}.{d}, {p}-blue.{d}, {p}-green.{d} (A records)",
            d = self.domain,
            p = self.secret_prefix
        ));
        if let Some(dump) = &self.transfer.db_dump {
            lines.push(format!("load the database dump {}", dump.display()));
        }
        if let Some(dir) = &self.transfer.attachments {
            lines.push(format!("upload attachments from {}", dir.display()));
        }
        lines.push(format!(
            "first deploy (build {}) to both colours, blue live; health check",
            self.tag
        ));
        lines.push(format!("record environment {} in pond.json", self.env));
        lines
    }
}

/// The database of a new environment from the choice a user makes
/// ("same": MariaDB on the web droplet, "none"), named after the project;
/// a static site has none. The error says what was expected.
pub fn database_choice(choice: &str, project: &str, stack: Stack) -> Result<Database, String> {
    let db_name = project.replace('-', "_");
    match (choice, stack) {
        ("none", _) | (_, Stack::Static) => Ok(Database::None),
        ("same", _) => Ok(Database::SameDroplet {
            user: db_name.chars().take(32).collect(),
            name: db_name,
        }),
        (other, _) => Err(format!("{other:?}: expected same or none")),
    }
}

/// The URLs of a new environment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Urls {
    pub production: String,
    pub preview: String,
    pub blue: String,
    pub green: String,
}

/// Runs the whole flow; `file` is updated and saved at `path` once the
/// droplet is usable (so a later failure keeps it for a re-run).
#[allow(clippy::too_many_arguments)]
pub async fn new_server(
    client: &Client,
    file: &mut ProjectFile,
    path: &Path,
    project_root: &Path,
    identity: &Identity,
    input: &NewServer,
    sink: &Sink,
) -> anyhow::Result<Urls> {
    let step = |text: &str| sink("digitalocean", Stream::Step, text);
    if file.environments.iter().any(|e| e.name == input.env) {
        anyhow::bail!("environment {} already exists in pond.json", input.env);
    }
    // Validate everything before anything is created.
    let mut candidate = file.clone();
    if !candidate.accounts.iter().any(|a| a.name == input.account) {
        candidate.accounts.push(AccountRef {
            name: input.account.clone(),
        });
    }
    let names: Vec<String> = (1..=input.web_droplets.max(1))
        .map(|i| format!("{}-{}-{i}", file.name, input.env))
        .collect();
    let lb_name = format!("{}-{}-lb", file.name, input.env);
    candidate.environments.push(Environment {
        name: input.env.clone(),
        account: Some(input.account.clone()),
        kind: if input.is_load_balanced() {
            EnvironmentKind::LoadBalanced
        } else {
            EnvironmentKind::Single
        },
        region: Some(input.region.clone()),
        size: Some(input.size.clone()),
        image: Some(input.image.clone()),
        domain: input.domain.clone(),
        secret_prefix: input.secret_prefix.clone(),
        health_path: None,
        database: input.database.clone(),
        droplets: names
            .iter()
            .map(|name| Droplet {
                name: name.clone(),
                id: None,
                role: DropletRole::Web,
                address: None,
                ssh_user: None,
                private_address: None,
                host_key: None,
            })
            .collect(),
        load_balancer: input
            .is_load_balanced()
            .then(|| crate::config::LoadBalancer {
                name: lb_name.clone(),
                id: None,
            }),
    });
    let problems = config::validate(&candidate, Some(project_root));
    if let Some(p) = problems.first() {
        anyhow::bail!("the new environment is not valid: {p}");
    }

    step("checking the account token");
    client.account().await?;
    step("registering your SSH key");
    let mut key_ids = vec![
        client
            .ensure_ssh_key("pond", &identity.public_line())
            .await?["id"]
            .clone(),
    ];
    for member in &file.team_keys {
        key_ids.push(
            client
                .ensure_ssh_key(&member.name, &member.public_key)
                .await?["id"]
                .clone(),
        );
    }
    let tags = vec![
        "pond".to_string(),
        format!("pond-{}", file.name),
        format!("pond-{}-{}", file.name, input.env),
    ];
    let created = create_droplets(client, &names, &tags, &key_ids, input, sink).await?;
    let mut lb = None;
    if input.is_load_balanced() {
        let ids: Vec<u64> = created.iter().map(|(id, _)| *id).collect();
        step(&format!(
            "creating load balancer {lb_name} in front of {} droplets",
            ids.len()
        ));
        let id = match client
            .create_load_balancer(&lb_name, &input.region, &ids)
            .await
        {
            Ok(id) => id,
            Err(e) => return Err(delete_created(client, &created, e, sink).await),
        };
        step(&format!("waiting for load balancer {id} to become active"));
        let ip = match client
            .wait_load_balancer(&id, Duration::from_secs(300))
            .await
        {
            Ok(ip) => ip,
            Err(e) => {
                // Never usable: take the balancer down with the droplets.
                step(&format!(
                    "deleting load balancer {id}, which never became active"
                ));
                let e = match client
                    .call(
                        Method::DELETE,
                        &format!("/load_balancers/{id}"),
                        None,
                        "deleting the load balancer",
                    )
                    .await
                {
                    Ok(_) => e,
                    Err(d) => e.context(format!("deleting load balancer {id} failed too: {d:#}")),
                };
                return Err(delete_created(client, &created, e, sink).await);
            }
        };
        lb = Some((id, ip));
    }
    let address = lb
        .as_ref()
        .map(|(_, ip)| ip.clone())
        .unwrap_or_else(|| created[0].1.clone());

    // Usable: record it (so a failure from here on can be resumed).
    let env_index = candidate.environments.len() - 1;
    let env = &mut candidate.environments[env_index];
    for (d, (id, addr)) in env.droplets.iter_mut().zip(&created) {
        d.id = Some(*id);
        d.address = Some(addr.clone());
    }
    if let (Some(record), Some((id, _))) = (env.load_balancer.as_mut(), &lb) {
        record.id = Some(id.clone());
    }
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
        sink,
    )
    .await
}

/// Continues a new-server run that stopped after its droplets were
/// created and recorded in pond.json (a closed laptop, a lost network): the
/// droplets are checked on DigitalOcean, then connecting, provisioning, DNS,
/// the first deploy and the health check run again. Every one of those
/// steps is idempotent, so resuming twice is harmless.
#[allow(clippy::too_many_arguments)]
pub async fn resume(
    client: &Client,
    file: &mut ProjectFile,
    path: &Path,
    project_root: &Path,
    identity: &Identity,
    env_name: &str,
    tag: &str,
    transfer: &deploy::Transfer,
    sink: &Sink,
) -> anyhow::Result<Urls> {
    let step = |text: &str| sink("digitalocean", Stream::Step, text);
    let (env_index, env) = super::find_env(file, env_name)?;
    let mut address = None;
    for d in &env.droplets {
        let Some(id) = d.id else {
            anyhow::bail!(
                "droplet {} of {env_name} was not created by Pond; nothing to resume (use pond provision / deploy)",
                d.name
            );
        };
        step(&format!("checking droplet {} ({id})", d.name));
        let found = client.droplet(id).await.with_context(|| {
            format!("droplet {} ({id}) is gone; remove {env_name} (pond unbind {env_name}) and create it again", d.name)
        })?;
        if found["status"] != "active" {
            anyhow::bail!(
                "droplet {} ({id}) is {}, not active",
                d.name,
                found["status"]
            );
        }
        address.get_or_insert(
            Client::public_ipv4(&found).context("the droplet has no public IPv4 address")?,
        );
    }
    if let Some(lb) = env.load_balancer.as_ref().and_then(|lb| lb.id.clone()) {
        address = Some(
            client
                .wait_load_balancer(&lb, Duration::from_secs(300))
                .await?,
        );
    }
    let address = address.with_context(|| format!("{env_name} has no droplets"))?;
    finish(
        client,
        file,
        path,
        project_root,
        identity,
        env_index,
        &address,
        tag,
        transfer,
        sink,
    )
    .await
}

/// Everything after the droplets exist: connect (pinning host keys),
/// provision, point DNS at `address`, load data, first deploy, health.
#[allow(clippy::too_many_arguments)]
async fn finish(
    client: &Client,
    file: &mut ProjectFile,
    path: &Path,
    project_root: &Path,
    identity: &Identity,
    env_index: usize,
    address: &str,
    tag: &str,
    transfer: &deploy::Transfer,
    sink: &Sink,
) -> anyhow::Result<Urls> {
    let step = |text: &str| sink("digitalocean", Stream::Step, text);
    let env_name = file.environments[env_index].name.clone();
    let (domain, prefix) = {
        let e = &file.environments[env_index];
        (e.domain.clone(), e.secret_prefix.clone())
    };
    let servers = super::servers(&file.environments[env_index], env_index)?;
    let mut connected = None;
    for attempt in 1..=10 {
        match super::connect_all(&servers, identity, sink).await {
            Ok(c) => {
                connected = Some(c);
                break;
            }
            Err(e) if attempt < 10 => {
                step(&format!("SSH not ready yet ({e:#}); retrying"));
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e),
        }
    }
    let connected = connected.expect("connected or returned");
    if super::record_pins(file, env_index, &connected) {
        config::save(path, file)?;
    }
    let env = file.environments[env_index].clone();
    provision::provision(file, &env, &connected, project_root, sink).await?;

    step(&format!(
        "pointing {domain} and the preview hosts at {address}"
    ));
    point_dns(client, &domain, &prefix, address).await?;

    if transfer.db_dump.is_some() || transfer.attachments.is_some() {
        deploy::transfer(file, &env_name, &connected, transfer, sink).await?;
    }
    let options = deploy::DeployOptions {
        tag: tag.to_string(),
        dry_run: false,
        break_lock: false,
    };
    deploy::deploy(
        file,
        project_root,
        &env_name,
        connected.clone_sessions(),
        &options,
        sink,
    )
    .await?;
    for h in operate::health(file, &env, &connected, sink).await? {
        if !h.healthy {
            anyhow::bail!(
                "the first deploy is not healthy on {} (HTTP {}):\n{}",
                h.server,
                h.status,
                h.details
            );
        }
    }
    Ok(Urls {
        production: format!("http://{domain}/"),
        preview: format!("http://{}/", operate::preview_host(&env, None)),
        blue: format!(
            "http://{}/",
            operate::preview_host(&env, Some(crate::config::Colour::Blue))
        ),
        green: format!(
            "http://{}/",
            operate::preview_host(&env, Some(crate::config::Colour::Green))
        ),
    })
}

/// Creates the droplets and waits until all are active. If any fails, the
/// ones this run created are deleted before the error is returned.
async fn create_droplets(
    client: &Client,
    names: &[String],
    tags: &[String],
    key_ids: &[serde_json::Value],
    input: &NewServer,
    sink: &Sink,
) -> anyhow::Result<Vec<(u64, String)>> {
    let step = |text: &str| sink("digitalocean", Stream::Step, text);
    let mut ids = Vec::new();
    for name in names {
        step(&format!(
            "creating droplet {name} ({}, {}, {})",
            input.region, input.size, input.image
        ));
        let created = client
            .create_droplet(&json!({
                "name": name, "region": input.region, "size": input.size, "image": input.image,
                "ssh_keys": key_ids, "tags": tags,
            }))
            .await;
        match created.and_then(|c| {
            c["id"]
                .as_u64()
                .context("DigitalOcean returned a droplet without an id")
        }) {
            Ok(id) => ids.push((id, String::new())),
            Err(e) => return Err(delete_created(client, &ids, e, sink).await),
        }
    }
    for i in 0..ids.len() {
        let id = ids[i].0;
        step(&format!("waiting for droplet {id} to become active"));
        let address = client
            .wait_active(id, input.active_timeout)
            .await
            .and_then(|d| {
                Client::public_ipv4(&d).context("the droplet has no public IPv4 address")
            });
        match address {
            Ok(a) => ids[i].1 = a,
            Err(e) => return Err(delete_created(client, &ids, e, sink).await),
        }
    }
    Ok(ids)
}

/// Deletes the droplets this run created (they never became usable) and
/// returns the original error, saying what was cleaned up.
async fn delete_created(
    client: &Client,
    created: &[(u64, String)],
    error: anyhow::Error,
    sink: &Sink,
) -> anyhow::Error {
    let mut left = vec![];
    for (id, _) in created {
        sink(
            "digitalocean",
            Stream::Step,
            &format!("deleting droplet {id}, which this run created and which never became usable"),
        );
        if let Err(e) = client.delete_droplet(*id).await {
            left.push(format!("{id} ({e:#})"));
        }
    }
    if left.is_empty() {
        let ids: Vec<String> = created.iter().map(|(id, _)| id.to_string()).collect();
        error.context(format!(
            "droplet(s) {} deleted; nothing is left behind",
            if ids.is_empty() {
                "-".to_string()
            } else {
                ids.join(", ")
            }
        ))
    } else {
        error.context(format!("deleting droplets failed too: {}", left.join("; ")))
    }
}

/// A records for the domain and the three preview hosts: the domain is
/// created if DigitalOcean does not host it yet; existing A records of
/// those names are updated instead of duplicated.
pub async fn point_dns(
    client: &Client,
    domain: &str,
    prefix: &str,
    address: &str,
) -> anyhow::Result<()> {
    let (zone, apex) = match client
        .call(
            Method::GET,
            &format!("/domains/{domain}"),
            None,
            "looking up the domain",
        )
        .await
    {
        Ok(_) => (domain.to_string(), "@".to_string()),
        Err(_) => {
            client
                .call(
                    Method::POST,
                    "/domains",
                    Some(&json!({"name": domain})),
                    &format!("adding {domain} to DigitalOcean DNS"),
                )
                .await?;
            (domain.to_string(), "@".to_string())
        }
    };
    let records = client
        .list(
            &format!("/domains/{zone}/records?type=A"),
            "domain_records",
            "listing DNS records",
        )
        .await?;
    for name in [
        apex,
        prefix.to_string(),
        format!("{prefix}-blue"),
        format!("{prefix}-green"),
    ] {
        let existing = records.iter().find(|r| r["name"] == name.as_str());
        match existing.and_then(|r| r["id"].as_u64()) {
            Some(rid) => {
                client
                    .call(
                        Method::PUT,
                        &format!("/domains/{zone}/records/{rid}"),
                        Some(&json!({"type": "A", "data": address})),
                        &format!("updating the A record {name}.{zone}"),
                    )
                    .await?;
            }
            None => {
                client
                    .call(
                        Method::POST,
                        &format!("/domains/{zone}/records"),
                        Some(&json!({"type": "A", "name": name, "data": address, "ttl": 300})),
                        &format!("creating the A record {name}.{zone}"),
                    )
                    .await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_choice_is_named_after_the_project() {
        assert_eq!(
            database_choice("same", "acme-shop", Stack::Php),
            Ok(Database::SameDroplet {
                name: "acme_shop".into(),
                user: "acme_shop".into(),
            })
        );
        assert_eq!(
            database_choice("same", "site", Stack::Static),
            Ok(Database::None)
        );
        assert_eq!(
            database_choice("none", "acme", Stack::Php),
            Ok(Database::None)
        );
        assert_eq!(
            database_choice("droplet", "acme", Stack::Php),
            Err("\"droplet\": expected same or none".to_string())
        );
    }
}
