//! Certificates DigitalOcean manages (`/v2/certificates`), read: a
//! `lets_encrypt` one's state and expiry. The requests ordering and
//! deleting one are values (`tasks::lb_tls`).

use reqwest::Method;
use serde_json::Value;

use super::Client;

impl Client {
    /// `{id, name, dns_names, state, not_after, …}` of a certificate.
    pub async fn certificate(&self, id: &str) -> anyhow::Result<Value> {
        let got = self
            .call(
                Method::GET,
                &format!("/certificates/{id}"),
                None,
                "reading the certificate",
            )
            .await?;
        Ok(got["certificate"].clone())
    }
}
