//! HTTPS for an environment's domain (pond.json `https`): a certificate
//! for `domain` (and `www.<domain>` when it points at the server) from the
//! account's ACME CA — Let's Encrypt, or the lab's — obtained and renewed
//! on each web server by certbot (`tls/renew`, HTTP-01 through the vhost's
//! acme-challenge location), run now by Pond and twice a day by a systemd
//! timer (`tls/schedule`) that renews once two thirds of the lifetime have
//! passed. The account key and the certificate's key are made on the
//! server and never leave it. `common/site` writes the HTTPS vhosts, and
//! they are enabled once the certificate exists. Every run records its
//! outcome on the server; `common/status` reports the certificate, the
//! timer and the last run and failure, parsed here.
//!
//! The preview hosts get a wildcard by DNS-01 instead
//! ([`super::preview_tls`]), reported here too. Not here yet: a
//! load-balanced environment gets no certificate (its balancer would need
//! one).

use serde::Serialize;

use super::Connected;
use super::execute::Step;
use crate::config::{DropletRole, Environment, EnvironmentKind, ProjectFile};
use crate::plan::report::{self, Report};
use crate::ssh::{Sink, Stream};

/// Let's Encrypt's production directory (a DigitalOcean account's default).
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (untrusted certificates, high limits).
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// The ACME CA an account's servers get certificates from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acme {
    /// The directory URL.
    pub directory: String,
    /// A PEM the servers trust to reach the directory (the lab's CA);
    /// None: the system's trust store.
    pub ca_pem: Option<String>,
}

impl Acme {
    pub fn lets_encrypt() -> Acme {
        Acme {
            directory: LETS_ENCRYPT.to_string(),
            ca_pem: None,
        }
    }

    /// The CA in words: `Let's Encrypt`, `Let's Encrypt (staging)`, or
    /// the directory's URL.
    pub fn describe(&self) -> String {
        match self.directory.as_str() {
            LETS_ENCRYPT => "Let's Encrypt".to_string(),
            LETS_ENCRYPT_STAGING => "Let's Encrypt (staging)".to_string(),
            other => format!("the ACME CA at {other}"),
        }
    }
}

/// Refuses a CA the account's droplets could not use: an account on this
/// machine (the lab) whose CA is not on this machine or the lab's network
/// (Let's Encrypt cannot see the lab's DNS, and a lab run must not reach
/// out). Pure.
pub fn check_ca_for(api: &crate::digitalocean::Client, acme: &Acme) -> anyhow::Result<()> {
    if !api.is_local() {
        return Ok(());
    }
    let host = reqwest::Url::parse(&acme.directory)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let inside = match host.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => ip.is_loopback() || (ip.octets()[0] == 198 && (ip.octets()[1] & 0xfe) == 18),
        Err(_) => host == "localhost",
    };
    if inside {
        Ok(())
    } else {
        anyhow::bail!(
            "this account is the lab's, but its certificates would come from {}: register it with the lab's CA (pond account add NAME --api-url ... --acme-directory \"$POND_ACME_DIRECTORY\" --acme-ca \"$POND_ACME_CA\")",
            acme.describe()
        )
    }
}

/// Whether Pond keeps a certificate on the environment's web servers: HTTPS
/// is on and no load balancer stands in front of them.
pub fn wants_certificate(env: &Environment) -> bool {
    env.https.enabled && env.kind != EnvironmentKind::LoadBalanced
}

/// The text of [`renew_step`]'s script (what the renewal timer runs).
pub fn renew_script(
    file: &ProjectFile,
    env: &Environment,
    acme: &Acme,
    force: bool,
) -> anyhow::Result<String> {
    Ok(renew_step(file, env, acme, force)?.script.text)
}

/// `tls/renew`: `force` renews now, else only when due.
pub fn renew_step(
    file: &ProjectFile,
    env: &Environment,
    acme: &Acme,
    force: bool,
) -> anyhow::Result<Step> {
    Step::new(
        format!("HTTPS certificate for {}", env.domain),
        "tls/renew",
        &[
            ("PROJECT", &file.name),
            ("ENV", &env.name),
            ("DOMAIN", &env.domain),
            ("DIRECTORY", &acme.directory),
            ("CA_PEM", acme.ca_pem.as_deref().unwrap_or("")),
            ("FORCE", if force { "yes" } else { "no" }),
        ],
    )
}

/// What a web server runs: install (or remove) the renewal timer, then,
/// with HTTPS on, obtain or renew the certificate. Pure.
pub fn steps(
    file: &ProjectFile,
    env: &Environment,
    acme: &Acme,
    force: bool,
) -> anyhow::Result<Vec<Step>> {
    if !wants_certificate(env) {
        let why = if env.https.enabled {
            "TLS ends at the load balancer"
        } else {
            "HTTPS is off"
        };
        return Ok(vec![Step::new(
            format!("No certificate on the server ({why}): any left is removed"),
            "tls/schedule",
            &[("PROJECT", &file.name), ("ENV", &env.name), ("SCRIPT", "")],
        )?]);
    }
    Ok(vec![
        timer_step(file, env, acme)?,
        renew_step(file, env, acme, force)?,
    ])
}

/// The renewal timer of an environment with HTTPS on, with the inputs
/// of today's pond.json and account (domain, CA): what provisioning
/// refreshes, so the timer never renews for an old domain or CA. It
/// requests nothing now; a server with no certificate yet gets one at the
/// timer's next run, once DNS points at it.
pub fn timer_step(file: &ProjectFile, env: &Environment, acme: &Acme) -> anyhow::Result<Step> {
    Step::new(
        "Certificate renewal timer",
        "tls/schedule",
        &[
            ("PROJECT", &file.name),
            ("ENV", &env.name),
            ("SCRIPT", &renew_script(file, env, acme, false)?),
        ],
    )
}

/// Runs [`timer_step`] on every web server, when HTTPS is on.
pub async fn refresh_timer(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    acme: &Acme,
    sink: &Sink,
) -> anyhow::Result<()> {
    if !wants_certificate(env) {
        return Ok(());
    }
    let step = timer_step(file, env, acme)?;
    let runs = connected
        .iter()
        .filter(|c| c.server.role == DropletRole::Web)
        .map(|c| {
            let op = step.on(&c.server.endpoint);
            async move {
                sink(&c.server.endpoint.name, Stream::Step, &op.description);
                super::execute::run_ok(c, &op, sink).await.map(|_| ())
            }
        });
    futures::future::join_all(runs).await.into_iter().collect()
}

/// How one server's run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub server: String,
    /// `renewed`, `not-due`, `removed` or `failed`.
    pub result: String,
    /// The names, the next renewal, or what went wrong.
    pub detail: String,
}

/// Runs [`steps`] on every web server (in parallel). A failed request is
/// an outcome, not an error: the site keeps serving as before, the
/// server's timer tries again, and status shows the failure.
#[tracing::instrument(name = "tls::apply", skip_all, fields(env = %env.name))]
pub async fn apply(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    acme: &Acme,
    force: bool,
    sink: &Sink,
) -> anyhow::Result<Vec<Outcome>> {
    let steps = steps(file, env, acme, force)?;
    let runs = connected
        .iter()
        .filter(|c| c.server.role == DropletRole::Web)
        .map(|c| {
            let steps = steps.clone();
            async move {
                let name = c.server.endpoint.name.clone();
                let mut outcome = Outcome {
                    server: name.clone(),
                    result: "removed".to_string(),
                    detail: String::new(),
                };
                for step in steps {
                    let what = &step.description;
                    sink(&name, Stream::Step, what);
                    let op = step.on(&c.server.endpoint);
                    let out = super::execute::run(c, &op, None, sink).await?;
                    let last = out.reports.iter().rev().find_map(|r| match r {
                        Report::TlsFailed { detail } => Some(("failed", detail.clone())),
                        Report::TlsRenewed { names } => Some(("renewed", names.clone())),
                        Report::TlsNotDue { names, after } => {
                            Some(("not-due", format!("{names} (renews after {after})")))
                        }
                        _ => None,
                    });
                    if let Some((result, detail)) = last {
                        outcome.result = result.into();
                        outcome.detail = detail.trim().to_string();
                    } else if out.exit_code != 0 {
                        outcome.result = "failed".into();
                        outcome.detail = format!(
                            "{what} exited with {}: {}",
                            out.exit_code,
                            out.stderr.lines().last().unwrap_or("").trim()
                        );
                    }
                    if outcome.result == "failed" {
                        break;
                    }
                }
                anyhow::Ok(outcome)
            }
        });
    futures::future::join_all(runs).await.into_iter().collect()
}

/// A server's certificate as `common/status` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsStatus {
    /// The names the certificate holds (empty: no certificate yet).
    pub names: Vec<String>,
    /// The issuer's common name.
    pub issuer: String,
    /// Validity, unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// When the timer renews it: two thirds into its lifetime.
    pub renew_after: i64,
    /// Whether nginx serves the domain over HTTPS with it.
    pub serving: bool,
    /// Whether the renewal timer runs (None: not installed).
    pub timer_running: Option<bool>,
    /// The last run (`renewed`, `not-due`, `failed`) and the last failure
    /// not followed by a success.
    pub last_run: Option<TlsRun>,
    pub last_failure: Option<TlsRun>,
    /// The preview hosts' wildcard certificate (None: none here yet).
    pub previews: Option<PreviewCert>,
}

/// The preview hosts' wildcard certificate on a server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PreviewCert {
    pub names: Vec<String>,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
    pub renew_after: i64,
    /// Whether nginx serves the preview hosts over HTTPS with it.
    pub serving: bool,
}

/// One recorded run of `tls/renew`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsRun {
    pub at: String,
    pub result: String,
    pub detail: String,
}

/// The `tls-*` reports of `common/status` (None: none, HTTPS never set up).
pub fn parse_status(reports: &[Report]) -> Option<TlsStatus> {
    let mut s = TlsStatus::default();
    let mut any = false;
    let run = |r: &report::LastRun| TlsRun {
        at: r.at.clone(),
        result: r.result.clone(),
        detail: r.detail.trim().to_string(),
    };
    for r in reports {
        match r {
            Report::TlsCert(c) => {
                let c = certificate(c.from, c.to, &c.names, &c.issuer);
                (s.names, s.issuer) = (c.names, c.issuer);
                (s.not_before, s.not_after, s.renew_after) =
                    (c.not_before, c.not_after, c.renew_after);
            }
            Report::TlsPreview {
                serving,
                from,
                to,
                names,
                issuer,
            } => {
                s.previews = Some(PreviewCert {
                    serving: *serving,
                    ..certificate(*from, *to, names, issuer)
                })
            }
            Report::TlsServing { serving } => s.serving = *serving,
            Report::TlsTimer { running } => s.timer_running = Some(*running),
            Report::TlsRun(r) => s.last_run = Some(run(r)),
            Report::TlsFailure(r) => s.last_failure = Some(run(r)),
            _ => continue,
        }
        any = true;
    }
    any.then_some(s)
}

/// A unix time as `2027-03-06 05:48 UTC`.
pub fn when(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// One line on a server's HTTPS for `pond status`: what it serves, until
/// when, the next renewal, and a failure or a stopped timer first.
pub fn describe(domain: &str, t: &TlsStatus, now: i64) -> String {
    let mut problems = vec![];
    if let Some(f) = &t.last_failure {
        problems.push(format!("LAST RENEWAL FAILED {}: {}", f.at, f.detail));
    }
    if t.timer_running == Some(false) {
        problems.push("RENEWAL TIMER STOPPED".to_string());
    }
    if let Some(at) = stale(t, now) {
        problems.push(format!("NO RENEWAL RUN SINCE {at}"));
    }
    if !t.names.is_empty() && t.not_after <= now {
        problems.push(format!("CERTIFICATE EXPIRED {}", when(t.not_after)));
    }
    let serving = if t.serving {
        format!("https://{domain}/")
    } else {
        format!("http://{domain}/ only")
    };
    let certificate = if t.names.is_empty() {
        "no certificate yet".to_string()
    } else {
        format!(
            "certificate for {} from {}, expires {}, renews after {}",
            t.names.join(", "),
            t.issuer,
            when(t.not_after),
            when(t.renew_after)
        )
    };
    let previews = match &t.previews {
        Some(p) if p.serving => format!(
            "; previews over HTTPS ({}, expires {})",
            p.names.join(", "),
            when(p.not_after)
        ),
        Some(_) => "; previews on HTTP only (their certificate is not served)".to_string(),
        None => "; previews on HTTP only".to_string(),
    };
    if let Some(p) = &t.previews
        && p.not_after <= now
    {
        problems.push(format!("PREVIEW CERTIFICATE EXPIRED {}", when(p.not_after)));
    }
    let mut line = format!("{serving}; {certificate}{previews}");
    if !problems.is_empty() {
        line = format!("{} — {line}", problems.join("; "));
    }
    line
}

/// Whether a server's HTTPS needs a look: its last renewal failed, the
/// renewal timer is stopped, the certificate expired, or the domain is not
/// served over HTTPS.
pub fn needs_attention(t: &TlsStatus, now: i64) -> bool {
    t.last_failure.is_some()
        || t.timer_running == Some(false)
        || (!t.names.is_empty() && t.not_after <= now)
        || !t.serving
        || stale(t, now).is_some()
}

/// When the renewal timer runs but no run was recorded for 36 hours (it
/// runs twice a day): the last run's time.
pub fn stale(t: &TlsStatus, now: i64) -> Option<String> {
    if t.timer_running != Some(true) {
        return None;
    }
    let last = t.last_run.as_ref()?;
    let at = time::OffsetDateTime::parse(&last.at, &time::format_description::well_known::Rfc3339)
        .ok()?
        .unix_timestamp();
    (now - at > 36 * 3600).then(|| last.at.clone())
}

/// A certificate from a `tls-cert`/`tls-preview` report: validity in unix
/// seconds, names comma-separated (empty: none), the issuer's name.
fn certificate(not_before: i64, not_after: i64, names: &str, issuer: &str) -> PreviewCert {
    PreviewCert {
        names: names
            .split(',')
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect(),
        issuer: issuer.trim().to_string(),
        not_before,
        not_after,
        renew_after: renew_after(not_before, not_after),
        serving: false,
    }
}

/// Two thirds into a certificate's lifetime: when `tls/renew` renews it.
pub fn renew_after(not_before: i64, not_after: i64) -> i64 {
    let lifetime = i128::from(not_after) - i128::from(not_before);
    (i128::from(not_before) + lifetime * 2 / 3).clamp(i64::MIN.into(), i64::MAX.into()) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::report::reports_of;

    #[test]
    fn status_lines_give_the_certificate_its_renewal_and_the_last_failure() {
        let text = reports_of(
            "report live target blue
             report tls-cert from 1000 to 91000 names shop.example.com,www.shop.example.com issuer 'Pebble Intermediate CA 1a2b'
             report tls-serving serving yes
             report tls-timer running yes
             report tls-run at 2026-12-06T10:00:00Z result failed detail 'Detail: 198.18.0.9: Connection refused'
             report tls-failure at 2026-12-06T10:00:00Z result failed detail 'Detail: 198.18.0.9: Connection refused'",
        );
        let s = parse_status(&text).unwrap();
        assert_eq!(s.names, ["shop.example.com", "www.shop.example.com"]);
        assert_eq!(s.issuer, "Pebble Intermediate CA 1a2b");
        assert_eq!(
            (s.not_before, s.not_after, s.renew_after),
            (1000, 91000, 61000)
        );
        assert!(s.serving);
        assert_eq!(s.timer_running, Some(true));
        assert_eq!(
            s.last_failure.unwrap().detail,
            "Detail: 198.18.0.9: Connection refused"
        );
        assert_eq!(parse_status(&reports_of("report live target blue")), None);
        // No names: none, not a name ""; absurd times do not overflow.
        let odd = parse_status(&reports_of(
            "report tls-cert from -9223372036854775808 to 9223372036854775807 names '' issuer X",
        ))
        .unwrap();
        assert!(odd.names.is_empty());
        assert_eq!(odd.issuer, "X");
        let previews = parse_status(&reports_of(
            "report tls-preview serving yes from 1000 to 91000 names '*.shop.example.com' issuer 'Pebble CA'",
        ))
        .unwrap()
        .previews
        .unwrap();
        assert_eq!(previews.names, ["*.shop.example.com"]);
        assert_eq!(previews.issuer, "Pebble CA");
        assert_eq!((previews.renew_after, previews.serving), (61000, true));
        // A timer that ran last two days ago needs a look; one that ran an hour ago does not.
        let mut t = parse_status(&text).unwrap();
        t.last_failure = None;
        let ran = 1_796_536_112; // 2026-12-06T05:48:32Z
        t.last_run = Some(TlsRun {
            at: "2026-12-06T05:48:32Z".into(),
            result: "not-due".into(),
            detail: String::new(),
        });
        t.not_after = ran + 90 * 86400;
        assert!(!needs_attention(&t, ran + 3600));
        assert!(needs_attention(&t, ran + 48 * 3600));
        assert!(
            describe("shop.example.com", &t, ran + 48 * 3600)
                .starts_with("NO RENEWAL RUN SINCE 2026-12-06T05:48:32Z")
        );
    }

    #[test]
    fn a_lab_account_must_name_a_ca_on_this_machine_or_the_lab_network() {
        use crate::digitalocean::{Client, Token};
        let lab = Client::new("http://127.0.0.1:4000/v2", Token::new("t")).unwrap();
        let real = Client::new("https://api.digitalocean.com/v2", Token::new("t")).unwrap();
        let pebble = Acme {
            directory: "https://198.18.34.1:14000/dir".into(),
            ca_pem: None,
        };
        assert!(check_ca_for(&lab, &pebble).is_ok());
        let err = check_ca_for(&lab, &Acme::lets_encrypt()).unwrap_err();
        assert!(format!("{err}").contains("--acme-directory"), "{err}");
        assert!(check_ca_for(&real, &Acme::lets_encrypt()).is_ok());
        let elsewhere = Acme {
            directory: "https://198.20.0.1/dir".into(),
            ca_pem: None,
        };
        assert!(check_ca_for(&lab, &elsewhere).is_err());
    }

    #[test]
    fn a_load_balanced_or_opted_out_environment_gets_only_the_removal() {
        let file: ProjectFile =
            serde_json::from_str(include_str!("../../examples/acme-shop/pond.json")).unwrap();
        let mut env = file.environments[0].clone();
        env.kind = EnvironmentKind::Single;
        env.https = Default::default();
        let acme = Acme {
            directory: "https://198.18.0.1:14000/dir".into(),
            ca_pem: Some("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----".into()),
        };
        let on = steps(&file, &env, &acme, true).unwrap();
        assert_eq!(on.len(), 2);
        assert!(on[1].script.text.contains("readonly FORCE='yes'"));
        assert!(
            on[1]
                .script
                .text
                .contains("readonly DIRECTORY='https://198.18.0.1:14000/dir'")
        );
        let when_due = renew_script(&file, &env, &acme, false).unwrap();
        assert!(when_due.contains("readonly FORCE='no'"));
        assert!(
            on[0]
                .script
                .text
                .contains(&crate::plan::quote::quote(&when_due).unwrap()),
            "the timer runs the script that renews only when due"
        );
        env.https.enabled = false;
        let off = steps(&file, &env, &acme, true).unwrap();
        assert_eq!(off.len(), 1);
        assert!(off[0].script.text.contains("readonly SCRIPT=''"));
        env.https.enabled = true;
        env.kind = EnvironmentKind::LoadBalanced;
        assert_eq!(steps(&file, &env, &acme, false).unwrap().len(), 1);
    }
}
