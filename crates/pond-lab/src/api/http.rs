//! DigitalOcean's HTTP conventions for the fake API: error bodies
//! `{id, message, request_id}`, bearer-token auth, rate-limit headers on
//! every response, injected faults, and `links`/`meta` pagination.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::runtime::Lab;

/// Requests allowed per window, as DO announces in `ratelimit-limit`.
pub const RATE_LIMIT: u64 = 5000;

/// An API error in DO's shape.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub id: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn not_found() -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            id: "not_found",
            message: "The resource you were accessing could not be found.".into(),
        }
    }

    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            id: "unprocessable_entity",
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            id: "bad_request",
            message: message.into(),
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            id: "server_error",
            message: format!("Server Error: {e}"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "id": self.id,
            "message": self.message,
            "request_id": super::state::random_uuid(),
        });
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult = Result<Response, ApiError>;

/// JSON body with a status code.
pub fn reply(status: StatusCode, body: Value) -> ApiResult {
    Ok((status, axum::Json(body)).into_response())
}

/// Parses a JSON request body into `T`, answering DO-style 400/422.
pub fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("request body is missing"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::unprocessable(format!("invalid request body: {e}")))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Middleware: token check, injected faults, and the rate-limit headers.
pub async fn guard(State(lab): State<Arc<Lab>>, request: Request, next: Next) -> Response {
    let reset = (now_secs() / 3600 + 1) * 3600;
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| lab.tokens.iter().any(|known| known == t.trim()));
    let (fault, slow_ms) = {
        let mut f = lab.faults.lock().expect("faults lock");
        let fault = if !authorized {
            None
        } else if f.rate_limit > 0 {
            f.rate_limit -= 1;
            Some((
                StatusCode::TOO_MANY_REQUESTS,
                f.rate_limit_reset_seconds.max(1),
            ))
        } else if f.server_errors > 0 {
            f.server_errors -= 1;
            let status = StatusCode::from_u16(f.server_error_status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some((status, 0))
        } else {
            None
        };
        (fault, f.slow_ms)
    };
    if slow_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(slow_ms.min(60_000))).await;
    }
    let admin = request.uri().path().starts_with("/_lab/");
    let mut response = if !authorized {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            id: "Unauthorized",
            message: "Unable to authenticate you".into(),
        }
        .into_response()
    } else if let (Some((status, wait)), false) = (fault, admin) {
        let mut r = if status == StatusCode::TOO_MANY_REQUESTS {
            ApiError {
                status,
                id: "too_many_requests",
                message: "API Rate limit exceeded.".into(),
            }
            .into_response()
        } else {
            ApiError {
                status,
                id: "server_error",
                message: "Server Error (injected by the lab)".into(),
            }
            .into_response()
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            set(&mut r, "ratelimit-remaining", 0);
            set(&mut r, "ratelimit-reset", now_secs() + wait);
        }
        r
    } else {
        next.run(request).await
    };
    set(&mut response, "ratelimit-limit", RATE_LIMIT);
    if !response.headers().contains_key("ratelimit-remaining") {
        set(&mut response, "ratelimit-remaining", RATE_LIMIT - 1);
        set(&mut response, "ratelimit-reset", reset);
    }
    response
}

fn set(response: &mut Response, name: &'static str, value: u64) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from(value));
}

/// A request's query parameters, taken as plain strings so that a bad
/// value gets a DO-shaped error instead of the framework's plain text.
pub type Params = axum::extract::Query<std::collections::HashMap<String, String>>;

/// `?page=&per_page=` as DO takes them.
#[derive(Debug, Default)]
pub struct PageQuery {
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

impl PageQuery {
    pub fn from(params: &std::collections::HashMap<String, String>) -> Result<PageQuery, ApiError> {
        let number = |key: &str| -> Result<Option<u64>, ApiError> {
            params
                .get(key)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        ApiError::bad_request(format!(
                            "{key} must be a positive whole number, not {v:?}"
                        ))
                    })
                })
                .transpose()
        };
        Ok(PageQuery {
            page: number("page")?,
            per_page: number("per_page")?,
        })
    }
}

/// Wraps a full list as one page: `{<key>: [...], links: {pages}, meta: {total}}`.
pub fn paginate(
    lab: &Lab,
    items: Vec<Value>,
    key: &str,
    path: &str,
    q: &PageQuery,
    extra: &[(&str, String)],
) -> Value {
    let per_page = q.per_page.unwrap_or(20).clamp(1, 200);
    let total = items.len() as u64;
    let last = total.div_ceil(per_page).max(1);
    let page = q.page.unwrap_or(1).clamp(1, last);
    let start = ((page - 1) * per_page) as usize;
    let page_items: Vec<Value> = items
        .into_iter()
        .skip(start)
        .take(per_page as usize)
        .collect();
    let base = lab.base_url.get().cloned().unwrap_or_default();
    let url = |p: u64| {
        let mut u = format!("{base}{path}?page={p}&per_page={per_page}");
        for (k, v) in extra {
            u.push_str(&format!("&{k}={v}"));
        }
        u
    };
    let mut pages = serde_json::Map::new();
    if page > 1 {
        pages.insert("first".into(), url(1).into());
        pages.insert("prev".into(), url(page - 1).into());
    }
    if page < last {
        pages.insert("next".into(), url(page + 1).into());
        pages.insert("last".into(), url(last).into());
    }
    json!({key: page_items, "links": {"pages": pages}, "meta": {"total": total}})
}
