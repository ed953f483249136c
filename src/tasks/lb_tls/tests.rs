use super::*;

fn verified(not_after: i64) -> BalancerTls {
    BalancerTls {
        https_rule: true,
        redirect_http_to_https: true,
        certificate: Some(Certificate {
            id: "c1".into(),
            name: "pond-shop-production-1".into(),
            dns_names: names("shop.example.com"),
            state: "verified".into(),
            kind: "lets_encrypt".into(),
            not_after,
            created_at: 0,
        }),
    }
}

#[test]
fn the_rules_add_443_with_the_certificate() {
    assert_eq!(rules(None).len(), 1);
    let with = rules(Some("abc"));
    assert_eq!(with[1]["entry_port"], 443);
    assert_eq!(with[1]["entry_protocol"], "https");
    assert_eq!(with[1]["target_protocol"], "http");
    assert_eq!(with[1]["certificate_id"], "abc");
    let lb = json!({"forwarding_rules": with});
    assert_eq!(https_certificate_id(&lb).as_deref(), Some("abc"));
}

#[test]
fn the_wildcard_covers_previews_and_no_secret_name_is_requested() {
    let n = names("shop.example.com");
    assert_eq!(n, ["shop.example.com", "*.shop.example.com"]);
}

#[test]
fn attention_for_a_missing_expiring_or_unredirected_certificate() {
    let d = "shop.example.com";
    let now = 1_000_000_000;
    assert_eq!(
        needs_attention("production", d, &verified(now + 60 * 86_400), now),
        None
    );
    assert!(
        needs_attention("production", d, &verified(now + 3 * 86_400), now)
            .unwrap()
            .contains("NOT RENEWED")
    );
    assert!(
        needs_attention("production", d, &verified(now - 1), now)
            .unwrap()
            .contains("EXPIRED")
    );
    let mut pending = verified(0);
    pending.certificate.as_mut().unwrap().state = "pending".into();
    assert!(
        needs_attention("production", d, &pending, now)
            .unwrap()
            .contains("NOT SERVING")
    );
    assert!(describe("production", d, &pending, now).contains("is pending"));
    let mut other = verified(now + 60 * 86_400);
    other.certificate.as_mut().unwrap().dns_names = names("old.example.com");
    assert!(!other.serves(d));
    let mut plain = verified(now + 60 * 86_400);
    plain.redirect_http_to_https = false;
    assert!(
        needs_attention("production", d, &plain, now)
            .unwrap()
            .contains("REDIRECT")
    );
    assert!(
        describe("production", d, &verified(now + 60 * 86_400), now)
            .starts_with("https://shop.example.com/ at the load balancer")
    );
}

#[test]
fn only_pond_s_own_certificates_for_the_environment_are_deleted() {
    let c = verified(0).certificate.unwrap();
    assert!(c.is_pond_s("shop", "production", "shop.example.com"));
    assert!(!c.is_pond_s("shop", "prod", "shop.example.com"));
    assert!(!c.is_pond_s("shop", "production", "other.example.com"));
    let uploaded = Certificate {
        kind: "custom".into(),
        ..c.clone()
    };
    assert!(!uploaded.is_pond_s("shop", "production", "shop.example.com"));
    // `acme`/`shop-production` names its certificates alike; its
    // domain tells them apart.
    let other = Certificate {
        name: "pond-acme-shop-production-9".into(),
        dns_names: names("acme.example.com"),
        ..c
    };
    assert!(!other.is_pond_s("acme-shop", "production", "shop.example.com"));
}

#[test]
fn the_certificate_is_read_from_digitaloceans_json() {
    let c = parse_certificate(&json!({
        "id": "892071a0", "name": "web-cert-01", "not_after": "2017-02-22T00:23:00Z",
        "dns_names": ["www.example.com", "example.com"], "state": "verified",
        "type": "lets_encrypt"
    }));
    assert_eq!(c.not_after, 1_487_722_980);
    assert_eq!(c.dns_names, ["www.example.com", "example.com"]);
    assert_eq!(parse_certificate(&json!({"state": "pending"})).not_after, 0);
}
