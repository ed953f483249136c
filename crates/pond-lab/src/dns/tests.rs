//! The lab DNS server's answers, asked with Pond's own client.

use super::*;

fn rec(id: u64, kind: &str, name: &str, data: &str) -> state::Record {
    state::Record {
        id,
        kind: kind.into(),
        name: name.into(),
        data: data.into(),
        priority: (kind == "MX").then_some(10),
        port: None,
        ttl: 60,
        weight: None,
        flags: None,
        tag: None,
    }
}

fn zones() -> Vec<Domain> {
    vec![
        Domain {
            name: "shop.example.com".into(),
            ttl: 1800,
            records: vec![
                rec(1, "NS", "@", "ns1.digitalocean.com"),
                rec(2, "NS", "@", "ns2.digitalocean.com"),
                rec(3, "A", "@", "198.18.0.10"),
                rec(4, "AAAA", "@", "fd00::10"),
                rec(5, "CNAME", "www", "@"),
                rec(6, "TXT", "_acme-challenge", "token-value"),
                rec(7, "A", "a.b", "198.18.0.11"),
                rec(8, "A", "*.previews", "198.18.0.12"),
                rec(9, "CNAME", "away", "elsewhere.example.org"),
                rec(10, "MX", "@", "mail.shop.example.com"),
            ],
        },
        Domain {
            name: "example.com".into(),
            ttl: 1800,
            records: vec![rec(20, "A", "top", "198.18.0.20")],
        },
    ]
}

fn ask(name: &str, kind: RecordType) -> Answer {
    let delegations = BTreeMap::from([(
        "fresh.example.net".to_string(),
        vec!["ns1.registrar.test".into()],
    )]);
    lookup(
        &zones(),
        &delegations,
        &Name::from_ascii(name).unwrap(),
        kind,
    )
}

fn data(a: &Answer) -> Vec<String> {
    a.answers.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn answers_records_of_the_api_by_type() {
    let a = ask("shop.example.com.", RecordType::A);
    assert_eq!((a.code, a.authoritative), (ResponseCode::NoError, true));
    assert_eq!(data(&a), ["198.18.0.10"]);
    assert_eq!(
        data(&ask("SHOP.example.com.", RecordType::AAAA)),
        ["fd00::10"]
    );
    assert_eq!(
        data(&ask("shop.example.com.", RecordType::NS)),
        ["ns1.digitalocean.com.", "ns2.digitalocean.com."]
    );
    assert_eq!(
        data(&ask("_acme-challenge.shop.example.com.", RecordType::TXT)),
        ["token-value"]
    );
    assert_eq!(
        data(&ask("shop.example.com.", RecordType::MX)),
        ["10 mail.shop.example.com."]
    );
    let soa = ask("shop.example.com.", RecordType::SOA);
    assert_eq!(soa.answers.len(), 1);
    let text = soa.answers[0].data.to_string();
    assert!(
        text.starts_with("ns1.digitalocean.com. hostmaster.shop.example.com. 10 "),
        "{text}"
    );
    // The most specific zone answers.
    assert_eq!(
        data(&ask("top.example.com.", RecordType::A)),
        ["198.18.0.20"]
    );
}

#[test]
fn cnames_are_followed_inside_the_lab() {
    let a = ask("www.shop.example.com.", RecordType::A);
    assert_eq!(data(&a), ["shop.example.com.", "198.18.0.10"]);
    assert_eq!(a.answers[0].name.to_ascii(), "www.shop.example.com.");
    assert_eq!(a.answers[1].name.to_ascii(), "shop.example.com.");
    assert_eq!(
        data(&ask("www.shop.example.com.", RecordType::CNAME)),
        ["shop.example.com."]
    );
    let away = ask("away.shop.example.com.", RecordType::A);
    assert_eq!(data(&away), ["elsewhere.example.org."]);
    assert_eq!(away.code, ResponseCode::NoError);
}

#[test]
fn missing_names_and_types_carry_the_soa() {
    let none = ask("nothing.shop.example.com.", RecordType::A);
    assert_eq!(none.code, ResponseCode::NXDomain);
    assert!(none.answers.is_empty());
    assert_eq!(none.authority[0].record_type(), RecordType::SOA);
    // `b.shop.example.com` has a record below it: it exists, empty.
    let between = ask("b.shop.example.com.", RecordType::A);
    assert_eq!(
        (between.code, between.answers.len()),
        (ResponseCode::NoError, 0)
    );
    let no_type = ask("shop.example.com.", RecordType::TXT);
    assert_eq!(no_type.code, ResponseCode::NoError);
    assert_eq!(no_type.authority[0].record_type(), RecordType::SOA);
}

#[test]
fn wildcards_cover_names_that_do_not_exist() {
    let a = ask("k3v9.previews.shop.example.com.", RecordType::A);
    assert_eq!(data(&a), ["198.18.0.12"]);
    assert_eq!(
        a.answers[0].name.to_ascii(),
        "k3v9.previews.shop.example.com."
    );
    assert_eq!(
        ask("previews.shop.example.com.", RecordType::A)
            .answers
            .len(),
        0,
        "the wildcard's parent exists, without records"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_labs_state_as_it_changes_over_udp_and_tcp() {
    use pond::delegation::{Transport, query};
    let dir = tempfile::tempdir().unwrap();
    let lab = Arc::new(
        Lab::new(
            dir.path().to_path_buf(),
            crate::net::LabNet::new("0001"),
            dir.path().join("base"),
            vec![],
        )
        .unwrap(),
    );
    let dns = serve(Arc::clone(&lab), &["127.0.0.1:0".parse().unwrap()])
        .await
        .unwrap();
    let at = dns.addrs[0];
    let ask = move |name: &'static str, kind, transport| {
        tokio::task::spawn_blocking(move || query(at, name, kind, transport).unwrap())
    };
    let refused = ask("shop.example.com", RecordType::A, Transport::Udp)
        .await
        .unwrap();
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    assert!(!refused.metadata.recursion_available);

    lab.state.lock().await.domains = zones();
    for transport in [Transport::Udp, Transport::Tcp] {
        let reply = ask("www.shop.example.com", RecordType::A, transport)
            .await
            .unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.metadata.authoritative);
        let got: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
        assert_eq!(got, ["shop.example.com.", "198.18.0.10"], "{transport:?}");
    }
    let missing = ask("new.shop.example.com", RecordType::A, Transport::Udp)
        .await
        .unwrap();
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    lab.state.lock().await.domains[0]
        .records
        .push(rec(30, "A", "new", "198.18.0.30"));
    let added = ask("new.shop.example.com", RecordType::A, Transport::Udp)
        .await
        .unwrap();
    assert_eq!(added.answers[0].data.to_string(), "198.18.0.30");
}

#[test]
fn delegations_and_names_outside_the_lab() {
    let ns = ask("fresh.example.net.", RecordType::NS);
    assert_eq!(data(&ns), ["ns1.registrar.test."]);
    let inside = ask("staging.fresh.example.net.", RecordType::NS);
    assert_eq!(
        (inside.code, inside.answers.len()),
        (ResponseCode::NoError, 0)
    );
    for name in ["example.net.", "example.org.", "com.", "."] {
        let a = ask(name, RecordType::A);
        assert_eq!(
            (a.code, a.authoritative),
            (ResponseCode::Refused, false),
            "{name}"
        );
    }
}
