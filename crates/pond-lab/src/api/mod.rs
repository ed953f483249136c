//! The fake DigitalOcean API v2 of the lab: an axum server on 127.0.0.1
//! with DO's paths, JSON shapes, status codes, pagination, error bodies and
//! rate-limit headers, plus a few lab-only admin endpoints under `/_lab/`
//! (fault injection, link cuts, host-key changes) that DO does not have.

pub mod catalog;
mod certs;
mod droplets;
pub mod http;
mod lbs;
pub mod names;
mod resources;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use self::http::{ApiError, ApiResult, body, reply};
use super::runtime::{Faults, Lab};

/// The API as served: [`router`] behind [`trim_trailing_slash`].
pub fn app(lab: Arc<Lab>) -> Router {
    // A layer on the routes themselves would run after routing; on an
    // outer router's fallback it runs before the inner one routes.
    Router::new()
        .fallback_service(router(lab))
        .layer(axum::middleware::map_request(trim_trailing_slash))
}

/// DigitalOcean answers `/v2/account/` and `/v2/droplets/?tag_name=…`
/// like the paths without the slash, and clients call them that way
/// (python-digitalocean does): a `/v2/…` path loses its trailing slashes
/// before routing, the query string kept.
async fn trim_trailing_slash(mut request: axum::extract::Request) -> axum::extract::Request {
    let uri = request.uri();
    let path = uri.path();
    if path.len() > "/v2/".len() && path.starts_with("/v2/") && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let with_query = match uri.query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        let mut parts = uri.clone().into_parts();
        if let Ok(pq) = with_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
    }
    request
}

/// The API's routes, guarded by token auth, faults and rate-limit headers.
pub fn router(lab: Arc<Lab>) -> Router {
    use resources as r;
    Router::new()
        .route("/v2/account", get(r::account))
        .route("/v2/account/keys", get(r::list_keys).post(r::create_key))
        .route(
            "/v2/account/keys/{ident}",
            get(r::get_key).put(r::update_key).delete(r::delete_key),
        )
        .route(
            "/v2/droplets",
            get(droplets::list)
                .post(droplets::create)
                .delete(droplets::delete_by_tag),
        )
        .route(
            "/v2/droplets/{id}",
            get(droplets::get).delete(droplets::delete),
        )
        .route(
            "/v2/droplets/{id}/actions",
            get(droplets::list_actions).post(droplets::act),
        )
        .route(
            "/v2/droplets/{id}/actions/{action_id}",
            get(droplets::get_droplet_action),
        )
        .route("/v2/actions/{id}", get(droplets::get_action))
        .route("/v2/domains", get(r::list_domains).post(r::create_domain))
        .route(
            "/v2/domains/{name}",
            get(r::get_domain).delete(r::delete_domain),
        )
        .route(
            "/v2/domains/{name}/records",
            get(r::list_records).post(r::create_record),
        )
        .route(
            "/v2/domains/{name}/records/{id}",
            get(r::get_record)
                .put(r::update_record)
                .patch(r::update_record)
                .delete(r::delete_record),
        )
        .route("/v2/tags", get(r::list_tags).post(r::create_tag))
        .route("/v2/tags/{name}", get(r::get_tag).delete(r::delete_tag))
        .route(
            "/v2/tags/{name}/resources",
            post(r::tag_add).delete(r::tag_remove),
        )
        .route("/v2/certificates", get(certs::list).post(certs::create))
        .route(
            "/v2/certificates/{id}",
            get(certs::get).delete(certs::delete),
        )
        .route("/v2/load_balancers", get(lbs::list).post(lbs::create))
        .route(
            "/v2/load_balancers/{id}",
            get(lbs::get).put(lbs::update).delete(lbs::delete),
        )
        .route(
            "/v2/load_balancers/{id}/droplets",
            post(lbs::add_droplets).delete(lbs::remove_droplets),
        )
        .route("/v2/regions", get(r::regions))
        .route("/v2/sizes", get(r::sizes))
        .route("/v2/images", get(r::images))
        .route("/v2/images/{id}", get(r::image))
        .route("/_lab/faults", get(get_faults).post(set_faults))
        .route("/_lab/droplets/{id}/cut", post(cut_link))
        .route("/_lab/droplets/{id}/host-key", post(new_host_key))
        .route(
            "/_lab/delegations/{zone}",
            axum::routing::put(set_delegation).delete(delete_delegation),
        )
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&lab),
            http::guard,
        ))
        .with_state(lab)
}

#[derive(Deserialize)]
struct Delegation {
    nameservers: Vec<String>,
}

/// Sets the name servers the lab's DNS reports for a zone.
async fn set_delegation(
    State(lab): State<Arc<Lab>>,
    Path(zone): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let d: Delegation = body(&bytes)?;
    if names::domain(&zone).is_err()
        || d.nameservers.is_empty()
        || d.nameservers.iter().any(|n| names::domain(n).is_err())
    {
        return Err(ApiError::unprocessable(
            "a zone and at least one name server, all domain names",
        ));
    }
    lab.delegations
        .lock()
        .expect("delegations lock")
        .insert(zone.clone(), d.nameservers.clone());
    reply(
        StatusCode::OK,
        json!({"zone": zone, "nameservers": d.nameservers}),
    )
}

async fn delete_delegation(State(lab): State<Arc<Lab>>, Path(zone): Path<String>) -> ApiResult {
    lab.delegations
        .lock()
        .expect("delegations lock")
        .remove(&zone);
    reply(StatusCode::OK, json!({"zone": zone}))
}

async fn get_faults(State(lab): State<Arc<Lab>>) -> ApiResult {
    let f = lab.faults.lock().expect("faults lock").clone();
    reply(StatusCode::OK, json!({"faults": f}))
}

/// Replaces the armed faults with the posted ones.
async fn set_faults(State(lab): State<Arc<Lab>>, bytes: Bytes) -> ApiResult {
    let f: Faults = body(&bytes)?;
    if f.server_error_status != 0 && !matches!(f.server_error_status, 500 | 502 | 503 | 504) {
        return Err(ApiError::unprocessable(
            "server_error_status must be 500, 502, 503 or 504",
        ));
    }
    *lab.faults.lock().expect("faults lock") = f.clone();
    reply(StatusCode::OK, json!({"faults": f}))
}

#[derive(Deserialize)]
struct Cut {
    seconds: f64,
}

/// Takes a droplet's link down for a bounded time (at most 600 s).
async fn cut_link(State(lab): State<Arc<Lab>>, Path(id): Path<String>, bytes: Bytes) -> ApiResult {
    let id: u64 = id.parse().map_err(|_| ApiError::not_found())?;
    let cut: Cut = body(&bytes)?;
    if !(0.0..=600.0).contains(&cut.seconds) {
        return Err(ApiError::unprocessable("seconds must be between 0 and 600"));
    }
    let slot = lab
        .state
        .lock()
        .await
        .droplet(id)
        .ok_or_else(ApiError::not_found)?
        .slot;
    lab.net.set_link(slot, false).map_err(ApiError::internal)?;
    let net = lab.net.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs_f64(cut.seconds)).await;
        if let Err(e) = net.set_link(slot, true) {
            eprintln!("lab: restoring the link of slot {slot}: {e:#}");
        }
    });
    reply(
        StatusCode::OK,
        json!({"cut": {"droplet_id": id, "seconds": cut.seconds}}),
    )
}

/// Gives a droplet new SSH host keys and restarts its sshd, as if it had
/// been rebuilt behind the same address.
/// Waits (at most 5 s) until `address` greets with an SSH banner again,
/// after a short pause for the old listener to go.
fn wait_for_ssh(address: std::net::SocketAddr) {
    use std::io::Read;
    use std::time::{Duration, Instant};
    std::thread::sleep(Duration::from_millis(150));
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(mut stream) =
            std::net::TcpStream::connect_timeout(&address, Duration::from_millis(500))
        {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(1000)));
            let mut banner = [0u8; 4];
            if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn new_host_key(State(lab): State<Arc<Lab>>, Path(id): Path<String>) -> ApiResult {
    let id: u64 = id.parse().map_err(|_| ApiError::not_found())?;
    let d = lab
        .state
        .lock()
        .await
        .droplet(id)
        .ok_or_else(ApiError::not_found)?
        .clone();
    let machine = lab.machine(&d);
    let address = lab.net.droplet_address(d.slot);
    let fingerprint = tokio::task::spawn_blocking(move || {
        machine.regenerate_host_keys()?;
        // sshd loads its host keys when it starts: reload it, as an admin
        // rebuilding the server would restart it, and answer once it
        // listens again (it re-executes itself on SIGHUP).
        if machine.running() {
            // A SIGHUP that lands while sshd is still starting can be lost:
            // sent again until a client is shown the new key (20 s at most).
            let mut presented = Ok(());
            for _ in 0..5 {
                machine.reload_sshd()?;
                wait_for_ssh(std::net::SocketAddr::from((address, 22)));
                presented = machine.wait_for_presented_host_key(address);
                if presented.is_ok() {
                    break;
                }
            }
            presented?;
        }
        machine.host_key_fingerprint()
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    reply(
        StatusCode::OK,
        json!({"host_key": {"droplet_id": id, "fingerprint": fingerprint,
        "note": "sshd was reloaded, so new connections see the new key"}}),
    )
}
