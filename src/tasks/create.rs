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
}

impl NewServer {
    /// Every action the run will take, in order, for the review page and
    /// `--dry-run`. Pure.
    pub fn plan_lines(&self, project: &str, price_monthly: Option<f64>) -> Vec<String> {
        let droplet = format!("{project}-{}-1", self.env);
        let cost = price_monthly
            .map(|p| format!(", about ${p:.2}/month"))
            .unwrap_or_default();
        let mut lines = vec![
            format!("check the token of account {}", self.account),
            "register your SSH public key (and the team's) with the account".to_string(),
            format!(
                "create droplet {droplet} ({}, {}, {}{cost}) tagged pond, pond-{project}, pond-{project}-{}",
                self.region, self.size, self.image, self.env
            ),
            "wait until it is active, then pin its SSH host key in pond.json".to_string(),
        ];
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
    let droplet_name = format!("{}-{}-1", file.name, input.env);
    candidate.environments.push(Environment {
        name: input.env.clone(),
        account: Some(input.account.clone()),
        kind: EnvironmentKind::Single,
        region: Some(input.region.clone()),
        size: Some(input.size.clone()),
        image: Some(input.image.clone()),
        domain: input.domain.clone(),
        secret_prefix: input.secret_prefix.clone(),
        health_path: None,
        database: input.database.clone(),
        droplets: vec![Droplet {
            name: droplet_name.clone(),
            id: None,
            role: DropletRole::Web,
            address: None,
            ssh_user: None,
            private_address: None,
            host_key: None,
        }],
        load_balancer: None,
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
    step(&format!(
        "creating droplet {droplet_name} ({}, {}, {})",
        input.region, input.size, input.image
    ));
    let created = client
        .create_droplet(&json!({
            "name": droplet_name, "region": input.region, "size": input.size, "image": input.image,
            "ssh_keys": key_ids, "tags": tags,
        }))
        .await?;
    let id = created["id"]
        .as_u64()
        .context("DigitalOcean returned a droplet without an id")?;
    step(&format!("waiting for droplet {id} to become active"));
    let active = match client.wait_active(id, input.active_timeout).await {
        Ok(d) => d,
        Err(e) => {
            step(&format!(
                "deleting droplet {id}, which this run created and which never became usable"
            ));
            client
                .delete_droplet(id)
                .await
                .with_context(|| format!("{e:#}; and deleting droplet {id} failed too"))?;
            return Err(e.context(format!("droplet {id} was deleted; nothing is left behind")));
        }
    };
    let address = Client::public_ipv4(&active).context("the droplet has no public IPv4 address")?;

    // Usable: record it (so a failure from here on can be resumed).
    let env_index = candidate.environments.len() - 1;
    let d = &mut candidate.environments[env_index].droplets[0];
    d.id = Some(id);
    d.address = Some(address.clone());
    *file = candidate;
    config::save(path, file)?;

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
        "pointing {} and the preview hosts at {address}",
        input.domain
    ));
    point_dns(client, &input.domain, &input.secret_prefix, &address).await?;

    if input.transfer.db_dump.is_some() || input.transfer.attachments.is_some() {
        deploy::transfer(file, &input.env, &connected, &input.transfer, sink).await?;
    }
    let options = deploy::DeployOptions {
        tag: input.tag.clone(),
        dry_run: false,
        break_lock: false,
    };
    deploy::deploy(
        file,
        project_root,
        &input.env,
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
        production: format!("http://{}/", input.domain),
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
