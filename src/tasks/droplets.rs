//! Droplets of one run: the requests that create them with Pond's tags
//! ([`create_request`], values a plan shows; their SSH keys named by
//! [`fingerprint`], uploaded by [`register_keys`] where the account lacks
//! them), sent by [`create_droplets`], which waits until each is active
//! and — when any never becomes usable — deletes every one the run created
//! ([`delete_request`]), so a failure leaves no orphans on the account;
//! and the requests tagging a droplet an environment is put on
//! ([`tag_requests`]).

use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use crate::config::ProjectFile;
use crate::digitalocean::Client;
use crate::plan::{Method, Operation};
use crate::ssh::{Identity, Sink, Stream};

/// Where and how big new droplets are.
#[derive(Debug, Clone)]
pub struct DropletSpec {
    pub region: String,
    pub size: String,
    pub image: String,
}

/// A droplet this run created.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: u64,
    pub address: String,
    pub private_address: Option<String>,
}

/// The tags of an environment's droplets: `pond`, `pond-<project>`,
/// `pond-<project>-<env>` (destroy finds them by the last).
pub fn env_tags(project: &str, env: &str) -> Vec<String> {
    vec![
        "pond".to_string(),
        format!("pond-{project}"),
        format!("pond-{project}-{env}"),
    ]
}

/// The environments (`project/env`) a droplet's tags name: each
/// `pond-<project>-<env>` beside its `pond-<project>`. Pure.
pub fn environments_of_tags(tags: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = tags
        .iter()
        .filter_map(|t| {
            tags.iter()
                .filter(|p| p.starts_with("pond-") && **p != *t)
                .find_map(|p| {
                    let env = t.strip_prefix(*p)?.strip_prefix('-')?;
                    Some(format!("{}/{env}", &p["pond-".len()..]))
                })
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Makes sure `account` holds the user's public key and the team's (new
/// droplets name them by fingerprint): each one it lacks is uploaded with
/// the request [`ssh_key_request`] plans.
pub async fn register_keys(
    client: &Client,
    account: &str,
    file: &ProjectFile,
    identity: &Identity,
) -> anyhow::Result<()> {
    let listed = client
        .list("/account/keys", "ssh_keys", "listing SSH keys")
        .await?;
    let mut held: Vec<String> = listed
        .iter()
        .filter_map(|k| k["public_key"].as_str())
        .filter_map(|line| fingerprint(line).ok())
        .collect();
    let mine = identity.public_line();
    for (name, line) in droplet_keys(file, &mine) {
        // Once per key: the user's own key is often a team key too.
        let print = fingerprint(line)?;
        if !held.contains(&print) {
            super::execute::api(client, &ssh_key_request(account, name, line)).await?;
            held.push(print);
        }
    }
    Ok(())
}

/// The keys new droplets get, as (name on the account, public key line):
/// the user's (`public_line`, named "pond"), then the team's.
fn droplet_keys<'a>(
    file: &'a ProjectFile,
    public_line: &'a str,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    std::iter::once(("pond", public_line)).chain(
        file.team_keys
            .iter()
            .map(|m| (m.name.as_str(), m.public_key.as_str())),
    )
}

/// The request uploading SSH public key `public_line` to `account` as
/// `name`.
pub fn ssh_key_request(account: &str, name: &str, public_line: &str) -> Operation {
    super::execute::api_request(
        account,
        format!("add SSH key {name} to the account"),
        Method::Post,
        "/v2/account/keys".to_string(),
        Some(json!({"name": name, "public_key": public_line})),
    )
}

/// The requests putting `tag` on droplet `name` (`id`): the tag made first
/// (making one that exists is harmless), then the droplet tagged.
pub fn tag_requests(account: &str, tag: &str, name: &str, id: u64) -> [Operation; 2] {
    [
        super::execute::api_request(
            account,
            format!("make tag {tag}"),
            Method::Post,
            "/v2/tags".to_string(),
            Some(json!({ "name": tag })),
        ),
        super::execute::api_request(
            account,
            format!("tag droplet {name} with {tag}"),
            Method::Post,
            format!("/v2/tags/{tag}/resources"),
            Some(
                json!({"resources": [{"resource_id": id.to_string(), "resource_type": "droplet"}]}),
            ),
        ),
    ]
}

/// The request deleting droplet `id`.
pub fn delete_request(account: &str, id: u64, why: &str) -> Operation {
    super::execute::api_request(
        account,
        format!("delete droplet {id}, {why}"),
        Method::Delete,
        format!("/v2/droplets/{id}"),
        None,
    )
}

/// DigitalOcean's fingerprint of an SSH public key line (`ssh-ed25519
/// AAAA… comment`): the MD5 of the key blob, as colon-separated hex. A
/// droplet request may name its keys by it.
pub fn fingerprint(public_line: &str) -> anyhow::Result<String> {
    use base64::Engine;
    use md5::Digest;
    let blob = public_line
        .split_whitespace()
        .nth(1)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .with_context(|| {
            format!(
                "{} is not an SSH public key line",
                crate::config::show(public_line)
            )
        })?;
    let digest = md5::Md5::digest(&blob);
    Ok(digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// The fingerprints of the keys new droplets get: the user's, then the
/// team's, each once ([`register_keys`] makes sure the account has them).
pub fn key_fingerprints(file: &ProjectFile, public_line: &str) -> anyhow::Result<Vec<String>> {
    let mut prints: Vec<String> = vec![];
    for (_, line) in droplet_keys(file, public_line) {
        let print = fingerprint(line)?;
        if !prints.contains(&print) {
            prints.push(print);
        }
    }
    Ok(prints)
}

/// The request creating droplet `name` on `account`'s DigitalOcean with
/// `tags` and the SSH keys `keys` (ids or fingerprints): what a plan shows
/// and [`create_droplets`] sends.
pub fn create_request(
    account: &str,
    name: &str,
    spec: &DropletSpec,
    tags: &[String],
    keys: &[serde_json::Value],
) -> Operation {
    super::execute::api_request(
        account,
        format!(
            "create droplet {name} ({}, {}, {}) tagged {}",
            spec.region,
            spec.size,
            spec.image,
            tags.join(", ")
        ),
        Method::Post,
        "/v2/droplets".to_string(),
        Some(json!({
            "name": name, "region": spec.region, "size": spec.size, "image": spec.image,
            "ssh_keys": keys, "tags": tags,
        })),
    )
}

/// Connects to every server of environment `env_index` while new droplets
/// finish booting (up to ten tries, two seconds apart), then records
/// first-use host keys in pond.json (saved at `path`).
pub async fn connect_booting(
    file: &mut ProjectFile,
    path: &std::path::Path,
    env_index: usize,
    identity: &Identity,
    sink: &Sink,
) -> anyhow::Result<Vec<super::Connected>> {
    let servers = super::servers(&file.environments[env_index], env_index)?;
    let mut attempt = 1;
    let connected = loop {
        match super::connect_all(&servers, identity, sink).await {
            Ok(connected) => break connected,
            Err(e) if attempt < 10 => {
                sink(
                    crate::ssh::API,
                    Stream::Step,
                    &format!("SSH not ready yet ({e:#}); retrying"),
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    if super::record_pins(file, env_index, &connected) {
        crate::config::save(path, file)?;
    }
    Ok(connected)
}

/// Sends the droplet `requests` ([`create_request`]s) and waits until
/// every droplet is active. If any fails, the ones this run created are
/// deleted before the error is returned.
pub async fn create_droplets(
    client: &Client,
    account: &str,
    requests: &[Operation],
    active_timeout: Duration,
    sink: &Sink,
) -> anyhow::Result<Vec<Created>> {
    let step = |text: &str| sink(crate::ssh::API, Stream::Step, text);
    let mut ids = Vec::new();
    for request in requests {
        step(&request.description);
        let created = super::execute::create_droplet(client, request).await;
        match created.and_then(|c| {
            c["id"]
                .as_u64()
                .context("DigitalOcean returned a droplet without an id")
        }) {
            Ok(id) => ids.push(Created {
                id,
                address: String::new(),
                private_address: None,
            }),
            Err(e) => return Err(delete_created(client, account, &ids, e, sink).await),
        }
    }
    for i in 0..ids.len() {
        let id = ids[i].id;
        step(&format!("waiting for droplet {id} to become active"));
        let address = client.wait_active(id, active_timeout).await.and_then(|d| {
            let public =
                Client::public_ipv4(&d).context("the droplet has no public IPv4 address")?;
            Ok((public, Client::private_ipv4(&d)))
        });
        match address {
            Ok((public, private)) => {
                ids[i].address = public;
                ids[i].private_address = private;
            }
            Err(e) => return Err(delete_created(client, account, &ids, e, sink).await),
        }
    }
    Ok(ids)
}

/// Deletes the droplets this run created (they never became usable) and
/// returns the original error, saying what was cleaned up.
pub async fn delete_created(
    client: &Client,
    account: &str,
    created: &[Created],
    error: anyhow::Error,
    sink: &Sink,
) -> anyhow::Error {
    let mut left = vec![];
    for Created { id, .. } in created {
        let request = delete_request(
            account,
            *id,
            "which this run created and which never became usable",
        );
        sink(crate::ssh::API, Stream::Step, &request.description);
        if let Err(e) = super::execute::api(client, &request).await {
            left.push(format!("{id} ({e:#})"));
        }
    }
    if left.is_empty() {
        let ids: Vec<String> = created.iter().map(|c| c.id.to_string()).collect();
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_environments_of_a_droplet_are_read_off_its_tags() {
        let tags = [
            "pond",
            "pond-acme",
            "pond-acme-production",
            "pond-acme-staging",
            "web",
        ];
        assert_eq!(
            super::environments_of_tags(&tags),
            ["acme/production", "acme/staging"]
        );
        assert!(super::environments_of_tags(&["pond", "pond-acme"]).is_empty());
    }
}
