//! Socket Mode: with an app-level token (`SLACK_APP_TOKEN`), the service also opens a
//! WebSocket to Slack and receives commands, interactions and events over it; no public
//! URL needed. Each envelope goes through the same [`dispatch`] as HTTP, and is
//! acknowledged (with the answer as its payload) well within Slack's 3 s. The connection
//! is opened again after a `disconnect` message or a dropped socket.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tracing::Instrument;

use super::dispatch::{self, Answer};
use crate::config::Secret;
use crate::slack::command::SlashCommand;
use crate::slack::interaction::Interaction;
use crate::state::AppState;

/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

enum Ended {
    Shutdown,
    Reconnect(String),
}

/// Keeps a Socket Mode connection open until `shutdown` turns true.
pub async fn run(state: AppState, app_token: Secret, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        if *shutdown.borrow() {
            return;
        }
        match session(&state, &app_token, &mut shutdown).await {
            Ok(Ended::Shutdown) => return,
            Ok(Ended::Reconnect(reason)) => {
                tracing::info!(%reason, "Socket Mode: connecting again");
                backoff = Duration::from_secs(1);
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_secs = backoff.as_secs(), "Socket Mode connection failed")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn session(
    state: &AppState,
    app_token: &Secret,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Ended, String> {
    let url = state
        .slack
        .open_socket(app_token)
        .await
        .map_err(|e| e.to_string())?;
    let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("Socket Mode connected");
    let (mut sink, mut stream) = socket.split();
    // Acknowledgements come from many handlers; one writer sends them.
    let (acks, mut outgoing) = mpsc::channel::<Message>(64);
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                let _ = sink.send(Message::Close(None)).await;
                return Ok(Ended::Shutdown);
            }
            Some(out) = outgoing.recv() => sink.send(out).await.map_err(|e| e.to_string())?,
            frame = stream.next() => match frame {
                None => return Ok(Ended::Reconnect("the socket closed".into())),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(Message::Text(text))) => {
                    let Ok(envelope) = serde_json::from_str::<Value>(text.as_str()) else {
                        tracing::warn!("Socket Mode: unreadable message ignored");
                        continue;
                    };
                    match envelope.get("type").and_then(Value::as_str) {
                        Some("hello") => tracing::debug!("Socket Mode: hello"),
                        Some("disconnect") => {
                            let reason = envelope.get("reason").and_then(Value::as_str).unwrap_or("disconnect");
                            return Ok(Ended::Reconnect(reason.to_string()));
                        }
                        _ => {
                            let (state, acks) = (state.clone(), acks.clone());
                            let kind = envelope.get("type").and_then(|t| t.as_str()).unwrap_or("").to_string();
                            let span = tracing::info_span!("socket", envelope_type = %kind);
                            tokio::spawn(async move { handle(&state, envelope, acks).await }.instrument(span));
                        }
                    }
                }
                Some(Ok(Message::Ping(data))) => sink.send(Message::Pong(data)).await.map_err(|e| e.to_string())?,
                Some(Ok(Message::Close(_))) => return Ok(Ended::Reconnect("Slack closed the socket".into())),
                Some(Ok(_)) => {}
            }
        }
    }
}

/// Answers one envelope and acknowledges it with the answer as its payload.
async fn handle(state: &AppState, envelope: Value, acks: mpsc::Sender<Message>) {
    let Some(id) = envelope
        .get("envelope_id")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let payload = envelope.get("payload").cloned().unwrap_or(Value::Null);
    let answer = crate::telemetry::REQUEST_ID
        .scope(id.clone(), answer(state, &envelope, payload))
        .await;
    let ack = match answer {
        Answer::Empty => json!({ "envelope_id": id }),
        Answer::Json(body) => json!({ "envelope_id": id, "payload": body }),
    };
    if acks.send(Message::text(ack.to_string())).await.is_err() {
        tracing::warn!("Socket Mode: the connection closed before the acknowledgement went out");
    }
}

/// The answer to one envelope's payload.
async fn answer(state: &AppState, envelope: &Value, payload: Value) -> Answer {
    match envelope.get("type").and_then(Value::as_str) {
        Some("slash_commands") => match serde_json::from_value::<SlashCommand>(payload) {
            Ok(cmd) => dispatch::command(state, cmd).await,
            Err(e) => {
                tracing::warn!(error = %e, "Socket Mode: malformed slash command");
                Answer::Empty
            }
        },
        Some("interactive") => match serde_json::from_value::<Interaction>(payload) {
            Ok(interaction) => dispatch::interaction(state, interaction).await,
            Err(e) => {
                tracing::warn!(error = %e, "Socket Mode: malformed interaction");
                Answer::Empty
            }
        },
        Some("events_api") => {
            // The whole callback, as over HTTP: it names the team and app.
            dispatch::event(state, &payload);
            Answer::Empty
        }
        other => {
            tracing::debug!(
                kind = other.unwrap_or(""),
                "Socket Mode: envelope type not handled"
            );
            Answer::Empty
        }
    }
}
