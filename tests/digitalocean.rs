//! The DigitalOcean client against the lab's DO-compatible API: token
//! check, DO's error messages, waiting out 429s until `ratelimit-reset`,
//! bounded retries on 5xx, a lost creation reply never duplicating a
//! droplet, pagination, idempotent key upload (`register_keys`), droplets
//! that never become active, and a token that never shows in output.

mod common;

use std::time::{Duration, Instant};

use common::lab::{LabDir, lab_up};
use pond::digitalocean::{ApiError, Client, Token};
use serde_json::json;

#[test]
fn the_client_handles_do_errors_rate_limits_retries_and_pages() {
    common::require_root();
    let lab = LabDir::new("pond-do-");
    let api = lab_up(&lab.0);
    let url = format!("{}/v2", api.url);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = Client::new(&url, Token::new(api.token.clone())).unwrap();
        client.retry.backoff = Duration::from_millis(50);
        assert!(!format!("{client:?}").contains(&api.token), "the token never shows");
        let account = client.account().await.unwrap();
        assert_eq!(account["status"], "active");

        let wrong = Client::new(&url, Token::new("dop_v1_wrong")).unwrap();
        let err = wrong.account().await.unwrap_err();
        let e = err.downcast_ref::<ApiError>().expect("an API error");
        assert_eq!((e.status, e.id.as_str()), (401, "Unauthorized"));
        assert_eq!(err.to_string(), "checking the account token: DigitalOcean said 401: Unable to authenticate you");

        // A 429 storm is waited out until the announced reset.
        api.ok("POST", "/_lab/faults", Some(json!({"rate_limit": 3, "rate_limit_reset_seconds": 1})), 200);
        let started = Instant::now();
        client.account().await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(1), "waited for ratelimit-reset");
        assert!(started.elapsed() < Duration::from_secs(10));

        // 5xx: retried with backoff, then given up with DO's message.
        api.ok("POST", "/_lab/faults", Some(json!({"server_errors": 2, "server_error_status": 503})), 200);
        client.account().await.unwrap();
        api.ok("POST", "/_lab/faults", Some(json!({"server_errors": 10, "server_error_status": 500})), 200);
        let err = client.account().await.unwrap_err().to_string();
        assert!(err.contains("DigitalOcean said 500"), "{err}");
        api.ok("POST", "/_lab/faults", Some(json!({})), 200);

        // Keys: uploaded once (a planned request), found again by their
        // fingerprint, as new droplets name them.
        let keys = tempfile::tempdir().unwrap();
        let (key, public) = common::keypair(keys.path(), "me");
        let identity = pond::ssh::key::load(&key).unwrap();
        // The user's own key is a team key too (another comment): once.
        let mut file = pond::config::ProjectFile::starter("keys", pond::config::Stack::Static);
        let blob_only = public.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        file.team_keys.push(pond::config::TeamKey { name: "me-too".into(), public_key: format!("{blob_only} me@laptop") });
        for _ in 0..2 {
            pond::tasks::droplets::register_keys(&client, "lab", &file, &identity).await.unwrap();
        }
        let blob = public.split_whitespace().nth(1);
        let listed = client.list("/account/keys", "ssh_keys", "listing keys").await.unwrap();
        let mine = listed.iter().filter(|k| k["public_key"].as_str().and_then(|p| p.split_whitespace().nth(1)) == blob);
        assert_eq!(mine.count(), 1, "{listed:?}");

        // A creation whose reply is lost (a 5xx after DO made the droplet)
        // is found by name and tag before any retry: one droplet, not two.
        api.ok("POST", "/_lab/faults", Some(json!({"lost_create_replies": 1})), 200);
        let made = client
            .create_droplet(&json!({"name": "once-1", "size": "s-1vcpu-1gb", "image": "debian-13-x64", "tags": ["once"]}))
            .await
            .unwrap();
        assert_eq!(made["name"], "once-1");
        let tagged = client.droplets_by_tag("once").await.unwrap();
        assert_eq!(tagged.len(), 1, "no duplicate billed droplet: {tagged:?}");

        // Pagination: every page is followed.
        for name in ["p-1", "p-2", "p-3"] {
            client
                .create_droplet(&json!({"name": name, "size": "s-1vcpu-1gb", "image": "debian-13-x64", "tags": ["paged"]}))
                .await
                .unwrap();
        }
        let all = client.list("/droplets?tag_name=paged&per_page=1", "droplets", "listing").await.unwrap();
        assert_eq!(all.len(), 3);
        for d in &all {
            let d = client.wait_active(d["id"].as_u64().unwrap(), Duration::from_secs(30)).await.unwrap();
            assert!(Client::public_ipv4(&d).unwrap().starts_with("198.18."));
        }

        // A droplet that never becomes active times out with a clear error.
        api.ok("POST", "/_lab/faults", Some(json!({"never_active": 1})), 200);
        let stuck = client
            .create_droplet(&json!({"name": "stuck", "size": "s-1vcpu-1gb", "image": "debian-13-x64", "tags": ["paged"]}))
            .await
            .unwrap();
        let err = client.wait_active(stuck["id"].as_u64().unwrap(), Duration::from_secs(2)).await.unwrap_err().to_string();
        assert!(err.contains("did not become active within 2 s"), "{err}");
        client.call(reqwest::Method::DELETE, "/droplets?tag_name=paged", None, "deleting").await.unwrap();
        assert!(client.droplets_by_tag("paged").await.unwrap().is_empty());
        let gone = client.droplet(stuck["id"].as_u64().unwrap()).await.unwrap_err();
        assert_eq!(gone.downcast_ref::<ApiError>().unwrap().status, 404);
    });
}
