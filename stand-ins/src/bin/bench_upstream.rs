//! A fast stand-in for Slack's Web API, its response URLs and the few Tallyfy reads a form
//! needs, for the benchmark (`bench/run`). Every contender talks to it over loopback.
//!
//! Slack: `POST /api/{method}` answers `auth.test`, `bots.info`, `users.info`,
//! `views.open` (`{ok, view}` in Slack's shape: the view sent, with its id, hash and state),
//! `views.update`, `chat.postMessage` and `chat.postEphemeral`; `POST /hooks/{id}` takes
//! response URL posts. Tallyfy: `GET /tallyfy/organizations/{org}/groups|tags` answer an
//! empty page. Control: `GET /bench/counts` (calls per method), `POST /bench/reset`,
//! `POST /bench/views-open-delay/{ms}` (how long `views.open` takes to answer).
//!
//! `cargo run --release -p tallyfy-slack-stand-ins --bin bench-upstream -- 127.0.0.1:4100`

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub const TEAM: &str = "T0BENCH";
pub const APP: &str = "A0BENCH";

#[derive(Default)]
struct Upstream {
    counts: Mutex<BTreeMap<String, u64>>,
    next_view: AtomicU64,
    views_open_delay_ms: AtomicU64,
}

impl Upstream {
    fn count(&self, what: &str) {
        *self
            .counts
            .lock()
            .unwrap()
            .entry(what.to_string())
            .or_default() += 1;
    }
}

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4100".into())
        .parse()
        .expect("an address such as 127.0.0.1:4100");
    assert!(addr.ip().is_loopback(), "the stand-in serves loopback only");
    // One thread: the benchmark gives the servers under test a core of their own and the
    // load generator and this stand-in share the other.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr))
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let state = Arc::new(Upstream::default());
    let app = Router::new()
        .route("/api/{method}", any(api))
        .route("/hooks/{id}", post(hook))
        .route("/tallyfy/organizations/{org}/{list}", get(tallyfy_list))
        .route("/bench/counts", get(counts))
        .route("/bench/reset", post(reset))
        .route("/bench/views-open-delay/{ms}", post(views_open_delay))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}

/// A Web API call's arguments, as Slack reads them: a JSON body, or a form body and the
/// query string (a form's `view` is JSON text).
fn arguments(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Value {
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if json {
        return serde_json::from_slice(body).unwrap_or(Value::Null);
    }
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    if let Some(query) = query {
        pairs
            .extend(serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default());
    }
    let mut args = serde_json::Map::new();
    for (k, v) in pairs {
        let value = match k.as_str() {
            "view" => serde_json::from_str(&v).unwrap_or(Value::String(v)),
            _ => Value::String(v),
        };
        args.insert(k, value);
    }
    Value::Object(args)
}

async fn api(
    State(up): State<Arc<Upstream>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    up.count(&method);
    if method == "views.open" {
        return views_open(&up, &headers, &body).await;
    }
    let args = arguments(&headers, query.as_deref(), &body);
    let answer = match method.as_str() {
        "auth.test" => json!({
            "ok": true, "url": "https://bench.slack.com/", "team": "Bench", "user": "tallyfy",
            "team_id": TEAM, "user_id": "U0BOT", "bot_id": "B0BOT", "is_enterprise_install": false
        }),
        "bots.info" => json!({
            "ok": true,
            "bot": {"id": "B0BOT", "deleted": false, "name": "tallyfy", "updated": 1700000000,
                    "app_id": APP, "user_id": "U0BOT", "icons": {}}
        }),
        "users.info" => {
            let user = args["user"].as_str().unwrap_or("U0BENCH");
            json!({
                "ok": true,
                "user": {
                    "id": user, "team_id": TEAM, "name": "rita", "deleted": false, "real_name": "Rita",
                    "tz": "America/New_York", "tz_label": "Eastern Standard Time", "tz_offset": -18000,
                    "is_bot": false, "is_admin": false, "is_restricted": false, "is_ultra_restricted": false,
                    "profile": {"display_name": "rita", "real_name": "Rita", "email": "rita@example.com"}
                }
            })
        }
        "views.update" => {
            let n = up.next_view.fetch_add(1, Ordering::Relaxed) + 1;
            let mut view = args["view"].clone();
            if !view.is_object() {
                return Json(json!({"ok": false, "error": "invalid_arguments"})).into_response();
            }
            view["id"] = json!(format!("V{n:010}"));
            view["hash"] = json!(format!("{n}.bench"));
            view["team_id"] = json!(TEAM);
            view["state"] = json!({"values": {}});
            view["app_id"] = json!(APP);
            view["bot_id"] = json!("B0BOT");
            json!({"ok": true, "view": view})
        }
        "chat.postMessage" | "chat.postEphemeral" => json!({
            "ok": true, "channel": args["channel"], "ts": "1700000000.000100", "message_ts": "1700000000.000100"
        }),
        _ => json!({"ok": false, "error": "unknown_method"}),
    };
    Json(answer).into_response()
}

/// `views.open`: the view sent comes back as Slack echoes it, with its id, hash, team and
/// state added. The view's text is copied, not parsed, so the stand-in stays fast enough
/// that the servers measured, not it, set the pace.
async fn views_open(up: &Upstream, headers: &HeaderMap, body: &[u8]) -> axum::response::Response {
    use axum::response::IntoResponse;
    let delay = up.views_open_delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let view: Option<std::borrow::Cow<'_, str>> = if json {
        raw_object_after(body, b"\"view\"")
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(std::borrow::Cow::Borrowed)
    } else {
        url::form_urlencoded::parse(body)
            .find(|(k, _)| k == "view")
            .map(|(_, v)| std::borrow::Cow::Owned(v.into_owned()))
    };
    let Some(view) = view.filter(|v| v.trim_start().starts_with('{')) else {
        return Json(json!({"ok": false, "error": "invalid_arguments"})).into_response();
    };
    let n = up.next_view.fetch_add(1, Ordering::Relaxed) + 1;
    let rest = &view.trim_start()[1..];
    let answer = format!(
        r#"{{"ok":true,"view":{{"id":"V{n:010}","hash":"{n}.bench","team_id":"{TEAM}","app_id":"{APP}","bot_id":"B0BOT","state":{{"values":{{}}}},{rest}}}"#
    );
    (
        [("content-type", "application/json; charset=utf-8")],
        answer,
    )
        .into_response()
}

/// The JSON object that follows `key` in `body`, as sent (strings and nesting respected).
fn raw_object_after<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = body.windows(key.len()).position(|w| w == key)? + key.len();
    let start = at + body[at..].iter().position(|b| *b == b'{')?;
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, b) in body[start..].iter().enumerate() {
        match (in_string, escaped, *b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'{') => depth += 1,
            (false, _, b'}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(&body[start..=start + i]);
                }
            }
            _ => {}
        }
    }
    None
}

async fn hook(State(up): State<Arc<Upstream>>, Path(_id): Path<String>) -> &'static str {
    up.count("response_url");
    "ok"
}

async fn tallyfy_list(
    State(up): State<Arc<Upstream>>,
    Path((_org, list)): Path<(String, String)>,
) -> Json<Value> {
    up.count(&format!("tallyfy.{list}"));
    Json(json!({
        "data": [],
        "meta": {"pagination": {"total": 0, "count": 0, "per_page": 100, "current_page": 1, "total_pages": 1, "links": {}}}
    }))
}

async fn counts(State(up): State<Arc<Upstream>>) -> Json<Value> {
    Json(json!(*up.counts.lock().unwrap()))
}

async fn reset(State(up): State<Arc<Upstream>>) -> &'static str {
    up.counts.lock().unwrap().clear();
    "ok"
}

async fn views_open_delay(State(up): State<Arc<Upstream>>, Path(ms): Path<u64>) -> &'static str {
    up.views_open_delay_ms.store(ms, Ordering::Relaxed);
    "ok"
}
