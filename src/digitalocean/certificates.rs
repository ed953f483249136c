//! Certificates DigitalOcean manages (`/v2/certificates`): a `lets_encrypt`
//! one is requested by name and DNS names, issued by DigitalOcean through
//! its own DNS, and renewed by it; Pond reads its state and expiry, and
//! deletes it once no load balancer uses it.

use reqwest::Method;
use serde_json::{Value, json};

use super::Client;

impl Client {
    /// Asks DigitalOcean for a Let's Encrypt certificate; returns its id.
    /// Sent once: a retried request could order two.
    pub async fn create_lets_encrypt_certificate(
        &self,
        name: &str,
        dns_names: &[String],
    ) -> anyhow::Result<String> {
        let body = json!({"name": name, "type": "lets_encrypt", "dns_names": dns_names});
        let created = self
            .call_once(
                Method::POST,
                "/certificates",
                Some(&body),
                &format!("requesting certificate {name} for {}", dns_names.join(", ")),
            )
            .await?;
        created["certificate"]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("DigitalOcean returned a certificate without an id"))
    }

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

    pub async fn delete_certificate(&self, id: &str) -> anyhow::Result<()> {
        self.call(
            Method::DELETE,
            &format!("/certificates/{id}"),
            None,
            "deleting the certificate",
        )
        .await?;
        Ok(())
    }
}
