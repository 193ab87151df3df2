//! The routes Slack calls. Each one verifies the signature before anything else, parses,
//! answers within Slack's 3 s and hands the work off.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::dispatch::{self, Answer};
use crate::slack::command::{self, CommandBody};
use crate::slack::interaction;
use crate::state::AppState;

/// The largest body read; anything larger is refused with 413. Slack's largest requests
/// are message shortcuts: a message of up to 40,000 characters arrives twice (its text and
/// its rich_text blocks), form-encoded: a few hundred kilobytes, well over 64 KiB.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/slack/commands", post(commands))
        .route("/slack/interactions", post(interactions))
        .route("/slack/events", post(events))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// A request body whose Slack signature has been checked.
pub struct Verified(pub Bytes);

impl FromRequest<AppState> for Verified {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let timestamp = header(&req, "x-slack-request-timestamp");
        let signature = header(&req, "x-slack-signature");
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(verifier) = &state.verifier else {
            state.metrics.slack_request("unsigned", "rejected");
            return Err((
                StatusCode::UNAUTHORIZED,
                "HTTP requests are disabled: no signing secret is configured",
            )
                .into_response());
        };
        match verifier.verify(timestamp.as_deref(), signature.as_deref(), &body) {
            Ok(()) => Ok(Verified(body)),
            Err(e) => {
                state.metrics.slack_request("unsigned", "rejected");
                tracing::warn!(reason = %e, "refused a request with a bad Slack signature");
                Err((StatusCode::UNAUTHORIZED, "invalid Slack signature").into_response())
            }
        }
    }
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn bad_request(state: &AppState, kind: &str, why: String) -> Response {
    state.metrics.slack_request(kind, "malformed");
    tracing::warn!(kind, %why, "malformed request from Slack");
    (StatusCode::BAD_REQUEST, format!("malformed {kind} body")).into_response()
}

fn respond(answer: Answer) -> Response {
    match answer {
        Answer::Empty => StatusCode::OK.into_response(),
        Answer::Json(body) => Json(body).into_response(),
    }
}

async fn commands(State(state): State<AppState>, Verified(body): Verified) -> Response {
    match command::parse_body(&body) {
        Ok(CommandBody::SslCheck) => StatusCode::OK.into_response(),
        Ok(CommandBody::Command(cmd)) => respond(dispatch::command(&state, *cmd).await),
        Err(e) => bad_request(&state, "command", e.to_string()),
    }
}

async fn interactions(State(state): State<AppState>, Verified(body): Verified) -> Response {
    match interaction::parse_form(&body) {
        Ok(interaction) => respond(dispatch::interaction(&state, interaction).await),
        Err(e) => bad_request(&state, "interaction", e),
    }
}

async fn events(State(state): State<AppState>, Verified(body): Verified) -> Response {
    let event: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(&state, "event", e.to_string()),
    };
    match dispatch::event(&state, &event) {
        Some(answer) => respond(answer),
        None => bad_request(&state, "event", "no type".into()),
    }
}
