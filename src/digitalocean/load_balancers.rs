//! Load balancers, read: one as DigitalOcean describes it, the droplets
//! behind it, waiting until it is active with an address; and the body of
//! an update that changes only its rules ([`rules_update`]). The requests
//! that make and change one are values (`tasks::balancer`).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::Client;

impl Client {
    /// The load balancer as DigitalOcean describes it.
    pub async fn load_balancer(&self, id: &str) -> anyhow::Result<Value> {
        let lb = self
            .call(
                Method::GET,
                &format!("/load_balancers/{id}"),
                None,
                "reading the load balancer",
            )
            .await?;
        Ok(lb["load_balancer"].clone())
    }

    /// The droplets behind a load balancer.
    pub async fn load_balancer_droplets(&self, id: &str) -> anyhow::Result<Vec<u64>> {
        Ok(self.load_balancer(id).await?["droplet_ids"]
            .as_array()
            .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default())
    }

    /// Waits until the load balancer is `active`; returns its IPv4 address.
    pub async fn wait_load_balancer(&self, id: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let lb: Value = self
                .call(
                    Method::GET,
                    &format!("/load_balancers/{id}"),
                    None,
                    "waiting for the load balancer",
                )
                .await?;
            let lb = &lb["load_balancer"];
            let ip = lb["ip"].as_str().unwrap_or_default();
            if lb["status"] == "active" && !ip.is_empty() {
                return Ok(ip.to_string());
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "load balancer {id} did not become active within {} s (status {})",
                    timeout.as_secs(),
                    lb["status"]
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// The PUT body that changes a balancer (`lb`, as DigitalOcean returned
/// it) to `rules` on ports 80/443 and the redirect, the rest as it was.
pub fn rules_update(lb: &Value, rules: &[Value], redirect_http_to_https: bool) -> Value {
    let ours = |r: &Value| {
        (r["entry_protocol"] == "http" && r["entry_port"] == 80)
            || (r["entry_protocol"] == "https" && r["entry_port"] == 443)
    };
    let mut forwarding: Vec<Value> = lb["forwarding_rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| !ours(r))
        .cloned()
        .collect();
    forwarding.extend(rules.iter().cloned());
    let mut body = json!({
        "name": lb["name"],
        "region": lb["region"]["slug"],
        "forwarding_rules": forwarding,
        "redirect_http_to_https": redirect_http_to_https,
        "disable_lets_encrypt_dns_records": true,
    });
    // Everything else DigitalOcean lets a PUT set, as it was.
    for key in [
        "algorithm",
        "health_check",
        "sticky_sessions",
        "enable_proxy_protocol",
        "enable_backend_keepalive",
        "http_idle_timeout_seconds",
        "vpc_uuid",
        "project_id",
        "firewall",
        "tls_cipher_policy",
    ] {
        if !lb[key].is_null() {
            body[key] = lb[key].clone();
        }
    }
    // `size_unit` replaced `size` except in three old regions: one of them.
    if !lb["size_unit"].is_null() {
        body["size_unit"] = lb["size_unit"].clone();
    } else if !lb["size"].is_null() {
        body["size"] = lb["size"].clone();
    }
    if lb["tag"].as_str().is_some_and(|t| !t.is_empty()) {
        body["tag"] = lb["tag"].clone();
    } else {
        body["droplet_ids"] = lb["droplet_ids"].clone();
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_keeps_what_pond_does_not_change() {
        let lb = json!({
            "name": "shop-production-lb", "region": {"slug": "fra1"}, "size_unit": 3,
            "size": "lb-small", "algorithm": "round_robin",
            "forwarding_rules": [
                {"entry_protocol": "http", "entry_port": 80, "target_protocol": "http", "target_port": 80},
                {"entry_protocol": "tcp", "entry_port": 2222, "target_protocol": "tcp", "target_port": 22},
            ],
            "health_check": {"protocol": "tcp", "port": 80},
            "firewall": {"deny": ["ip:1.2.3.4"], "allow": []},
            "http_idle_timeout_seconds": 120, "droplet_ids": [1, 2], "tag": "",
        });
        let https = json!({"entry_protocol": "https", "entry_port": 443, "target_protocol": "http", "target_port": 80, "certificate_id": "c"});
        let plain = json!({"entry_protocol": "http", "entry_port": 80, "target_protocol": "http", "target_port": 80});
        let body = rules_update(&lb, &[plain, https.clone()], true);
        assert_eq!(body["region"], "fra1");
        assert_eq!(body["size_unit"], 3);
        assert!(body["size"].is_null(), "size_unit only");
        assert_eq!(body["firewall"]["deny"][0], "ip:1.2.3.4");
        assert_eq!(body["http_idle_timeout_seconds"], 120);
        assert_eq!(body["droplet_ids"], json!([1, 2]));
        assert_eq!(body["redirect_http_to_https"], true);
        assert_eq!(body["disable_lets_encrypt_dns_records"], true);
        let rules = body["forwarding_rules"].as_array().unwrap();
        assert_eq!(rules.len(), 3, "the tcp rule stays: {rules:?}");
        assert_eq!(rules[0]["entry_port"], 2222);
        assert_eq!(rules[2], https);
        // Taking HTTPS off removes the 443 rule only.
        let off = rules_update(&body_as_read(&body), &[rules[1].clone()], false);
        assert_eq!(off["forwarding_rules"].as_array().unwrap().len(), 2);
    }

    fn body_as_read(body: &Value) -> Value {
        let mut lb = body.clone();
        lb["region"] = json!({"slug": body["region"]});
        lb
    }
}
