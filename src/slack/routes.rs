//! The routes Slack calls. Each one verifies the signature before anything else, parses,
//! answers within Slack's 3 s and hands the work off.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use super::command::{self, CommandBody, SlashCommand};
use super::interaction::{self, Interaction};
use crate::project;
use crate::state::AppState;
use crate::task::{self, SubmitAnswer};

/// Slack's bodies are small; anything larger than this is refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

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

fn ephemeral(text: String) -> Response {
    Json(json!({ "response_type": "ephemeral", "text": text })).into_response()
}

async fn commands(State(state): State<AppState>, Verified(body): Verified) -> Response {
    let cmd = match command::parse_body(&body) {
        Ok(CommandBody::SslCheck) => return StatusCode::OK.into_response(),
        Ok(CommandBody::Command(cmd)) => cmd,
        Err(e) => return bad_request(&state, "command", e.to_string()),
    };
    state
        .metrics
        .slack_request("command", cmd.command.trim_start_matches('/'));
    dispatch_command(state, cmd).await
}

async fn dispatch_command(state: AppState, cmd: SlashCommand) -> Response {
    match cmd.command.as_str() {
        "/task" if task::is_help(&cmd.text) => ephemeral(task::message::help(&cmd.command)),
        "/task" if task::is_directory_command(&cmd.text) => {
            let text = task::directory_command(&state, &cmd)
                .await
                .unwrap_or_default();
            ephemeral(text)
        }
        "/task" => {
            // The modal opens in the background: the trigger id is good for 3 s, and the
            // command is acknowledged at once so Slack never shows a timeout.
            tokio::spawn(async move { task::open(&state, cmd).await });
            StatusCode::OK.into_response()
        }
        "/project" if task::is_help(&cmd.text) => ephemeral(project::message::help(&cmd.command)),
        // Answered inline: the progress lookups are bounded well inside Slack's 3 s.
        "/project" if project::is_list(&cmd.text) => {
            Json(project::list(&state, &cmd).await).into_response()
        }
        "/project" => {
            tokio::spawn(async move { project::open(&state, cmd).await });
            StatusCode::OK.into_response()
        }
        other => ephemeral(format!(
            "I don't know the command `{other}`. Try `/task help`."
        )),
    }
}

async fn interactions(State(state): State<AppState>, Verified(body): Verified) -> Response {
    let interaction = match interaction::parse_form(&body) {
        Ok(i) => i,
        Err(e) => return bad_request(&state, "interaction", e),
    };
    match interaction {
        Interaction::ViewSubmission(sub) => {
            let answer = match sub.view.callback_id.as_str() {
                task::modal::CALLBACK_ID => task::submit(&state, sub).await,
                project::modal::CALLBACK_ID => project::submit(&state, sub).await,
                _ => SubmitAnswer::Close,
            };
            match answer {
                SubmitAnswer::Close => {
                    state.metrics.slack_request("view_submission", "accepted");
                    StatusCode::OK.into_response()
                }
                SubmitAnswer::Errors(errors) => {
                    state.metrics.slack_request("view_submission", "invalid");
                    Json(json!({ "response_action": "errors", "errors": errors })).into_response()
                }
            }
        }
        Interaction::BlockActions(actions) => {
            for action in &actions.actions {
                if action.action_id == project::message::RETRY_ACTION {
                    if let (Some(key), Some(url)) = (&action.value, &actions.response_url) {
                        state
                            .metrics
                            .slack_request("block_actions", "project_retry");
                        state.jobs.spawn_project_retry(key.clone(), url.clone());
                    }
                }
            }
            StatusCode::OK.into_response()
        }
        _ => {
            state.metrics.slack_request("interaction", "ignored");
            StatusCode::OK.into_response()
        }
    }
}

async fn events(State(state): State<AppState>, Verified(body): Verified) -> Response {
    let event: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(&state, "event", e.to_string()),
    };
    match event.get("type").and_then(|t| t.as_str()) {
        Some("url_verification") => {
            state.metrics.slack_request("event", "url_verification");
            let challenge = event
                .get("challenge")
                .and_then(|c| c.as_str())
                .unwrap_or_default();
            Json(json!({ "challenge": challenge })).into_response()
        }
        Some(kind) => {
            state.metrics.slack_request("event", kind);
            StatusCode::OK.into_response()
        }
        None => bad_request(&state, "event", "no type".into()),
    }
}
