//! `/v2/certificates`: Let's Encrypt certificates managed by the API. A
//! new one is `pending` while the lab orders it from its CA (`issuer`),
//! then `verified` or `error`. Every name must lie in a zone the account
//! hosts, as on DigitalOcean (which answers DNS-01 in its own DNS); custom
//! (uploaded) certificates are not supported by the lab.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::http::{ApiError, ApiResult, PageQuery, Params, body, paginate, reply};
use super::state::{Certificate, now, random_uuid};
use crate::runtime::Lab;

#[derive(Deserialize)]
struct CertBody {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    dns_names: Vec<String>,
}

pub async fn create(State(lab): State<Arc<Lab>>, bytes: Bytes) -> ApiResult {
    let req: CertBody = body(&bytes)?;
    let name = req
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::unprocessable("name is required"))?;
    match req.kind.as_deref() {
        Some("lets_encrypt") => {}
        Some("custom") => {
            return Err(ApiError::unprocessable(
                "the lab issues lets_encrypt certificates only; custom certificates are not supported",
            ));
        }
        _ => {
            return Err(ApiError::unprocessable(
                "type must be lets_encrypt or custom",
            ));
        }
    }
    if req.dns_names.is_empty() {
        return Err(ApiError::unprocessable(
            "dns_names must hold at least one name for a lets_encrypt certificate",
        ));
    }
    let id = {
        let mut state = lab.state.lock().await;
        if state.certificates.iter().any(|c| c.name == name) {
            return Err(ApiError::unprocessable(format!(
                "a certificate named {name:?} already exists"
            )));
        }
        for n in &req.dns_names {
            let bare = n.strip_prefix("*.").unwrap_or(n);
            if super::names::domain(bare).is_err() {
                return Err(ApiError::unprocessable(format!(
                    "{n:?} is not a domain name"
                )));
            }
            let hosted = state
                .domains
                .iter()
                .any(|d| bare == d.name || bare.ends_with(&format!(".{}", d.name)));
            if !hosted {
                return Err(ApiError::unprocessable(format!(
                    "{n} is not in a domain of this account: Let's Encrypt certificates need the domain's DNS on DigitalOcean"
                )));
            }
        }
        let cert = Certificate {
            id: random_uuid(),
            name,
            dns_names: req.dns_names.clone(),
            state: "pending".into(),
            created_at: now(),
            not_after: String::new(),
            sha1_fingerprint: String::new(),
            chain_pem: String::new(),
            key_pem: String::new(),
        };
        let id = cert.id.clone();
        state.certificates.push(cert);
        lab.save(&state);
        id
    };
    let out = {
        let state = lab.state.lock().await;
        state
            .certificates
            .iter()
            .find(|c| c.id == id)
            .map(Certificate::json)
            .ok_or_else(ApiError::not_found)?
    };
    tokio::spawn(issue(Arc::clone(&lab), id, req.dns_names));
    reply(StatusCode::CREATED, json!({"certificate": out}))
}

/// Orders the certificate and records the outcome.
async fn issue(lab: Arc<Lab>, id: String, names: Vec<String>) {
    let issued = crate::issuer::issue(&lab, &names).await;
    let mut state = lab.state.lock().await;
    let Some(cert) = state.certificates.iter_mut().find(|c| c.id == id) else {
        return; // deleted while pending
    };
    match issued {
        Ok(i) => {
            cert.state = "verified".into();
            cert.not_after = i.not_after;
            cert.sha1_fingerprint = i.sha1_fingerprint;
            cert.chain_pem = i.chain_pem;
            cert.key_pem = i.key_pem;
        }
        Err(e) => {
            eprintln!("lab: certificate {id} ({}): {e:#}", names.join(", "));
            cert.state = "error".into();
        }
    }
    lab.save(&state);
}

pub async fn list(State(lab): State<Arc<Lab>>, Query(params): Params) -> ApiResult {
    let q = PageQuery::from(&params)?;
    let wanted = params.get("name");
    let state = lab.state.lock().await;
    let items = state
        .certificates
        .iter()
        .filter(|c| wanted.is_none_or(|n| *n == c.name))
        .map(Certificate::json)
        .collect();
    let extra: Vec<(&str, String)> = wanted.iter().map(|n| ("name", n.to_string())).collect();
    reply(
        StatusCode::OK,
        paginate(&lab, items, "certificates", "/v2/certificates", &q, &extra),
    )
}

pub async fn get(State(lab): State<Arc<Lab>>, Path(id): Path<String>) -> ApiResult {
    let state = lab.state.lock().await;
    let cert = state
        .certificates
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, json!({"certificate": cert.json()}))
}

/// Deletes a certificate no load balancer uses (DigitalOcean refuses to
/// delete one in use).
pub async fn delete(State(lab): State<Arc<Lab>>, Path(id): Path<String>) -> ApiResult {
    let mut state = lab.state.lock().await;
    if !state.certificates.iter().any(|c| c.id == id) {
        return Err(ApiError::not_found());
    }
    if let Some(lb) = state.load_balancers.iter().find(|l| {
        l.forwarding_rules
            .iter()
            .any(|r| r["certificate_id"].as_str() == Some(id.as_str()))
    }) {
        return Err(ApiError::unprocessable(format!(
            "the certificate is in use by load balancer {}",
            lb.id
        )));
    }
    state.certificates.retain(|c| c.id != id);
    lab.save(&state);
    Ok(StatusCode::NO_CONTENT.into_response())
}
