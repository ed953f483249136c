//! The lab through its DigitalOcean-compatible API, as a user drives it:
//! `pond lab up`, then plain HTTP in DO's shapes. Boots three droplets at
//! once, reaches each over SSH with the key given at create time, checks
//! their host keys differ, exercises auth, pagination and injected faults,
//! deletes by tag, survives `lab down`/`lab up`, and leaves nothing behind.
//! The lab's DNS answers the API's records from the host and inside a
//! droplet; trailing slashes are forgiven; `lab status --json` tells all.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::lab::{Api, LabDir, address, lab_up, pond, wait_active};
use serde_json::{Value, json};

#[test]
fn the_lab_serves_do_shaped_api_and_real_droplets() {
    common::require_root();
    let dir = LabDir::new("pond-lab-api-");
    let api = lab_up(&dir.0);
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = common::keypair(keys.path(), "tester");

    // Auth: a wrong token gets DO's 401 body.
    let wrong = Api {
        url: api.url.clone(),
        token: "dop_v1_wrong".into(),
        dns: api.dns.clone(),
        acme_directory: api.acme_directory.clone(),
        acme_ca: api.acme_ca.clone(),
        ca_root: api.ca_root.clone(),
    };
    let (status, body, headers) = wrong.call("GET", "/v2/account", None);
    assert_eq!(status, 401);
    assert_eq!(body["id"], "Unauthorized");
    assert!(body["message"].is_string() && body["request_id"].is_string());
    assert!(headers.iter().any(|(h, _)| h == "ratelimit-limit"));

    let account = api.ok("GET", "/v2/account", None, 200);
    assert_eq!(account["account"]["status"], "active");

    let created = api.ok(
        "POST",
        "/v2/account/keys",
        Some(json!({"name": "tester", "public_key": public})),
        201,
    );
    let fingerprint = created["ssh_key"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let md5 = Command::new("ssh-keygen")
        .args(["-E", "md5", "-lf"])
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&md5.stdout).contains(&format!("MD5:{fingerprint}")));

    // Three droplets at once, by names[].
    let started = Instant::now();
    let body = json!({"names": ["web-1", "web-2", "web-3"], "region": "ams3", "size": "s-1vcpu-1gb",
                      "image": "debian-13-x64", "ssh_keys": [fingerprint], "tags": ["pond", "pond-acme"]});
    let reply = api.ok("POST", "/v2/droplets", Some(body), 202);
    assert_eq!(reply["droplets"].as_array().unwrap().len(), 3);
    assert_eq!(reply["droplets"][0]["status"], "new");
    assert_eq!(reply["links"]["actions"].as_array().unwrap().len(), 3);
    let droplets = wait_active(&api, "pond-acme", 3);
    eprintln!("3 droplets: create → active in {:?}", started.elapsed());

    let mut host_keys = vec![];
    for d in &droplets {
        let addr = address(d);
        assert_eq!(
            common::ssh(&key, &addr, "hostname").trim(),
            d["name"].as_str().unwrap()
        );
        host_keys.push(common::presented_host_key(&addr));
    }
    host_keys.sort();
    host_keys.dedup();
    assert_eq!(host_keys.len(), 3);

    // Pagination in DO's shape.
    let page = api.ok("GET", "/v2/droplets?per_page=2", None, 200);
    assert_eq!(page["meta"]["total"], 3);
    assert_eq!(page["droplets"].as_array().unwrap().len(), 2);
    assert!(
        page["links"]["pages"]["next"]
            .as_str()
            .unwrap()
            .ends_with("/v2/droplets?page=2&per_page=2")
    );
    let page2 = api.ok("GET", "/v2/droplets?page=2&per_page=2", None, 200);
    assert_eq!(page2["droplets"].as_array().unwrap().len(), 1);
    assert!(page2["links"]["pages"]["prev"].is_string());

    // Power off / on through actions.
    let id = droplets[0]["id"].as_u64().unwrap();
    let action = api.ok(
        "POST",
        &format!("/v2/droplets/{id}/actions"),
        Some(json!({"type": "power_off"})),
        201,
    );
    let action_id = action["action"]["id"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.ok("GET", &format!("/v2/actions/{action_id}"), None, 200)["action"]["status"]
        != "completed"
    {
        assert!(Instant::now() < deadline, "power_off did not complete");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        api.ok("GET", &format!("/v2/droplets/{id}"), None, 200)["droplet"]["status"],
        "off"
    );
    api.ok(
        "POST",
        &format!("/v2/droplets/{id}/actions"),
        Some(json!({"type": "power_on"})),
        201,
    );
    // One event at a time, as on DigitalOcean: a reboot while it boots is refused.
    let (status, body, _) = api.call(
        "POST",
        &format!("/v2/droplets/{id}/actions"),
        Some(json!({"type": "reboot"})),
    );
    assert_eq!(
        (status, body["message"].as_str()),
        (422, Some("Droplet already has a pending event.")),
        "{body}"
    );
    wait_active(&api, "pond-acme", 3);
    common::ssh(&key, &address(&droplets[0]), "true");

    // Domains and records.
    api.ok(
        "POST",
        "/v2/domains",
        Some(json!({"name": "shop.example.com", "ip_address": address(&droplets[0])})),
        201,
    );
    let rec = api.ok(
        "POST",
        "/v2/domains/shop.example.com/records",
        Some(json!({"type": "CNAME", "name": "k3v9q2x8m1zapt", "data": "@", "ttl": 60})),
        201,
    );
    assert_eq!(rec["domain_record"]["type"], "CNAME");
    let records = api.ok(
        "GET",
        "/v2/domains/shop.example.com/records?type=A",
        None,
        200,
    );
    assert_eq!(records["meta"]["total"], 1);
    let (status, err, _) = api.call(
        "POST",
        "/v2/domains/shop.example.com/records",
        Some(json!({"type": "A", "name": "x", "data": "not-an-ip"})),
    );
    assert_eq!(status, 422);
    assert_eq!(err["id"], "unprocessable_entity");

    // Injected faults: 429 with a reset header, then 503, then recovery.
    api.ok("POST", "/_lab/faults", Some(json!({"rate_limit": 1, "rate_limit_reset_seconds": 2, "server_errors": 1, "server_error_status": 503})), 200);
    let (status, body, headers) = api.call("GET", "/v2/account", None);
    assert_eq!(
        (status, body["id"].as_str()),
        (429, Some("too_many_requests"))
    );
    let header = |name: &str| {
        headers
            .iter()
            .find(|(h, _)| h == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(header("ratelimit-remaining"), "0");
    let reset: u64 = header("ratelimit-reset").parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        reset >= now && reset <= now + 3,
        "reset {reset} vs now {now}"
    );
    assert_eq!(api.call("GET", "/v2/account", None).0, 503);
    api.ok("GET", "/v2/account", None, 200);

    // A droplet that never becomes active stays `new` and can be deleted.
    api.ok(
        "POST",
        "/_lab/faults",
        Some(json!({"never_active": 1})),
        200,
    );
    let stuck = api.ok("POST", "/v2/droplets", Some(json!({"name": "stuck", "size": "s-1vcpu-1gb", "image": "debian-13-x64", "tags": ["pond-stuck"]})), 202);
    std::thread::sleep(Duration::from_secs(2));
    let id = stuck["droplet"]["id"].as_u64().unwrap();
    assert_eq!(
        api.ok("GET", &format!("/v2/droplets/{id}"), None, 200)["droplet"]["status"],
        "new"
    );
    api.ok("DELETE", &format!("/v2/droplets/{id}"), None, 204);
    api.ok("GET", &format!("/v2/droplets/{id}"), None, 404);

    // Records survive down/up, and droplets come back with their disks.
    common::ssh(&key, &address(&droplets[1]), "echo kept > /root/marker");
    let out = pond(&["lab", "down", "--dir"], &dir.0);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let api = lab_up(&dir.0);
    wait_active(&api, "pond-acme", 3);
    assert_eq!(
        common::ssh(&key, &address(&droplets[1]), "cat /root/marker"),
        "kept\n"
    );

    // Delete by tag, then stop: nothing of the lab is left.
    api.ok("DELETE", "/v2/droplets?tag_name=pond-acme", None, 204);
    assert_eq!(api.ok("GET", "/v2/droplets", None, 200)["meta"]["total"], 0);
    let running: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("api.json")).unwrap()).unwrap();
    let lab_pid = running["pid"].as_u64().unwrap() as u32;
    let log = std::fs::read_to_string(dir.0.join("lab.log")).unwrap();
    let proxy_pid: u32 = log
        .split("apt-cacher-ng, pid ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let out = pond(&["lab", "down", "--dir"], &dir.0);
    assert!(out.status.success());
    assert!(!pond_lab::sys::alive(lab_pid) && !pond_lab::sys::alive(proxy_pid));
    let net = pond_lab::net::LabNet::new(&pond_lab::lab_id(&dir.0));
    assert_eq!(net.leftovers(), Vec::<String>::new());
    assert_eq!(
        pond_lab::machine::mounts_under(&dir.0),
        Vec::<String>::new()
    );
    let out = pond(&["lab", "destroy", "--dir"], &dir.0);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.0.exists());
}

#[test]
fn load_balancers_host_key_changes_and_link_cuts() {
    common::require_root();
    let dir = LabDir::new("pond-lab-lb-");
    let api = lab_up(&dir.0);
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = common::keypair(keys.path(), "tester");
    let k = api.ok(
        "POST",
        "/v2/account/keys",
        Some(json!({"name": "t", "public_key": public})),
        201,
    );
    let body = json!({"names": ["lb-a", "lb-b"], "size": "s-1vcpu-1gb", "image": "debian-13-x64",
                      "ssh_keys": [k["ssh_key"]["id"]], "tags": ["lbtest"]});
    api.ok("POST", "/v2/droplets", Some(body), 202);
    let droplets = wait_active(&api, "lbtest", 2);
    let (a, b) = (address(&droplets[0]), address(&droplets[1]));
    let (fa, fb) = (common::scan(&a, 22), common::scan(&b, 22));
    assert_ne!(fa, fb);

    // Pond's own SSH layer: sessions are pooled and reused (also when asked
    // for twice at once); a wrong pinned
    // key is refused with both fingerprints.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let identity = pond::ssh::key::load(&key).unwrap();
    let endpoint = pond::ssh::Endpoint {
        name: "lb-a".into(),
        address: a.clone(),
        port: 22,
        user: "root".into(),
    };
    rt.block_on(async {
        let pool = pond::ssh::Pool::new();
        let check = pond::ssh::HostKeyCheck::Pinned(fa.clone());
        let (first, fresh) = pool.get(&endpoint, &identity, check.clone()).await.unwrap();
        assert!(fresh);
        let hello = pond::tasks::execute::script(
            "hello",
            &endpoint,
            "common/hello",
            &[("GREETING", "hello")],
        )
        .unwrap();
        let out = pond::tasks::execute::run_on(&first, &hello, None, &pond::ssh::session::quiet())
            .await
            .unwrap();
        assert!(
            out.stdout.starts_with("hello\nhost: lb-a\n"),
            "{}",
            out.stdout
        );
        let (again, fresh) = pool.get(&endpoint, &identity, check.clone()).await.unwrap();
        assert!(
            !fresh && std::sync::Arc::ptr_eq(&first, &again),
            "the pooled session is reused"
        );
        assert_eq!(pool.open().await, 1);
        // Two asks at once (two environments on one droplet, as `pond
        // status` reads them) share one connection.
        let fresh_pool = pond::ssh::Pool::new();
        let (x, y) = tokio::join!(
            fresh_pool.get(&endpoint, &identity, check),
            fresh_pool.get(&endpoint, &identity, pond::ssh::HostKeyCheck::FirstUse)
        );
        let ((x, x_fresh), (y, y_fresh)) = (x.unwrap(), y.unwrap());
        assert!(
            std::sync::Arc::ptr_eq(&x, &y) && x_fresh != y_fresh,
            "asked twice at once, the pool connected twice"
        );
        assert_eq!(fresh_pool.open().await, 1);
        let wrong = pond::ssh::HostKeyCheck::Pinned(fb.clone());
        let err = pond::ssh::Session::connect(&endpoint, &identity, wrong)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&format!("pinned {fb}, presented {fa}")),
            "{err}"
        );
    });

    // The load balancer forwards to its droplets in turn (TCP 2222 -> sshd).
    let rule = json!({"entry_protocol": "tcp", "entry_port": 2222, "target_protocol": "tcp", "target_port": 22});
    let ids: Vec<u64> = droplets.iter().map(|d| d["id"].as_u64().unwrap()).collect();
    let lb = api.ok(
        "POST",
        "/v2/load_balancers",
        Some(json!({"name": "lb", "forwarding_rules": [rule], "droplet_ids": ids})),
        202,
    );
    assert_eq!(lb["load_balancer"]["status"], "active");
    let lb_id = lb["load_balancer"]["id"].as_str().unwrap().to_string();
    let lb_ip = lb["load_balancer"]["ip"].as_str().unwrap().to_string();
    let mut seen: Vec<String> = (0..4).map(|_| common::scan(&lb_ip, 2222)).collect();
    seen.sort();
    seen.dedup();
    let mut both = vec![fa.clone(), fb.clone()];
    both.sort();
    assert_eq!(seen, both, "round robin over both droplets");
    api.ok(
        "DELETE",
        &format!("/v2/load_balancers/{lb_id}/droplets"),
        Some(json!({"droplet_ids": [ids[0]]})),
        204,
    );
    for _ in 0..3 {
        assert_eq!(
            common::scan(&lb_ip, 2222),
            fb,
            "only the remaining droplet serves"
        );
    }

    // A deliberately changed host key is what new connections see.
    let changed = api.ok(
        "POST",
        &format!("/_lab/droplets/{}/host-key", ids[0]),
        None,
        200,
    );
    let new_fp = changed["host_key"]["fingerprint"].as_str().unwrap();
    assert_ne!(new_fp, fa);
    assert_eq!(common::scan(&a, 22), new_fp);

    // A cut link makes the droplet unreachable for the given time only.
    api.ok(
        "POST",
        &format!("/_lab/droplets/{}/cut", ids[1]),
        Some(json!({"seconds": 2})),
        200,
    );
    let refused = Command::new("ssh")
        .args([
            "-n",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=1",
        ])
        .arg("-i")
        .arg(&key)
        .arg(format!("root@{b}"))
        .arg("true")
        .status()
        .unwrap();
    assert!(!refused.success(), "ssh must fail while the link is cut");
    std::thread::sleep(Duration::from_secs(3));
    common::ssh(&key, &b, "true");

    api.ok("DELETE", "/v2/droplets?tag_name=lbtest", None, 204);
    api.ok("DELETE", &format!("/v2/load_balancers/{lb_id}"), None, 204);
    let out = pond(&["lab", "destroy", "--dir"], &dir.0);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let net = pond_lab::net::LabNet::new(&pond_lab::lab_id(&dir.0));
    assert_eq!(net.leftovers(), Vec::<String>::new());
}

#[test]
fn the_labs_dns_serves_api_records_to_the_host_and_droplets() {
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;
    use pond::delegation::{Transport, query};

    common::require_root();
    let dir = LabDir::new("pond-lab-dns-");
    let api = lab_up(&dir.0);
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = common::keypair(keys.path(), "tester");
    // Trailing slashes, as python-digitalocean sends them.
    assert_eq!(
        api.ok("GET", "/v2/account/", None, 200)["account"]["status"],
        "active"
    );
    let k = api.ok(
        "POST",
        "/v2/account/keys/",
        Some(json!({"name": "t", "public_key": public})),
        201,
    );
    let body = json!({"name": "resolver-1", "size": "s-1vcpu-1gb", "image": "debian-12-x64",
                      "ssh_keys": [k["ssh_key"]["id"]], "tags": ["dnstest"]});
    api.ok("POST", "/v2/droplets/", Some(body), 202);
    let droplets = wait_active(&api, "dnstest", 1);
    let by_tag = api.ok("GET", "/v2/droplets/?tag_name=dnstest", None, 200);
    assert_eq!(by_tag["meta"]["total"], 1);
    api.ok("GET", "/v2/", None, 404);
    let addr = address(&droplets[0]);

    // Records made through the API answer at once, over UDP and TCP.
    api.ok(
        "POST",
        "/v2/domains",
        Some(json!({"name": "dns.example.com", "ip_address": addr})),
        201,
    );
    for (kind, name, data) in [
        ("A", "www", addr.as_str()),
        ("AAAA", "v6", "fd00::42"),
        ("CNAME", "alias", "www.dns.example.com."),
        ("TXT", "_acme-challenge", "token-of-the-challenge"),
    ] {
        let record = json!({"type": kind, "name": name, "data": data, "ttl": 60});
        api.ok(
            "POST",
            "/v2/domains/dns.example.com/records",
            Some(record),
            201,
        );
    }
    let dns: std::net::SocketAddr = api.dns.parse().unwrap();
    for transport in [Transport::Udp, Transport::Tcp] {
        let answers = |name: &str, kind| -> Vec<String> {
            let reply = query(dns, name, kind, transport).unwrap();
            assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
            assert!(reply.metadata.authoritative, "{name} {kind}");
            reply.answers.iter().map(|r| r.data.to_string()).collect()
        };
        assert_eq!(
            answers("www.dns.example.com", RecordType::A),
            std::slice::from_ref(&addr)
        );
        assert_eq!(
            answers("v6.dns.example.com", RecordType::AAAA),
            ["fd00::42"]
        );
        assert_eq!(
            answers("alias.dns.example.com", RecordType::A),
            ["www.dns.example.com.".to_string(), addr.clone()]
        );
        assert_eq!(
            answers("_acme-challenge.dns.example.com", RecordType::TXT),
            ["token-of-the-challenge"]
        );
        assert_eq!(
            answers("dns.example.com", RecordType::NS),
            [
                "ns1.digitalocean.com.",
                "ns2.digitalocean.com.",
                "ns3.digitalocean.com."
            ]
        );
        let soa = answers("dns.example.com", RecordType::SOA);
        assert!(
            soa[0].starts_with("ns1.digitalocean.com. hostmaster.dns.example.com. "),
            "{soa:?}"
        );
        let missing = query(dns, "nothing.dns.example.com", RecordType::A, transport).unwrap();
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
        let outside = query(dns, "www.example.org", RecordType::A, transport).unwrap();
        assert_eq!(outside.metadata.response_code, ResponseCode::Refused);
        assert!(outside.answers.is_empty() && !outside.metadata.recursion_available);
    }
    // The name-server check reads the zone's NS records from the same server.
    let delegation = pond::delegation::check("shop.dns.example.com", dns).unwrap();
    assert_eq!(delegation.zone, "dns.example.com");
    assert!(delegation.to_digitalocean);

    // Inside the droplet, the lab's DNS is the resolver (libc's getent).
    let inside = common::ssh(
        &key,
        &addr,
        "getent hosts alias.dns.example.com; getent hosts www.example.org; echo \"outside: $?\"",
    );
    assert!(
        inside.starts_with(&addr) && inside.contains("alias.dns.example.com"),
        "{inside}"
    );
    assert!(
        inside.ends_with("outside: 2\n"),
        "refused, so not found: {inside}"
    );
    api.ok(
        "POST",
        "/v2/domains/dns.example.com/records",
        Some(json!({"type": "A", "name": "late", "data": "198.18.0.77"})),
        201,
    );
    assert_eq!(
        common::ssh(&key, &addr, "getent hosts late.dns.example.com"),
        "198.18.0.77     late.dns.example.com\n"
    );

    // `pond lab status --json` names the API, the DNS, the images and the droplet.
    let out = pond(&["lab", "status", "--json", "--dir"], &dir.0);
    assert!(out.status.success());
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["api_url"], format!("{}/v2", api.url));
    assert_eq!(status["dns"], api.dns);
    let host = droplets[0]["networks"]["v4"][0]["gateway"]
        .as_str()
        .unwrap();
    assert_eq!(status["droplet_dns"], format!("{host}:53"));
    let images: Vec<Value> = pond_lab::api::catalog::images()
        .iter()
        .map(|i| i["slug"].clone())
        .collect();
    assert_eq!(status["images"], Value::Array(images));
    assert!(
        status["images"]
            .as_array()
            .unwrap()
            .contains(&json!("debian-12-x64"))
    );
    let listed = &status["droplets"][0];
    assert_eq!(listed["id"], droplets[0]["id"]);
    assert_eq!(listed["name"], "resolver-1");
    assert_eq!(listed["image"], "debian-12-x64");
    assert_eq!(listed["address"], addr);

    let out = pond(&["lab", "destroy", "--dir"], &dir.0);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
