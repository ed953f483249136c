//! The `_acme-challenge` TXT records Pond puts in a domain's DigitalOcean
//! zone for a DNS-01 order (the preview hosts' wildcard): each one is
//! noted in a journal in the config dir (`acme/txt-<domain>.json`) as soon
//! as it exists and dropped from it once deleted, so a run stopped between
//! the two (a closed laptop, a lost network, an API error) has its
//! leftovers deleted by a later order for that domain — once they are
//! older than any order runs ([`STALE_AFTER`]), so an order running at the
//! same time keeps its own. A journal that cannot be written costs only
//! that clean-up: it is said, and the order goes on.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;

use super::execute;
use super::state::unix_now;
use crate::digitalocean::{Client, is_not_found};
use crate::plan::{Method, Operation};
use crate::ssh::{Sink, Stream};

/// A noted record older than this belongs to no running order (one waits
/// at most a few minutes for DNS and the CA).
pub const STALE_AFTER: u64 = 30 * 60;

/// One record in the journal: its id and when it was made (unix time).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Noted {
    id: u64,
    at: u64,
}

fn journal(domain: &str) -> anyhow::Result<PathBuf> {
    Ok(crate::settings::config_dir()?
        .join("acme")
        .join(format!("txt-{domain}.json")))
}

fn noted(domain: &str) -> Vec<Noted> {
    journal(domain)
        .ok()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn note(domain: &str, ids: &[Noted]) -> anyhow::Result<()> {
    let path = journal(domain)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if ids.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => Ok(()),
        };
    }
    crate::config::write_private_atomically(&path, &serde_json::to_vec(ids)?)
        .with_context(|| format!("saving {}", path.display()))
}

/// The request adding the `_acme-challenge` TXT record `value` to
/// `domain`'s zone on `account`.
pub fn add_request(account: &str, domain: &str, value: &str) -> Operation {
    execute::api_request(
        account,
        "add the ACME TXT record (the domain must be on DigitalOcean DNS)".to_string(),
        Method::Post,
        format!("/v2/domains/{domain}/records"),
        Some(json!({"type": "TXT", "name": "_acme-challenge", "data": value, "ttl": 30})),
    )
}

/// The request deleting TXT record `id` of `domain`.
pub fn delete_request(account: &str, domain: &str, id: u64) -> Operation {
    execute::api_request(
        account,
        format!("delete the ACME TXT record {id} of {domain}"),
        Method::Delete,
        format!("/v2/domains/{domain}/records/{id}"),
        None,
    )
}

/// Adds the TXT record (sent once) and notes it; its id.
pub async fn add(
    api: &Client,
    account: &str,
    domain: &str,
    value: &str,
    sink: &Sink,
) -> anyhow::Result<u64> {
    let made = execute::api_once(api, &add_request(account, domain, value)).await?;
    let id = made["domain_record"]["id"]
        .as_u64()
        .context("DigitalOcean did not say which record it made")?;
    let mut ids = noted(domain);
    ids.push(Noted { id, at: unix_now() });
    if let Err(e) = note(domain, &ids) {
        sink(
            crate::ssh::API,
            Stream::Stderr,
            &format!("{e:#} (TXT record {id} is deleted after the order all the same)"),
        );
    }
    Ok(id)
}

/// Deletes TXT records of the domain: `ids` (this order's), or, with
/// `None`, the noted ones older than [`STALE_AFTER`] (what a stopped
/// order left). A record already gone counts as deleted; what could not
/// be deleted stays noted, and is said.
pub async fn delete(api: &Client, account: &str, domain: &str, ids: Option<&[u64]>, sink: &Sink) {
    let wanted: Vec<u64> = match ids {
        Some(ids) => ids.to_vec(),
        None => noted(domain)
            .iter()
            .filter(|n| n.at + STALE_AFTER < unix_now())
            .map(|n| n.id)
            .collect(),
    };
    if wanted.is_empty() {
        return;
    }
    let mut failed = vec![];
    for id in &wanted {
        let done = execute::api(api, &delete_request(account, domain, *id)).await;
        match done {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                failed.push(*id);
                sink(
                    crate::ssh::API,
                    Stream::Stderr,
                    &format!(
                        "could not delete TXT record {id} of {domain} (a later order tries again): {e:#}"
                    ),
                );
            }
        }
    }
    // Read again: an order running meanwhile may have noted its own.
    let kept: Vec<Noted> = noted(domain)
        .into_iter()
        .filter(|n| !wanted.contains(&n.id) || failed.contains(&n.id))
        .collect();
    if let Err(e) = note(domain, &kept) {
        sink(crate::ssh::API, Stream::Stderr, &format!("{e:#}"));
    }
}
