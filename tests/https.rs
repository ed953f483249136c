//! HTTPS on the lab: `pond create` gets the domain a certificate from the
//! lab's ACME CA (Pebble) by HTTP-01 on the droplet, nginx serves it and
//! redirects HTTP; the preview hosts get a wildcard by DNS-01 through the
//! API (no secret name in any certificate); `pond tls --renew` replaces it while the site serves; a
//! failed renewal is recorded, shown, and leaves the old certificate
//! serving; the server's timer renews only when due; hosts it does not
//! serve get no certificate; HSTS is opt-in; HTTPS turned off goes back to
//! HTTP and removes the certificate.

mod common;

use std::process::Command;

use common::create::{assert_live, pond_with_dns as pond, static_project, succeeded};
use common::lab::{LabDir, lab_up};
use serde_json::json;

const DOMAIN: &str = "secure.example.com";

/// The response headers of an HTTPS GET of `/`, verified against the lab root.
fn https_headers(addr: &str, ca_root: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-D", "-", "--cacert", ca_root])
        .arg("--resolve")
        .arg(format!("{DOMAIN}:443:{addr}"))
        .arg(format!("https://{DOMAIN}/"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_lowercase()
}

fn tls_json(
    p: &std::path::Path,
    config: &std::path::Path,
    api: &common::lab::Api,
) -> serde_json::Value {
    let out = pond(&["tls", "production", "--json"], p, config, api);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str::<serde_json::Value>(&text).unwrap()[0]["https"].clone()
}

fn set_https(p: &std::path::Path, https: serde_json::Value) {
    let path = p.join("pond.json");
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    file["environments"][0]["https"] = https;
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
}

#[test]
fn the_domain_gets_a_certificate_renewed_on_the_server_and_failures_show() {
    common::require_root();
    let lab = LabDir::new("pond-https-");
    let api = lab_up(&lab.0);
    let config = tempfile::tempdir().unwrap();
    let project = static_project("secure", "over https");
    let p = project.path();

    let out = pond(
        &[
            "create",
            "production",
            "--account",
            "agency",
            "--domain",
            DOMAIN,
        ],
        p,
        config.path(),
        &api,
    );
    assert_live(&out, &format!("https://{DOMAIN}/"));
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    let addr = file["environments"][0]["droplets"][0]["address"]
        .as_str()
        .unwrap()
        .to_string();
    let prefix = file["environments"][0]["secret_prefix"]
        .as_str()
        .unwrap()
        .to_string();

    // Served over HTTPS with a certificate the lab's root verifies, naming
    // the domain and www. only: never a secret preview host.
    assert_eq!(
        common::https_get(&addr, DOMAIN, "/", &api.ca_root),
        (200, "over https".to_string())
    );
    assert_eq!(
        common::https_get(&addr, &format!("www.{DOMAIN}"), "/", &api.ca_root).0,
        200
    );
    let (serial, names) = common::presented(&addr, DOMAIN);
    assert_eq!(names, [DOMAIN.to_string(), format!("www.{DOMAIN}")]);
    assert!(names.iter().all(|n| !n.contains(&prefix)));
    // HTTP redirects, keeping the path and query, except ACME's challenges.
    let redirect = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "--resolve",
        ])
        .arg(format!("{DOMAIN}:80:{addr}"))
        .arg(format!("http://{DOMAIN}/a/b?c=1"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&redirect.stdout),
        format!("301 https://{DOMAIN}/a/b?c=1")
    );
    assert_eq!(
        common::http_get(&addr, DOMAIN, "/.well-known/acme-challenge/missing").0,
        404
    );
    // Preview hosts answer plain HTTP too (they are not redirected).
    assert_eq!(
        common::http_get(&addr, &format!("{prefix}.{DOMAIN}"), "/").0,
        200
    );
    // The preview hosts: HTTPS with a wildcard made by DNS-01 (the secret
    // names are in no certificate), its TXT record gone afterwards.
    for host in [
        format!("{prefix}.{DOMAIN}"),
        format!("{prefix}-blue.{DOMAIN}"),
        format!("{prefix}-green.{DOMAIN}"),
    ] {
        assert_eq!(
            common::https_get(&addr, &host, "/", &api.ca_root),
            (200, "over https".to_string()),
            "{host}"
        );
        assert_eq!(common::presented(&addr, &host).1, [format!("*.{DOMAIN}")]);
    }
    let preview_serial = common::presented(&addr, &format!("{prefix}.{DOMAIN}")).0;
    let txt = api.ok(
        "GET",
        &format!("/v2/domains/{DOMAIN}/records?type=TXT"),
        None,
        200,
    );
    assert_eq!(
        txt["domain_records"],
        json!([]),
        "the ACME TXT record stays"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("preview:    https://{prefix}.{DOMAIN}/")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // HTTPS for a host no environment serves here is refused at the
    // handshake, never answered with another site's certificate.
    assert!(common::try_https_get(&addr, "elsewhere.example.net", "/", &api.ca_root).is_err());
    // The keys nginx loads per handshake are out of the site's reach: a
    // link to one committed to the project is not served.
    std::os::unix::fs::symlink(
        "/etc/nginx/pond-certs/secure_production.pem",
        p.join("key.pem"),
    )
    .unwrap();
    succeeded(pond(&["deploy", "production"], p, config.path(), &api));
    succeeded(pond(&["swap", "production"], p, config.path(), &api));
    let (status, body) = common::https_get(&addr, DOMAIN, "/key.pem", &api.ca_root);
    assert!(
        status != 200 && !body.contains("PRIVATE KEY"),
        "{status} {body}"
    );
    std::fs::remove_file(p.join("key.pem")).unwrap();
    // No HSTS unless asked for.
    assert!(!https_headers(&addr, &api.ca_root).contains("strict-transport-security"));

    // What the server reports: names, issuer, validity, the next renewal at
    // two thirds of the lifetime, the timer, the last run.
    let tls = tls_json(p, config.path(), &api);
    assert_eq!(tls["names"], json!([DOMAIN, format!("www.{DOMAIN}")]));
    assert!(
        tls["issuer"].as_str().unwrap().starts_with("Pebble"),
        "{tls}"
    );
    let (from, to) = (
        tls["not_before"].as_i64().unwrap(),
        tls["not_after"].as_i64().unwrap(),
    );
    assert_eq!(
        tls["renew_after"].as_i64().unwrap(),
        from + (to - from) * 2 / 3
    );
    assert_eq!(tls["serving"], true);
    assert_eq!(tls["timer_running"], true);
    assert_eq!(tls["last_run"]["result"], "renewed");
    assert!(tls["last_failure"].is_null());
    assert_eq!(tls["previews"]["names"], json!([format!("*.{DOMAIN}")]));
    assert_eq!(tls["previews"]["serving"], true);
    let status = succeeded(pond(&["status", "production"], p, config.path(), &api));
    assert!(
        status.contains(&format!(
            "https: https://{DOMAIN}/; certificate for {DOMAIN}, www.{DOMAIN} from Pebble"
        )),
        "{status}"
    );

    // The timer's run renews only when due: it records that and changes nothing.
    let key = config.path().join("id_ed25519");
    let timer_run = common::ssh(
        &key,
        &addr,
        "systemctl start pond-secure_production_tls.service && cat /var/lib/pond/tls/secure_production/last-run",
    );
    assert!(timer_run.contains("RESULT not-due"), "{timer_run}");
    assert_eq!(common::presented(&addr, DOMAIN).0, serial);

    // A TXT record a stopped order left long ago (noted in the journal,
    // never deleted) goes with the next order.
    let left = api.ok(
        "POST",
        &format!("/v2/domains/{DOMAIN}/records"),
        Some(json!({"type": "TXT", "name": "_acme-challenge", "data": "left-over", "ttl": 30})),
        201,
    )["domain_record"]["id"]
        .as_u64()
        .unwrap();
    std::fs::write(
        config.path().join(format!("acme/txt-{DOMAIN}.json")),
        format!(r#"[{{"id": {left}, "at": 0}}]"#),
    )
    .unwrap();

    // --renew: a new certificate, served after a graceful reload.
    let renewed = succeeded(pond(
        &["tls", "production", "--renew"],
        p,
        config.path(),
        &api,
    ));
    assert!(
        renewed.contains("certificate renewed for secure.example.com www.secure.example.com"),
        "{renewed}"
    );
    let txt = api.ok(
        "GET",
        &format!("/v2/domains/{DOMAIN}/records?type=TXT"),
        None,
        200,
    );
    assert_eq!(txt["meta"]["total"], 0, "no TXT record is left: {txt}");
    assert!(
        !config
            .path()
            .join(format!("acme/txt-{DOMAIN}.json"))
            .exists()
    );
    let (serial2, _) = common::presented(&addr, DOMAIN);
    assert_ne!(serial2, serial);
    assert_ne!(
        common::presented(&addr, &format!("{prefix}.{DOMAIN}")).0,
        preview_serial,
        "--renew renews the previews' wildcard too"
    );
    assert_eq!(
        common::https_get(&addr, DOMAIN, "/", &api.ca_root).1,
        "over https"
    );

    // A renewal that fails (the CA cannot be reached): exit 1, the reason,
    // recorded on the server and shown; the old certificate keeps serving.
    // (Pointing DNS elsewhere instead proved flaky: a CA may reuse the
    // authorizations it validated moments before, as Let's Encrypt does.)
    let port = api
        .acme_directory
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(port, _)| port.to_string())
        .unwrap();
    let unreachable = common::lab::Api {
        url: api.url.clone(),
        token: api.token.clone(),
        dns: api.dns.clone(),
        // The lab CA's host, a port nothing listens on.
        acme_directory: api.acme_directory.replace(&format!(":{port}/"), ":14999/"),
        acme_ca: api.acme_ca.clone(),
        ca_root: api.ca_root.clone(),
    };
    assert_ne!(unreachable.acme_directory, api.acme_directory);
    let failed = pond(
        &["tls", "production", "--renew"],
        p,
        config.path(),
        &unreachable,
    );
    let said = String::from_utf8_lossy(&failed.stderr).to_string();
    assert_eq!(failed.status.code(), Some(1), "{said}");
    assert!(said.contains("the certificate request FAILED"), "{said}");
    let tls = tls_json(p, config.path(), &api);
    assert_eq!(tls["last_failure"]["result"], "failed", "{tls}");
    assert!(!tls["last_failure"]["detail"].as_str().unwrap().is_empty());
    let status = succeeded(pond(&["status", "production"], p, config.path(), &api));
    assert!(status.contains("LAST RENEWAL FAILED"), "{status}");
    assert_eq!(common::presented(&addr, DOMAIN).0, serial2);
    assert_eq!(
        common::https_get(&addr, DOMAIN, "/", &api.ca_root).1,
        "over https"
    );
    // With the CA back, the next renewal succeeds and clears the failure.
    succeeded(pond(
        &["tls", "production", "--renew"],
        p,
        config.path(),
        &api,
    ));
    assert!(tls_json(p, config.path(), &api)["last_failure"].is_null());

    // HSTS is opt-in in pond.json, applied by provisioning.
    set_https(p, json!({"hsts": true}));
    succeeded(pond(&["provision", "production"], p, config.path(), &api));
    assert!(
        https_headers(&addr, &api.ca_root).contains("strict-transport-security: max-age=63072000"),
    );

    // HTTPS off: plain HTTP again, the certificate and its timer gone.
    set_https(p, json!({"enabled": false}));
    succeeded(pond(&["provision", "production"], p, config.path(), &api));
    assert_eq!(
        common::http_get(&addr, DOMAIN, "/"),
        (200, "over https".to_string())
    );
    let left = common::ssh(
        &key,
        &addr,
        "ls /etc/letsencrypt/live /etc/systemd/system /etc/nginx/sites-enabled /var/lib/pond/tls | grep -cE 'secure_production|previews' || true",
    );
    assert_eq!(
        left.trim(),
        "0",
        "certificate, timer or preview vhost left: {left}"
    );
    assert_eq!(
        common::http_get(&addr, &format!("{prefix}.{DOMAIN}"), "/"),
        (200, "over https".to_string())
    );
    assert!(
        common::try_https_get(&addr, &format!("{prefix}.{DOMAIN}"), "/", &api.ca_root).is_err()
    );
}
