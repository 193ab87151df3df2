//! Who may call: bearer tokens, the token endpoint, the rate limit, and the record of
//! every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::*;

/// API calls must carry the access token in use: any other gets Tallyfy's 401.
pub(super) async fn bearer_check(
    State(inner): State<Arc<Mutex<Inner>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let sent = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    {
        let mut s = inner.lock().unwrap();
        if s.acting(&sent) == super::identity::Acting::Unknown {
            s.unauthorized += 1;
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": true, "message": "Unauthenticated."})),
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// `POST /oauth/token`: form-encoded only, as Tallyfy's is. `grant_type=refresh_token`
/// replaces both tokens; `grant_type=client_credentials` gives an application token
/// ([`super::identity`]).
pub(super) async fn token(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let oauth_error = |status: StatusCode, code: &str| {
        (
            status,
            Json(json!({"error": code, "message": format!("OAuth error: {code}")})),
        )
            .into_response()
    };
    let form_encoded = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let grant = field("grant_type");
    if grant != "refresh_token" && grant != "client_credentials" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if grant == "client_credentials" {
        let token = inner.lock().unwrap().identities.grant();
        return Json(json!({
            "token_type": "Bearer", "expires_in": super::identity::APP_TOKEN_SECS,
            "access_token": token
        }))
        .into_response();
    }
    let delay = inner.lock().unwrap().refresh_delay;
    tokio::time::sleep(delay).await;
    let mut s = inner.lock().unwrap();
    if field("refresh_token") != s.refresh_token {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    s.refreshes += 1;
    s.access_token = format!("tallyfy-access-{}", s.refreshes);
    s.refresh_token = format!("tallyfy-refresh-{}", s.refreshes);
    Json(json!({
        "token_type": "Bearer", "expires_in": 3600,
        "access_token": s.access_token, "refresh_token": s.refresh_token
    }))
    .into_response()
}

/// Tallyfy's rate limit: a rolling window over the calls it let through.
pub(super) async fn rate_limit(
    State(inner): State<Arc<Mutex<Inner>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    {
        let mut s = inner.lock().unwrap();
        let now = std::time::Instant::now();
        if let Some((limit, window)) = s.rate_limit {
            let recent: Vec<std::time::Instant> = s
                .arrivals
                .iter()
                .copied()
                .filter(|t| now.duration_since(*t) < window)
                .collect();
            if recent.len() >= limit {
                s.rate_limited += 1;
                let retry = (recent[recent.len() - limit] + window).duration_since(now);
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"message": "Too Many Attempts.", "code": "RATE_LIMIT_EXCEEDED"})),
                )
                    .into_response();
                let headers = response.headers_mut();
                headers.insert(
                    "retry-after",
                    (retry.as_secs() + 1).to_string().parse().unwrap(),
                );
                headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
                return response;
            }
        }
        s.arrivals.push(now);
    }
    next.run(request).await
}

/// Records a GET and checks its credentials, as every read endpoint does.
pub(super) fn read_request(
    inner: &Mutex<Inner>,
    org: &str,
    path: String,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<(), Response> {
    record(inner, "GET", path, query.clone(), headers, Value::Null);
    check_auth(headers, org, false)
}

/// Records a POST and checks its credentials and JSON body, as every write endpoint
/// does; answers the body read (null when it is not JSON).
pub(super) fn write_request(
    inner: &Mutex<Inner>,
    org: &str,
    path: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Response> {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    record(inner, "POST", path, HashMap::new(), headers, value.clone());
    check_auth(headers, org, true).map(|()| value)
}

pub(super) fn record(
    inner: &Mutex<Inner>,
    method: &str,
    path: String,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    body: Value,
) {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut s = inner.lock().unwrap();
    let acting = s.acting(&headers.get("authorization").cloned().unwrap_or_default());
    s.requests.push(Request {
        acting,
        method: method.into(),
        path,
        query,
        headers,
        body,
        at: std::time::Instant::now(),
    });
    if let Some(most) = s.history {
        if s.requests.len() > most {
            let drop = s.requests.len() - most / 2;
            s.requests.drain(..drop);
        }
    }
}

/// Tallyfy's authentication checks, in its own error shapes.
pub(super) fn check_auth(headers: &HeaderMap, org: &str, with_body: bool) -> Result<(), Response> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if header("x-tallyfy-client") != "APIClient" {
        return Err((StatusCode::NOT_FOUND, Json(json!({"error": true, "message": "Endpoint not found", "code": "ENDPOINT_NOT_FOUND"}))).into_response());
    }
    if !header("authorization").starts_with("Bearer ") {
        return Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": true, "message": "Unauthenticated."})),
        )
            .into_response());
    }
    if !header("accept").contains("application/json")
        || (with_body && !header("content-type").starts_with("application/json"))
    {
        return Err((
            StatusCode::BAD_REQUEST,
            Json(json!({"error": true, "message": "JSON expected"})),
        )
            .into_response());
    }
    if org != ORG {
        return Err((
            StatusCode::FORBIDDEN,
            Json(json!({"error": true, "message": "You do not belong to this organization."})),
        )
            .into_response());
    }
    Ok(())
}
