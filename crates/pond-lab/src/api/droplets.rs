//! `/v2/droplets`, `/v2/droplets/{id}/actions[/{action_id}]` and `/v2/actions/{id}`:
//! creating (single and `names[]`), listing (by tag), deleting (by id and
//! by tag) and powering lab droplets, with DO's shapes and status codes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog;
use super::http::{ApiError, ApiResult, PageQuery, Params, body, paginate, reply};
use super::state::{Droplet, now};
use crate::runtime::Lab;

/// DO's limit on droplets per account, as `/v2/account` reports it.
pub const DROPLET_LIMIT: usize = 25;

#[derive(Deserialize)]
struct CreateDroplet {
    name: Option<String>,
    names: Option<Vec<String>>,
    region: Option<String>,
    size: String,
    image: Value,
    #[serde(default)]
    ssh_keys: Vec<Value>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// DO's droplet name grammar: `^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$`, ≤ 255.
fn valid_droplet_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

/// DO's tag grammar: `^[a-zA-Z0-9_\-\:]+$`, ≤ 255.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 255
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
}

pub async fn create(State(lab): State<Arc<Lab>>, bytes: Bytes) -> ApiResult {
    let req: CreateDroplet = body(&bytes)?;
    let names = match (req.name, req.names) {
        (Some(n), None) => vec![n],
        (None, Some(ns)) if !ns.is_empty() && ns.len() <= 10 => ns,
        (None, Some(_)) => {
            return Err(ApiError::unprocessable(
                "names must list 1 to 10 droplet names",
            ));
        }
        _ => return Err(ApiError::unprocessable("give either name or names")),
    };
    if let Some(bad) = names.iter().find(|n| !valid_droplet_name(n)) {
        return Err(ApiError::unprocessable(format!(
            "{bad:?} is not a valid droplet name: only a-z, A-Z, 0-9, '.' and '-' are allowed"
        )));
    }
    let region = req.region.unwrap_or_else(|| "nyc3".into());
    if catalog::region(&region).is_none() {
        return Err(ApiError::unprocessable(format!(
            "region {region:?} is not available"
        )));
    }
    if catalog::size(&req.size).is_none() {
        return Err(ApiError::unprocessable(format!(
            "size {:?} is not available",
            req.size
        )));
    }
    let image_key = match &req.image {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(ApiError::unprocessable("image must be a slug or an id")),
    };
    let image = catalog::image(&image_key).ok_or_else(|| {
        ApiError::unprocessable(format!(
            "image {image_key:?} is not available; the lab boots only {}",
            catalog::image_slugs().join(", ")
        ))
    })?;
    let tags = req.tags.unwrap_or_default();
    if let Some(bad) = tags.iter().find(|t| !valid_tag(t)) {
        return Err(ApiError::unprocessable(format!(
            "tag {bad:?} may hold only letters, digits, '_', '-' and ':'"
        )));
    }

    let mut state = lab.state.lock().await;
    let mut authorized_keys = vec![];
    for key in &req.ssh_keys {
        let found = state.keys.iter().find(|k| match key {
            Value::Number(n) => n.as_u64() == Some(k.id),
            Value::String(s) => s == &k.fingerprint || s == &k.id.to_string(),
            _ => false,
        });
        match found {
            Some(k) => authorized_keys.push(k.public_key.clone()),
            None => {
                return Err(ApiError::unprocessable(format!(
                    "ssh key {key} is not on this account"
                )));
            }
        }
    }
    if state.droplets.len() + names.len() > DROPLET_LIMIT {
        return Err(ApiError::unprocessable(format!(
            "creating {} droplet(s) will exceed your droplet limit of {DROPLET_LIMIT}",
            names.len()
        )));
    }
    let mut created = vec![];
    for name in &names {
        let slot = state
            .free_slot()
            .ok_or_else(|| ApiError::unprocessable("the lab subnet is full"))?;
        let droplet = Droplet {
            id: state.new_id(),
            name: name.clone(),
            slot,
            region: region.clone(),
            size: req.size.clone(),
            image: image["slug"].as_str().unwrap_or_default().to_string(),
            tags: tags.clone(),
            status: "new".into(),
            created_at: now(),
            authorized_keys: authorized_keys.clone(),
            never_active: lab.take_never_active(),
        };
        for t in &tags {
            state.ensure_tag(t);
        }
        state.droplets.push(droplet.clone());
        let action = state.start_action("create", &droplet);
        created.push((droplet, action));
    }
    lab.save(&state);
    drop(state);

    let base = lab.base_url.get().cloned().unwrap_or_default();
    let links: Vec<Value> = created
        .iter()
        .map(|(_, a)| json!({"id": a, "rel": "create", "href": format!("{base}/v2/actions/{a}")}))
        .collect();
    let bodies: Vec<Value> = created.iter().map(|(d, _)| d.json(&lab.net)).collect();
    for (droplet, action) in created {
        lab.boot_in_background(droplet, Some(action));
    }
    if lab.take_lost_create_reply() {
        return Err(ApiError::internal(
            "the reply was lost (lab fault lost_create_replies)",
        ));
    }
    if names.len() == 1 && bytes_has_single_name(&bytes) {
        reply(
            StatusCode::ACCEPTED,
            json!({"droplet": bodies[0], "links": {"actions": links}}),
        )
    } else {
        reply(
            StatusCode::ACCEPTED,
            json!({"droplets": bodies, "links": {"actions": links}}),
        )
    }
}

fn bytes_has_single_name(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes).is_ok_and(|v| v.get("name").is_some())
}

pub async fn list(State(lab): State<Arc<Lab>>, Query(params): Params) -> ApiResult {
    let page = PageQuery::from(&params)?;
    let (tag, name) = (params.get("tag_name"), params.get("name"));
    let state = lab.state.lock().await;
    let items: Vec<Value> = state
        .droplets
        .iter()
        .filter(|d| tag.is_none_or(|t| d.tags.contains(t)))
        .filter(|d| name.is_none_or(|n| &d.name == n))
        .map(|d| d.json(&lab.net))
        .collect();
    let mut extra = vec![];
    if let Some(t) = tag {
        extra.push(("tag_name", t.clone()));
    }
    reply(
        StatusCode::OK,
        paginate(&lab, items, "droplets", "/v2/droplets", &page, &extra),
    )
}

pub async fn get(State(lab): State<Arc<Lab>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let state = lab.state.lock().await;
    let d = state.droplet(id).ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, json!({"droplet": d.json(&lab.net)}))
}

fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::not_found())
}

/// Deletes the droplets matching `pick`, tearing their machines down.
async fn delete_where(lab: &Arc<Lab>, pick: impl Fn(&Droplet) -> bool) -> Result<usize, ApiError> {
    let doomed: Vec<Droplet> = {
        let mut state = lab.state.lock().await;
        let (doomed, kept): (Vec<Droplet>, Vec<Droplet>) =
            state.droplets.drain(..).partition(|d| pick(d));
        state.droplets = kept;
        for lb in &mut state.load_balancers {
            lb.droplet_ids
                .retain(|id| !doomed.iter().any(|d| d.id == *id));
        }
        lab.save(&state);
        doomed
    };
    // Tear the machines down in parallel, then wait for all of them.
    let teardowns: Vec<_> = doomed
        .iter()
        .map(|d| {
            let machine = lab.machine(d);
            tokio::task::spawn_blocking(move || machine.destroy())
        })
        .collect();
    for teardown in teardowns {
        teardown
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
    }
    Ok(doomed.len())
}

pub async fn delete(State(lab): State<Arc<Lab>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    if delete_where(&lab, |d| d.id == id).await? == 0 {
        return Err(ApiError::not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn delete_by_tag(State(lab): State<Arc<Lab>>, Query(params): Params) -> ApiResult {
    let tag = params
        .get("tag_name")
        .cloned()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unprocessable("tag_name is required to delete droplets by tag"))?;
    delete_where(&lab, |d| d.tags.contains(&tag)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct ActionRequest {
    #[serde(rename = "type")]
    kind: String,
}

pub async fn act(State(lab): State<Arc<Lab>>, Path(id): Path<String>, bytes: Bytes) -> ApiResult {
    let id = parse_id(&id)?;
    let req: ActionRequest = body(&bytes)?;
    if !matches!(
        req.kind.as_str(),
        "power_on" | "power_off" | "shutdown" | "reboot" | "power_cycle"
    ) {
        return Err(ApiError::unprocessable(format!(
            "action type {:?} is not supported by the lab (power_on, power_off, shutdown, reboot, power_cycle)",
            req.kind
        )));
    }
    let (droplet, action_id) = {
        let mut state = lab.state.lock().await;
        let d = state.droplet(id).ok_or_else(ApiError::not_found)?.clone();
        // As DigitalOcean: one event at a time per droplet (its creation
        // included), so a reboot never races a power-off or a boot.
        if state
            .actions
            .iter()
            .any(|a| a.resource_id == id && a.status == "in-progress")
        {
            return Err(ApiError::unprocessable(
                "Droplet already has a pending event.",
            ));
        }
        let a = state.start_action(&req.kind, &d);
        lab.save(&state);
        (d, a)
    };
    let action = {
        let state = lab.state.lock().await;
        state
            .actions
            .iter()
            .find(|a| a.id == action_id)
            .map(|a| a.json())
    };
    let lab2 = Arc::clone(&lab);
    tokio::spawn(async move {
        let off = matches!(
            req.kind.as_str(),
            "power_off" | "shutdown" | "reboot" | "power_cycle"
        );
        let on = matches!(req.kind.as_str(), "power_on" | "reboot" | "power_cycle");
        if off {
            let ok = lab2.power_off(&droplet).await.is_ok();
            let mut state = lab2.state.lock().await;
            if let Some(d) = state.droplet_mut(droplet.id) {
                d.status = "off".into();
            }
            if !on {
                state.finish_action(action_id, ok);
            }
            lab2.save(&state);
        }
        if on {
            lab2.boot_in_background(droplet, Some(action_id));
        }
    });
    reply(StatusCode::CREATED, json!({"action": action}))
}

pub async fn list_actions(
    State(lab): State<Arc<Lab>>,
    Path(id): Path<String>,
    Query(params): Params,
) -> ApiResult {
    let q = PageQuery::from(&params)?;
    let id = parse_id(&id)?;
    let state = lab.state.lock().await;
    state.droplet(id).ok_or_else(ApiError::not_found)?;
    let items: Vec<Value> = state
        .actions
        .iter()
        .filter(|a| a.resource_id == id)
        .map(|a| a.json())
        .collect();
    let path = format!("/v2/droplets/{id}/actions");
    reply(
        StatusCode::OK,
        paginate(&lab, items, "actions", &path, &q, &[]),
    )
}

pub async fn get_action(State(lab): State<Arc<Lab>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let state = lab.state.lock().await;
    let a = state
        .actions
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, json!({"action": a.json()}))
}

/// `GET /v2/droplets/{id}/actions/{action_id}`: one of a droplet's actions.
pub async fn get_droplet_action(
    State(lab): State<Arc<Lab>>,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult {
    let (id, action) = (parse_id(&id)?, parse_id(&action)?);
    let state = lab.state.lock().await;
    state.droplet(id).ok_or_else(ApiError::not_found)?;
    let a = state
        .actions
        .iter()
        .find(|a| a.id == action && a.resource_id == id)
        .ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, json!({"action": a.json()}))
}
