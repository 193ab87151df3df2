//! A local Slack Web API that behaves like the real one as far as this app depends on it:
//! bearer-token auth, trigger ids that expire after 3 s and work once, view limits,
//! `not_in_channel` for channels the bot is not in, 429 with `Retry-After`, `users.info`
//! shapes (with `profile.email` and `tz`), and `response_url` endpoints.
//!
//! Block Kit's limits are enforced on every surface (messages, ephemeral messages,
//! `response_url` posts, views), as Slack's reference pages give them
//! (api.slack.com/reference/block-kit/blocks, .../block-elements, .../surfaces; see
//! shared/docs/slack-platform.md, "Message limits"): a message holds at most 50 blocks and
//! its `text` at most 40,000 characters (`msg_too_long`); a view at most 100 blocks;
//! a section's `text` at most 3,000 characters and at most 10 `fields` of 2,000; a header
//! 150; a context at most 10 elements; an actions block at most 25 elements; a button's
//! text 75, value 2,000 and url 3,000; `block_id` and `action_id` 255. Over a limit, posts
//! get `invalid_blocks`, `response_url` posts HTTP 400 `invalid_blocks`, and views
//! `invalid_arguments`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub const BOT_TOKEN: &str = "xoxb-test-bot-token";
pub const APP_TOKEN: &str = "xapp-1-test-app-token";
pub const TEAM: &str = "T0TEST";
/// Sent down a socket's channel: the connection goes silent.
const FREEZE: &str = "\u{0}freeze";
/// Slack's trigger ids expire this long after the command was sent.
const TRIGGER_LIFETIME: Duration = Duration::from_secs(3);

#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub body: Value,
}

/// A modal Slack opened (or last updated).
#[derive(Clone, Debug)]
pub struct OpenView {
    pub trigger_id: String,
    pub id: String,
    pub hash: String,
    pub view: Value,
    /// How many times `views.update` replaced it.
    pub updates: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub tz: String,
    pub deleted: bool,
    pub is_bot: bool,
    /// A multi-channel guest.
    pub is_restricted: bool,
    /// A single-channel guest.
    pub is_ultra_restricted: bool,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    /// Issued trigger ids and when.
    triggers: HashMap<String, Instant>,
    used_triggers: HashSet<String>,
    /// Open views: id -> hash.
    views: HashMap<String, String>,
    opened: Vec<OpenView>,
    people: HashMap<String, Person>,
    /// Channels the bot is a member of.
    member_of: HashSet<String>,
    users_info_delay: Duration,
    /// `users.info` calls being answered now, and the most there ever were at once.
    users_info_now: usize,
    users_info_most: usize,
    /// Scripted failures per method, used before normal handling: (status, body, retry-after).
    failures: HashMap<String, VecDeque<(u16, Value, Option<u64>)>>,
    /// response_url posts by hook id.
    responses: Vec<(String, Value)>,
    broken_response_urls: bool,
    /// Response URLs that answer 307 to another address, by hook id.
    redirects: HashMap<String, String>,
    /// Until then, posting (messages, ephemeral messages, response URLs) answers 503.
    posting_down_until: Option<Instant>,
    /// Messages chat.postMessage actually posted.
    posted: Vec<Value>,
    /// The next chat.postMessage posts, then holds its answer this long (a lost answer).
    post_then_hang: Option<Duration>,
    /// The answer being made is held this long first.
    hang_now: Option<Duration>,
    /// Methods whose every answer is held this long after the work is done.
    slow: HashMap<String, Duration>,
    next_id: u64,
    /// Socket Mode: the open socket's sender, acknowledgements received, connections opened.
    socket: Option<tokio::sync::mpsc::UnboundedSender<Option<String>>>,
    /// Earlier sockets, kept open (as Slack keeps one for a while after a newer one opened)
    /// until the app closes them.
    retired: Vec<tokio::sync::mpsc::UnboundedSender<Option<String>>>,
    acks: Vec<Value>,
    connections_opened: usize,
    /// The WebSocket URL apps.connections.open hands out instead of this fake's own.
    socket_url: Option<String>,
    address: String,
}

#[derive(Clone)]
pub struct FakeSlack {
    inner: Arc<Mutex<Inner>>,
    pub base: String,
}

impl FakeSlack {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/api/{method}", any(api))
            .route("/hooks/{id}", post(hook))
            .route("/socket", axum::routing::get(socket))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        inner.lock().unwrap().address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { inner, base }
    }

    pub fn api_url(&self) -> String {
        format!("{}/api", self.base)
    }

    /// A fresh trigger id, as Slack issues with each command.
    pub fn issue_trigger(&self) -> String {
        let mut inner = self.inner.lock().unwrap();
        inner.next_id += 1;
        let id = format!("{}.{}.trigger", inner.next_id, rand_suffix());
        inner.triggers.insert(id.clone(), Instant::now());
        id
    }

    pub fn response_url(&self, id: &str) -> String {
        format!("{}/hooks/{id}", self.base)
    }

    pub fn add_person(&self, person: Person) {
        self.inner
            .lock()
            .unwrap()
            .people
            .insert(person.id.clone(), person);
    }

    pub fn join_channel(&self, channel: &str) {
        self.inner
            .lock()
            .unwrap()
            .member_of
            .insert(channel.to_string());
    }

    pub fn set_users_info_delay(&self, delay: Duration) {
        self.inner.lock().unwrap().users_info_delay = delay;
    }

    /// The most `users.info` calls that were ever in flight at once.
    pub fn users_info_at_once(&self) -> usize {
        self.inner.lock().unwrap().users_info_most
    }

    /// The next call of `method` answers `status` with `body` (and `Retry-After`).
    pub fn fail_next(&self, method: &str, status: u16, body: Value, retry_after: Option<u64>) {
        self.inner
            .lock()
            .unwrap()
            .failures
            .entry(method.to_string())
            .or_default()
            .push_back((status, body, retry_after));
    }

    /// Slack fails every post (503, `service_unavailable`) for the next `period`.
    pub fn posting_down_for(&self, period: Duration) {
        self.inner.lock().unwrap().posting_down_until = Some(Instant::now() + period);
    }

    /// Messages that were really posted (failed attempts are not here).
    /// Every call of `method` does its work, then holds its answer for `period`.
    pub fn answer_slowly(&self, method: &str, period: Duration) {
        self.inner
            .lock()
            .unwrap()
            .slow
            .insert(method.into(), period);
    }

    /// The next `chat.postMessage` is posted, but its answer is held for `period`.
    pub fn post_then_hang(&self, period: Duration) {
        self.inner.lock().unwrap().post_then_hang = Some(period);
    }

    pub fn posted(&self) -> Vec<Value> {
        self.inner.lock().unwrap().posted.clone()
    }

    /// Posts to the response URL `hook` are answered with a redirect (307) to `to`.
    pub fn redirect_hook(&self, hook: &str, to: &str) {
        self.inner
            .lock()
            .unwrap()
            .redirects
            .insert(hook.to_string(), to.to_string());
    }

    pub fn break_response_urls(&self) {
        self.inner.lock().unwrap().broken_response_urls = true;
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// The modal opened with `trigger_id`, as it stands now.
    pub fn opened_view(&self, trigger_id: &str) -> Option<OpenView> {
        self.inner
            .lock()
            .unwrap()
            .opened
            .iter()
            .find(|o| o.trigger_id == trigger_id)
            .cloned()
    }

    /// Sends a Socket Mode message to the connected app; false when none is connected.
    pub fn socket_send(&self, message: Value) -> bool {
        let s = self.inner.lock().unwrap();
        s.socket
            .as_ref()
            .is_some_and(|tx| tx.send(Some(message.to_string())).is_ok())
    }

    /// The connection goes silent, as a half-open link does: still open, but nothing is
    /// read from it or sent on it (not even a pong).
    pub fn socket_freeze(&self) {
        if let Some(tx) = self.inner.lock().unwrap().socket.as_ref() {
            let _ = tx.send(Some(FREEZE.to_string()));
        }
    }

    /// apps.connections.open hands out `url` from now on.
    pub fn hand_out_socket_url(&self, url: &str) {
        self.inner.lock().unwrap().socket_url = Some(url.to_string());
    }

    /// Drops the connection from Slack's side, without a goodbye.
    pub fn socket_drop(&self) {
        if let Some(tx) = self.inner.lock().unwrap().socket.take() {
            let _ = tx.send(None);
        }
    }

    pub fn socket_connected(&self) -> bool {
        self.inner
            .lock()
            .unwrap()
            .socket
            .as_ref()
            .is_some_and(|tx| !tx.is_closed())
    }

    pub fn acks(&self) -> Vec<Value> {
        self.inner.lock().unwrap().acks.clone()
    }

    pub fn connections_opened(&self) -> usize {
        self.inner.lock().unwrap().connections_opened
    }

    pub fn responses(&self) -> Vec<(String, Value)> {
        self.inner.lock().unwrap().responses.clone()
    }
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{nanos:x}")
}

fn slack_error(code: &str) -> Response {
    Json(json!({ "ok": false, "error": code })).into_response()
}

/// Reads arguments the way Slack does: query string, JSON body or form body.
fn arguments(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Value {
    let mut args = serde_json::Map::new();
    if let Some(q) = query {
        for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(&q).unwrap_or_default() {
            args.insert(k, Value::String(v));
        }
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
            args.extend(map);
        }
    } else if !body.is_empty() {
        for (k, v) in
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default()
        {
            args.insert(k, Value::String(v));
        }
    }
    Value::Object(args)
}

async fn api(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let slow = inner.lock().unwrap().slow.get(&method).copied();
    let response = answer(inner.clone(), method, query, headers, body).await;
    let hang = inner.lock().unwrap().hang_now.take().or(slow);
    if let Some(hang) = hang {
        tokio::time::sleep(hang).await;
    }
    response
}

async fn answer(
    inner: Arc<Mutex<Inner>>,
    method: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let args = arguments(query, &headers, &body);
    let delay = {
        let mut s = inner.lock().unwrap();
        s.calls.push(Call {
            method: method.clone(),
            body: args.clone(),
        });
        if method == "users.info" {
            s.users_info_delay
        } else {
            Duration::ZERO
        }
    };
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth.is_empty() {
        return slack_error("not_authed");
    }
    if method == "apps.connections.open" {
        // Only an app-level token may open a socket.
        if auth != format!("Bearer {APP_TOKEN}") {
            return slack_error("invalid_auth");
        }
        let mut s = inner.lock().unwrap();
        s.connections_opened += 1;
        let url = s
            .socket_url
            .clone()
            .unwrap_or_else(|| format!("ws://{}/socket", s.address));
        return Json(json!({"ok": true, "url": url})).into_response();
    }
    if auth != format!("Bearer {BOT_TOKEN}") {
        return slack_error("invalid_auth");
    }
    if method == "users.info" {
        let mut s = inner.lock().unwrap();
        s.users_info_now += 1;
        s.users_info_most = s.users_info_most.max(s.users_info_now);
    }
    tokio::time::sleep(delay).await;
    if method == "users.info" {
        inner.lock().unwrap().users_info_now -= 1;
    }
    let mut s = inner.lock().unwrap();
    if let Some((status, body, retry_after)) =
        s.failures.get_mut(&method).and_then(|q| q.pop_front())
    {
        let mut response = (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
        }
        return response;
    }
    match method.as_str() {
        "views.open" => {
            let trigger = args["trigger_id"].as_str().unwrap_or_default().to_string();
            let Some(issued) = s.triggers.get(&trigger).copied() else { return slack_error("invalid_trigger_id") };
            if !s.used_triggers.insert(trigger) {
                return slack_error("trigger_exchanged");
            }
            if issued.elapsed() > TRIGGER_LIFETIME {
                return slack_error("expired_trigger_id");
            }
            if let Err(code) = check_view(&args["view"]) {
                return slack_error(code);
            }
            s.next_id += 1;
            let id = format!("V{:08}", s.next_id);
            let hash = format!("{}.{}", s.next_id, rand_suffix());
            s.views.insert(id.clone(), hash.clone());
            let trigger_id = args["trigger_id"].as_str().unwrap_or_default().to_string();
            s.opened.push(OpenView { trigger_id, id: id.clone(), hash: hash.clone(), view: args["view"].clone(), updates: 0 });
            Json(json!({ "ok": true, "view": stateful(&args["view"], &id, &hash) })).into_response()
        }
        "views.update" => {
            let id = args["view_id"].as_str().unwrap_or_default().to_string();
            let Some(current) = s.views.get(&id).cloned() else { return slack_error("not_found") };
            if let Some(hash) = args["hash"].as_str() {
                if hash != current {
                    return slack_error("hash_conflict");
                }
            }
            if let Err(code) = check_view(&args["view"]) {
                return slack_error(code);
            }
            s.next_id += 1;
            let hash = format!("{}.{}", s.next_id, rand_suffix());
            s.views.insert(id.clone(), hash.clone());
            if let Some(open) = s.opened.iter_mut().find(|o| o.id == id) {
                open.hash = hash.clone();
                open.updates += 1;
                open.view = args["view"].clone();
            }
            Json(json!({ "ok": true, "view": stateful(&args["view"], &id, &hash) })).into_response()
        }
        "chat.postMessage" | "chat.postEphemeral" if posting_down(&s) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ok": false, "error": "service_unavailable"})),
        )
            .into_response(),
        "chat.postMessage" | "chat.postEphemeral" => {
            let channel = args["channel"].as_str().unwrap_or_default().to_string();
            if args.get("text").is_none() && args.get("blocks").is_none() {
                return slack_error("no_text");
            }
            if let Err(code) = check_message(&args) {
                return slack_error(code);
            }
            // Posting to a user id opens the bot's direct message with them.
            let is_dm = channel.starts_with('U') || channel.starts_with('W');
            if is_dm && !s.people.contains_key(&channel) {
                return slack_error("channel_not_found");
            }
            if !is_dm && !s.member_of.contains(&channel) {
                return slack_error("not_in_channel");
            }
            s.next_id += 1;
            let ts = format!("{}.{:06}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), s.next_id);
            if method == "chat.postEphemeral" {
                return Json(json!({ "ok": true, "message_ts": ts })).into_response();
            }
            let mut message = args.clone();
            message["ts"] = json!(ts);
            s.posted.push(message);
            s.hang_now = s.post_then_hang.take();
            Json(json!({
                "ok": true, "channel": channel, "ts": ts,
                "message": {"type": "message", "subtype": "bot_message", "text": args["text"], "ts": ts,
                            "bot_id": "B0TEST", "username": "Tallyfy", "blocks": args.get("blocks").cloned().unwrap_or(json!([]))}
            }))
            .into_response()
        }
        // A message the bot posted, changed in place (api.slack.com/methods/chat.update):
        // the same limits as a post; `message_not_found` for a ts it never posted.
        "chat.update" => {
            let channel = args["channel"].as_str().unwrap_or_default().to_string();
            let ts = args["ts"].as_str().unwrap_or_default().to_string();
            if let Err(code) = check_message(&args) {
                return slack_error(code);
            }
            let Some(message) = s
                .posted
                .iter_mut()
                .find(|m| m["channel"] == channel.as_str() && m["ts"] == ts.as_str())
            else {
                return slack_error("message_not_found");
            };
            for field in ["text", "blocks"] {
                if let Some(v) = args.get(field) {
                    message[field] = v.clone();
                }
            }
            Json(json!({"ok": true, "channel": channel, "ts": ts, "text": args["text"]})).into_response()
        }
        // Messages the bot posted, newest first; metadata only when asked for
        // (api.slack.com/methods/conversations.history, .../conversations.replies).
        "conversations.history" | "conversations.replies" => {
            let channel = args["channel"].as_str().unwrap_or_default();
            if !s.member_of.contains(channel) {
                return slack_error("not_in_channel");
            }
            let oldest: f64 = args["oldest"].as_str().and_then(|o| o.parse().ok()).unwrap_or(0.0);
            let thread = args["ts"].as_str();
            let with_metadata = args["include_all_metadata"] == "true";
            let messages: Vec<Value> = s
                .posted
                .iter()
                .rev()
                .filter(|m| m["channel"] == channel)
                .filter(|m| m["ts"].as_str().and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.0) >= oldest)
                .filter(|m| match thread {
                    Some(ts) => m["thread_ts"] == ts,
                    None => m["thread_ts"].is_null(),
                })
                .map(|m| {
                    let mut out = json!({"type": "message", "subtype": "bot_message", "ts": m["ts"], "text": m["text"], "bot_id": "B0TEST", "app_id": "A0TEST"});
                    if with_metadata && !m["metadata"].is_null() {
                        out["metadata"] = m["metadata"].clone();
                    }
                    out
                })
                .collect();
            Json(json!({"ok": true, "messages": messages, "has_more": false})).into_response()
        }
        "users.info" => {
            let user = args["user"].as_str().unwrap_or_default();
            let Some(p) = s.people.get(user) else { return slack_error("user_not_found") };
            let mut profile = json!({ "display_name": p.name, "real_name": p.name });
            if let Some(email) = &p.email {
                profile["email"] = json!(email);
            }
            Json(json!({
                "ok": true,
                "user": {
                    "id": p.id, "team_id": TEAM, "name": p.name.to_lowercase(), "deleted": p.deleted,
                    "real_name": p.name, "tz": p.tz, "tz_label": "", "tz_offset": -18000,
                    "is_bot": p.is_bot, "is_admin": false, "profile": profile,
                    "is_restricted": p.is_restricted, "is_ultra_restricted": p.is_ultra_restricted
                }
            }))
            .into_response()
        }
        "users.list" => {
            let limit: usize = args["limit"].as_str().and_then(|l| l.parse().ok()).or(args["limit"].as_u64().map(|l| l as usize)).unwrap_or(100).clamp(1, 1000);
            let start: usize = args["cursor"].as_str().and_then(|c| c.strip_prefix("page:")).and_then(|c| c.parse().ok()).unwrap_or(0);
            let mut people: Vec<&Person> = s.people.values().collect();
            people.sort_by(|a, b| a.id.cmp(&b.id));
            let members: Vec<Value> = people
                .iter()
                .skip(start)
                .take(limit)
                .map(|p| json!({
                    "id": p.id, "team_id": TEAM, "name": p.name.to_lowercase(), "deleted": p.deleted, "real_name": p.name,
                    "is_bot": p.is_bot, "tz": p.tz, "profile": {"display_name": p.name, "real_name": p.name}
                }))
                .collect();
            let next = if start + limit < people.len() { format!("page:{}", start + limit) } else { String::new() };
            Json(json!({"ok": true, "members": members, "response_metadata": {"next_cursor": next}})).into_response()
        }
        "bots.info" => Json(json!({
            "ok": true,
            "bot": {"id": args["bot"], "deleted": false, "name": "tallyfy", "updated": 1700000000,
                    "app_id": "A0TEST", "user_id": "UBOT", "icons": {}}
        }))
        .into_response(),
        "auth.test" => Json(json!({
            "ok": true, "url": "https://test.slack.com/", "team": "Test", "user": "tallyfy", "team_id": TEAM,
            "user_id": "UBOT", "bot_id": "BBOT"
        }))
        .into_response(),
        _ => slack_error("unknown_method"),
    }
}

/// The checks Slack makes on a modal before opening it.
fn check_view(view: &Value) -> Result<(), &'static str> {
    let text_len = |v: &Value| v["text"].as_str().map(|t| t.chars().count()).unwrap_or(0);
    if view["type"] != "modal" || text_len(&view["title"]) == 0 || text_len(&view["title"]) > 24 {
        return Err("invalid_arguments");
    }
    if text_len(&view["submit"]) > 24 || text_len(&view["close"]) > 24 {
        return Err("invalid_arguments");
    }
    let blocks = view["blocks"].as_array().ok_or("invalid_arguments")?;
    if blocks.len() > 100 || view["private_metadata"].as_str().map(str::len).unwrap_or(0) > 3000 {
        return Err("invalid_arguments");
    }
    check_blocks(blocks).map_err(|_| "invalid_arguments")?;
    for block in blocks {
        if block["type"] == "input" {
            let element = &block["element"];
            if element["type"] == "plain_text_input"
                && element["initial_value"]
                    .as_str()
                    .map(|v| v.chars().count())
                    .unwrap_or(0)
                    > 3000
            {
                return Err("invalid_arguments");
            }
            if text_len(&block["label"]) == 0
                || block["block_id"].as_str().map(str::len).unwrap_or(0) > 255
            {
                return Err("invalid_arguments");
            }
        }
    }
    Ok(())
}

/// The checks Slack makes on a message (posted, ephemeral, or through a `response_url`).
fn check_message(message: &Value) -> Result<(), &'static str> {
    if chars(&message["text"]) > 40_000 {
        return Err("msg_too_long");
    }
    // Form-encoded posts carry `blocks` as a JSON string.
    let blocks = match &message["blocks"] {
        Value::String(raw) => serde_json::from_str(raw).map_err(|_| "invalid_blocks")?,
        other => other.clone(),
    };
    match blocks {
        Value::Null => Ok(()),
        Value::Array(blocks) if blocks.len() <= 50 => check_blocks(&blocks),
        _ => Err("invalid_blocks"),
    }
}

fn chars(v: &Value) -> usize {
    v.as_str().map(|t| t.chars().count()).unwrap_or(0)
}

/// Block Kit's per-block limits (the module's documentation gives the sources).
fn check_blocks(blocks: &[Value]) -> Result<(), &'static str> {
    let over = |v: &Value, max: usize| chars(v) > max;
    for block in blocks {
        if over(&block["block_id"], 255) {
            return Err("invalid_blocks");
        }
        let fine = match block["type"].as_str() {
            Some("section") => {
                let fields = block["fields"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                !over(&block["text"]["text"], 3000)
                    && fields.len() <= 10
                    && fields.iter().all(|f| !over(&f["text"], 2000))
                    && (block["accessory"].is_null() || check_element(&block["accessory"]))
            }
            Some("header") => !over(&block["text"]["text"], 150),
            Some("context") => block["elements"].as_array().is_some_and(|e| e.len() <= 10),
            Some("actions") => block["elements"]
                .as_array()
                .is_some_and(|e| e.len() <= 25 && e.iter().all(check_element)),
            _ => true,
        };
        if !fine {
            return Err("invalid_blocks");
        }
    }
    Ok(())
}

fn check_element(element: &Value) -> bool {
    let over = |v: &Value, max: usize| chars(v) > max;
    !over(&element["action_id"], 255)
        && (element["type"] != "button"
            || (!over(&element["text"]["text"], 75)
                && !over(&element["value"], 2000)
                && !over(&element["url"], 3000)))
}

fn stateful(view: &Value, id: &str, hash: &str) -> Value {
    let mut v = view.clone();
    v["id"] = json!(id);
    v["hash"] = json!(hash);
    v["team_id"] = json!(TEAM);
    v["state"] = json!({ "values": {} });
    v["app_id"] = json!("A0TEST");
    v["bot_id"] = json!("B0TEST");
    v
}

fn posting_down(s: &Inner) -> bool {
    s.posting_down_until
        .is_some_and(|until| Instant::now() < until)
}

async fn hook(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mut s = inner.lock().unwrap();
    if let Some(to) = s.redirects.get(&id) {
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [(axum::http::header::LOCATION, to.clone())],
        )
            .into_response();
    }
    if s.broken_response_urls {
        return (StatusCode::NOT_FOUND, "expired_url").into_response();
    }
    if posting_down(&s) {
        return (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").into_response();
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    if value.get("text").is_none() && value.get("blocks").is_none() {
        return (StatusCode::BAD_REQUEST, "no_text").into_response();
    }
    if let Err(code) = check_message(&value) {
        return (StatusCode::BAD_REQUEST, code).into_response();
    }
    s.responses.push((id, value));
    (StatusCode::OK, "ok").into_response()
}

async fn socket(
    ws: axum::extract::ws::WebSocketUpgrade,
    State(inner): State<Arc<Mutex<Inner>>>,
) -> Response {
    use axum::extract::ws::Message as Ws;
    use futures::{SinkExt, StreamExt};
    ws.on_upgrade(move |socket| async move {
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<String>>();
        {
            let mut s = inner.lock().unwrap();
            if let Some(old) = s.socket.replace(tx) {
                s.retired.push(old);
            }
        }
        let hello = json!({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}, "connection_info": {"app_id": "A0TEST"}});
        if sink.send(Ws::Text(hello.to_string().into())).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(Some(text)) if text == FREEZE => {
                        // Hold the socket open and never touch it again.
                        let _held = (sink, stream);
                        std::future::pending::<()>().await;
                        return;
                    }
                    Some(Some(text)) => {
                        if sink.send(Ws::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    // Dropped by the test.
                    _ => break,
                },
                frame = stream.next() => match frame {
                    Some(Ok(Ws::Text(text))) => {
                        if let Ok(ack) = serde_json::from_str::<Value>(text.as_str()) {
                            inner.lock().unwrap().acks.push(ack);
                        }
                    }
                    Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => break,
                    _ => {}
                },
            }
        }
    })
}
