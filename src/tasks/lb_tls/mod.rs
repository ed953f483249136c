//! HTTPS for a load-balanced environment: TLS ends at its DigitalOcean
//! load balancer, with one certificate DigitalOcean obtains from Let's
//! Encrypt and renews itself (`/v2/certificates` of type `lets_encrypt`,
//! validated by DNS-01 in the domain's DigitalOcean zone), for the domain
//! and `*.<domain>`. The wildcard covers `www.` and the secret preview
//! hosts, which point at the balancer too, so no preview name ever appears
//! in a certificate and the droplets keep no certificate: they serve plain
//! HTTP behind the balancer, which adds `X-Forwarded-Proto`.
//!
//! [`ensure`] requests the certificate, waits until DigitalOcean has it,
//! then gives the balancer a 443 → 80 rule with it and turns on its HTTP →
//! HTTPS redirect (and off its own DNS records for the names: the records
//! stay Pond's, so `destroy` finds them); certificates Pond made for the
//! environment and no longer uses are deleted (never one the user
//! uploaded). [`remove`] goes back to HTTP. [`read`] reports what the
//! balancer serves, for `pond tls`, `pond status` and the app.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::execute;
use super::state::unix_now;
use crate::digitalocean::Client;
use crate::plan::{Method, Operation};
use crate::ssh::{Sink, Stream};

/// How long DigitalOcean may take to issue the certificate.
const ISSUE_TIMEOUT: Duration = Duration::from_secs(600);

/// The names the balancer's certificate covers.
pub fn names(domain: &str) -> Vec<String> {
    vec![domain.to_string(), format!("*.{domain}")]
}

/// The certificate a balancer's HTTPS rule uses.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Certificate {
    pub id: String,
    pub name: String,
    pub dns_names: Vec<String>,
    /// `pending`, `verified` or `error`.
    pub state: String,
    /// `lets_encrypt` or `custom` (one the user uploaded).
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix time; 0 until issued.
    pub not_after: i64,
    /// Unix time it was requested.
    pub created_at: i64,
}

impl Certificate {
    /// Pond made it for this environment: a Let's Encrypt certificate
    /// named for it, for exactly its names. Only those are deleted.
    pub fn is_pond_s(&self, project: &str, env: &str, domain: &str) -> bool {
        let mut have = self.dns_names.clone();
        let mut want = names(domain);
        have.sort();
        want.sort();
        self.kind == "lets_encrypt"
            && self.name.starts_with(&format!("pond-{project}-{env}-"))
            && have == want
    }
}

/// What a load balancer serves.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct BalancerTls {
    /// A 443 → 80 rule terminating TLS.
    pub https_rule: bool,
    pub redirect_http_to_https: bool,
    /// The rule's certificate (`None` without a rule, or when it is gone).
    pub certificate: Option<Certificate>,
}

impl BalancerTls {
    /// Serving HTTPS for all of `names(domain)`.
    pub fn serves(&self, domain: &str) -> bool {
        self.https_rule
            && self.certificate.as_ref().is_some_and(|c| {
                c.state == "verified" && names(domain).iter().all(|n| c.dns_names.contains(n))
            })
    }
}

/// The forwarding rules of a balancer with (or without) HTTPS.
pub fn rules(certificate_id: Option<&str>) -> Vec<Value> {
    let mut rules = vec![json!({
        "entry_protocol": "http", "entry_port": 80,
        "target_protocol": "http", "target_port": 80,
    })];
    if let Some(id) = certificate_id {
        rules.push(json!({
            "entry_protocol": "https", "entry_port": 443,
            "target_protocol": "http", "target_port": 80,
            "certificate_id": id,
        }));
    }
    rules
}

/// The `https` rule's certificate id in a balancer's JSON.
fn https_certificate_id(lb: &Value) -> Option<String> {
    lb["forwarding_rules"]
        .as_array()?
        .iter()
        .find(|r| r["entry_protocol"] == "https")
        .map(|r| r["certificate_id"].as_str().unwrap_or_default().to_string())
}

fn parse_certificate(c: &Value) -> Certificate {
    let unix = |key: &str| {
        c[key]
            .as_str()
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(|t| t.unix_timestamp())
            .unwrap_or(0)
    };
    let not_after = unix("not_after");
    Certificate {
        id: c["id"].as_str().unwrap_or_default().to_string(),
        name: c["name"].as_str().unwrap_or_default().to_string(),
        dns_names: c["dns_names"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        state: c["state"].as_str().unwrap_or_default().to_string(),
        kind: c["type"].as_str().unwrap_or_default().to_string(),
        not_after,
        created_at: unix("created_at"),
    }
}

/// What the balancer serves now.
pub async fn read(client: &Client, lb_id: &str) -> anyhow::Result<BalancerTls> {
    let lb = client.load_balancer(lb_id).await?;
    let mut out = BalancerTls {
        https_rule: false,
        redirect_http_to_https: lb["redirect_http_to_https"].as_bool() == Some(true),
        certificate: None,
    };
    if let Some(id) = https_certificate_id(&lb) {
        out.https_rule = true;
        match client.certificate(&id).await {
            Ok(c) => out.certificate = Some(parse_certificate(&c)),
            Err(e) if crate::digitalocean::is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The certificates Pond made for this environment (attached to its
/// balancer or left over from a stopped request): what `destroy` deletes.
pub async fn owned_certificates(
    client: &Client,
    project: &str,
    env: &str,
    domain: &str,
) -> anyhow::Result<Vec<Certificate>> {
    Ok(client
        .list("/certificates", "certificates", "listing certificates")
        .await?
        .iter()
        .map(parse_certificate)
        .filter(|c| c.is_pond_s(project, env, domain))
        .collect())
}

/// Makes the balancer serve HTTPS for the domain and `*.<domain>`.
/// Unless `renew`: nothing when it does; a certificate the user put there
/// (one Pond did not make) is left as it is, and said; otherwise a
/// verified certificate Pond made for the environment is (re)attached, or
/// a new one requested, waited for, and attached — with the 443 rule and
/// the redirect. With `renew`, always a new one. Then the certificates
/// Pond made for the environment that are no longer used are deleted.
#[tracing::instrument(name = "lb_tls::ensure", skip_all, fields(env = %balancer.env, lb = %balancer.lb_id, renew = renew))]
pub async fn ensure(
    client: &Client,
    balancer: &Balancer<'_>,
    renew: bool,
    sink: &Sink,
) -> anyhow::Result<BalancerTls> {
    let Balancer {
        account,
        lb_id,
        project,
        env,
        domain,
    } = *balancer;
    let step = |t: &str| sink(crate::ssh::API, Stream::Step, t);
    let now = read(client, lb_id).await?;
    let wanted = names(domain);
    if !renew {
        if now.serves(domain) && now.redirect_http_to_https {
            step(&format!(
                "the load balancer serves HTTPS for {} already",
                wanted.join(", ")
            ));
            return Ok(now);
        }
        if let Some(theirs) = now
            .certificate
            .as_ref()
            .filter(|c| now.https_rule && !c.is_pond_s(project, env, domain))
        {
            step(&format!(
                "the load balancer serves certificate {}, which Pond did not make: left as it is (pond tls {env} --renew replaces it)",
                theirs.name
            ));
            return Ok(now);
        }
        let owned = owned_certificates(client, project, env, domain).await?;
        if let Some(ready) = owned.iter().find(|c| c.state == "verified") {
            step(&format!(
                "the load balancer: HTTPS 443 → 80 with certificate {}, HTTP redirected to HTTPS",
                ready.name
            ));
            let https = format!(
                "HTTPS 443 → 80 with certificate {}, HTTP redirected",
                ready.name
            );
            set_rules(
                client,
                account,
                lb_id,
                &rules(Some(&ready.id)),
                true,
                &https,
            )
            .await?;
            delete_unused(client, balancer, Some(&ready.id), sink).await;
            return read(client, lb_id).await;
        }
    }
    // DNS-01 is answered in the zone DigitalOcean hosts: useless when the
    // domain's name servers are others (checked when there is a resolver
    // to ask; a failed check is not a verdict).
    if let Some(Ok(d)) = crate::delegation::check_for(client, domain).await
        && !d.to_digitalocean
    {
        bail!(
            "DigitalOcean gets the load balancer's certificate through its own DNS: {}",
            d.note(domain)
        );
    }
    let name = certificate_name(project, env, unix_now());
    step(&format!(
        "asking DigitalOcean for a Let's Encrypt certificate for {} ({name})",
        wanted.join(", ")
    ));
    let request = certificate_request(account, &name, domain);
    let id = execute::api_once(client, &request).await.and_then(|v| {
        v["certificate"]["id"]
            .as_str()
            .map(str::to_string)
            .context("DigitalOcean returned a certificate without an id")
    })?;
    if let Err(e) = wait_issued(client, &id, &wanted, sink).await {
        // Never issued: it goes (a pending one left here would be deleted
        // by the next run's clean-up).
        if let Err(d) = execute::api(client, &certificate_delete_request(account, &id, &name)).await
        {
            sink(
                crate::ssh::API,
                Stream::Stderr,
                &format!("could not delete the unissued certificate {name}: {d:#}"),
            );
        }
        return Err(e);
    }
    // Issued, it is kept even if the balancer refuses it now: the next
    // run attaches it instead of asking Let's Encrypt again.
    step("the load balancer: HTTPS 443 → 80 with it, HTTP redirected to HTTPS");
    let https = format!("HTTPS 443 → 80 with certificate {name}, HTTP redirected");
    set_rules(client, account, lb_id, &rules(Some(&id)), true, &https).await?;
    if let Some(old) = now
        .certificate
        .filter(|c| !c.is_pond_s(project, env, domain))
    {
        step(&format!(
            "certificate {} (not Pond's) is no longer used by the balancer; it was left in the account",
            old.name
        ));
    }
    delete_unused(client, balancer, Some(&id), sink).await;
    read(client, lb_id).await
}

/// Deletes the certificates Pond made for the environment except `keep`;
/// a failure is said, not fatal (the next run tries again).
async fn delete_unused(client: &Client, balancer: &Balancer<'_>, keep: Option<&str>, sink: &Sink) {
    let Balancer {
        account,
        project,
        env,
        domain,
        ..
    } = *balancer;
    let owned = match owned_certificates(client, project, env, domain).await {
        Ok(owned) => owned,
        Err(e) => {
            sink(crate::ssh::API, Stream::Stderr, &format!("{e:#}"));
            return;
        }
    };
    // A pending one younger than any request's wait belongs to a run
    // going on now.
    let running = |c: &Certificate| {
        c.state == "pending" && c.created_at + ISSUE_TIMEOUT.as_secs() as i64 > unix_now() as i64
    };
    for c in owned
        .iter()
        .filter(|c| Some(c.id.as_str()) != keep && !running(c))
    {
        sink(
            crate::ssh::API,
            Stream::Step,
            &format!("deleting certificate {} (no longer used)", c.name),
        );
        if let Err(e) =
            execute::api(client, &certificate_delete_request(account, &c.id, &c.name)).await
        {
            sink(
                crate::ssh::API,
                Stream::Stderr,
                &format!("could not delete certificate {}: {e:#}", c.name),
            );
        }
    }
}

async fn wait_issued(
    client: &Client,
    id: &str,
    names: &[String],
    sink: &Sink,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + ISSUE_TIMEOUT;
    let mut said = false;
    loop {
        let c = parse_certificate(&client.certificate(id).await?);
        match c.state.as_str() {
            "verified" => return Ok(()),
            "error" => bail!(
                "DigitalOcean could not get the certificate for {} from Let's Encrypt (state error): the domain's name servers must be DigitalOcean's, no CAA record may forbid Let's Encrypt, and Let's Encrypt issues at most 5 certificates for the same names a week",
                names.join(", ")
            ),
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "DigitalOcean did not issue the certificate for {} within {} s (state {})",
                names.join(", "),
                ISSUE_TIMEOUT.as_secs(),
                c.state
            );
        }
        if !said {
            sink(
                crate::ssh::API,
                Stream::Step,
                "waiting for DigitalOcean to issue it (DNS-01 in its own DNS; usually under a minute)",
            );
            said = true;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Takes HTTPS off the balancer (plain HTTP 80 → 80, no redirect) and
/// deletes the certificates Pond made for the environment.
pub async fn remove(client: &Client, balancer: &Balancer<'_>, sink: &Sink) -> anyhow::Result<()> {
    let Balancer { account, lb_id, .. } = *balancer;
    let now = read(client, lb_id).await?;
    if now.https_rule || now.redirect_http_to_https {
        sink(
            crate::ssh::API,
            Stream::Step,
            "the load balancer: HTTP only (HTTPS rule and redirect removed)",
        );
        set_rules(client, account, lb_id, &rules(None), false, "HTTP only").await?;
    }
    delete_unused(client, balancer, None, sink).await;
    Ok(())
}

/// The balancer whose HTTPS Pond manages: a load-balanced environment
/// with HTTPS on and a balancer Pond created.
pub fn balancer_to_secure(env: &crate::config::Environment) -> Option<&str> {
    if env.kind != crate::config::EnvironmentKind::LoadBalanced || !env.https.enabled {
        return None;
    }
    env.load_balancer.as_ref()?.id.as_deref()
}

/// The balancer of an environment whose HTTPS Pond manages, with what its
/// requests and certificates are named after.
#[derive(Debug, Clone, Copy)]
pub struct Balancer<'a> {
    /// The DigitalOcean account the requests go to.
    pub account: &'a str,
    pub lb_id: &'a str,
    pub project: &'a str,
    pub env: &'a str,
    pub domain: &'a str,
}

impl<'a> Balancer<'a> {
    /// Balancer `lb_id` of `env` in `file`'s project.
    pub fn of(
        file: &'a crate::config::ProjectFile,
        env: &'a crate::config::Environment,
        lb_id: &'a str,
    ) -> Balancer<'a> {
        Balancer {
            account: env.account.as_deref().unwrap_or_default(),
            lb_id,
            project: &file.name,
            env: &env.name,
            domain: &env.domain,
        }
    }
}

/// Brings a load-balanced environment's balancer in line with pond.json's
/// `https.enabled` (what `pond provision` does for it); nothing for
/// another environment.
pub async fn apply_setting(
    client: &Client,
    file: &crate::config::ProjectFile,
    env: &crate::config::Environment,
    sink: &Sink,
) -> anyhow::Result<()> {
    if env.kind != crate::config::EnvironmentKind::LoadBalanced {
        return Ok(());
    }
    let Some(lb) = env.load_balancer.as_ref().and_then(|lb| lb.id.as_deref()) else {
        return Ok(());
    };
    let balancer = Balancer::of(file, env, lb);
    if env.https.enabled {
        ensure(client, &balancer, false, sink).await?;
    } else {
        remove(client, &balancer, sink).await?;
    }
    Ok(())
}

/// The request asking DigitalOcean for a Let's Encrypt certificate named
/// `name` for [`names`]`(domain)` (sent once: a retried request could order
/// two). What `pond tls --renew --dry-run` prints.
pub fn certificate_request(account: &str, name: &str, domain: &str) -> Operation {
    let dns_names = names(domain);
    execute::api_request(
        account,
        format!(
            "ask DigitalOcean for a Let's Encrypt certificate {name} for {}",
            dns_names.join(", ")
        ),
        Method::Post,
        "/v2/certificates".to_string(),
        Some(json!({"name": name, "type": "lets_encrypt", "dns_names": dns_names})),
    )
}

/// The request deleting certificate `id` (named `name`).
pub fn certificate_delete_request(account: &str, id: &str, name: &str) -> Operation {
    execute::api_request(
        account,
        format!("delete certificate {name}"),
        Method::Delete,
        format!("/v2/certificates/{id}"),
        None,
    )
}

/// Sets balancer `lb_id`'s rules and redirect (the rest as DigitalOcean
/// reports it now) with the request [`super::balancer::rules`] plans.
async fn set_rules(
    client: &Client,
    account: &str,
    lb_id: &str,
    rules: &[Value],
    redirect_http_to_https: bool,
    what: &str,
) -> anyhow::Result<()> {
    let lb = client.load_balancer(lb_id).await?;
    let request = super::balancer::rules(account, lb_id, &lb, rules, redirect_http_to_https, what)?;
    execute::api(client, &request).await.map(|_| ())
}

/// A name for a new certificate: DigitalOcean's names are unique per
/// account, so the time is part of it.
pub fn certificate_name(project: &str, env: &str, unix: u64) -> String {
    format!("pond-{project}-{env}-{unix}")
}

/// One line for `pond status` and the panel.
pub fn describe(env: &str, domain: &str, t: &BalancerTls, now: i64) -> String {
    let problem = needs_attention(env, domain, t, now);
    let what = match &t.certificate {
        Some(c) if c.state == "verified" => format!(
            "https://{domain}/ at the load balancer; certificate {} for {}, expires {}, {}{}",
            c.name,
            c.dns_names.join(", "),
            super::tls::when(c.not_after),
            if c.kind == "lets_encrypt" {
                "renewed by DigitalOcean"
            } else {
                "uploaded: renewing it is yours"
            },
            if t.redirect_http_to_https {
                "; HTTP redirected"
            } else {
                ""
            }
        ),
        Some(c) => format!(
            "http://{domain}/ only; the load balancer's certificate {} is {}",
            c.name, c.state
        ),
        None if t.https_rule => format!(
            "http://{domain}/ only; the load balancer's HTTPS rule names a certificate that is gone"
        ),
        None => format!("http://{domain}/ only; the load balancer has no certificate"),
    };
    match problem {
        Some(p) => format!("{p} — {what}"),
        None => what,
    }
}

/// What needs the user's attention, in capitals as the servers' lines do.
pub fn needs_attention(env: &str, domain: &str, t: &BalancerTls, now: i64) -> Option<String> {
    if !t.serves(domain) {
        return Some(format!(
            "NOT SERVING HTTPS for {} (pond tls {env} --renew requests a certificate)",
            names(domain).join(", ")
        ));
    }
    let c = t.certificate.as_ref()?;
    if c.not_after <= now {
        return Some(format!(
            "CERTIFICATE EXPIRED {}",
            super::tls::when(c.not_after)
        ));
    }
    // DigitalOcean renews about a month before expiry; a week left means
    // its renewal failed.
    if c.not_after - now < 7 * 86_400 {
        return Some(format!(
            "CERTIFICATE EXPIRES {} AND WAS NOT RENEWED",
            super::tls::when(c.not_after)
        ));
    }
    if !t.redirect_http_to_https {
        return Some("HTTP NOT REDIRECTED TO HTTPS".to_string());
    }
    None
}

#[cfg(test)]
mod tests;
