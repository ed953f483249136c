//! `/v2/load_balancers`: the lab's load balancer listens on its own
//! address on the lab bridge and forwards each connection to the next
//! active droplet of its current list (`lb_proxy`: bytes for `http`,
//! TLS terminated for `https` with a certificate of `/v2/certificates`,
//! redirects with `redirect_http_to_https`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog;
use super::http::{ApiError, ApiResult, PageQuery, Params, body, paginate, reply};
use super::state::{LoadBalancer, now, random_uuid};
use crate::runtime::Lab;

#[derive(Deserialize)]
struct LbBody {
    name: String,
    region: Option<String>,
    forwarding_rules: Vec<Value>,
    #[serde(default)]
    health_check: Option<Value>,
    #[serde(default)]
    sticky_sessions: Option<Value>,
    #[serde(default)]
    droplet_ids: Vec<u64>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    redirect_http_to_https: bool,
    #[serde(default)]
    disable_lets_encrypt_dns_records: bool,
}

#[derive(Deserialize)]
struct DropletIds {
    droplet_ids: Vec<u64>,
}

/// Every id must be a droplet of the account (DO answers 422 otherwise).
fn check_droplets(state: &super::state::LabState, ids: &[u64]) -> Result<(), ApiError> {
    match ids.iter().find(|d| state.droplet(**d).is_none()) {
        Some(missing) => Err(ApiError::unprocessable(format!(
            "droplet {missing} does not exist"
        ))),
        None => Ok(()),
    }
}

/// The rules the lab can serve: `http`/`tcp` forwarded as they are, and
/// `https` → `http` terminated with an issued certificate of the account.
fn check_rules(state: &super::state::LabState, rules: &[Value]) -> Result<(), ApiError> {
    if rules.is_empty() {
        return Err(ApiError::unprocessable(
            "forwarding_rules must hold at least one rule",
        ));
    }
    for r in rules {
        let port_ok = |k: &str| r[k].as_u64().is_some_and(|p| (1..=65535).contains(&p));
        let entry = r["entry_protocol"].as_str();
        let target = r["target_protocol"].as_str();
        let protocols_ok = matches!(
            (entry, target),
            (Some("http"), Some("http"))
                | (Some("tcp"), Some("tcp"))
                | (Some("https"), Some("http"))
        );
        if !protocols_ok || !port_ok("entry_port") || !port_ok("target_port") {
            return Err(ApiError::unprocessable(
                "each forwarding rule needs entry_protocol/target_protocol (the lab supports http → http, tcp → tcp and https → http) and entry_port/target_port",
            ));
        }
        if r["tls_passthrough"].as_bool() == Some(true) {
            return Err(ApiError::unprocessable(
                "the lab does not support tls_passthrough",
            ));
        }
        if entry == Some("https") {
            let id = r["certificate_id"].as_str().unwrap_or_default();
            match state.certificates.iter().find(|c| c.id == id) {
                None => {
                    return Err(ApiError::unprocessable(format!(
                        "an https forwarding rule needs the certificate_id of a certificate of the account (got {id:?})"
                    )));
                }
                Some(c) if c.state != "verified" => {
                    return Err(ApiError::unprocessable(format!(
                        "certificate {id} is {}, not verified yet",
                        c.state
                    )));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

fn health_default() -> Value {
    json!({"protocol": "http", "port": 80, "path": "/", "check_interval_seconds": 10,
           "response_timeout_seconds": 5, "unhealthy_threshold": 5, "healthy_threshold": 3})
}

pub async fn create(State(lab): State<Arc<Lab>>, bytes: Bytes) -> ApiResult {
    let req: LbBody = body(&bytes)?;
    let region = req.region.unwrap_or_else(|| "nyc3".into());
    if catalog::region(&region).is_none() {
        return Err(ApiError::unprocessable(format!(
            "region {region:?} is not available"
        )));
    }
    let id = {
        let mut state = lab.state.lock().await;
        check_rules(&state, &req.forwarding_rules)?;
        check_droplets(&state, &req.droplet_ids)?;
        let slot = state
            .free_lb_slot()
            .ok_or_else(|| ApiError::unprocessable("the lab holds at most 5 load balancers"))?;
        let mut droplet_ids = req.droplet_ids;
        if let Some(tag) = &req.tag {
            droplet_ids.extend(
                state
                    .droplets
                    .iter()
                    .filter(|d| d.tags.contains(tag))
                    .map(|d| d.id),
            );
        }
        let lb = LoadBalancer {
            id: random_uuid(),
            name: req.name,
            slot,
            region,
            status: "new".into(),
            created_at: now(),
            forwarding_rules: req.forwarding_rules,
            health_check: req.health_check.unwrap_or_else(health_default),
            sticky_sessions: req
                .sticky_sessions
                .unwrap_or_else(|| json!({"type": "none"})),
            droplet_ids,
            tag: req.tag.unwrap_or_default(),
            redirect_http_to_https: req.redirect_http_to_https,
            disable_lets_encrypt_dns_records: req.disable_lets_encrypt_dns_records,
        };
        let id = lb.id.clone();
        state.load_balancers.push(lb);
        lab.save(&state);
        id
    };
    let started = lab.start_load_balancer(&id).await;
    let mut state = lab.state.lock().await;
    let lb = state
        .load_balancers
        .iter_mut()
        .find(|l| l.id == id)
        .ok_or_else(ApiError::not_found)?;
    lb.status = if started.is_ok() { "active" } else { "errored" }.into();
    if let Err(e) = started {
        eprintln!("lab: load balancer {id}: {e:#}");
    }
    let out = lb.json(&lab.net);
    lab.save(&state);
    reply(StatusCode::ACCEPTED, json!({"load_balancer": out}))
}

pub async fn list(State(lab): State<Arc<Lab>>, Query(params): Params) -> ApiResult {
    let q = PageQuery::from(&params)?;
    let state = lab.state.lock().await;
    let items = state
        .load_balancers
        .iter()
        .map(|l| l.json(&lab.net))
        .collect();
    reply(
        StatusCode::OK,
        paginate(&lab, items, "load_balancers", "/v2/load_balancers", &q, &[]),
    )
}

pub async fn get(State(lab): State<Arc<Lab>>, Path(id): Path<String>) -> ApiResult {
    let state = lab.state.lock().await;
    let lb = state
        .load_balancers
        .iter()
        .find(|l| l.id == id)
        .ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, json!({"load_balancer": lb.json(&lab.net)}))
}

pub async fn update(
    State(lab): State<Arc<Lab>>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let req: LbBody = body(&bytes)?;
    {
        let mut state = lab.state.lock().await;
        check_rules(&state, &req.forwarding_rules)?;
        check_droplets(&state, &req.droplet_ids)?;
        let lb = state
            .load_balancers
            .iter_mut()
            .find(|l| l.id == id)
            .ok_or_else(ApiError::not_found)?;
        lb.name = req.name;
        lb.forwarding_rules = req.forwarding_rules;
        lb.health_check = req.health_check.unwrap_or_else(health_default);
        lb.sticky_sessions = req
            .sticky_sessions
            .unwrap_or_else(|| json!({"type": "none"}));
        lb.droplet_ids = req.droplet_ids;
        lb.redirect_http_to_https = req.redirect_http_to_https;
        lb.disable_lets_encrypt_dns_records = req.disable_lets_encrypt_dns_records;
        lab.save(&state);
    }
    lab.start_load_balancer(&id)
        .await
        .map_err(ApiError::internal)?;
    let state = lab.state.lock().await;
    let lb = state
        .load_balancers
        .iter()
        .find(|l| l.id == id)
        .ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, json!({"load_balancer": lb.json(&lab.net)}))
}

pub async fn delete(State(lab): State<Arc<Lab>>, Path(id): Path<String>) -> ApiResult {
    {
        let mut state = lab.state.lock().await;
        let before = state.load_balancers.len();
        state.load_balancers.retain(|l| l.id != id);
        if state.load_balancers.len() == before {
            return Err(ApiError::not_found());
        }
        lab.save(&state);
    }
    lab.stop_load_balancer(&id).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn change_droplets(lab: Arc<Lab>, id: String, bytes: Bytes, add: bool) -> ApiResult {
    let req: DropletIds = body(&bytes)?;
    let mut state = lab.state.lock().await;
    check_droplets(&state, &req.droplet_ids)?;
    let lb = state
        .load_balancers
        .iter_mut()
        .find(|l| l.id == id)
        .ok_or_else(ApiError::not_found)?;
    for d in req.droplet_ids {
        if add && !lb.droplet_ids.contains(&d) {
            lb.droplet_ids.push(d);
        } else if !add {
            lb.droplet_ids.retain(|x| *x != d);
        }
    }
    lab.save(&state);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn add_droplets(
    State(lab): State<Arc<Lab>>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    change_droplets(lab, id, bytes, true).await
}

pub async fn remove_droplets(
    State(lab): State<Arc<Lab>>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    change_droplets(lab, id, bytes, false).await
}
