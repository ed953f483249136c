//! The smaller DO resources of the fake API: account, SSH keys, tags,
//! domains and their records, and the region/size/image catalogues.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog;
use super::droplets::{DROPLET_LIMIT, valid_tag};
use super::http::{ApiError, ApiResult, PageQuery, Params, body, paginate, reply};
use super::names as grammar;
use super::state::{Domain, Key, Record, md5_fingerprint, uuid_from};
use crate::runtime::Lab;

pub async fn account(State(lab): State<Arc<Lab>>) -> ApiResult {
    reply(
        StatusCode::OK,
        json!({"account": {
            "droplet_limit": DROPLET_LIMIT,
            "floating_ip_limit": 3,
            "email": "lab@pond.invalid",
            "name": "Pond Lab",
            "uuid": uuid_from(0x1ab_u128 << 64 | u128::from(lab.net.octet)),
            "email_verified": true,
            "status": "active",
            "status_message": "",
            "team": {"uuid": uuid_from(0x7ea_u128 << 64 | u128::from(lab.net.octet)), "name": "Pond Lab"},
        }}),
    )
}

pub async fn regions(State(lab): State<Arc<Lab>>, Query(params): Params) -> ApiResult {
    let q = PageQuery::from(&params)?;
    reply(
        StatusCode::OK,
        paginate(&lab, catalog::regions(), "regions", "/v2/regions", &q, &[]),
    )
}

pub async fn sizes(State(lab): State<Arc<Lab>>, Query(params): Params) -> ApiResult {
    let q = PageQuery::from(&params)?;
    reply(
        StatusCode::OK,
        paginate(&lab, catalog::sizes(), "sizes", "/v2/sizes", &q, &[]),
    )
}

pub async fn images(State(lab): State<Arc<Lab>>, Query(params): Params) -> ApiResult {
    let q = PageQuery::from(&params)?;
    reply(
        StatusCode::OK,
        paginate(&lab, catalog::images(), "images", "/v2/images", &q, &[]),
    )
}

pub async fn image(Path(id): Path<String>) -> ApiResult {
    let image = catalog::image(&id).ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, json!({"image": image}))
}

// ---- SSH keys ----

#[derive(Deserialize)]
struct CreateKey {
    name: String,
    public_key: String,
}

#[derive(Deserialize)]
struct RenameKey {
    name: String,
}

pub async fn list_keys(State(lab): State<Arc<Lab>>, Query(params): Params) -> ApiResult {
    let q = PageQuery::from(&params)?;
    let state = lab.state.lock().await;
    let items = state.keys.iter().map(Key::json).collect();
    reply(
        StatusCode::OK,
        paginate(&lab, items, "ssh_keys", "/v2/account/keys", &q, &[]),
    )
}

pub async fn create_key(State(lab): State<Arc<Lab>>, bytes: Bytes) -> ApiResult {
    let req: CreateKey = body(&bytes)?;
    grammar::public_key(req.public_key.trim())
        .map_err(|e| ApiError::unprocessable(format!("public_key: {e}")))?;
    let fingerprint = md5_fingerprint(&req.public_key)
        .ok_or_else(|| ApiError::unprocessable("public_key is not a valid key"))?;
    let mut state = lab.state.lock().await;
    if state.keys.iter().any(|k| k.fingerprint == fingerprint) {
        return Err(ApiError::unprocessable(
            "SSH Key is already in use on your account",
        ));
    }
    let key = Key {
        id: state.new_id(),
        name: req.name,
        public_key: req.public_key.trim().to_string(),
        fingerprint,
    };
    state.keys.push(key.clone());
    lab.save(&state);
    reply(StatusCode::CREATED, json!({"ssh_key": key.json()}))
}

fn key_index(keys: &[Key], ident: &str) -> Result<usize, ApiError> {
    keys.iter()
        .position(|k| k.id.to_string() == ident || k.fingerprint == ident)
        .ok_or_else(ApiError::not_found)
}

pub async fn get_key(State(lab): State<Arc<Lab>>, Path(ident): Path<String>) -> ApiResult {
    let state = lab.state.lock().await;
    let i = key_index(&state.keys, &ident)?;
    reply(StatusCode::OK, json!({"ssh_key": state.keys[i].json()}))
}

pub async fn update_key(
    State(lab): State<Arc<Lab>>,
    Path(ident): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let req: RenameKey = body(&bytes)?;
    let mut state = lab.state.lock().await;
    let i = key_index(&state.keys, &ident)?;
    state.keys[i].name = req.name;
    let out = state.keys[i].json();
    lab.save(&state);
    reply(StatusCode::OK, json!({"ssh_key": out}))
}

pub async fn delete_key(State(lab): State<Arc<Lab>>, Path(ident): Path<String>) -> ApiResult {
    let mut state = lab.state.lock().await;
    let i = key_index(&state.keys, &ident)?;
    state.keys.remove(i);
    lab.save(&state);
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- tags ----

fn tag_json(lab: &Lab, state: &super::state::LabState, name: &str) -> Value {
    let tagged: Vec<u64> = state
        .droplets
        .iter()
        .filter(|d| d.tags.iter().any(|t| t == name))
        .map(|d| d.id)
        .collect();
    let base = lab.base_url.get().cloned().unwrap_or_default();
    let last = tagged
        .last()
        .map(|id| format!("{base}/v2/droplets/{id}"))
        .unwrap_or_default();
    let meta = |count: usize, last: &str| {
        let mut m = json!({"count": count});
        if !last.is_empty() {
            m["last_tagged_uri"] = last.into();
        }
        m
    };
    json!({
        "name": name,
        "resources": {
            "count": tagged.len(),
            "last_tagged_uri": last,
            "droplets": meta(tagged.len(), &last),
            "imgages": {"count": 0},
            "volumes": {"count": 0},
            "volume_snapshots": {"count": 0},
            "databases": {"count": 0},
        }
    })
}

#[derive(Deserialize)]
struct CreateTag {
    name: String,
}

pub async fn list_tags(State(lab): State<Arc<Lab>>, Query(params): Params) -> ApiResult {
    let q = PageQuery::from(&params)?;
    let state = lab.state.lock().await;
    let items = state
        .tags
        .iter()
        .map(|t| tag_json(&lab, &state, t))
        .collect();
    reply(
        StatusCode::OK,
        paginate(&lab, items, "tags", "/v2/tags", &q, &[]),
    )
}

pub async fn create_tag(State(lab): State<Arc<Lab>>, bytes: Bytes) -> ApiResult {
    let req: CreateTag = body(&bytes)?;
    if !valid_tag(&req.name) {
        return Err(ApiError::bad_request(format!(
            "tag name {:?} may hold only letters, digits, '_', '-' and ':' (at most 255)",
            req.name
        )));
    }
    let mut state = lab.state.lock().await;
    state.ensure_tag(&req.name);
    lab.save(&state);
    reply(
        StatusCode::CREATED,
        json!({"tag": tag_json(&lab, &state, &req.name)}),
    )
}

pub async fn get_tag(State(lab): State<Arc<Lab>>, Path(name): Path<String>) -> ApiResult {
    let state = lab.state.lock().await;
    if !state.tags.contains(&name) {
        return Err(ApiError::not_found());
    }
    reply(
        StatusCode::OK,
        json!({"tag": tag_json(&lab, &state, &name)}),
    )
}

pub async fn delete_tag(State(lab): State<Arc<Lab>>, Path(name): Path<String>) -> ApiResult {
    let mut state = lab.state.lock().await;
    let before = state.tags.len();
    state.tags.retain(|t| t != &name);
    if state.tags.len() == before {
        return Err(ApiError::not_found());
    }
    for d in &mut state.droplets {
        d.tags.retain(|t| t != &name);
    }
    lab.save(&state);
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct TagResources {
    resources: Vec<TagResource>,
}

#[derive(Deserialize)]
struct TagResource {
    resource_id: String,
    resource_type: String,
}

/// POST (tag) or DELETE (untag) `/v2/tags/{tag}/resources`.
pub async fn tag_resources(lab: Arc<Lab>, name: String, bytes: Bytes, add: bool) -> ApiResult {
    let req: TagResources = body(&bytes)?;
    let mut state = lab.state.lock().await;
    if !state.tags.contains(&name) {
        return Err(ApiError::not_found());
    }
    for r in &req.resources {
        if r.resource_type != "droplet" {
            return Err(ApiError::unprocessable(format!(
                "the lab tags only droplets, not {}",
                r.resource_type
            )));
        }
        let id: u64 = r.resource_id.parse().map_err(|_| ApiError::not_found())?;
        let d = state.droplet_mut(id).ok_or_else(ApiError::not_found)?;
        if add && !d.tags.contains(&name) {
            d.tags.push(name.clone());
        } else if !add {
            d.tags.retain(|t| t != &name);
        }
    }
    lab.save(&state);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn tag_add(
    State(lab): State<Arc<Lab>>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    tag_resources(lab, name, bytes, true).await
}

pub async fn tag_remove(
    State(lab): State<Arc<Lab>>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    tag_resources(lab, name, bytes, false).await
}

// ---- domains and records ----

#[derive(Deserialize)]
struct CreateDomain {
    name: String,
    ip_address: Option<String>,
}

pub async fn list_domains(State(lab): State<Arc<Lab>>, Query(params): Params) -> ApiResult {
    let q = PageQuery::from(&params)?;
    let state = lab.state.lock().await;
    let items = state.domains.iter().map(Domain::json).collect();
    reply(
        StatusCode::OK,
        paginate(&lab, items, "domains", "/v2/domains", &q, &[]),
    )
}

fn record(id: u64, kind: &str, name: &str, data: &str, ttl: u32) -> Record {
    Record {
        id,
        kind: kind.into(),
        name: name.into(),
        data: data.into(),
        priority: None,
        port: None,
        ttl,
        weight: None,
        flags: None,
        tag: None,
    }
}

pub async fn create_domain(State(lab): State<Arc<Lab>>, bytes: Bytes) -> ApiResult {
    let req: CreateDomain = body(&bytes)?;
    grammar::domain(&req.name).map_err(|e| ApiError::unprocessable(format!("name: {e}")))?;
    let mut state = lab.state.lock().await;
    if state.domains.iter().any(|d| d.name == req.name) {
        return Err(ApiError::unprocessable("Name already exists"));
    }
    let mut records = vec![];
    for ns in [
        "ns1.digitalocean.com",
        "ns2.digitalocean.com",
        "ns3.digitalocean.com",
    ] {
        records.push(record(state.new_id(), "NS", "@", ns, 1800));
    }
    if let Some(ip) = &req.ip_address {
        grammar::ipv4(ip).map_err(|e| ApiError::unprocessable(format!("ip_address: {e}")))?;
        records.push(record(state.new_id(), "A", "@", ip, 1800));
    }
    let domain = Domain {
        name: req.name,
        ttl: 1800,
        records,
    };
    let out = domain.json();
    state.domains.push(domain);
    lab.save(&state);
    reply(StatusCode::CREATED, json!({"domain": out}))
}

pub async fn get_domain(State(lab): State<Arc<Lab>>, Path(name): Path<String>) -> ApiResult {
    let state = lab.state.lock().await;
    let d = state
        .domains
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, json!({"domain": d.json()}))
}

pub async fn delete_domain(State(lab): State<Arc<Lab>>, Path(name): Path<String>) -> ApiResult {
    let mut state = lab.state.lock().await;
    let before = state.domains.len();
    state.domains.retain(|d| d.name != name);
    if state.domains.len() == before {
        return Err(ApiError::not_found());
    }
    lab.save(&state);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_records(
    State(lab): State<Arc<Lab>>,
    Path(name): Path<String>,
    Query(params): Params,
) -> ApiResult {
    let page = PageQuery::from(&params)?;
    let (kind, fq_name) = (params.get("type"), params.get("name"));
    let state = lab.state.lock().await;
    let d = state
        .domains
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(ApiError::not_found)?;
    // DO filters `name` by the fully qualified name.
    let items = d
        .records
        .iter()
        .filter(|r| kind.is_none_or(|k| &r.kind == k))
        .filter(|r| {
            fq_name.is_none_or(|n| {
                let fq = if r.name == "@" {
                    name.clone()
                } else {
                    format!("{}.{name}", r.name)
                };
                n == &fq
            })
        })
        .map(Record::json)
        .collect();
    let path = format!("/v2/domains/{name}/records");
    reply(
        StatusCode::OK,
        paginate(&lab, items, "domain_records", &path, &page, &[]),
    )
}

#[derive(Deserialize)]
struct RecordBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    data: Option<String>,
    priority: Option<u32>,
    port: Option<u32>,
    ttl: Option<u32>,
    weight: Option<u32>,
    flags: Option<u32>,
    tag: Option<String>,
}

fn check_record(r: &Record) -> Result<(), ApiError> {
    let name_ok = r.name == "@"
        || r.name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*')
        });
    if !name_ok {
        return Err(ApiError::unprocessable(format!(
            "name {:?} is not a valid record name",
            r.name
        )));
    }
    match r.kind.as_str() {
        "A" => grammar::ipv4(&r.data).map_err(|e| ApiError::unprocessable(format!("data: {e}"))),
        "CNAME" | "NS" => {
            let host = r.data.trim_end_matches('.');
            if r.data == "@" || grammar::domain(host).is_ok() {
                Ok(())
            } else {
                Err(ApiError::unprocessable(format!(
                    "data {:?} is not a host name",
                    r.data
                )))
            }
        }
        "AAAA" | "TXT" | "MX" | "SRV" | "CAA" => Ok(()),
        other => Err(ApiError::unprocessable(format!(
            "record type {other:?} is not supported"
        ))),
    }
}

pub async fn create_record(
    State(lab): State<Arc<Lab>>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let req: RecordBody = body(&bytes)?;
    let mut state = lab.state.lock().await;
    let id = state.new_id();
    let d = state
        .domains
        .iter_mut()
        .find(|d| d.name == name)
        .ok_or_else(ApiError::not_found)?;
    let r = Record {
        id,
        kind: req
            .kind
            .ok_or_else(|| ApiError::unprocessable("type is required"))?,
        name: req.name.unwrap_or_else(|| "@".into()),
        data: req
            .data
            .ok_or_else(|| ApiError::unprocessable("data is required"))?,
        priority: req.priority,
        port: req.port,
        ttl: req.ttl.unwrap_or(1800),
        weight: req.weight,
        flags: req.flags,
        tag: req.tag,
    };
    check_record(&r)?;
    if r.kind == "CNAME" && d.records.iter().any(|x| x.name == r.name) {
        return Err(ApiError::unprocessable(
            "CNAME records cannot share a name with other records",
        ));
    }
    let out = r.json();
    d.records.push(r);
    lab.save(&state);
    reply(StatusCode::CREATED, json!({"domain_record": out}))
}

fn find_record<'a>(
    state: &'a mut super::state::LabState,
    name: &str,
    id: &str,
) -> Result<&'a mut Record, ApiError> {
    let id: u64 = id.parse().map_err(|_| ApiError::not_found())?;
    let d = state
        .domains
        .iter_mut()
        .find(|d| d.name == name)
        .ok_or_else(ApiError::not_found)?;
    d.records
        .iter_mut()
        .find(|r| r.id == id)
        .ok_or_else(ApiError::not_found)
}

pub async fn get_record(
    State(lab): State<Arc<Lab>>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult {
    let mut state = lab.state.lock().await;
    let r = find_record(&mut state, &name, &id)?;
    reply(StatusCode::OK, json!({"domain_record": r.json()}))
}

pub async fn update_record(
    State(lab): State<Arc<Lab>>,
    Path((name, id)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult {
    let req: RecordBody = body(&bytes)?;
    let mut state = lab.state.lock().await;
    let r = find_record(&mut state, &name, &id)?;
    let mut updated = r.clone();
    if let Some(k) = req.kind {
        updated.kind = k;
    }
    if let Some(n) = req.name {
        updated.name = n;
    }
    if let Some(d) = req.data {
        updated.data = d;
    }
    updated.priority = req.priority.or(updated.priority);
    updated.port = req.port.or(updated.port);
    updated.ttl = req.ttl.unwrap_or(updated.ttl);
    updated.weight = req.weight.or(updated.weight);
    updated.flags = req.flags.or(updated.flags);
    updated.tag = req.tag.or(updated.tag);
    check_record(&updated)?;
    *r = updated;
    let out = r.json();
    lab.save(&state);
    reply(StatusCode::OK, json!({"domain_record": out}))
}

pub async fn delete_record(
    State(lab): State<Arc<Lab>>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult {
    let mut state = lab.state.lock().await;
    let rid: u64 = id.parse().map_err(|_| ApiError::not_found())?;
    let d = state
        .domains
        .iter_mut()
        .find(|d| d.name == name)
        .ok_or_else(ApiError::not_found)?;
    let before = d.records.len();
    d.records.retain(|r| r.id != rid);
    if d.records.len() == before {
        return Err(ApiError::not_found());
    }
    lab.save(&state);
    Ok(StatusCode::NO_CONTENT.into_response())
}
