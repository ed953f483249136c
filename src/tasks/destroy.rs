//! Destroy an environment Pond created on DigitalOcean: its droplets (by the
//! environment's tag), the DNS A records Pond made for it (the domain and
//! the preview hosts, only while they still point at one of its droplets),
//! and its load balancer; then drop it from pond.json. [`plan`] finds what
//! exists and changes nothing, so the user sees the list before agreeing;
//! [`execute`] deletes exactly that list.

use std::path::Path;

use reqwest::Method;

use crate::config::{self, ProjectFile};
use crate::digitalocean::Client;
use crate::ssh::{Sink, Stream};

/// Everything `execute` will delete.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DestroyPlan {
    pub env: String,
    pub tag: String,
    /// (id, name, public address)
    pub droplets: Vec<(u64, String, String)>,
    /// (zone, record id, record name, address it points at)
    pub records: Vec<(String, u64, String, String)>,
    pub load_balancer: Option<String>,
    /// (name, address) of servers Pond did not create (an existing database
    /// host): left running, with their data.
    pub kept: Vec<(String, String)>,
}

impl DestroyPlan {
    /// One line per deletion, for the confirmation prompt.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .droplets
            .iter()
            .map(|(id, name, addr)| format!("delete droplet {name} (id {id}, {addr})"))
            .collect();
        for (zone, _, name, data) in &self.records {
            let host = if name == "@" {
                zone.clone()
            } else {
                format!("{name}.{zone}")
            };
            lines.push(format!("delete DNS record {host} A {data}"));
        }
        if let Some(lb) = &self.load_balancer {
            lines.push(format!("delete load balancer {lb}"));
        }
        for (name, addr) in &self.kept {
            lines.push(format!(
                "keep {name} ({addr}): Pond did not create it, so it and its data stay"
            ));
        }
        lines.push(format!("remove environment {} from pond.json", self.env));
        lines
    }
}

/// Looks up what the environment has on DigitalOcean. Refuses environments
/// Pond did not create (attached servers are released with `unbind`).
pub async fn plan(
    client: &Client,
    file: &ProjectFile,
    env_name: &str,
) -> anyhow::Result<DestroyPlan> {
    let (_, env) = super::find_env(file, env_name)?;
    if env.account.is_none() || env.droplets.iter().all(|d| d.id.is_none()) {
        anyhow::bail!(
            "environment {env_name} was attached to existing servers, not created by Pond; \
             pond unbind {env_name} releases them without deleting anything"
        );
    }
    let tag = format!("pond-{}-{}", file.name, env.name);
    let mut droplets = Vec::new();
    for d in client.droplets_by_tag(&tag).await? {
        let id = d["id"].as_u64().unwrap_or_default();
        let name = d["name"].as_str().unwrap_or_default().to_string();
        let addr = Client::public_ipv4(&d).unwrap_or_default();
        droplets.push((id, name, addr));
    }
    let mut addresses: Vec<String> = droplets.iter().map(|d| d.2.clone()).collect();
    addresses.extend(env.droplets.iter().filter_map(|d| d.address.clone()));
    let zone = env.domain.clone();
    let ours = [
        "@".to_string(),
        env.secret_prefix.clone(),
        format!("{}-blue", env.secret_prefix),
        format!("{}-green", env.secret_prefix),
    ];
    let mut records = Vec::new();
    let listed = client
        .list(
            &format!("/domains/{zone}/records?type=A"),
            "domain_records",
            "listing DNS records",
        )
        .await;
    // A domain DigitalOcean does not host has no records of ours.
    for r in listed.unwrap_or_default() {
        let name = r["name"].as_str().unwrap_or_default();
        let data = r["data"].as_str().unwrap_or_default();
        if ours.iter().any(|o| o == name) && addresses.iter().any(|a| a == data) {
            let id = r["id"].as_u64().unwrap_or_default();
            records.push((zone.clone(), id, name.to_string(), data.to_string()));
        }
    }
    Ok(DestroyPlan {
        env: env.name.clone(),
        tag,
        droplets,
        records,
        load_balancer: env.load_balancer.as_ref().and_then(|lb| lb.id.clone()),
        kept: env
            .droplets
            .iter()
            .filter(|d| d.id.is_none())
            .map(|d| (d.name.clone(), d.address.clone().unwrap_or_default()))
            .collect(),
    })
}

/// Deletes what `plan` listed, then removes the environment from pond.json
/// (saved atomically). Already-deleted resources are not an error.
pub async fn execute(
    client: &Client,
    file: &mut ProjectFile,
    path: &Path,
    plan: &DestroyPlan,
    sink: &Sink,
) -> anyhow::Result<()> {
    let step = |text: &str| sink(crate::ssh::API, Stream::Step, text);
    if let Some(lb) = &plan.load_balancer {
        step(&format!("deleting load balancer {lb}"));
        ignore_missing(
            client
                .call(
                    Method::DELETE,
                    &format!("/load_balancers/{lb}"),
                    None,
                    "deleting the load balancer",
                )
                .await,
        )?;
    }
    for (zone, id, name, _) in &plan.records {
        step(&format!("deleting DNS record {name} in {zone}"));
        ignore_missing(
            client
                .call(
                    Method::DELETE,
                    &format!("/domains/{zone}/records/{id}"),
                    None,
                    &format!("deleting DNS record {name}"),
                )
                .await,
        )?;
    }
    step(&format!("deleting droplets tagged {}", plan.tag));
    client.delete_droplets_by_tag(&plan.tag).await?;
    let left = client.droplets_by_tag(&plan.tag).await?;
    if !left.is_empty() {
        anyhow::bail!(
            "{} droplet(s) tagged {} are still there after deleting",
            left.len(),
            plan.tag
        );
    }
    file.environments.retain(|e| e.name != plan.env);
    config::save(path, file)?;
    step(&format!("environment {} removed from pond.json", plan.env));
    Ok(())
}

fn ignore_missing(result: anyhow::Result<serde_json::Value>) -> anyhow::Result<()> {
    match result {
        Ok(_) => Ok(()),
        Err(e) => match e.downcast_ref::<crate::digitalocean::ApiError>() {
            Some(api) if api.status == 404 => Ok(()),
            _ => Err(e),
        },
    }
}
