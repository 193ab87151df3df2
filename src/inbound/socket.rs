//! Socket Mode: with an app-level token (`SLACK_APP_TOKEN`), the service also opens a
//! WebSocket to Slack and receives commands, interactions and events over it; no public
//! URL needed. Each envelope goes through the same [`dispatch`] as HTTP, and is
//! acknowledged (with the answer as its payload) well within Slack's 3 s. The connection
//! is opened again after a `disconnect` message (the old one is kept until its answers are
//! sent), a dropped socket, or a silence that pings do not break (a half-open link). Only
//! `wss://` URLs are connected to, or `ws://` on loopback.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::dispatch::{self, Answer};
use crate::config::Secret;
use crate::slack::command::SlashCommand;
use crate::slack::interaction::Interaction;
use crate::state::AppState;

/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long opening a connection (asking Slack for its URL, then connecting) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// After a `disconnect` warning, how long the old connection is kept for the answers still
/// being made on it.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection stopped serving.
enum Ended {
    Shutdown,
    /// Slack asked for a new connection, or closed this one.
    Reconnect(String),
    Failed(String),
}

/// Keeps a Socket Mode connection open until `shutdown` turns true. A connection that
/// Slack warns about is replaced at once, and the old one is kept until the answers in
/// flight on it have been sent.
pub async fn run(state: AppState, app_token: Secret, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let ended = match connect(&state, &app_token).await {
            Ok(socket) => {
                tracing::info!("Socket Mode connected");
                let (report, reported) = oneshot::channel();
                tokio::spawn(session(state.clone(), socket, shutdown.clone(), report));
                reported
                    .await
                    .unwrap_or_else(|_| Ended::Failed("the connection ended".into()))
            }
            Err(e) => Ended::Failed(e),
        };
        match ended {
            Ended::Shutdown => return,
            Ended::Reconnect(reason) => {
                tracing::info!(%reason, "Socket Mode: connecting again");
                backoff = Duration::from_secs(1);
                continue;
            }
            Ended::Failed(e) => {
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

/// Asks Slack for a connection URL and connects to it, within [`CONNECT_TIMEOUT`].
async fn connect(state: &AppState, app_token: &Secret) -> Result<Socket, String> {
    let attempt = async {
        let url = state
            .slack
            .open_socket(app_token)
            .await
            .map_err(|e| e.to_string())?;
        // The URL carries a ticket: it is never logged.
        if !secure_enough(&url) {
            return Err("Slack's Socket Mode URL is not wss:// (ws:// is allowed on loopback only); not connecting".into());
        }
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .map_err(|e| e.to_string())?;
        Ok(socket)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .map_err(|_| format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()))?
}

/// Whether a Socket Mode URL may be connected to: `wss://`, or `ws://` to a loopback host.
fn secure_enough(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else {
        return false;
    };
    match url.scheme() {
        "wss" => true,
        "ws" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

/// Serves one connection. What ended it is reported once through `report`; after a
/// `disconnect` warning the connection goes on until the answers in flight on it are sent
/// (or [`DRAIN_GRACE`] passes), while `run` opens the next one. Silence for half the idle
/// timeout sends a ping; silence for all of it ends the connection as dead.
async fn session(
    state: AppState,
    socket: Socket,
    mut shutdown: watch::Receiver<bool>,
    report: oneshot::Sender<Ended>,
) {
    let idle = state.config.slack.socket_idle;
    let mut report = Some(report);
    let mut tell = |ended: Ended| {
        if let Some(report) = report.take() {
            let _ = report.send(ended);
        }
    };
    let (mut sink, mut stream) = socket.split();
    // Acknowledgements come from many handlers; one writer sends them.
    let (acks, mut outgoing) = mpsc::channel::<Message>(64);
    let handlers = TaskTracker::new();
    let mut last_heard = Instant::now();
    let mut pinged = false;
    let mut draining_until: Option<Instant> = None;
    loop {
        let quiet_until = last_heard + if pinged { idle } else { idle / 2 };
        let drained = async {
            match draining_until {
                Some(_) => handlers.wait().await,
                None => std::future::pending().await,
            }
        };
        let grace_over = async {
            match draining_until {
                Some(until) => tokio::time::sleep_until(until).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.changed() => {
                let _ = sink.send(Message::Close(None)).await;
                tell(Ended::Shutdown);
                return;
            }
            Some(out) = outgoing.recv() => {
                if let Err(e) = sink.send(out).await {
                    tell(Ended::Failed(e.to_string()));
                    return;
                }
            }
            _ = drained => {
                // Every answer made on this connection has been queued: send them, then go.
                while let Ok(out) = outgoing.try_recv() {
                    let _ = sink.send(out).await;
                }
                let _ = sink.send(Message::Close(None)).await;
                return;
            }
            _ = grace_over => {
                tracing::warn!("Socket Mode: answers still in flight when the old connection was closed");
                let _ = sink.send(Message::Close(None)).await;
                return;
            }
            _ = tokio::time::sleep_until(quiet_until), if draining_until.is_none() => {
                if pinged {
                    tell(Ended::Failed(format!("nothing from Slack for {} s", idle.as_secs())));
                    return;
                }
                pinged = true;
                let _ = sink.send(Message::Ping(Vec::new().into())).await;
            }
            frame = stream.next() => {
                last_heard = Instant::now();
                pinged = false;
                match frame {
                    None => {
                        tell(Ended::Reconnect("the socket closed".into()));
                        return;
                    }
                    Some(Err(e)) => {
                        tell(Ended::Failed(e.to_string()));
                        return;
                    }
                    Some(Ok(Message::Text(text))) => {
                        let Ok(envelope) = serde_json::from_str::<Value>(text.as_str()) else {
                            tracing::warn!("Socket Mode: unreadable message ignored");
                            continue;
                        };
                        match envelope.get("type").and_then(Value::as_str) {
                            Some("hello") => tracing::debug!("Socket Mode: hello"),
                            Some("disconnect") => {
                                let reason = envelope.get("reason").and_then(Value::as_str).unwrap_or("disconnect");
                                tell(Ended::Reconnect(reason.to_string()));
                                handlers.close();
                                draining_until.get_or_insert(Instant::now() + DRAIN_GRACE);
                            }
                            _ => {
                                let (state, acks) = (state.clone(), acks.clone());
                                let kind = envelope.get("type").and_then(|t| t.as_str()).unwrap_or("").to_string();
                                let span = tracing::info_span!("socket", envelope_type = %kind);
                                handlers.spawn(async move { handle(&state, envelope, acks).await }.instrument(span));
                            }
                        }
                    }
                    Some(Ok(Message::Ping(data))) => {
                        if let Err(e) = sink.send(Message::Pong(data)).await {
                            tell(Ended::Failed(e.to_string()));
                            return;
                        }
                    }
                    Some(Ok(Message::Close(_))) => {
                        tell(Ended::Reconnect("Slack closed the socket".into()));
                        return;
                    }
                    Some(Ok(_)) => {}
                }
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
        Answer::Serialized(body) => json!({
            "envelope_id": id,
            "payload": serde_json::from_slice::<Value>(&body).unwrap_or_default(),
        }),
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
                let why = crate::telemetry::without_quoted(&e.to_string());
                tracing::warn!(%why, "Socket Mode: malformed slash command");
                Answer::Empty
            }
        },
        Some("interactive") => match serde_json::from_value::<Interaction>(payload) {
            Ok(interaction) => {
                dispatch::interaction(state, interaction, tokio::time::Instant::now()).await
            }
            Err(e) => {
                let why = crate::telemetry::without_quoted(&e.to_string());
                tracing::warn!(%why, "Socket Mode: malformed interaction");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_wss_or_loopback_ws_is_connected_to() {
        assert!(secure_enough(
            "wss://wss-primary.slack.com/link/?ticket=x&app_id=A1"
        ));
        assert!(secure_enough("ws://127.0.0.1:9000/socket"));
        assert!(secure_enough("ws://[::1]:9000/socket"));
        assert!(secure_enough("ws://localhost:9000/socket"));
        assert!(!secure_enough("ws://wss-primary.slack.com/link/?ticket=x"));
        assert!(!secure_enough("ws://0.0.0.0:9000/socket"));
        assert!(!secure_enough("ws://10.0.0.5/socket"));
        assert!(!secure_enough("https://wss-primary.slack.com/"));
        assert!(!secure_enough("not a url"));
    }
}
