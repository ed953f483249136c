//! The `_acme-challenge` TXT records Pond puts in a domain's DigitalOcean
//! zone for a DNS-01 order (the preview hosts' wildcard): each one is
//! noted in a journal in the config dir (`acme/txt-<domain>.json`) as soon
//! as it exists and dropped from it once deleted, so a run stopped between
//! the two (a closed laptop, a lost network, an API error) has its
//! leftovers deleted by the next order for that domain.

use std::path::PathBuf;

use anyhow::Context;
use reqwest::Method;
use serde_json::json;

use crate::digitalocean::{Client, is_not_found};
use crate::ssh::{Sink, Stream};

fn journal(domain: &str) -> anyhow::Result<PathBuf> {
    Ok(crate::settings::config_dir()?
        .join("acme")
        .join(format!("txt-{domain}.json")))
}

fn noted(domain: &str) -> Vec<u64> {
    journal(domain)
        .ok()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn note(domain: &str, ids: &[u64]) -> anyhow::Result<()> {
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

/// Adds the TXT record and notes it; its id.
pub async fn add(api: &Client, domain: &str, value: &str) -> anyhow::Result<u64> {
    let made = api
        .call_once(
            Method::POST,
            &format!("/domains/{domain}/records"),
            Some(&json!({"type": "TXT", "name": "_acme-challenge", "data": value, "ttl": 30})),
            "adding the ACME TXT record (the domain must be on DigitalOcean DNS)",
        )
        .await?;
    let id = made["domain_record"]["id"]
        .as_u64()
        .context("DigitalOcean did not say which record it made")?;
    let mut ids = noted(domain);
    ids.push(id);
    note(domain, &ids)?;
    Ok(id)
}

/// Deletes records Pond noted for the domain (`ids`, or every noted one
/// when `None`: the leftovers of a stopped run); a record already gone
/// counts as deleted. What could not be deleted stays noted, and is said.
pub async fn delete(api: &Client, domain: &str, ids: Option<&[u64]>, sink: &Sink) {
    let all = noted(domain);
    let wanted: Vec<u64> = match ids {
        Some(ids) => ids.to_vec(),
        None => all.clone(),
    };
    let mut kept: Vec<u64> = all.into_iter().filter(|i| !wanted.contains(i)).collect();
    for id in wanted {
        let done = api
            .call(
                Method::DELETE,
                &format!("/domains/{domain}/records/{id}"),
                None,
                "deleting the ACME TXT record",
            )
            .await;
        match done {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                kept.push(id);
                sink(
                    crate::ssh::API,
                    Stream::Stderr,
                    &format!(
                        "could not delete TXT record {id} of {domain} (the next order for it tries again): {e:#}"
                    ),
                );
            }
        }
    }
    if let Err(e) = note(domain, &kept) {
        sink(crate::ssh::API, Stream::Stderr, &format!("{e:#}"));
    }
}
