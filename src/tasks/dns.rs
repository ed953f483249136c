//! DNS on DigitalOcean for an environment: the domain's A record, `www.`'s,
//! and the three preview hosts' (`<prefix>`, `<prefix>-blue`, `<prefix>-green`),
//! created or updated in place, never duplicated: planned as requests from
//! what the zone holds, then sent as planned.

use reqwest::Method;
use serde_json::{Value, json};

use super::execute;
use crate::digitalocean::{Client, is_not_found};
use crate::plan::{Method as PlanMethod, Plan};

/// The names, in the domain's zone, of the A records Pond makes for an
/// environment (and `pond destroy` deletes): the apex, `www`, and the three
/// preview hosts.
pub fn record_names(prefix: &str) -> [String; 5] {
    [
        "@".to_string(),
        "www".to_string(),
        prefix.to_string(),
        format!("{prefix}-blue"),
        format!("{prefix}-green"),
    ]
}

/// A records for the domain, `www.<domain>` (unless it is already a
/// record of another address or a CNAME) and the three preview hosts: the
/// domain is created if DigitalOcean does not host it yet; existing A
/// records of those names are updated instead of duplicated. The requests
/// are planned from what the zone holds ([`records_plan`]), then sent as
/// planned.
pub async fn point_dns(
    client: &Client,
    account: &str,
    domain: &str,
    prefix: &str,
    address: &str,
) -> anyhow::Result<()> {
    let hosted = match client
        .call(
            Method::GET,
            &format!("/domains/{domain}"),
            None,
            "looking up the domain",
        )
        .await
    {
        Ok(_) => true,
        // Only "DigitalOcean does not host this domain" creates the zone;
        // any other error (a bad token, an outage) stops here.
        Err(e) if is_not_found(&e) => false,
        Err(e) => return Err(e),
    };
    let (a_records, cnames) = if hosted {
        let records = format!("/domains/{domain}/records");
        (
            client
                .list(
                    &format!("{records}?type=A"),
                    "domain_records",
                    "listing DNS records",
                )
                .await?,
            client
                .list(
                    &format!("{records}?type=CNAME"),
                    "domain_records",
                    "listing DNS records",
                )
                .await?,
        )
    } else {
        (vec![], vec![])
    };
    let zone = Zone {
        account,
        domain,
        hosted,
        a_records: &a_records,
        cnames: &cnames,
    };
    for op in records_plan(&zone, prefix, address)?.operations {
        execute::api(client, &op).await?;
    }
    Ok(())
}

/// What a domain's zone holds on DigitalOcean, as listed.
pub struct Zone<'a> {
    /// The account the requests go to.
    pub account: &'a str,
    pub domain: &'a str,
    /// DigitalOcean hosts the domain already.
    pub hosted: bool,
    /// Its A records and CNAME records (`domain_records` as listed).
    pub a_records: &'a [Value],
    pub cnames: &'a [Value],
}

/// The requests pointing `zone`'s environment records (see
/// [`record_names`]) at `address`: the zone added when it is not hosted,
/// an A record updated where one of that name exists, created where none
/// does; `www` left alone when it is a CNAME or an A record of another
/// address (the user's own). Pure; every request checked as
/// [`execute::api`] would.
pub fn records_plan(zone: &Zone, prefix: &str, address: &str) -> anyhow::Result<Plan> {
    let domain = zone.domain;
    let request = |description: String, method, path: String, body| {
        execute::api_request(zone.account, description, method, path, Some(body))
    };
    let mut operations = vec![];
    if !zone.hosted {
        operations.push(request(
            format!("add {domain} to DigitalOcean DNS"),
            PlanMethod::Post,
            "/v2/domains".to_string(),
            json!({"name": domain}),
        ));
    }
    for name in record_names(prefix) {
        let existing = zone.a_records.iter().find(|r| r["name"] == name.as_str());
        if name == "www"
            && (zone.cnames.iter().any(|r| r["name"] == "www")
                || existing.is_some_and(|r| r["data"] != address))
        {
            continue;
        }
        operations.push(match existing.and_then(|r| r["id"].as_u64()) {
            Some(rid) => request(
                format!("update the A record {name}.{domain} to {address}"),
                PlanMethod::Put,
                format!("/v2/domains/{domain}/records/{rid}"),
                json!({"type": "A", "data": address}),
            ),
            None => request(
                format!("create the A record {name}.{domain} → {address}"),
                PlanMethod::Post,
                format!("/v2/domains/{domain}/records"),
                json!({"type": "A", "name": name, "data": address, "ttl": 300}),
            ),
        });
    }
    for op in &operations {
        execute::check_api(op)?;
    }
    Ok(Plan {
        title: format!("point {domain} at {address}"),
        operations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;

    fn sent(plan: &Plan) -> Vec<String> {
        plan.operations
            .iter()
            .map(|op| match &op.action {
                Action::Api(r) => format!(
                    "{:?} {} {}",
                    r.method,
                    r.path,
                    r.body.as_ref().map(|b| b.to_string()).unwrap_or_default()
                ),
                Action::Script { .. } => panic!("only API requests"),
            })
            .collect()
    }

    #[test]
    fn a_new_zone_is_added_then_every_record_created() {
        let zone = Zone {
            account: "agency",
            domain: "shop.example.com",
            hosted: false,
            a_records: &[],
            cnames: &[],
        };
        let plan = records_plan(&zone, "k3v9", "198.18.0.2").unwrap();
        let sent = sent(&plan);
        assert_eq!(sent.len(), 6);
        assert_eq!(sent[0], r#"Post /v2/domains {"name":"shop.example.com"}"#);
        assert_eq!(
            sent[1],
            r#"Post /v2/domains/shop.example.com/records {"type":"A","name":"@","data":"198.18.0.2","ttl":300}"#
        );
        assert!(sent[5].contains(r#""name":"k3v9-green""#));
    }

    #[test]
    fn existing_records_are_updated_and_the_users_own_www_left_alone() {
        let a_records = [
            json!({"id": 11, "name": "@", "data": "203.0.113.9"}),
            json!({"id": 12, "name": "www", "data": "203.0.113.9"}),
            json!({"id": 13, "name": "k3v9-blue", "data": "198.18.0.2"}),
        ];
        let zone = Zone {
            account: "agency",
            domain: "shop.example.com",
            hosted: true,
            a_records: &a_records,
            cnames: &[],
        };
        let sent = sent(&records_plan(&zone, "k3v9", "198.18.0.2").unwrap());
        assert_eq!(
            sent,
            [
                r#"Put /v2/domains/shop.example.com/records/11 {"type":"A","data":"198.18.0.2"}"#,
                r#"Post /v2/domains/shop.example.com/records {"type":"A","name":"k3v9","data":"198.18.0.2","ttl":300}"#,
                r#"Put /v2/domains/shop.example.com/records/13 {"type":"A","data":"198.18.0.2"}"#,
                r#"Post /v2/domains/shop.example.com/records {"type":"A","name":"k3v9-green","data":"198.18.0.2","ttl":300}"#,
            ]
        );
        let cnames = [json!({"id": 20, "name": "www", "data": "shop.example.net."})];
        let zone = Zone {
            a_records: &[],
            cnames: &cnames,
            ..zone
        };
        let plan = records_plan(&zone, "k3v9", "198.18.0.2").unwrap();
        assert!(!sent_names(&plan).contains(&"www".to_string()));
        assert_eq!(plan.operations.len(), 4);
    }

    fn sent_names(plan: &Plan) -> Vec<String> {
        plan.operations
            .iter()
            .filter_map(|op| match &op.action {
                Action::Api(r) => r.body.as_ref()?["name"].as_str().map(str::to_string),
                Action::Script { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_domain_that_would_leave_the_api_path_is_refused() {
        let zone = Zone {
            account: "agency",
            domain: "../droplets",
            hosted: true,
            a_records: &[],
            cnames: &[],
        };
        let err = records_plan(&zone, "k3v9", "198.18.0.2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not plain"), "{err}");
    }
}
