//! `pond tls ENV [--renew] [--json] [--dry-run]`: the domain's certificate
//! on each web server ([`pond::tasks::tls`]) — its names, issuer, validity,
//! next renewal, whether nginx serves it and the last failure, and the
//! preview hosts' wildcard — and, with `--renew`, new ones now (installing
//! the renewal timer; the wildcard by DNS-01 through the account's API).
//! A load-balanced environment's certificate is its balancer's
//! ([`pond::tasks::lb_tls`]): shown from the API, and renewed by
//! DigitalOcean, or now with `--renew`.

use anyhow::Context;

use super::session::*;
use pond::tasks::{lb_tls, operate, state, tls};

#[derive(clap::Args)]
pub struct TlsArgs {
    /// The environment.
    env: String,
    /// Request a new certificate now (on each server, installing its
    /// renewal timer; or, load-balanced, at the balancer).
    #[arg(long)]
    renew: bool,
    /// Print the certificates as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// With --renew: print the scripts each web server would run, and stop.
    #[arg(long, requires = "renew")]
    dry_run: bool,
    #[command(flatten)]
    project: ProjectArg,
}

pub fn run(args: TlsArgs) -> super::CliResult {
    let p = load_project(&args.project)?;
    let i = p.env_index(&args.env)?;
    let env = p.file.environments[i].clone();
    if env.kind == pond::config::EnvironmentKind::LoadBalanced && env.https.enabled {
        return balancer(&p.file, &env, &args);
    }
    let account = env.account.clone().unwrap_or_default();
    let acme = super::account::acme_for(&account)?;
    if args.dry_run && tls::wants_certificate(&env) {
        let mut steps = tls::steps(&p.file, &env, &acme, true)?;
        steps.push(pond::tasks::preview_tls::csr_step(
            &p.file,
            &env,
            &acme,
            pond::tasks::preview_tls::When::Force,
        )?);
        let webs = pond::tasks::servers(&env, i)?
            .into_iter()
            .filter(|s| s.role == pond::config::DropletRole::Web);
        for server in webs {
            let plan = pond::plan::Plan {
                title: format!("HTTPS for {} on {}", env.name, server.endpoint.name),
                operations: steps.iter().map(|s| s.on(&server.endpoint)).collect(),
            };
            println!("{plan}");
        }
        println!(
            "# ---- then, on this machine: an ACME order for *.{} by DNS-01 with {} (a TXT record _acme-challenge.{} through the DigitalOcean API, deleted after), finalized with that CSR; tls/preview-install gets the chain",
            env.domain,
            acme.describe(),
            env.domain
        );
        return Ok(());
    }
    let off = if !env.https.enabled {
        Some(format!(
            "HTTPS is off for {} (pond.json environments[{i}].https.enabled is false; `pond provision {}` removes any certificate)",
            args.env, args.env
        ))
    } else if !tls::wants_certificate(&env) {
        Some(format!(
            "{} is load-balanced: its servers keep no certificate (TLS ends at the balancer)",
            args.env
        ))
    } else {
        None
    };
    if let Some(off) = &off {
        if args.renew {
            return Err(super::Failure::usage(&format!("{off}; nothing to renew")));
        }
        eprintln!("{off}.");
    }
    let mut open = open_loaded(p, &args.env)?;
    let s = sink();
    let rt = runtime()?;
    let connected = s.outcome(rt.block_on(connect(&mut open, &s)))?;
    let p = &open.project;
    let mut failed = false;
    if args.renew {
        // The preview hosts' wildcard needs the account's API (DNS-01); a
        // lab account must name the lab's CA (checked before anything runs).
        let api = match env.account.as_deref() {
            Some(name) => {
                let api = super::account::client_for(name)?;
                tls::check_ca_for(&api, &acme)?;
                Some(api)
            }
            None => None,
        };
        let outcomes =
            s.outcome(rt.block_on(tls::apply(&p.file, &env, &connected, &acme, true, &s)))?;
        for o in &outcomes {
            match o.result.as_str() {
                "failed" => {
                    failed = true;
                    eprintln!("{}: the certificate request FAILED: {}", o.server, o.detail);
                }
                "renewed" => eprintln!("{}: certificate renewed for {}", o.server, o.detail),
                _ => {}
            }
        }
        match &api {
            Some(api) => {
                let outcomes = s.outcome(rt.block_on(pond::tasks::preview_tls::ensure(
                    api,
                    &p.file,
                    &env,
                    &connected,
                    &acme,
                    pond::tasks::preview_tls::When::Force,
                    &s,
                )))?;
                for o in &outcomes {
                    if o.result == "failed" {
                        failed = true;
                        eprintln!(
                            "{}: the preview hosts' certificate request FAILED: {}",
                            o.server, o.detail
                        );
                    }
                }
            }
            None => eprintln!(
                "{} has no DigitalOcean account in pond.json: its preview hosts' certificate (DNS-01 through the API) is not requested.",
                args.env
            ),
        }
    }
    let statuses = rt.block_on(operate::status(&p.file, &env, &connected));
    if args.json {
        let out: Vec<_> = statuses
            .iter()
            .map(|st| {
                serde_json::json!({
                    "server": st.server,
                    "error": st.error,
                    "https": st.tls,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&out).context("serializing")?
        );
    } else {
        for st in &statuses {
            println!("{}:", st.server);
            if let Some(e) = &st.error {
                println!("  unreachable: {e}");
                continue;
            }
            print_certificate(&env.domain, st.tls.as_ref());
        }
    }
    if failed {
        return Err(super::Failure::silent(1));
    }
    Ok(())
}

/// `pond tls` for a load-balanced environment: the balancer's certificate
/// (DigitalOcean's, renewed by it), and with `--renew` a new one.
fn balancer(
    file: &pond::config::ProjectFile,
    env: &pond::config::Environment,
    args: &TlsArgs,
) -> super::CliResult {
    let lb_id = env
        .load_balancer
        .as_ref()
        .and_then(|lb| lb.id.clone())
        .with_context(|| {
            format!(
                "{} has no load balancer Pond created (pond.json environments[].load_balancer.id is missing), so there is no certificate to show",
                env.name
            )
        })?;
    let account = env.account.as_deref().with_context(|| {
        format!(
            "{} has no DigitalOcean account in pond.json; the balancer's certificate is read through the API",
            env.name
        )
    })?;
    if args.dry_run {
        let name = lb_tls::certificate_name(&file.name, &env.name, state::unix_now());
        let request = pond::plan::Plan {
            title: format!("renew the certificate of {}", env.name),
            operations: vec![lb_tls::certificate_request(account, &name, &env.domain)],
        };
        for line in request.outline() {
            println!("{line}");
        }
        println!(
            "then: GET /v2/certificates/<new id> until its state is verified (at most 10 min)"
        );
        println!(
            "then: PUT /v2/load_balancers/{lb_id} forwarding_rules {}, redirect_http_to_https true, disable_lets_encrypt_dns_records true (the rest as DigitalOcean reports it then)",
            serde_json::Value::from(lb_tls::rules(Some("<new id>")))
        );
        println!(
            "then: DELETE /v2/certificates/<each other one Pond made for {}> (never one you uploaded)",
            env.name
        );
        return Ok(());
    }
    let api = super::account::client_for(account)?;
    let s = sink();
    let rt = runtime()?;
    let t = if args.renew {
        let balancer = lb_tls::Balancer::of(file, env, &lb_id);
        s.outcome(rt.block_on(lb_tls::ensure(&api, &balancer, true, &s)))?
    } else {
        s.outcome(rt.block_on(lb_tls::read(&api, &lb_id)))?
    };
    let now = state::unix_now() as i64;
    if args.json {
        let out = serde_json::json!({
            "load_balancer": lb_id,
            "https": t,
            "serving": t.serves(&env.domain),
            "attention": lb_tls::needs_attention(&env.name, &env.domain, &t, now),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).context("serializing")?
        );
    } else {
        println!("load balancer {lb_id}:");
        match &t.certificate {
            Some(c) => {
                println!("  certificate  {} ({})", c.dns_names.join(", "), c.name);
                println!("  state        {}", c.state);
                if c.not_after > 0 {
                    println!("  expires      {}", tls::when(c.not_after));
                }
                println!("  renewal      by DigitalOcean, before it expires");
            }
            None => println!("  certificate  none"),
        }
        println!(
            "  serving      {}",
            if t.serves(&env.domain) {
                format!(
                    "https://{}/ and the preview hosts over HTTPS{}",
                    env.domain,
                    if t.redirect_http_to_https {
                        ", HTTP redirected"
                    } else {
                        ""
                    }
                )
            } else {
                format!("http://{}/ only", env.domain)
            }
        );
        if let Some(problem) = lb_tls::needs_attention(&env.name, &env.domain, &t, now) {
            println!("  attention    {problem}");
        }
    }
    Ok(())
}

/// For `pond status`: the HTTPS line of a load-balanced environment's
/// balancer, read through the account's API (`None` for other
/// environments, or without the account's token at hand).
pub(super) fn balancer_status(
    env: &pond::config::Environment,
    rt: &tokio::runtime::Runtime,
) -> Option<(serde_json::Value, String)> {
    let lb = lb_tls::balancer_to_secure(env)?;
    let api = super::account::client_quietly(env.account.as_deref()?)?;
    Some(match rt.block_on(lb_tls::read(&api, lb)) {
        Ok(t) => {
            let line = lb_tls::describe(&env.name, &env.domain, &t, state::unix_now() as i64);
            (serde_json::json!(t), line)
        }
        Err(e) => (serde_json::Value::Null, format!("UNREADABLE — {e:#}")),
    })
}

/// The environment's URLs as served now (`https://` once a certificate
/// is in place), for what a command prints last.
pub(super) fn served_urls(
    file: &pond::config::ProjectFile,
    env: &pond::config::Environment,
    sessions: &[pond::tasks::Connected],
    rt: &tokio::runtime::Runtime,
) -> operate::ServedUrls {
    rt.block_on(served_urls_async(file, env, sessions))
}

/// [`served_urls`], to be awaited alongside other work.
pub(super) async fn served_urls_async(
    file: &pond::config::ProjectFile,
    env: &pond::config::Environment,
    sessions: &[pond::tasks::Connected],
) -> operate::ServedUrls {
    let api = env
        .account
        .as_deref()
        .filter(|_| lb_tls::balancer_to_secure(env).is_some())
        .and_then(super::account::client_quietly);
    operate::served_urls(file, env, sessions, api.as_ref()).await
}

/// One server's certificate, as `pond tls` and `pond status` print it.
pub(super) fn print_certificate(domain: &str, tls: Option<&tls::TlsStatus>) {
    let Some(t) = tls else {
        println!("  https        not set up");
        return;
    };
    if t.names.is_empty() {
        println!("  certificate  none yet");
    } else {
        println!("  certificate  {} ({})", t.names.join(", "), t.issuer);
        println!(
            "  valid        {} to {}",
            tls::when(t.not_before),
            tls::when(t.not_after)
        );
        let timer = match t.timer_running {
            Some(true) => "timer running",
            Some(false) => "TIMER STOPPED",
            None => "NO RENEWAL TIMER",
        };
        println!(
            "  renews       after {} ({timer})",
            tls::when(t.renew_after)
        );
    }
    if t.serving {
        println!("  serving      https://{domain}/");
    } else {
        println!("  serving      http://{domain}/ only");
    }
    match &t.previews {
        Some(p) => println!(
            "  previews     {} ({}), expires {}, renews after {}{}",
            p.names.join(", "),
            p.issuer,
            tls::when(p.not_after),
            tls::when(p.renew_after),
            if p.serving { "" } else { " — NOT SERVED" }
        ),
        None => println!("  previews     HTTP only (no wildcard certificate yet)"),
    }
    if let Some(f) = &t.last_failure {
        println!("  last failure {}: {}", f.at, f.detail);
    }
}

/// After a deploy: the preview hosts' wildcard, renewed if it is due
/// (past two thirds of its lifetime, or missing), when the account's token
/// is at hand. Never fails the deploy: a problem is a warning. Returns
/// whether a certificate was renewed (the preview hosts may now be served
/// over HTTPS).
pub(super) fn renew_previews_if_due(
    file: &pond::config::ProjectFile,
    env: &pond::config::Environment,
    sessions: &[pond::tasks::Connected],
    rt: &tokio::runtime::Runtime,
    s: &super::progress::Progress,
) -> bool {
    if !pond::tasks::tls::wants_certificate(env) {
        return false;
    }
    let Some(name) = env.account.as_deref() else {
        return false;
    };
    let (Some(api), Ok(acme)) = (
        super::account::client_quietly(name),
        super::account::acme_for(name),
    ) else {
        return false;
    };
    let mut renewed = false;
    match rt.block_on(pond::tasks::preview_tls::ensure(
        &api,
        file,
        env,
        sessions,
        &acme,
        pond::tasks::preview_tls::When::Renew,
        s,
    )) {
        Ok(outcomes) => {
            for o in outcomes {
                match o.result.as_str() {
                    "renewed" => {
                        renewed = true;
                        eprintln!(
                            "{}: the preview hosts' certificate {} is renewed.",
                            o.server, o.detail
                        )
                    }
                    "failed" => eprintln!(
                        "warning: {}: renewing the preview hosts' certificate failed: {} (pond tls {} --renew tries again)",
                        o.server, o.detail, env.name
                    ),
                    _ => {}
                }
            }
        }
        Err(e) => eprintln!("warning: checking the preview hosts' certificate: {e:#}"),
    }
    renewed
}
