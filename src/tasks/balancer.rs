//! The DigitalOcean requests that make and change an environment's load
//! balancer, as values (pure): created in front of its web droplets (HTTP
//! 80 → 80, a TCP health check on port 80 so no Host header is needed),
//! droplets put behind it or taken out, its forwarding rules and redirect
//! set (HTTPS, `tasks::lb_tls`). Plans show them; `tasks::execute::api`
//! sends them.

use serde_json::{Value, json};

use super::execute::api_request;
use crate::digitalocean::rules_update;
use crate::plan::{Method, Operation};

/// The request creating balancer `name` in `region` in front of
/// `droplet_ids`; DigitalOcean answers with its id.
pub fn create(account: &str, name: &str, region: &str, droplet_ids: &[u64]) -> Operation {
    api_request(
        account,
        format!(
            "create load balancer {name} ({region}, HTTP 80 → 80) in front of {} droplet(s)",
            droplet_ids.len()
        ),
        Method::Post,
        "/v2/load_balancers".to_string(),
        Some(json!({
            "name": name,
            "region": region,
            "forwarding_rules": [{
                "entry_protocol": "http", "entry_port": 80,
                "target_protocol": "http", "target_port": 80,
            }],
            "health_check": {
                "protocol": "tcp", "port": 80,
                "check_interval_seconds": 10, "response_timeout_seconds": 5,
                "healthy_threshold": 3, "unhealthy_threshold": 3,
            },
            "droplet_ids": droplet_ids,
        })),
    )
}

/// The request deleting balancer `lb_id`; `why` says why.
pub fn delete(account: &str, lb_id: &str, why: &str) -> Operation {
    api_request(
        account,
        format!("delete load balancer {lb_id}, {why}"),
        Method::Delete,
        format!("/v2/load_balancers/{lb_id}"),
        None,
    )
}

/// The request putting `droplet_ids` (named `names`) behind balancer
/// `lb_name` (id `lb_id`), or, with `add` false, taking them out.
pub fn droplets(
    account: &str,
    lb_id: &str,
    lb_name: &str,
    names: &[&str],
    droplet_ids: &[u64],
    add: bool,
) -> Operation {
    let (method, description) = if add {
        (
            Method::Post,
            format!("put {} behind load balancer {lb_name}", names.join(", ")),
        )
    } else {
        (
            Method::Delete,
            format!("take {} out of load balancer {lb_name}", names.join(", ")),
        )
    };
    api_request(
        account,
        description,
        method,
        format!("/v2/load_balancers/{lb_id}/droplets"),
        Some(json!({ "droplet_ids": droplet_ids })),
    )
}

/// The PUT setting balancer `lb_id` (`lb`, as DigitalOcean returned it)
/// to `rules` on ports 80/443 and the HTTP → HTTPS redirect, every other
/// setting as it was ([`rules_update`]); `what` says what the rules are.
/// Refused when `lb` is another balancer than `lb_id`.
pub fn rules(
    account: &str,
    lb_id: &str,
    lb: &Value,
    rules: &[Value],
    redirect_http_to_https: bool,
    what: &str,
) -> anyhow::Result<Operation> {
    if lb["id"].as_str() != Some(lb_id) {
        anyhow::bail!(
            "DigitalOcean answered for load balancer {} when asked for {lb_id}; its rules were not changed",
            crate::config::show(&lb["id"].to_string())
        );
    }
    Ok(api_request(
        account,
        format!(
            "the load balancer {}: {what}",
            lb["name"].as_str().unwrap_or_default()
        ),
        Method::Put,
        format!("/v2/load_balancers/{lb_id}"),
        Some(rules_update(lb, rules, redirect_http_to_https)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;

    fn request(op: &Operation) -> (Method, &str, &Value) {
        match &op.action {
            Action::Api(r) => (r.method, r.path.as_str(), r.body.as_ref().unwrap()),
            Action::Script { .. } => panic!("an API request"),
        }
    }

    #[test]
    fn the_balancer_requests_name_exactly_their_droplets() {
        let op = create("agency", "shop-live-lb", "ams3", &[11, 12]);
        let (method, path, body) = request(&op);
        assert_eq!((method, path), (Method::Post, "/v2/load_balancers"));
        assert_eq!(body["droplet_ids"], json!([11, 12]));
        assert_eq!(body["health_check"]["protocol"], "tcp");
        let join = droplets(
            "agency",
            "4de7",
            "shop-live-lb",
            &["shop-live-3"],
            &[13],
            true,
        );
        assert_eq!(
            join.description,
            "put shop-live-3 behind load balancer shop-live-lb"
        );
        let (method, path, body) = request(&join);
        assert_eq!(
            (method, path),
            (Method::Post, "/v2/load_balancers/4de7/droplets")
        );
        assert_eq!(body, &json!({"droplet_ids": [13]}));
        let leave = droplets(
            "agency",
            "4de7",
            "shop-live-lb",
            &["shop-live-3"],
            &[13],
            false,
        );
        assert_eq!(request(&leave).0, Method::Delete);
    }

    #[test]
    fn a_rules_change_puts_the_whole_balancer_back_with_new_rules() {
        let lb = json!({
            "id": "4de7", "name": "shop-live-lb", "region": {"slug": "ams3"},
            "droplet_ids": [11], "algorithm": "round_robin",
            "forwarding_rules": [{"entry_protocol": "http", "entry_port": 80, "target_protocol": "http", "target_port": 80}],
        });
        let op = rules(
            "agency",
            "4de7",
            &lb,
            &crate::tasks::lb_tls::rules(Some("c1")),
            true,
            "HTTPS",
        )
        .unwrap();
        let (method, path, body) = request(&op);
        assert_eq!((method, path), (Method::Put, "/v2/load_balancers/4de7"));
        assert_eq!(body["redirect_http_to_https"], true);
        assert_eq!(body["droplet_ids"], json!([11]));
        assert_eq!(body["forwarding_rules"][1]["certificate_id"], "c1");
        assert_eq!(op.description, "the load balancer shop-live-lb: HTTPS");
        // An answer about another balancer changes nothing.
        let other = rules("agency", "9f00", &lb, &[], false, "HTTP only").unwrap_err();
        assert!(other.to_string().contains("when asked for 9f00"), "{other}");
    }
}
