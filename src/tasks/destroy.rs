//! Destroy an environment Pond created on DigitalOcean: its droplets (found
//! by the environment's tag), the DNS A records Pond made for it (the domain
//! and the preview hosts, only while they still point at one of its
//! droplets or at its load balancer — a record left at a released address
//! is a subdomain takeover), and its load balancer; then drop it from
//! pond.json. [`plan`] finds what exists and changes nothing (a lookup that
//! fails stops it: it never reads as "nothing to delete"), so the user sees
//! the list before agreeing; [`execute`] deletes exactly that list, by id.

use std::path::Path;

use reqwest::Method;

use crate::config::{self, ProjectFile};
use crate::digitalocean::{Client, is_not_found};
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
    let load_balancer = env.load_balancer.as_ref().and_then(|lb| lb.id.clone());
    if let Some(id) = &load_balancer {
        match client
            .call(
                Method::GET,
                &format!("/load_balancers/{id}"),
                None,
                "looking up the load balancer",
            )
            .await
        {
            Ok(lb) => {
                if let Some(ip) = lb["load_balancer"]["ip"]
                    .as_str()
                    .filter(|ip| !ip.is_empty())
                {
                    addresses.push(ip.to_string());
                }
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
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
    // A domain DigitalOcean does not host has no records of ours; any other
    // failure stops the plan.
    let listed = match listed {
        Ok(records) => records,
        Err(e) if is_not_found(&e) => vec![],
        Err(e) => return Err(e),
    };
    for r in listed {
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
        load_balancer,
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
    // Records first: a record left at a released address is a takeover,
    // and once the balancer is gone its address can no longer be found.
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
    for (id, name, _) in &plan.droplets {
        step(&format!("deleting droplet {name} ({id})"));
        ignore_missing(
            client
                .call(
                    Method::DELETE,
                    &format!("/droplets/{id}"),
                    None,
                    &format!("deleting droplet {name}"),
                )
                .await,
        )?;
    }
    let listed: Vec<u64> = plan.droplets.iter().map(|d| d.0).collect();
    let left = client.droplets_by_tag(&plan.tag).await?;
    let still: Vec<String> = left
        .iter()
        .filter(|d| d["id"].as_u64().is_some_and(|id| listed.contains(&id)))
        .map(|d| d["name"].as_str().unwrap_or_default().to_string())
        .collect();
    if !still.is_empty() {
        anyhow::bail!(
            "{} are still there after deleting; run pond destroy {} again",
            still.join(", "),
            plan.env
        );
    }
    let unlisted: Vec<String> = left
        .iter()
        .map(|d| d["name"].as_str().unwrap_or_default().to_string())
        .collect();
    if !unlisted.is_empty() {
        anyhow::bail!(
            "droplets tagged {} appeared after the list was shown ({}); they were not deleted, and {} stays in pond.json. Run pond destroy {} again to see them",
            plan.tag,
            unlisted.join(", "),
            plan.env,
            plan.env
        );
    }
    file.environments.retain(|e| e.name != plan.env);
    config::save(path, file)?;
    sink(
        crate::ssh::API,
        Stream::Done,
        &format!("environment {} removed from pond.json", plan.env),
    );
    Ok(())
}

fn ignore_missing(result: anyhow::Result<serde_json::Value>) -> anyhow::Result<()> {
    match result {
        Err(e) if !is_not_found(&e) => Err(e),
        _ => Ok(()),
    }
}
