//! DNS on DigitalOcean for an environment: the domain's A record, `www.`'s,
//! and the three preview hosts' (`<prefix>`, `<prefix>-blue`, `<prefix>-green`),
//! created or updated in place, never duplicated.

use reqwest::Method;
use serde_json::json;

use crate::digitalocean::{Client, is_not_found};

/// The names, in the domain's zone, of the A records Pond makes for an
/// environment (and `pond destroy` deletes): the apex, `www`, and the three
/// preview hosts.
pub fn record_names(prefix: &str) -> [String; 5] {
    [
        "@".to_string(),
        "www".to_string(),
        prefix.to_string(),
        format!("{prefix}-blue"),
        format!("{prefix}-green"),
    ]
}

/// A records for the domain, `www.<domain>` (unless it is already a
/// record of another address or a CNAME) and the three preview hosts: the domain is
/// created if DigitalOcean does not host it yet; existing A records of
/// those names are updated instead of duplicated.
pub async fn point_dns(
    client: &Client,
    domain: &str,
    prefix: &str,
    address: &str,
) -> anyhow::Result<()> {
    let zone = match client
        .call(
            Method::GET,
            &format!("/domains/{domain}"),
            None,
            "looking up the domain",
        )
        .await
    {
        Ok(_) => domain.to_string(),
        // Only "DigitalOcean does not host this domain" creates the zone;
        // any other error (a bad token, an outage) stops here.
        Err(e) if is_not_found(&e) => {
            client
                .call(
                    Method::POST,
                    "/domains",
                    Some(&json!({"name": domain})),
                    &format!("adding {domain} to DigitalOcean DNS"),
                )
                .await?;
            domain.to_string()
        }
        Err(e) => return Err(e),
    };
    let records = client
        .list(
            &format!("/domains/{zone}/records?type=A"),
            "domain_records",
            "listing DNS records",
        )
        .await?;
    // `www` may already be the user's own (an A record elsewhere, or a
    // CNAME): then it is left as it is, and the certificate covers the
    // domain alone (tls/renew adds www only when it points here).
    let cnames = client
        .list(
            &format!("/domains/{zone}/records?type=CNAME"),
            "domain_records",
            "listing DNS records",
        )
        .await?;
    for name in record_names(prefix) {
        let existing = records.iter().find(|r| r["name"] == name.as_str());
        if name == "www"
            && (cnames.iter().any(|r| r["name"] == "www")
                || existing.is_some_and(|r| r["data"] != address))
        {
            continue;
        }
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
