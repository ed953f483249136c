//! The preview hosts' certificate: one wildcard `*.<domain>` per web
//! server, so no secret preview host name is ever written into a
//! certificate (and so into Certificate Transparency logs). Let's Encrypt
//! issues wildcards only by DNS-01, which Pond answers from the user's
//! machine through the DigitalOcean API: the server makes the key and a
//! CSR (`tls/preview-csr`; the key never leaves it), Pond runs the ACME
//! order with the account's CA, puts the TXT record in the domain's zone,
//! waits until the zone's authoritative name servers answer it, finalizes
//! with the CSR, deletes the record whatever happened, and sends back only
//! the chain (`tls/preview-install`, which checks it against the key and
//! enables the preview vhosts on 443).
//!
//! Pond's ACME account for a CA is kept in the config dir
//! (`acme/<hash of the directory>.json`, 0600). The certificate is renewed
//! by `pond tls ENV --renew`, by `pond create`, and by `pond deploy` once
//! two thirds of its lifetime have passed (a deploy never retries a first
//! request that failed). A chain is matched to its key by the key's hash,
//! so two runs at once, or a cut between order and install, never pair a
//! chain with the wrong key.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};

use super::Connected;
use super::execute::Step;
use super::tls::{Acme, Outcome};
use crate::config::{DropletRole, Environment, ProjectFile};
use crate::digitalocean::Client;
use crate::plan::report::Report;
use crate::ssh::{Sink, Stream};

/// When a wildcard is requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Now, whatever the certificate there.
    Force,
    /// When there is none yet or it is due (`pond create`).
    Due,
    /// Only a certificate there that is due (after a deploy: a first one
    /// that failed is not retried on every deploy).
    Renew,
}

impl When {
    fn as_str(self) -> &'static str {
        match self {
            When::Force => "force",
            When::Due => "due",
            When::Renew => "renew",
        }
    }
}

/// `tls/preview-csr`: report the certificate, and a CSR when due.
pub fn csr_step(
    file: &ProjectFile,
    env: &Environment,
    acme: &Acme,
    when: When,
) -> anyhow::Result<Step> {
    Step::new(
        "Preview hosts' certificate: key and CSR",
        "tls/preview-csr",
        &[
            ("PROJECT", &file.name),
            ("ENV", &env.name),
            ("DOMAIN", &env.domain),
            ("DIRECTORY", &acme.directory),
            ("MODE", when.as_str()),
        ],
    )
}

/// `tls/preview-install` with the chain the CA issued.
pub fn install_step(
    file: &ProjectFile,
    env: &Environment,
    acme: &Acme,
    chain: &str,
) -> anyhow::Result<Step> {
    Step::new(
        "Preview hosts' certificate: install",
        "tls/preview-install",
        &[
            ("PROJECT", &file.name),
            ("ENV", &env.name),
            ("DOMAIN", &env.domain),
            ("DIRECTORY", &acme.directory),
            ("CHAIN", chain),
        ],
    )
}

/// What `tls/preview-csr` said: not due (until when), or the CSR (DER).
#[derive(Debug, PartialEq, Eq)]
pub enum CsrReport {
    /// No certificate there, and none asked for.
    None,
    NotDue(String),
    Due {
        reason: String,
        csr_der: Vec<u8>,
    },
}

/// Reads `tls/preview-csr`'s report.
pub fn parse_csr(reports: &[Report]) -> anyhow::Result<CsrReport> {
    let found = crate::reported!(reports,
        r @ (Report::PreviewNone | Report::PreviewNotDue { .. } | Report::PreviewDue { .. }) => r)
    .context("the server reported neither a CSR nor a certificate")?;
    let (reason, csr) = match found {
        Report::PreviewNotDue { after } => return Ok(CsrReport::NotDue(after.trim().to_string())),
        Report::PreviewDue { reason, csr } => (reason, csr),
        _ => return Ok(CsrReport::None),
    };
    let body: String = csr.lines().filter(|l| !l.starts_with("-----")).collect();
    let csr_der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .context("the server's CSR is not base64")?;
    if csr_der.is_empty() {
        bail!("the server sent an empty CSR");
    }
    Ok(CsrReport::Due {
        reason: reason.trim().to_string(),
        csr_der,
    })
}

/// On every web server: a wildcard certificate when due (or `force`).
/// A failure on a server is an outcome (the previews stay as they were),
/// not an error.
#[tracing::instrument(name = "preview_tls::ensure", skip_all, fields(env = %env.name))]
pub async fn ensure(
    api: &Client,
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    acme: &Acme,
    when: When,
    sink: &Sink,
) -> anyhow::Result<Vec<Outcome>> {
    super::tls::check_ca_for(api, acme)?;
    let csr = csr_step(file, env, acme, when)?;
    let mut outcomes = vec![];
    for c in connected
        .iter()
        .filter(|c| c.server.role == DropletRole::Web)
    {
        let server = c.server.endpoint.name.clone();
        sink(&server, Stream::Step, &csr.description);
        let result = async {
            let out = super::execute::run_ok(c, &csr.on(&c.server.endpoint), sink).await?;
            match parse_csr(&out.reports)? {
                CsrReport::None => anyhow::Ok(("none", String::new())),
                CsrReport::NotDue(at) => anyhow::Ok(("not-due", format!("renews after {at}"))),
                CsrReport::Due { reason, csr_der } => {
                    sink(
                        &server,
                        Stream::Step,
                        &format!("requesting *.{} by DNS-01 ({reason})", env.domain),
                    );
                    let account = env.account.as_deref().unwrap_or_default();
                    let chain =
                        issue(api, account, acme, &env.domain, &csr_der, &server, sink).await?;
                    let install = install_step(file, env, acme, &chain)?.on(&c.server.endpoint);
                    sink(&server, Stream::Step, &install.description);
                    let out = super::execute::run_ok(c, &install, sink).await?;
                    let detail = match crate::reported!(out.reports, Report::PreviewNotServed { reason } => reason)
                    {
                        Some(why) => format!("*.{} (not served yet: {why})", env.domain),
                        None => format!("*.{}", env.domain),
                    };
                    Ok(("renewed", detail))
                }
            }
        }
        .await;
        outcomes.push(match result {
            Ok((result, detail)) => Outcome {
                server,
                result: result.to_string(),
                detail,
            },
            Err(e) => Outcome {
                server,
                result: "failed".to_string(),
                detail: format!("{e:#}"),
            },
        });
    }
    Ok(outcomes)
}

/// What a new environment's HTTPS came to.
pub struct Secured {
    /// The domain is served over HTTPS.
    pub domain: bool,
    /// The preview hosts are.
    pub previews: bool,
    /// Why not, when one is not.
    pub problem: Option<String>,
}

/// A new environment's certificates, once DNS points at it. A
/// load-balanced one gets one certificate at its balancer, for the domain
/// and `*.<domain>` ([`super::lb_tls::ensure`]). Otherwise, the domain's
/// by HTTP-01 on each web server ([`super::tls::apply`]), then the preview
/// hosts' wildcard by DNS-01 ([`ensure`]). Never an error: a failed request
/// leaves that part on HTTP (the server's timer retries the domain's) and
/// says why.
pub async fn secure_new_environment(
    api: &Client,
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    acme: &Acme,
    sink: &Sink,
) -> Secured {
    let mut secured = Secured {
        domain: false,
        previews: false,
        problem: None,
    };
    if let Some(lb) = super::lb_tls::balancer_to_secure(env) {
        let balancer = super::lb_tls::Balancer::of(file, env, lb);
        match super::lb_tls::ensure(api, &balancer, false, sink).await {
            Ok(t) if t.serves(&env.domain) => {
                secured.domain = true;
                secured.previews = true;
            }
            Ok(t) => {
                secured.problem = Some(super::lb_tls::describe(
                    &env.name,
                    &env.domain,
                    &t,
                    super::state::unix_now() as i64,
                ))
            }
            Err(e) => secured.problem = Some(format!("{e:#}")),
        }
        return secured;
    }
    if !super::tls::wants_certificate(env) {
        return secured;
    }
    if let Err(e) = super::tls::check_ca_for(api, acme) {
        secured.problem = Some(format!("{e:#}"));
        return secured;
    }
    let mut problems = vec![];
    let step = |text: &str| sink(crate::ssh::API, Stream::Step, text);
    step(&format!("requesting a certificate for {}", env.domain));
    match super::tls::apply(file, env, connected, acme, false, sink).await {
        Ok(outcomes) => {
            secured.domain = outcomes.iter().all(|o| o.result != "failed");
            problems.extend(
                outcomes
                    .iter()
                    .filter(|o| o.result == "failed")
                    .map(|o| format!("{}: {}", o.server, o.detail)),
            );
        }
        Err(e) => problems.push(format!("{e:#}")),
    }
    step(&format!(
        "requesting a certificate for *.{} (the preview hosts)",
        env.domain
    ));
    match ensure(api, file, env, connected, acme, When::Due, sink).await {
        Ok(outcomes) => {
            secured.previews = outcomes.iter().all(|o| o.result != "failed");
            problems.extend(
                outcomes
                    .iter()
                    .filter(|o| o.result == "failed")
                    .map(|o| format!("preview hosts, {}: {}", o.server, o.detail)),
            );
        }
        Err(e) => problems.push(format!("preview hosts: {e:#}")),
    }
    secured.problem = (!problems.is_empty()).then(|| problems.join("; "));
    secured
}

/// One DNS-01 order for `*.domain` finalized with `csr_der`: the chain.
async fn issue(
    api: &Client,
    account: &str,
    acme: &Acme,
    domain: &str,
    csr_der: &[u8],
    server: &str,
    sink: &Sink,
) -> anyhow::Result<String> {
    // DNS-01 is answered in the zone DigitalOcean hosts: useless when the
    // domain's name servers are others (checked when there is a resolver
    // to ask; a failed check is not a verdict).
    if let Some(Ok(d)) = crate::delegation::check_for(api, domain).await
        && !d.to_digitalocean
    {
        bail!(
            "the preview hosts' certificate needs the domain's DNS on DigitalOcean: {}",
            d.note(domain)
        );
    }
    // Records a stopped earlier order left behind go first.
    super::acme_txt::delete(api, account, domain, None, sink).await;
    let saved = load_account(acme, false).await?;
    let identifiers = [Identifier::Dns(format!("*.{domain}"))];
    let mut order = match saved.new_order(&NewOrder::new(&identifiers)).await {
        Ok(order) => order,
        // The CA forgot the account (the lab's CA restarted): register anew.
        Err(e) if format!("{e:#}").contains("accountDoesNotExist") => load_account(acme, true)
            .await?
            .new_order(&NewOrder::new(&identifiers))
            .await
            .context("ordering the preview certificate")?,
        Err(e) => return Err(e).context("ordering the preview certificate"),
    };
    let mut records = vec![];
    let answered = async {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.context("reading the order's authorization")?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => bail!("the CA's authorization for *.{domain} is {other:?}"),
            }
            let mut challenge = authz
                .challenge(ChallengeType::Dns01)
                .context("the CA offered no DNS-01 challenge")?;
            let value = challenge.key_authorization().dns_value();
            sink(
                crate::ssh::API,
                Stream::Step,
                &format!("TXT _acme-challenge.{domain} for {server}"),
            );
            records.push(super::acme_txt::add(api, account, domain, &value, sink).await?);
            wait_published(api, domain, &value).await?;
            challenge
                .set_ready()
                .await
                .context("telling the CA the TXT record is there")?;
        }
        Ok(())
    }
    .await;
    let issued = match answered {
        Ok(()) => finish(&mut order, csr_der, domain).await,
        Err(e) => Err(e),
    };
    // The TXT records go whatever happened.
    super::acme_txt::delete(api, account, domain, Some(&records), sink).await;
    issued
}

async fn finish(
    order: &mut instant_acme::Order,
    csr_der: &[u8],
    domain: &str,
) -> anyhow::Result<String> {
    let retry = RetryPolicy::default().timeout(Duration::from_secs(120));
    let status = order
        .poll_ready(&retry)
        .await
        .context("waiting for the CA to validate")?;
    if status != OrderStatus::Ready {
        let detail = order
            .state()
            .error
            .as_ref()
            .map(|e| format!(": {}", e.detail.clone().unwrap_or_default()))
            .unwrap_or_default();
        bail!("the CA did not validate _acme-challenge.{domain} ({status:?}){detail}");
    }
    order
        .finalize_csr(csr_der)
        .await
        .context("finalizing the order with the server's CSR")?;
    order
        .poll_certificate(&retry)
        .await
        .context("downloading the certificate")
}

/// Waits until every authoritative name server of the domain's zone answers
/// the TXT value: DigitalOcean's three, or, on this machine's lab, the
/// lab's DNS (`POND_DNS_RESOLVER`; without it a lab run waits briefly).
async fn wait_published(api: &Client, domain: &str, value: &str) -> anyhow::Result<()> {
    let servers: Vec<SocketAddr> = if api.is_local() {
        match std::env::var("POND_DNS_RESOLVER")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            Some(s) => vec![s],
            None => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                return Ok(());
            }
        }
    } else {
        let resolver = crate::delegation::system_resolver()
            .context("no DNS resolver to find DigitalOcean's name servers")?;
        let mut servers = vec![];
        for ns in crate::delegation::DIGITALOCEAN {
            let reply = tokio::task::spawn_blocking(move || {
                crate::delegation::query(
                    resolver,
                    ns,
                    hickory_proto::rr::RecordType::A,
                    crate::delegation::Transport::Udp,
                )
            })
            .await??;
            servers.extend(reply.answers.iter().filter_map(|r| match &r.data {
                hickory_proto::rr::RData::A(a) => Some(SocketAddr::new(a.0.into(), 53)),
                _ => None,
            }));
        }
        servers
    };
    let name = format!("_acme-challenge.{domain}");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let mut all = true;
        for &server in &servers {
            let name = name.clone();
            let reply = tokio::task::spawn_blocking(move || {
                crate::delegation::query(
                    server,
                    &name,
                    hickory_proto::rr::RecordType::TXT,
                    crate::delegation::Transport::Udp,
                )
            })
            .await?;
            let found = reply.is_ok_and(|m| {
                m.answers.iter().any(|r| match &r.data {
                    hickory_proto::rr::RData::TXT(t) => {
                        t.txt_data.iter().any(|d| d.as_ref() == value.as_bytes())
                    }
                    _ => false,
                })
            });
            all &= found;
        }
        if all {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{name} was not answered by the zone's name servers within 180 s");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Pond's ACME account with the CA (`fresh`: registered anew).
async fn load_account(acme: &Acme, fresh: bool) -> anyhow::Result<Account> {
    let dir = crate::settings::config_dir()?.join("acme");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let id = &blake3::hash(acme.directory.as_bytes()).to_hex()[..16];
    let saved = dir.join(format!("{id}.json"));
    let builder = || -> anyhow::Result<instant_acme::AccountBuilder> {
        Ok(match &acme.ca_pem {
            Some(pem) => {
                let ca = dir.join(format!("{id}-ca.pem"));
                std::fs::write(&ca, pem).with_context(|| format!("writing {}", ca.display()))?;
                Account::builder_with_root(&ca)?
            }
            None => Account::builder()?,
        })
    };
    if !fresh
        && let Ok(text) = std::fs::read_to_string(&saved)
        && let Ok(credentials) = serde_json::from_str::<AccountCredentials>(&text)
    {
        return builder()?
            .from_credentials(credentials)
            .await
            .context("loading Pond's ACME account");
    }
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            acme.directory.clone(),
            None,
        )
        .await
        .with_context(|| format!("registering with the ACME CA at {}", acme.directory))?;
    crate::config::write_private_atomically(&saved, &serde_json::to_vec(&credentials)?)
        .with_context(|| format!("saving {}", saved.display()))?;
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csr_report_gives_the_der_or_when_it_renews() {
        use crate::plan::report::reports_of;
        assert_eq!(
            parse_csr(&reports_of(
                "report preview-not-due after 2027-02-04T05:48:00Z"
            ))
            .unwrap(),
            CsrReport::NotDue("2027-02-04T05:48:00Z".into())
        );
        let due = reports_of(
            "report preview-due reason 'no certificate yet' csr $'-----BEGIN CERTIFICATE REQUEST-----\\nAAEC\\nAw==\\n-----END CERTIFICATE REQUEST-----'",
        );
        assert_eq!(
            parse_csr(&due).unwrap(),
            CsrReport::Due {
                reason: "no certificate yet".into(),
                csr_der: vec![0, 1, 2, 3]
            }
        );
        assert!(parse_csr(&reports_of("report live target blue")).is_err());
        assert_eq!(
            parse_csr(&reports_of("report preview-none")).unwrap(),
            CsrReport::None
        );
    }
}
