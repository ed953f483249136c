//! Destroy an environment Pond created on DigitalOcean: its droplets (found
//! by the environment's tag, and the project's) — except a droplet that
//! also serves another environment (one of pond.json, one the server
//! itself reports, one its tags name) or that the environment was put on
//! with `--on`, which is kept and only this environment's layout, users,
//! pool, vhosts and database are removed from it — the DNS A records Pond
//! made for it (the domain and the preview hosts, only while they still
//! point at one of its droplets or at its load balancer — a record left at
//! a released address is a subdomain takeover), its load balancer, and the
//! certificates Pond had DigitalOcean make for that balancer;
//! then drop it from pond.json. [`plan`] finds what exists and changes
//! nothing (a lookup that fails stops it: it never reads as "nothing to
//! delete"), so the user sees the list before agreeing; [`execute`] deletes
//! only what that list names, by id, after reading each droplet's tags
//! once more (an environment put on it since stops the deletion).

use std::path::Path;

use anyhow::Context;
use reqwest::Method;

use super::Connected;
use super::execute::api_request;
use crate::config::{self, ProjectFile};
use crate::digitalocean::{Client, is_not_found};
use crate::plan::{Method as PlanMethod, Operation, Plan};
use crate::ssh::{Sink, Stream};

/// Everything `execute` will delete.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DestroyPlan {
    pub project: String,
    pub env: String,
    /// The DigitalOcean account the requests go to.
    pub account: String,
    pub tag: String,
    /// (id, name, public address)
    pub droplets: Vec<(u64, String, String)>,
    /// (zone, record id, record name, address it points at)
    pub records: Vec<(String, u64, String, String)>,
    pub load_balancer: Option<String>,
    /// (id, name) of the certificates Pond had DigitalOcean make for the
    /// environment's balancer (`tasks::lb_tls`; never one the user
    /// uploaded): deleted last.
    pub certificates: Vec<(String, String)>,
    /// (name, address) of servers Pond did not create (an existing database
    /// host): left running, with their data.
    pub kept: Vec<(String, String)>,
    /// Droplets that also serve other environments: kept, with only this
    /// environment removed from them.
    pub shared: Vec<SharedDroplet>,
    /// (id, name, address) of droplets carrying the environment's tag but
    /// not the project's, which pond.json does not list for it (another
    /// project's environment with the same tag: `acme`/`shop-live` and
    /// `acme-shop`/`live`): left alone.
    pub foreign: Vec<(u64, String, String)>,
}

/// A droplet of the environment that other environments use too.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SharedDroplet {
    pub id: u64,
    pub name: String,
    pub address: String,
    /// Who else uses it: `project/env`, or `tag pond-…` when the server
    /// could not be asked.
    pub others: Vec<String>,
}

/// The DigitalOcean requests a destroy sends, by phase, each an
/// operation of a plan: [`DestroyPlan::request_plan`] shows them in the
/// order [`execute`] sends them, and `execute` sends these very values.
struct Requests {
    /// Per shared droplet (by id): taking the environment's tag off it
    /// (and the project's, when no other environment of the project is on
    /// it).
    untags: Vec<(u64, Vec<Operation>)>,
    records: Vec<Operation>,
    balancer: Option<Operation>,
    /// (id, name, its deletion)
    droplets: Vec<(u64, String, Operation)>,
    /// (name, its deletion)
    certificates: Vec<(String, Operation)>,
}

impl Requests {
    fn in_order(&self) -> Vec<Operation> {
        let mut all: Vec<Operation> = self
            .untags
            .iter()
            .flat_map(|(_, ops)| ops.clone())
            .collect();
        all.extend(self.records.iter().cloned());
        all.extend(self.balancer.iter().cloned());
        all.extend(self.droplets.iter().map(|(_, _, op)| op.clone()));
        all.extend(self.certificates.iter().map(|(_, op)| op.clone()));
        all
    }
}

impl DestroyPlan {
    /// Every request, by phase (see [`Requests`]). Pure.
    fn requests(&self) -> Requests {
        let account = &self.account;
        let untag = |tag: &str, d: &SharedDroplet| {
            api_request(
                account,
                format!("untag droplet {} ({tag})", d.name),
                PlanMethod::Delete,
                format!("/v2/tags/{tag}/resources"),
                Some(
                    serde_json::json!({"resources": [{"resource_id": d.id.to_string(), "resource_type": "droplet"}]}),
                ),
            )
        };
        let project_tag = format!("pond-{}", self.project);
        let untags = self
            .shared
            .iter()
            .map(|d| {
                let mut ops = vec![untag(&self.tag, d)];
                let project = format!("{}/", self.project);
                if !d.others.iter().any(|o| o.starts_with(&project)) {
                    ops.push(untag(&project_tag, d));
                }
                (d.id, ops)
            })
            .collect();
        let records = self
            .records
            .iter()
            .map(|(zone, id, name, data)| {
                let host = if name == "@" {
                    zone.clone()
                } else {
                    format!("{name}.{zone}")
                };
                api_request(
                    account,
                    format!("delete DNS record {host} A {data}"),
                    PlanMethod::Delete,
                    format!("/v2/domains/{zone}/records/{id}"),
                    None,
                )
            })
            .collect();
        let balancer = self.load_balancer.as_ref().map(|lb| {
            api_request(
                account,
                format!("delete load balancer {lb}"),
                PlanMethod::Delete,
                format!("/v2/load_balancers/{lb}"),
                None,
            )
        });
        let droplets = self
            .droplets
            .iter()
            .map(|(id, name, addr)| {
                let op = api_request(
                    account,
                    format!("delete droplet {name} (id {id}, {addr})"),
                    PlanMethod::Delete,
                    format!("/v2/droplets/{id}"),
                    None,
                );
                (*id, name.clone(), op)
            })
            .collect();
        let certificates = self
            .certificates
            .iter()
            .map(|(id, name)| {
                let op = api_request(
                    account,
                    format!(
                        "delete its certificate {name} (Let's Encrypt, made by DigitalOcean for Pond)"
                    ),
                    PlanMethod::Delete,
                    format!("/v2/certificates/{id}"),
                    None,
                );
                (name.clone(), op)
            })
            .collect();
        Requests {
            untags,
            records,
            balancer,
            droplets,
            certificates,
        }
    }

    /// The requests [`execute`] sends, in its order: what `pond destroy
    /// --dry-run` outlines. Pure. (Before them, the environment is removed
    /// from each droplet it shares, over SSH.)
    pub fn request_plan(&self) -> Plan {
        Plan {
            title: format!("destroy {}", self.env),
            operations: self.requests().in_order(),
        }
    }

    /// One line per change, for the confirmation prompt: the requests'
    /// descriptions in the order they are sent, then what is kept.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .request_plan()
            .operations
            .into_iter()
            .map(|op| op.description)
            .collect();
        for (id, name, addr) in &self.foreign {
            lines.push(format!(
                "leave droplet {name} (id {id}, {addr}) alone: it carries the tag {}, but it is not this project's",
                self.tag
            ));
        }
        for d in &self.shared {
            lines.push(format!(
                "keep droplet {} (id {}, {}): it also serves {}; remove only {} from it (vhosts, PHP-FPM pool, users, releases, shared files, database) and its tag",
                d.name,
                d.id,
                d.address,
                d.others.join(", "),
                self.env
            ));
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
/// `hosted` is what each reachable server of the environment says it
/// hosts (`project/env`, by droplet id; see `ServerStatus::hosted`); a
/// server missing from it is judged by pond.json and its tags. Only
/// droplets pond.json lists for the environment are deleted or changed.
pub async fn plan(
    client: &Client,
    file: &ProjectFile,
    env_name: &str,
    hosted: &[(u64, Vec<String>)],
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
    let mut shared = Vec::new();
    let mut foreign = Vec::new();
    let this = format!("{}/{}", file.name, env.name);
    for d in client.droplets_by_tag(&tag).await? {
        let id = d["id"].as_u64().unwrap_or_default();
        let name = d["name"].as_str().unwrap_or_default().to_string();
        let addr = Client::public_ipv4(&d).unwrap_or_default();
        let recorded = env.droplets.iter().find(|x| x.id == Some(id));
        if recorded.is_none() && !tags_of(&d).contains(&format!("pond-{}", file.name).as_str()) {
            // Not this project's: another's environment with the same tag.
            foreign.push((id, name, addr));
            continue;
        }
        let mut others = other_users(file, &this, &d, hosted);
        if others.is_empty() && recorded.is_some_and(|x| x.joined) {
            others.push("what it ran before this environment was put on it (--on)".to_string());
        }
        if others.is_empty() {
            droplets.push((id, name, addr));
        } else {
            shared.push(SharedDroplet {
                id,
                name,
                address: addr,
                others,
            });
        }
    }
    let mut addresses: Vec<String> = droplets.iter().map(|d| d.2.clone()).collect();
    addresses.extend(shared.iter().map(|d| d.address.clone()));
    addresses.extend(env.droplets.iter().filter_map(|d| d.address.clone()));
    let load_balancer = env.load_balancer.as_ref().and_then(|lb| lb.id.clone());
    let certificates = if env.load_balancer.is_some() {
        super::lb_tls::owned_certificates(client, &file.name, &env.name, &env.domain)
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect()
    } else {
        vec![]
    };
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
    let ours = super::dns::record_names(&env.secret_prefix);
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
        project: file.name.clone(),
        env: env.name.clone(),
        account: env.account.clone().unwrap_or_default(),
        tag,
        droplets,
        records,
        load_balancer,
        certificates,
        kept: env
            .droplets
            .iter()
            .filter(|d| d.id.is_none())
            .map(|d| (d.name.clone(), d.address.clone().unwrap_or_default()))
            .collect(),
        shared,
        foreign,
    })
}

/// Who else uses droplet `d` (an API record): other environments of
/// pond.json on the same droplet id, and those the server reports hosting;
/// when the server did not answer, the `pond-…` tags of other projects and
/// environments. `this` is `project/env`.
fn other_users(
    file: &ProjectFile,
    this: &str,
    d: &serde_json::Value,
    hosted: &[(u64, Vec<String>)],
) -> Vec<String> {
    let id = d["id"].as_u64();
    let mut others: Vec<String> = file
        .environments
        .iter()
        .filter(|e| format!("{}/{}", file.name, e.name) != this)
        .filter(|e| e.droplets.iter().any(|x| x.id.is_some() && x.id == id))
        .map(|e| format!("{}/{}", file.name, e.name))
        .collect();
    // The server's own answer, when it gave one, and always the droplet's
    // tags too (an environment whose provisioning was cut early has only
    // its tag there).
    if let Some((_, envs)) = hosted.iter().find(|(h, _)| Some(*h) == id) {
        others.extend(envs.iter().filter(|e| *e != this).cloned());
    }
    others.extend(
        super::droplets::environments_of_tags(&tags_of(d))
            .into_iter()
            .filter(|e| e != this),
    );
    others.sort();
    others.dedup();
    others
}

/// A droplet's tags (an API record).
fn tags_of(d: &serde_json::Value) -> Vec<&str> {
    d["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str())
        .collect()
}

/// Deletes what `plan` listed, then removes the environment from pond.json
/// (saved atomically). Already-deleted resources are not an error. The
/// environment is first removed from the droplets it shares (`servers`
/// holds their connections), so a failure there deletes nothing.
#[tracing::instrument(name = "destroy::execute", skip_all, fields(env = %plan.env))]
pub async fn execute(
    client: &Client,
    file: &mut ProjectFile,
    path: &Path,
    plan: &DestroyPlan,
    servers: &[Connected],
    sink: &Sink,
) -> anyhow::Result<()> {
    let step = |text: &str| sink(crate::ssh::API, Stream::Step, text);
    let requests = plan.requests();
    // Every request is checked before the first is sent: a bad id stops
    // the destroy with nothing deleted.
    for op in requests.in_order() {
        super::execute::check_api(&op)?;
    }
    if !plan.shared.is_empty() {
        let (_, env) = super::find_env(file, &plan.env)?;
        let env = env.clone();
        for d in &plan.shared {
            let server = servers
                .iter()
                .find(|c| env.droplets.get(c.server.index).and_then(|x| x.id) == Some(d.id))
                .with_context(|| {
                    format!(
                        "{} also serves {}, and Pond could not reach it to remove {} from it; nothing was deleted",
                        d.name,
                        d.others.join(", "),
                        plan.env
                    )
                })?;
            super::shared_server::remove_from(file, &env, server, sink).await?;
            let untags = requests.untags.iter().filter(|(id, _)| *id == d.id);
            for op in untags.flat_map(|(_, ops)| ops) {
                step(&op.description);
                ignore_missing(super::execute::api(client, op).await)?;
            }
        }
    }
    // Records first: a record left at a released address is a takeover,
    // and once the balancer is gone its address can no longer be found.
    for op in requests.records.iter().chain(&requests.balancer) {
        step(&op.description);
        ignore_missing(super::execute::api(client, op).await)?;
    }

    let this = format!("{}/{}", file.name, plan.env);
    for (id, name, op) in &requests.droplets {
        // What the droplet's tags say now, not when the plan was made: an
        // environment put on it since then keeps it.
        match client.droplet(*id).await {
            Ok(now) => {
                let others: Vec<String> = super::droplets::environments_of_tags(&tags_of(&now))
                    .into_iter()
                    .filter(|e| *e != this)
                    .collect();
                if !others.is_empty() {
                    anyhow::bail!(
                        "droplet {name} now also serves {} (put on it after the plan was shown); it was not deleted. Run pond destroy {} again to see the new plan",
                        others.join(", "),
                        plan.env
                    );
                }
            }
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(e),
        }
        step(&op.description);
        ignore_missing(super::execute::api(client, op).await)?;
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
        .filter(|d| !plan.foreign.iter().any(|f| d["id"].as_u64() == Some(f.0)))
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
    // Certificates last: DigitalOcean refuses to delete one a balancer
    // still uses, and a balancer's deletion takes a moment. Not deleting
    // one costs nothing, so it is said, not fatal.
    for (name, op) in &requests.certificates {
        step(&op.description);
        let mut tries = 0;
        loop {
            match super::execute::api(client, op).await {
                Ok(_) => break,
                Err(e) if is_not_found(&e) => break,
                Err(_) if tries < 5 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                Err(e) => {
                    sink(
                        crate::ssh::API,
                        Stream::Stderr,
                        &format!(
                            "could not delete certificate {name} ({e:#}); delete it in DigitalOcean's control panel (Networking → Certificates)"
                        ),
                    );
                    break;
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Target};

    #[test]
    fn the_requests_are_planned_in_the_order_they_are_sent_and_name_exactly_what_was_listed() {
        let plan = DestroyPlan {
            project: "shop".into(),
            env: "live".into(),
            account: "agency".into(),
            tag: "pond-shop-live".into(),
            droplets: vec![(11, "shop-live-1".into(), "203.0.113.5".into())],
            records: vec![
                (
                    "shop.example.com".into(),
                    7,
                    "@".into(),
                    "203.0.113.9".into(),
                ),
                (
                    "shop.example.com".into(),
                    8,
                    "k3v9q2x8m1zapt".into(),
                    "203.0.113.9".into(),
                ),
            ],
            load_balancer: Some("lb-uuid".into()),
            certificates: vec![("cert-uuid".into(), "pond-shop-live-1".into())],
            kept: vec![],
            shared: vec![SharedDroplet {
                id: 12,
                name: "box".into(),
                address: "203.0.113.6".into(),
                others: vec!["blog/production".into()],
            }],
            foreign: vec![],
        };
        let requests = plan.request_plan();
        let sent: Vec<(String, String)> = requests
            .operations
            .iter()
            .map(|op| match &op.action {
                Action::Api(r) => (format!("{:?}", r.method), r.path.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        let delete = |p: &str| ("Delete".to_string(), p.to_string());
        assert_eq!(
            sent,
            [
                delete("/v2/tags/pond-shop-live/resources"),
                delete("/v2/tags/pond-shop/resources"),
                delete("/v2/domains/shop.example.com/records/7"),
                delete("/v2/domains/shop.example.com/records/8"),
                delete("/v2/load_balancers/lb-uuid"),
                delete("/v2/droplets/11"),
                delete("/v2/certificates/cert-uuid"),
            ],
            "records before the balancer (whose address finds them), droplets by id, certificates last"
        );
        assert!(requests.operations.iter().all(|op| op.target
            == Target::DigitalOcean {
                account: "agency".into()
            }));
        let Action::Api(untag) = &requests.operations[0].action else {
            unreachable!()
        };
        assert_eq!(
            untag.body,
            Some(
                serde_json::json!({"resources": [{"resource_id": "12", "resource_type": "droplet"}]})
            )
        );
        // The confirmation lists the same requests, then what stays.
        let lines = plan.lines();
        assert_eq!(lines[2], "delete DNS record shop.example.com A 203.0.113.9");
        assert_eq!(
            lines[3],
            "delete DNS record k3v9q2x8m1zapt.shop.example.com A 203.0.113.9"
        );
        assert!(
            lines[7].starts_with(
                "keep droplet box (id 12, 203.0.113.6): it also serves blog/production"
            )
        );
        assert_eq!(
            lines.last().unwrap(),
            "remove environment live from pond.json"
        );
    }
}
