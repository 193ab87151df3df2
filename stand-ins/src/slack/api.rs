//! The Web API's methods and the response URLs, answered as Slack answers them.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::blocks::{check_home, check_message, check_view};
use super::*;

pub(super) fn slack_error(code: &str) -> Response {
    Json(json!({ "ok": false, "error": code })).into_response()
}

/// Reads arguments the way Slack does: query string, JSON body or form body.
pub(super) fn arguments(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Value {
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

pub(super) async fn api(
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
    if std::mem::take(&mut inner.lock().unwrap().drop_now) {
        return cut_off(response);
    }
    response
}

/// The answer's head goes out, then its body fails: the server closes the connection
/// mid-answer, as a dropped connection looks to the caller.
fn cut_off(response: Response) -> Response {
    let (parts, _) = response.into_parts();
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection dropped",
        ))
    });
    Response::from_parts(parts, axum::body::Body::from_stream(failing))
}

pub(super) async fn answer(
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
        let history = s.history;
        super::trim(&mut s.calls, history);
        super::trim(&mut s.opened, history);
        super::trim(&mut s.posted, history);
        let held = s.held.remove(&method).unwrap_or_default();
        if method == "users.info" {
            s.users_info_delay + held
        } else {
            held
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
    // Slack's rate limits (see `tiers`): past one, 429 with `Retry-After`, nothing done.
    let channel = args["channel"].as_str().unwrap_or_default();
    if let Err(wait) = s.tiers.admit(&method, channel) {
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"ok": false, "error": "ratelimited"})),
        )
            .into_response();
        response
            .headers_mut()
            .insert("retry-after", wait.to_string().parse().unwrap());
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
        // The App Home tab of one user (api.slack.com/methods/views.publish): `user_id` is
        // required and must be a person of the workspace; the view replaces the last one
        // published for them.
        "views.publish" => {
            let user = args["user_id"].as_str().unwrap_or_default().to_string();
            if user.is_empty() {
                return slack_error("invalid_arguments");
            }
            if !s.people.contains_key(&user) {
                return slack_error("user_not_found");
            }
            // Form-encoded calls carry the view as a JSON string.
            let view = match &args["view"] {
                Value::String(raw) => serde_json::from_str(raw).unwrap_or(Value::Null),
                other => other.clone(),
            };
            if let Err(code) = check_home(&view) {
                return slack_error(code);
            }
            s.next_id += 1;
            let (id, hash) = (format!("V{:08}", s.next_id), format!("{}.{}", s.next_id, rand_suffix()));
            s.homes.insert(user, view.clone());
            Json(json!({ "ok": true, "view": stateful(&view, &id, &hash) })).into_response()
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
            // With `chat:write.public` a bot posts to a public channel it is not in
            // (api.slack.com/scopes/chat:write.public); elsewhere it must be a member
            // (api.slack.com/methods/chat.postMessage, `not_in_channel`). Ephemeral
            // messages go only where the bot is.
            let public_post = method == "chat.postMessage"
                && channel.starts_with('C')
                && !s.without_write_public;
            if !is_dm && !public_post && !s.member_of.contains(&channel) {
                return slack_error("not_in_channel");
            }
            s.next_id += 1;
            let ts = format!("{}.{:06}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), s.next_id);
            if method == "chat.postEphemeral" {
                let mut message = args.clone();
                message["ts"] = json!(ts);
                s.ephemerals.push(message);
                return Json(json!({ "ok": true, "message_ts": ts })).into_response();
            }
            let mut message = args.clone();
            message["ts"] = json!(ts);
            s.posted.push(message);
            s.hang_now = s.post_then_hang.take();
            s.drop_now = std::mem::take(&mut s.post_then_drop);
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
            // Slack answers with the message as it now reads (the method's documented
            // response has `message`; slack-morphism's client needs it).
            let message = message.clone();
            Json(json!({"ok": true, "channel": channel, "ts": ts, "text": args["text"], "message": message})).into_response()
        }
        // The bot joins a public channel (api.slack.com/methods/conversations.join, scope
        // `channels:join`): a private channel answers `method_not_supported_for_channel_type`
        // (a bot must be invited there); an id that names no channel `channel_not_found`.
        "conversations.join" => {
            let channel = args["channel"].as_str().unwrap_or_default().to_string();
            if channel.starts_with('G') {
                return slack_error("method_not_supported_for_channel_type");
            }
            if !channel.starts_with('C') {
                return slack_error("channel_not_found");
            }
            let already = !s.member_of.insert(channel.clone());
            let mut answer = json!({"ok": true, "channel": {"id": channel, "is_channel": true, "is_private": false, "is_member": true}});
            if already {
                answer["warning"] = json!("already_in_channel");
            }
            Json(answer).into_response()
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
                    "id": p.id, "team_id": p.team.as_deref().unwrap_or(TEAM), "name": p.name.to_lowercase(), "deleted": p.deleted,
                    "real_name": p.name, "tz": p.tz, "tz_label": "", "tz_offset": -18000,
                    "is_bot": p.is_bot, "is_admin": false, "profile": profile,
                    "is_restricted": p.is_restricted, "is_ultra_restricted": p.is_ultra_restricted
                }
            }))
            .into_response()
        }
        "users.list" if {
            s.users_list_answered += 1;
            s.users_list_fail_at == Some(s.users_list_answered)
        } => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"ok": false, "error": "internal_error"}))).into_response(),
        "users.list" => {
            let limit: usize = args["limit"].as_str().and_then(|l| l.parse().ok()).or(args["limit"].as_u64().map(|l| l as usize)).unwrap_or(100).clamp(1, 1000).min(s.users_list_page_cap.unwrap_or(usize::MAX));
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

pub(super) fn stateful(view: &Value, id: &str, hash: &str) -> Value {
    let mut v = view.clone();
    v["id"] = json!(id);
    v["hash"] = json!(hash);
    v["team_id"] = json!(TEAM);
    v["state"] = json!({ "values": {} });
    v["app_id"] = json!("A0TEST");
    // The workspace the app is installed in, on every view Slack answers with
    // (api.slack.com/reference/surfaces/views; slack-go/slack pull request 1073).
    v["app_installed_team_id"] = json!(TEAM);
    v["bot_id"] = json!("B0TEST");
    v
}

pub(super) fn posting_down(s: &Inner) -> bool {
    s.posting_down_until
        .is_some_and(|until| Instant::now() < until)
}

pub(super) async fn hook(
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
    // A message's button: `replace_original` replaces that message in place, for everyone
    // (api.slack.com/interactivity/handling#updating_message_response); its `ts` stays.
    if value["replace_original"] == true {
        if let Some((channel, ts)) = s.message_hooks.get(&id).cloned() {
            if let Some(message) = s
                .posted
                .iter_mut()
                .find(|m| m["channel"] == channel.as_str() && m["ts"] == ts.as_str())
            {
                for field in ["text", "blocks"] {
                    message[field] = value.get(field).cloned().unwrap_or(Value::Null);
                }
            }
        }
    }
    s.responses.push((id, value));
    (StatusCode::OK, "ok").into_response()
}
