//! A fast stand-in for Slack's Web API, its response URLs and the Tallyfy calls a form
//! makes, for the benchmark (`bench/run`). Every contender talks to it over loopback.
//!
//! Slack: `POST /api/{method}` answers `auth.test`, `bots.info`, `users.info`,
//! `views.open` (`{ok, view}` in Slack's shape: the view sent, with its id, hash and state),
//! `views.update`, `chat.postMessage` and `chat.postEphemeral`; `POST /hooks/{id}` takes
//! response URL posts. Tallyfy (under `/tallyfy`, as shared/docs/tallyfy-api.md describes
//! it, in the shapes of the stand-ins' own Tallyfy in `stand_ins::tallyfy`):
//! `GET /organizations/{org}/groups|tags` answer an empty page, `GET .../users?q=` the one
//! member (`rita@example.com`, id 1001), `POST .../tasks` a created task (201, `{data}`).
//! Control: `GET /bench/counts` (calls per method, and TLS sessions), `POST /bench/reset`,
//! `POST /bench/views-open-delay/{ms}` (how long `views.open` takes to answer).
//!
//! `bench-upstream 127.0.0.1:4100` serves plain HTTP; `bench-upstream 127.0.0.1:4100
//! 127.0.0.1:4443 ca.pem` serves the same over HTTPS on the second address too, with a
//! certificate authority made at start and written to `ca.pem` (see `tls.rs`); the control
//! routes are best reached on the first.
//!
//! `cargo run --release -p tallyfy-slack-stand-ins --bin bench-upstream -- 127.0.0.1:4100`

mod tls;

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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let address = |arg: Option<&String>| -> SocketAddr {
        let addr: SocketAddr = arg
            .map(String::as_str)
            .unwrap_or("127.0.0.1:4100")
            .parse()
            .expect("an address such as 127.0.0.1:4100");
        assert!(addr.ip().is_loopback(), "the stand-in serves loopback only");
        addr
    };
    let addr = address(args.first());
    let tls = match (args.get(1), args.get(2)) {
        (Some(_), Some(ca)) => Some((address(args.get(1)), tls::make(ca.as_ref())?)),
        (None, None) => None,
        _ => panic!("usage: bench-upstream ADDR [TLS_ADDR CA_PEM_OUT]"),
    };
    // One thread: the benchmark gives the servers under test a core of their own and the
    // load generator and this stand-in share the other.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr, tls))
}

async fn serve(
    addr: SocketAddr,
    tls: Option<(SocketAddr, rustls::ServerConfig)>,
) -> std::io::Result<()> {
    let state = Arc::new(Upstream::default());
    let app = Router::new()
        .route("/api/{method}", any(api))
        .route("/hooks/{id}", post(hook))
        .route("/tallyfy/organizations/{org}/tasks", post(tallyfy_create))
        .route("/tallyfy/organizations/{org}/{list}", get(tallyfy_list))
        .route("/bench/counts", get(counts))
        .route("/bench/reset", post(reset))
        .route("/bench/views-open-delay/{ms}", post(views_open_delay))
        .fallback(unknown)
        .with_state(state.clone());
    if let Some((tls_addr, config)) = tls {
        tokio::spawn(tls::serve(tls_addr, config, app.clone(), state));
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}

/// A call the stand-in does not answer, counted so that the benchmark shows it.
async fn unknown(State(up): State<Arc<Upstream>>, uri: axum::http::Uri) -> axum::http::StatusCode {
    up.count(&format!("unknown {}", uri.path()));
    axum::http::StatusCode::NOT_FOUND
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
                    "profile": {"display_name": "rita", "real_name": "Rita", "email": MEMBER_EMAIL}
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
        // Slack's answer (api.slack.com/methods/chat.postMessage): the channel, the new
        // message's ts (its id: a new one each post) and the message as posted, as the
        // stand-ins' Slack (`stand_ins::slack::api`) answers it.
        "chat.postEphemeral" => json!({"ok": true, "message_ts": next_ts(&up)}),
        "chat.postMessage" => {
            let ts = next_ts(&up);
            let blocks = match &args["blocks"] {
                Value::String(raw) => serde_json::from_str(raw).unwrap_or(json!([])),
                Value::Array(_) => args["blocks"].clone(),
                _ => json!([]),
            };
            json!({
                "ok": true, "channel": args["channel"], "ts": ts,
                "message": {"type": "message", "subtype": "bot_message", "text": args["text"], "ts": ts,
                            "bot_id": "B0BOT", "username": "tallyfy", "blocks": blocks}
            })
        }
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

/// A message ts of its own: the time and a counter, as Slack's are unique in a channel.
fn next_ts(up: &Upstream) -> String {
    let n = up.next_view.fetch_add(1, Ordering::Relaxed) + 1;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("{secs}.{:06}", n % 1_000_000)
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

/// A Tallyfy list: the one member for `users` (when `q` matches, as Tallyfy's search
/// does on first name or email), an empty page for the rest.
async fn tallyfy_list(
    State(up): State<Arc<Upstream>>,
    Path((_org, list)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Json<Value> {
    up.count(&format!("tallyfy.{list}"));
    let q = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.to_lowercase())
        .unwrap_or_default();
    let data = if list == "users"
        && (q.is_empty() || MEMBER_EMAIL.contains(&q) || "rita".contains(&q))
    {
        json!([{
            "id": 1001, "email": MEMBER_EMAIL, "first_name": "Rita", "last_name": "Example",
            "full_name": "Rita Example", "timezone": "UTC", "status": "active", "is_active": true
        }])
    } else {
        json!([])
    };
    let n = data.as_array().map_or(0, Vec::len);
    Json(json!({
        "data": data,
        "meta": {"pagination": {"total": n, "count": n, "per_page": 100, "current_page": 1, "total_pages": 1, "links": {}}}
    }))
}

/// The member every Slack user of the benchmark is (`users.info` gives this email).
const MEMBER_EMAIL: &str = "rita@example.com";

/// `POST /organizations/{org}/tasks`: 201 and the task created, as Tallyfy answers it
/// (`{data: {id, title, status, task_type, deadline, owners, position, run}}`; the
/// stand-ins' Tallyfy, `stand_ins::tallyfy::tasks::create_task`, checks what it is sent).
async fn tallyfy_create(State(up): State<Arc<Upstream>>, body: Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    up.count("tallyfy.create_task");
    let task: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(title) = task
        .get("title")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return (
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": true, "errors": {"title": ["The title field is required."]}})),
        )
            .into_response();
    };
    let n = up.next_view.fetch_add(1, Ordering::Relaxed) + 1;
    let deadline = task["deadline"]
        .as_str()
        .unwrap_or("2030-01-01 17:00:00")
        .replace(' ', "T");
    let owners = &task["owners"];
    let created = json!({
        "id": format!("7a{n:030x}"), "title": title, "status": "not-started",
        "task_type": task["task_type"], "deadline": format!("{deadline}.000Z"),
        "owners": {"users": owners.get("users").cloned().unwrap_or(json!([])),
                   "guests": owners.get("guests").cloned().unwrap_or(json!([])),
                   "groups": owners.get("groups").cloned().unwrap_or(json!([]))},
        "position": 1, "run": null
    });
    (
        axum::http::StatusCode::CREATED,
        Json(json!({"data": created})),
    )
        .into_response()
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
