//! The sandbox's web page and the small JSON API it calls: the page is plain HTML, CSS and
//! JavaScript compiled into the binary; each call turns a person's action into what Slack
//! would send the application (see [`crate::room`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::room::{Action, Room};

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/sandbox.js");
const MODAL_SCRIPT: &str = include_str!("page/modal.js");
const STYLE: &str = include_str!("page/sandbox.css");

pub fn router(room: Arc<Room>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/sandbox.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/modal.js",
            get(|| async { asset("text/javascript; charset=utf-8", MODAL_SCRIPT) }),
        )
        .route(
            "/sandbox.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        // Links to Tallyfy open the page's Tallyfy panel.
        .route(
            "/tallyfy/{*rest}",
            get(|| async { Redirect::to("/#tallyfy") }),
        )
        .route("/api/state", get(state))
        .route("/api/say", post(say))
        .route("/api/submit", post(submit))
        .route("/api/close", post(close))
        .route("/api/pick", post(pick))
        .route("/api/modal/choose", post(choose))
        .route("/api/modal/suggest", post(suggest))
        .route("/api/press", post(press))
        .route("/api/shortcut", post(shortcut))
        .route("/api/home", post(home))
        .route("/api/home/press", post(press_home))
        .route("/api/tallyfy/complete", post(complete))
        .with_state(room)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn outcome(result: Result<Value, String>) -> Response {
    match result {
        Ok(answer) => Json(json!({"ok": true, "answer": answer})).into_response(),
        Err(error) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"ok": false, "error": error})),
        )
            .into_response(),
    }
}

async fn state(State(room): State<Arc<Room>>) -> Json<Value> {
    Json(room.state())
}

/// Who acts, and in which channel: part of every request made in a channel.
#[derive(Deserialize)]
struct Who {
    user: String,
    channel: String,
}

impl Who {
    fn action(&self) -> Action<'_> {
        Action {
            user: &self.user,
            channel: &self.channel,
        }
    }
}

#[derive(Deserialize)]
struct Say {
    #[serde(flatten)]
    who: Who,
    text: String,
}

async fn say(State(room): State<Arc<Room>>, Json(s): Json<Say>) -> Response {
    outcome(
        room.say(s.who.action(), &s.text)
            .await
            .map(|()| Value::Null),
    )
}

#[derive(Deserialize)]
struct Submit {
    user: String,
    view_id: String,
    values: Value,
}

async fn submit(State(room): State<Arc<Room>>, Json(s): Json<Submit>) -> Response {
    outcome(room.submit(&s.user, &s.view_id, s.values).await)
}

#[derive(Deserialize)]
struct Pick {
    user: String,
    view_id: String,
    block_id: String,
    values: Value,
}

async fn pick(State(room): State<Arc<Room>>, Json(p): Json<Pick>) -> Response {
    outcome(
        room.pick(&p.user, &p.view_id, &p.block_id, p.values)
            .await
            .map(|sent| json!({ "sent": sent })),
    )
}

#[derive(Deserialize)]
struct Choose {
    user: String,
    view_id: String,
    action: Value,
    values: Value,
}

async fn choose(State(room): State<Arc<Room>>, Json(c): Json<Choose>) -> Response {
    let done = room
        .choose_in_modal(&c.user, &c.view_id, c.action, c.values)
        .await;
    outcome(done.map(|()| Value::Null))
}

#[derive(Deserialize)]
struct Suggest {
    user: String,
    view_id: String,
    block_id: String,
    action_id: String,
    value: String,
}

async fn suggest(State(room): State<Arc<Room>>, Json(s): Json<Suggest>) -> Response {
    outcome(
        room.suggest(&s.user, &s.view_id, &s.block_id, &s.action_id, &s.value)
            .await,
    )
}

#[derive(Deserialize)]
struct Close {
    view_id: String,
}

async fn close(State(room): State<Arc<Room>>, Json(c): Json<Close>) -> Response {
    room.close(&c.view_id);
    outcome(Ok(Value::Null))
}

#[derive(Deserialize)]
struct Press {
    #[serde(flatten)]
    who: Who,
    ts: String,
    action: Value,
}

async fn press(State(room): State<Arc<Room>>, Json(p): Json<Press>) -> Response {
    let done = room.press(p.who.action(), &p.ts, p.action).await;
    outcome(done.map(|()| Value::Null))
}

#[derive(Deserialize)]
struct Shortcut {
    #[serde(flatten)]
    who: Who,
    ts: String,
    text: String,
}

async fn shortcut(State(room): State<Arc<Room>>, Json(s): Json<Shortcut>) -> Response {
    let done = room.shortcut(s.who.action(), &s.ts, &s.text).await;
    outcome(done.map(|()| Value::Null))
}

#[derive(Deserialize)]
struct Complete {
    task_id: String,
    member: u64,
    done: bool,
}

async fn complete(State(room): State<Arc<Room>>, Json(c): Json<Complete>) -> Response {
    let told = room.complete(&c.task_id, c.member, c.done).await;
    outcome(Ok(json!({ "webhook_answered": told })))
}

#[derive(Deserialize)]
struct Home {
    user: String,
}

async fn home(State(room): State<Arc<Room>>, Json(h): Json<Home>) -> Response {
    outcome(room.open_home(&h.user).await.map(|()| Value::Null))
}

#[derive(Deserialize)]
struct HomePress {
    user: String,
    action: Value,
}

async fn press_home(State(room): State<Arc<Room>>, Json(p): Json<HomePress>) -> Response {
    outcome(
        room.press_home(&p.user, p.action)
            .await
            .map(|()| Value::Null),
    )
}
