//! Load balancers: create one in front of an environment's web droplets
//! (HTTP 80 → 80, a TCP health check on port 80 so no Host header is
//! needed), wait until it is active with an address, change the droplets
//! behind it and its forwarding rules (HTTPS, `tasks::lb_tls`).

use std::time::Duration;

use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};

use super::Client;

impl Client {
    /// Creates the load balancer; returns its id.
    pub async fn create_load_balancer(
        &self,
        name: &str,
        region: &str,
        droplet_ids: &[u64],
    ) -> anyhow::Result<String> {
        let body = json!({
            "name": name,
            "region": region,
            "forwarding_rules": [{
                "entry_protocol": "http", "entry_port": 80,
                "target_protocol": "http", "target_port": 80,
            }],
            "health_check": {
                "protocol": "tcp", "port": 80,
                "check_interval_seconds": 10, "response_timeout_seconds": 5,
                "healthy_threshold": 3, "unhealthy_threshold": 3,
            },
            "droplet_ids": droplet_ids,
        });
        let created = self
            .call(
                Method::POST,
                "/load_balancers",
                Some(&body),
                &format!("creating load balancer {name}"),
            )
            .await?;
        created["load_balancer"]["id"]
            .as_str()
            .map(str::to_string)
            .context("DigitalOcean returned a load balancer without an id")
    }

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

    /// Replaces the balancer's forwarding rules and its HTTP → HTTPS
    /// redirect, keeping the rest of it (DigitalOcean's update is a PUT of
    /// the whole balancer). DNS records stay Pond's: DigitalOcean is told
    /// not to add its own for the certificate's names.
    pub async fn set_load_balancer_rules(
        &self,
        id: &str,
        rules: &[Value],
        redirect_http_to_https: bool,
    ) -> anyhow::Result<()> {
        let lb = self.load_balancer(id).await?;
        let mut body = json!({
            "name": lb["name"],
            "region": lb["region"]["slug"],
            "forwarding_rules": rules,
            "health_check": lb["health_check"],
            "sticky_sessions": lb["sticky_sessions"],
            "redirect_http_to_https": redirect_http_to_https,
            "disable_lets_encrypt_dns_records": true,
        });
        if lb["tag"].as_str().is_some_and(|t| !t.is_empty()) {
            body["tag"] = lb["tag"].clone();
        } else {
            body["droplet_ids"] = lb["droplet_ids"].clone();
        }
        self.call(
            Method::PUT,
            &format!("/load_balancers/{id}"),
            Some(&body),
            "changing the load balancer's forwarding rules",
        )
        .await?;
        Ok(())
    }

    /// The droplets behind a load balancer.
    pub async fn load_balancer_droplets(&self, id: &str) -> anyhow::Result<Vec<u64>> {
        let lb = self
            .call(
                Method::GET,
                &format!("/load_balancers/{id}"),
                None,
                "reading the load balancer",
            )
            .await?;
        Ok(lb["load_balancer"]["droplet_ids"]
            .as_array()
            .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default())
    }

    /// Puts droplets behind (`add`) or takes them out of a load balancer.
    pub async fn change_load_balancer_droplets(
        &self,
        id: &str,
        droplet_ids: &[u64],
        add: bool,
    ) -> anyhow::Result<()> {
        let (method, what) = if add {
            (Method::POST, "adding droplets to the load balancer")
        } else {
            (Method::DELETE, "taking droplets out of the load balancer")
        };
        self.call(
            method,
            &format!("/load_balancers/{id}/droplets"),
            Some(&json!({ "droplet_ids": droplet_ids })),
            what,
        )
        .await?;
        Ok(())
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
