//! The DigitalOcean API v2 client: typed calls over reqwest, with retries
//! on 5xx and network errors (bounded backoff), waiting out 429s until the
//! `ratelimit-reset` DO announces, following `links.pages.next`, and errors
//! that give DO's own `message` plus what Pond was doing. The token is
//! never logged or printed (its `Debug` is redacted). Its own methods read
//! (accounts, droplets, balancers, certificates, the catalog) or create a
//! droplet without a duplicate on retry; the requests that change things
//! are planned values (`plan::ApiRequest`) sent by `tasks::execute` through
//! [`Client::call`].
//!
//! The base URL is configurable per account, so the lab's API
//! (`pond lab up`) works exactly like `https://api.digitalocean.com/v2`.

mod catalog;
mod certificates;
mod load_balancers;

pub use load_balancers::rules_update;

pub use catalog::{
    Catalog, DEFAULT_IMAGE, Image, Region, Size, TESTED_IMAGES, default_image, is_tested,
    untested_warning,
};

use std::time::Duration;

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// DigitalOcean's public API.
pub const DEFAULT_API_URL: &str = "https://api.digitalocean.com/v2";

/// How hard to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts for 5xx and network errors (first try included).
    pub attempts: u32,
    /// First backoff; doubles each time.
    pub backoff: Duration,
    /// 429s waited out before giving up.
    pub rate_limited_attempts: u32,
    /// Longest single wait for a rate-limit reset.
    pub max_rate_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            backoff: Duration::from_millis(500),
            rate_limited_attempts: 5,
            max_rate_wait: Duration::from_secs(120),
        }
    }
}

/// An API token; printing it shows nothing.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    /// The token itself, for the keychain and the Authorization header only.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// An error DigitalOcean answered with.
#[derive(Debug, thiserror::Error)]
#[error("{doing}: DigitalOcean said {status}: {message}")]
pub struct ApiError {
    pub doing: String,
    pub status: u16,
    /// DO's error id, e.g. `not_found`, `unprocessable_entity`.
    pub id: String,
    pub message: String,
}

/// Whether DigitalOcean answered 404 (the thing asked for does not exist),
/// as opposed to any other failure.
pub fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiError>()
        .is_some_and(|api| api.status == 404)
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Token,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish()
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Client {
    /// A client for `base_url` (ending in `/v2`).
    pub fn new(base_url: &str, token: Token) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("pond/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Client {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            token,
            retry: RetryPolicy::default(),
        })
    }

    /// Sends one request (path under the base, e.g. `/droplets`), retrying
    /// as the policy says. Returns the JSON body (`Null` for 204).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        doing: &str,
    ) -> anyhow::Result<Value> {
        self.send(method, path, body, doing, true).await
    }

    /// [`Client::call`] that retries only answers that prove the request
    /// was not carried out (429); a 5xx or a lost connection is returned at
    /// once, since the request may have taken effect (a non-idempotent
    /// POST: its caller checks before trying again).
    pub async fn call_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        doing: &str,
    ) -> anyhow::Result<Value> {
        self.send(method, path, body, doing, false).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        doing: &str,
        retry_uncertain: bool,
    ) -> anyhow::Result<Value> {
        // Always under the base: the token goes to no other host.
        let url = format!("{}{path}", self.base);
        let mut failures = 0;
        let mut rate_limited = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.token.0);
            if let Some(b) = body {
                req = req.json(b);
            }
            let started = std::time::Instant::now();
            let sent = req.send().await;
            // The path only: never a body or the token.
            tracing::debug!(
                %method,
                path = path.split('?').next().unwrap_or(path),
                status = sent.as_ref().map(|r| r.status().as_u16()).unwrap_or(0),
                ms = started.elapsed().as_millis() as u64,
                "api"
            );
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    failures += 1;
                    if failures >= self.retry.attempts || !retry_uncertain {
                        return Err(anyhow::anyhow!(
                            "{doing}: cannot reach {} after {failures} attempts: {e}",
                            self.base
                        ));
                    }
                    tokio::time::sleep(self.retry.backoff * 2u32.pow(failures - 1)).await;
                    continue;
                }
            };
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                rate_limited += 1;
                if rate_limited > self.retry.rate_limited_attempts {
                    return Err(anyhow::anyhow!(
                        "{doing}: DigitalOcean kept rate-limiting after {rate_limited} waits"
                    ));
                }
                let reset = response
                    .headers()
                    .get("ratelimit-reset")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or_else(|| now_secs() + 1);
                let wait = Duration::from_secs(reset.saturating_sub(now_secs()).max(1))
                    .min(self.retry.max_rate_wait);
                tokio::time::sleep(wait).await;
                continue;
            }
            if status.is_server_error() && retry_uncertain {
                failures += 1;
                if failures < self.retry.attempts {
                    tokio::time::sleep(self.retry.backoff * 2u32.pow(failures - 1)).await;
                    continue;
                }
            }
            let text = response
                .text()
                .await
                .with_context(|| format!("{doing}: reading the answer"))?;
            if status.is_success() {
                return if text.trim().is_empty() {
                    Ok(Value::Null)
                } else {
                    serde_json::from_str(&text)
                        .with_context(|| format!("{doing}: DigitalOcean's answer is not JSON"))
                };
            }
            let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return Err(ApiError {
                doing: doing.to_string(),
                status: status.as_u16(),
                id: parsed["id"].as_str().unwrap_or("unknown").to_string(),
                message: parsed["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| text.chars().take(200).collect()),
            }
            .into());
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        doing: &str,
    ) -> anyhow::Result<T> {
        let v = self.call(Method::GET, path, None, doing).await?;
        serde_json::from_value(v[key].clone())
            .with_context(|| format!("{doing}: unexpected answer shape"))
    }

    /// Every item of a paginated list, following `links.pages.next` (only
    /// under this client's base URL).
    pub async fn list(&self, path: &str, key: &str, doing: &str) -> anyhow::Result<Vec<Value>> {
        let mut next = Some(if path.contains("per_page=") {
            path.to_string()
        } else {
            let sep = if path.contains('?') { '&' } else { '?' };
            format!("{path}{sep}per_page=200")
        });
        let mut all = vec![];
        while let Some(p) = next.take() {
            let v = self.call(Method::GET, &p, None, doing).await?;
            all.extend(v[key].as_array().cloned().unwrap_or_default());
            next = match v["links"]["pages"]["next"].as_str() {
                None => None,
                // Only a link under this client's base is followed: a next
                // page elsewhere would be sent the token.
                Some(link) => Some(
                    link.strip_prefix(&self.base)
                        .filter(|rest| rest.starts_with('/'))
                        .map(str::to_string)
                        .with_context(|| {
                            format!(
                                "{doing}: the next page's link {} is not under {}; not followed",
                                crate::config::show(link),
                                self.base
                            )
                        })?,
                ),
            };
            if all.len() > 100_000 {
                anyhow::bail!("{doing}: more than 100000 items; refusing to page further");
            }
        }
        Ok(all)
    }

    /// Checks the token: the account's email and status.
    pub async fn account(&self) -> anyhow::Result<Value> {
        self.get("/account", "account", "checking the account token")
            .await
    }

    pub async fn droplets_by_tag(&self, tag: &str) -> anyhow::Result<Vec<Value>> {
        self.list(
            &format!("/droplets?tag_name={tag}"),
            "droplets",
            &format!("listing droplets tagged {tag}"),
        )
        .await
    }

    pub async fn droplet(&self, id: u64) -> anyhow::Result<Value> {
        self.get(
            &format!("/droplets/{id}"),
            "droplet",
            &format!("reading droplet {id}"),
        )
        .await
    }

    /// Creates one droplet; returns its record (status `new`). A 5xx or a
    /// lost connection may hide a droplet that was created (and billed), so
    /// before each retry the droplets of the request's last (most specific)
    /// tag are searched for its name: one found is the answer, never a duplicate.
    pub async fn create_droplet(&self, request: &Value) -> anyhow::Result<Value> {
        let name = request["name"].as_str().unwrap_or("?").to_string();
        // The most specific tag (`pond-<project>-<env>`): a droplet of the
        // same name in another project is never taken for this one.
        let tag = request["tags"]
            .as_array()
            .and_then(|t| t.last())
            .and_then(Value::as_str)
            .map(str::to_string);
        let doing = format!("creating droplet {name}");
        let mut failures = 0;
        loop {
            let error = match self
                .call_once(Method::POST, "/droplets", Some(request), &doing)
                .await
            {
                Ok(v) => return Ok(v["droplet"].clone()),
                Err(e) => e,
            };
            let uncertain = error
                .downcast_ref::<ApiError>()
                .is_none_or(|api| api.status >= 500);
            failures += 1;
            if !uncertain || failures >= self.retry.attempts {
                return Err(error);
            }
            tokio::time::sleep(self.retry.backoff * 2u32.pow(failures - 1)).await;
            let Some(tag) = &tag else { continue };
            let existing = self
                .droplets_by_tag(tag)
                .await
                .with_context(|| format!("{doing}: checking whether it exists after: {error:#}"))?;
            if let Some(d) = existing.into_iter().find(|d| d["name"] == name.as_str()) {
                return Ok(d);
            }
        }
    }

    /// The API is on this machine (the lab), not DigitalOcean.
    pub fn is_local(&self) -> bool {
        reqwest::Url::parse(&self.base)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.trim_matches(['[', ']']).to_string();
                Some(
                    host == "localhost"
                        || host
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback()),
                )
            })
            .unwrap_or(false)
    }

    /// Waits until a droplet is `active`; returns its record.
    pub async fn wait_active(&self, id: u64, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let d = self.droplet(id).await?;
            if d["status"] == "active" {
                return Ok(d);
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "droplet {id} did not become active within {} s (status {})",
                    timeout.as_secs(),
                    d["status"]
                );
            }
            tokio::time::sleep(Duration::from_millis(500).min(timeout / 10)).await;
        }
    }

    /// The public IPv4 address in a droplet record.
    pub fn public_ipv4(droplet: &Value) -> Option<String> {
        Self::ipv4_of_type(droplet, "public")
    }

    /// The droplet's address in its VPC, when it has one.
    pub fn private_ipv4(droplet: &Value) -> Option<String> {
        Self::ipv4_of_type(droplet, "private")
    }

    fn ipv4_of_type(droplet: &Value, kind: &str) -> Option<String> {
        droplet["networks"]["v4"]
            .as_array()?
            .iter()
            .find(|n| n["type"] == kind)
            .and_then(|n| n["ip_address"].as_str())
            .map(str::to_string)
    }
}
