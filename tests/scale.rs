//! `pond scale`: a load-balanced PHP environment with its database on its
//! own droplet grows from 2 to 3 web droplets while a bounded request loop
//! runs through the balancer (no failed request: the new droplet joins only
//! once it serves the live build — after a swap, so the live colour is
//! green — with its own database account, only the files the client
//! uploaded, and the others' inactive release and rollback target, so a
//! rollback right after returns every droplet to v1), then deploys and
//! swaps in step with the others, then shrinks to 1 (droplets leave the balancer first,
//! their database accounts go), and is destroyed. All through the
//! balancer over HTTPS: DigitalOcean's certificate (the lab's, from its
//! CA) for the domain and its wildcard, HTTP redirected.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::create::{INDEX, assert_live, php_project_with_db, pond, succeeded as ok};
use common::lab::{LabDir, lab_up};

fn pond_json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap()
}

fn web_addresses(p: &std::path::Path) -> Vec<String> {
    pond_json(p)["environments"][0]["droplets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["role"] == "web")
        .map(|d| d["address"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn scale_out_joins_at_the_live_build_without_a_failed_request_and_scale_in_cleans_up() {
    common::require_root();
    let lab = LabDir::new("pond-scale-");
    let api = lab_up(&lab.0);
    let config = tempfile::tempdir().unwrap();
    let index =
        format!("<?php echo trim(file_get_contents(__DIR__ . '/version.txt')), ' '; ?>{INDEX}");
    let (project, dump) = php_project_with_db("grow", &index);
    let p = project.path();
    std::fs::write(p.join("public/version.txt"), "v1").unwrap();
    // What PHP is told about the scheme of the request.
    std::fs::write(
        p.join("public/scheme.php"),
        "<?php echo $_SERVER['HTTPS'] ?? 'off';",
    )
    .unwrap();
    let run = |args: &[&str]| pond(args, p, config.path(), &api);
    let out = run(&[
        "create",
        "production",
        "--account",
        "agency",
        "--domain",
        "grow.example.com",
        "--image",
        "debian-13-x64",
        "--type",
        "load_balanced",
        "--droplets",
        "2",
        "--db",
        "droplet",
        "--db-dump",
        dump.path().to_str().unwrap(),
    ]);
    assert_live(&out, "https://grow.example.com/");
    std::fs::write(p.join("public/version.txt"), "v2").unwrap();
    ok(run(&["deploy", "production", "--tag", "v2"]));
    ok(run(&["swap", "production"]));
    let file = pond_json(p);
    let env = &file["environments"][0];
    let lb_id = env["load_balancer"]["id"].as_str().unwrap().to_string();
    let lb_ip =
        api.ok("GET", &format!("/v2/load_balancers/{lb_id}"), None, 200)["load_balancer"]["ip"]
            .as_str()
            .unwrap()
            .to_string();
    let db = env["droplets"][2]["address"].as_str().unwrap().to_string();
    let expected = "v2 db ok: gadget,widget";
    let ca_root = api.ca_root.clone();
    let through_balancer = |host: &str, path: &str| common::https_get(&lb_ip, host, path, &ca_root);
    assert_eq!(
        through_balancer("grow.example.com", "/"),
        (200, expected.into())
    );
    balancer_https(&api, p, config.path(), &lb_ip, &lb_id);

    // --dry-run says what it would do and changes nothing.
    // The requests it prints are the ones the run sends (the droplet's SSH
    // key named by fingerprint, which the lab's API resolves as DO's does).
    let said = ok(run(&["scale", "production", "3", "--dry-run"]));
    assert!(
        said.contains("create droplet grow-production-3 ("),
        "{said}"
    );
    assert!(said.contains("$6.00/month each"), "{said}");
    assert!(
        said.contains(r#"Post /v2/droplets {"name":"grow-production-3","region":"#),
        "{said}"
    );
    assert_eq!(web_addresses(p).len(), 2);

    // A file the running site made in its release (a cache holding that
    // droplet's own secrets, say) is not the project's: a joining droplet
    // gets only what the client uploaded, and makes the rest itself.
    let key = config.path().join("id_ed25519");
    for web in web_addresses(p) {
        common::ssh(
            &key,
            &web,
            "echo made-here > /var/www/pond/projects/grow/production/current/public/made-here.txt",
        );
    }

    // Out, under traffic.
    let stop = Arc::new(AtomicBool::new(false));
    let looping = {
        let (stop, lb_ip, ca_root) = (stop.clone(), lb_ip.clone(), ca_root.clone());
        std::thread::spawn(move || {
            let (mut total, mut failed) = (0, 0);
            while !stop.load(Ordering::Relaxed) && total < 20_000 {
                let (status, body) =
                    common::try_https_get(&lb_ip, "grow.example.com", "/", &ca_root)
                        .unwrap_or((0, String::new()));
                total += 1;
                if status != 200 || body != "v2 db ok: gadget,widget" {
                    failed += 1;
                }
            }
            (total, failed)
        })
    };
    let said = ok(run(&["scale", "production", "3"]));
    stop.store(true, Ordering::Relaxed);
    let (total, failed) = looping.join().unwrap();
    eprintln!("through the balancer during scale out: {total} requests, {failed} failed");
    assert!(total > 50, "the loop ran ({total} requests)");
    assert_eq!(failed, 0, "no failed request out of {total}");
    assert!(said.contains("copying release"), "{said}");
    let webs = web_addresses(p);
    assert_eq!(webs.len(), 3);
    let file = pond_json(p);
    let new = &file["environments"][0]["droplets"][2];
    assert_eq!(new["name"], "grow-production-3");
    assert!(new["host_key"].as_str().unwrap().starts_with("SHA256:"));
    let behind = api.ok("GET", &format!("/v2/load_balancers/{lb_id}"), None, 200)["load_balancer"]
        ["droplet_ids"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(behind, 3);
    assert_eq!(
        common::http_get(&webs[2], "grow.example.com", "/").1,
        expected
    );
    let live = common::ssh(
        &key,
        &webs[2],
        "readlink /var/www/pond/projects/grow/production/current",
    );
    assert_eq!(
        live.trim(),
        "green",
        "the same colour is live as on the others"
    );
    let accounts = || {
        let mut hosts: Vec<String> = common::ssh(
            &key,
            &db,
            "mariadb -N -e \"SELECT Host FROM mysql.user WHERE User = 'grow_production'\"",
        )
        .lines()
        .map(str::to_string)
        .collect();
        hosts.sort();
        hosts
    };
    let mut sorted = webs.clone();
    sorted.sort();
    assert_eq!(accounts(), sorted, "one database account per web droplet");
    // Running it again changes nothing.
    let again = ok(run(&["scale", "production", "3"]));
    assert!(again.contains("are behind the load balancer"), "{again}");
    assert_eq!(
        common::ssh(
            &key,
            &webs[2],
            "test -e /var/www/pond/projects/grow/production/current/public/made-here.txt && echo copied || echo absent",
        )
        .trim(),
        "absent",
        "files the site made on another droplet are not copied"
    );

    // The new droplet has the others' colours and rollback target: a
    // rollback right after the scale returns every droplet to v1.
    let said = ok(run(&["rollback", "production"]));
    assert!(said.contains("Rolled back"), "{said}");
    for web in &webs {
        assert_eq!(
            common::http_get(web, "grow.example.com", "/").1,
            "v1 db ok: gadget,widget",
            "{web}"
        );
    }

    // The new droplet deploys and swaps in step with the others.
    std::fs::write(p.join("public/version.txt"), "v3").unwrap();
    ok(run(&["deploy", "production", "--tag", "v3"]));
    ok(run(&["swap", "production"]));
    for web in &webs {
        assert_eq!(
            common::http_get(web, "grow.example.com", "/").1,
            "v3 db ok: gadget,widget",
            "{web}"
        );
    }

    // In: without --yes and no terminal, nothing is deleted.
    let refused = run(&["scale", "production", "1"]);
    assert!(!refused.status.success());
    assert_eq!(web_addresses(p).len(), 3);
    let said = ok(run(&["scale", "production", "1", "--dry-run"]));
    assert!(
        said.contains("Delete /v2/load_balancers/") && said.contains(r#"{"droplet_ids":["#),
        "{said}"
    );
    ok(run(&["scale", "production", "1", "--yes"]));
    let left = web_addresses(p);
    assert_eq!(left, webs[..1].to_vec());
    let tagged = api.ok(
        "GET",
        "/v2/droplets?tag_name=pond-grow-production",
        None,
        200,
    );
    assert_eq!(
        tagged["meta"]["total"], 2,
        "one web droplet and the database droplet"
    );
    let behind = api.ok("GET", &format!("/v2/load_balancers/{lb_id}"), None, 200)["load_balancer"]
        ["droplet_ids"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(behind, 1);
    assert_eq!(accounts(), left, "the removed droplets' accounts are gone");
    assert_eq!(
        through_balancer("grow.example.com", "/").1,
        "v3 db ok: gadget,widget"
    );

    // Destroy deletes the balancer's certificate after the balancer.
    let listed = ok(run(&["destroy", "production", "--dry-run"]));
    assert!(listed.contains("delete its certificate"), "{listed}");
    ok(run(&["destroy", "production", "--yes"]));
    assert_eq!(
        api.ok("GET", "/v2/certificates", None, 200)["meta"]["total"],
        0
    );
}

/// TLS ends at the balancer with DigitalOcean's certificate for the domain
/// and its wildcard (no preview name in it); HTTP is redirected there, and
/// PHP behind it sees HTTPS; the droplets keep no certificate.
fn balancer_https(
    api: &common::lab::Api,
    p: &std::path::Path,
    config: &std::path::Path,
    lb_ip: &str,
    lb_id: &str,
) {
    let domain = "grow.example.com";
    let file = pond_json(p);
    let prefix = file["environments"][0]["secret_prefix"]
        .as_str()
        .unwrap()
        .to_string();
    for host in [
        domain.to_string(),
        format!("www.{domain}"),
        format!("{prefix}.{domain}"),
    ] {
        assert_eq!(
            common::presented(lb_ip, &host).1,
            [format!("*.{domain}"), domain.to_string()],
            "{host}"
        );
    }
    // The preview host (the inactive colour, v1) over HTTPS, through it.
    let preview = common::https_get(lb_ip, &format!("{prefix}.{domain}"), "/", &api.ca_root);
    assert_eq!(preview, (200, "v1 db ok: gadget,widget".into()));
    assert_eq!(
        common::https_get(lb_ip, domain, "/scheme.php", &api.ca_root).1,
        "on"
    );
    let web = web_addresses(p)[0].clone();
    assert_eq!(common::http_get(&web, domain, "/scheme.php").1, "off");
    // HTTP at the balancer: a 301 to the same URL over HTTPS.
    let redirect = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ])
        .arg("--resolve")
        .arg(format!("{domain}:80:{lb_ip}"))
        .arg(format!("http://{domain}/a/b?c=1"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&redirect.stdout),
        format!("301 https://{domain}/a/b?c=1")
    );
    // DigitalOcean made no DNS records of its own for the names.
    let lb = api.ok("GET", &format!("/v2/load_balancers/{lb_id}"), None, 200);
    assert_eq!(
        lb["load_balancer"]["disable_lets_encrypt_dns_records"],
        true
    );
    assert_eq!(lb["load_balancer"]["redirect_http_to_https"], true);
    // `pond tls` reads it from the API; `pond status` shows it.
    let out = pond(&["tls", "production", "--json"], p, config, api);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["serving"], true, "{shown}");
    assert_eq!(shown["https"]["certificate"]["state"], "verified");
    assert_eq!(
        shown["https"]["certificate"]["dns_names"],
        serde_json::json!([domain, format!("*.{domain}")])
    );
    assert!(shown["attention"].is_null(), "{shown}");
    let status = ok(pond(&["status", "production"], p, config, api));
    assert!(
        status.contains(&format!(
            "load balancer: https https://{domain}/ at the load balancer"
        )),
        "{status}"
    );
    // The droplets keep no certificate.
    let key = config.join("id_ed25519");
    assert_eq!(
        common::ssh(&key, &web, "ls /etc/letsencrypt/live 2>/dev/null | wc -l").trim(),
        "0"
    );
}
