//! DigitalOcean's side of a `lets_encrypt` certificate, in the lab: the
//! API orders it from the lab's CA (Pebble) as an ACME client, answering
//! DNS-01 with TXT records it adds to the zone it hosts (as DigitalOcean
//! does with its own DNS) and deletes afterwards. The key is made here and,
//! as on DigitalOcean, stays in the API: load balancers use it, no client
//! ever reads it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::api::state::Record;
use crate::runtime::Lab;

/// Where the lab's CA takes orders.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub directory: String,
    /// The PEM that verifies the CA's own listener.
    pub listener_ca: PathBuf,
}

/// A certificate the CA issued.
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
    /// RFC 3339, as DigitalOcean writes it.
    pub not_after: String,
    pub sha1_fingerprint: String,
}

/// Orders a certificate for `names` (each inside a zone of the API).
pub async fn issue(lab: &Arc<Lab>, names: &[String]) -> anyhow::Result<Issued> {
    let endpoint = lab.acme.get().context("the lab runs no CA")?.clone();
    let (account, _) = Account::builder_with_root(&endpoint.listener_ca)?
        .create(
            &NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            endpoint.directory.clone(),
            None,
        )
        .await
        .context("registering with the lab's CA")?;
    let identifiers: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .context("ordering the certificate")?;
    let mut added: Vec<(String, u64)> = vec![];
    let answered = async {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.context("reading an authorization")?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => bail!("authorization {other:?}"),
            }
            let mut challenge = authz
                .challenge(ChallengeType::Dns01)
                .context("the CA offered no DNS-01 challenge")?;
            let name = challenge.identifier().to_string();
            let name = name.trim_start_matches("*.").to_string();
            let value = challenge.key_authorization().dns_value();
            added.push(add_txt(lab, &name, &value).await?);
            challenge
                .set_ready()
                .await
                .context("answering the challenge")?;
        }
        anyhow::Ok(())
    }
    .await;
    let issued = match answered {
        Ok(()) => finish(&mut order).await,
        Err(e) => Err(e),
    };
    let mut state = lab.state.lock().await;
    for (zone, id) in added {
        if let Some(d) = state.domains.iter_mut().find(|d| d.name == zone) {
            d.records.retain(|r| r.id != id);
        }
    }
    lab.save(&state);
    issued
}

async fn finish(order: &mut instant_acme::Order) -> anyhow::Result<Issued> {
    let retry = RetryPolicy::default().timeout(Duration::from_secs(60));
    let status = order.poll_ready(&retry).await?;
    if status != OrderStatus::Ready {
        let detail = order
            .state()
            .error
            .as_ref()
            .and_then(|e| e.detail.clone())
            .unwrap_or_default();
        bail!("the CA did not validate the names ({status:?}) {detail}");
    }
    let key_pem = order.finalize().await.context("finalizing the order")?;
    let chain_pem = order
        .poll_certificate(&retry)
        .await
        .context("downloading the certificate")?;
    let (not_after, sha1_fingerprint) = leaf_facts(&chain_pem)?;
    Ok(Issued {
        chain_pem,
        key_pem,
        not_after,
        sha1_fingerprint,
    })
}

/// The leaf's expiry (RFC 3339) and SHA-1 fingerprint (hex).
pub fn leaf_facts(chain_pem: &str) -> anyhow::Result<(String, String)> {
    let leaf = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .context("the chain holds no certificate")??;
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).context("parsing the leaf")?;
    let not_after =
        time::OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())?.format(
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
        )?;
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &leaf);
    let hex = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    Ok((not_after, hex))
}

/// Adds `_acme-challenge.<name>` TXT in the zone holding `name`; returns
/// the zone and the record's id.
async fn add_txt(lab: &Arc<Lab>, name: &str, value: &str) -> anyhow::Result<(String, u64)> {
    let mut state = lab.state.lock().await;
    let id = state.new_id();
    let zone = state
        .domains
        .iter_mut()
        .filter(|d| name == d.name || name.ends_with(&format!(".{}", d.name)))
        .max_by_key(|d| d.name.len())
        .with_context(|| format!("no zone of the account holds {name}"))?;
    let relative = match name.strip_suffix(&format!(".{}", zone.name)) {
        Some(sub) => format!("_acme-challenge.{sub}"),
        None => "_acme-challenge".to_string(),
    };
    zone.records.push(Record {
        id,
        kind: "TXT".into(),
        name: relative,
        data: value.to_string(),
        priority: None,
        port: None,
        ttl: 30,
        weight: None,
        flags: None,
        tag: None,
    });
    let zone = zone.name.clone();
    lab.save(&state);
    Ok((zone, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leaf_gives_its_expiry_and_fingerprint() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["example.com".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 2, 3);
        let cert = params.self_signed(&key).unwrap();
        let (not_after, sha1) = leaf_facts(&cert.pem()).unwrap();
        assert_eq!(not_after, "2031-02-03T00:00:00Z");
        assert_eq!(sha1.len(), 40);
        let again = leaf_facts(&cert.pem()).unwrap().1;
        assert_eq!(sha1, again);
    }
}
