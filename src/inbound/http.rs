//! The routes Slack calls. Each one verifies the signature before anything else (the
//! headers before the body is read), parses, answers within Slack's 3 s and hands the
//! work off.
//!
//! What a request is (a slash command, an interaction, an Events API callback) is read
//! from its body, not from its route, so every route takes all three: an app set up with
//! one request URL (`/slack/events`, as Bolt apps are) works as well as one set up with a
//! URL for each.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::dispatch::{self, Answer};
use super::standing::{Bytes as BodyBytes, Standing};
use crate::slack::command::{self, CommandBody};
use crate::slack::interaction::{self, Interaction};
use crate::slack::signature::SignatureError;
use crate::state::AppState;

/// The largest body read; anything larger is refused with 413. Slack's largest requests
/// are message shortcuts: a message of up to 40,000 characters arrives twice (its text and
/// its rich_text blocks), form-encoded: a few hundred kilobytes, well over 64 KiB.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The Slack routes; at most `max_in_flight` requests to them are served at once, and one
/// more gets 503 at once rather than waiting (a queue would only answer after Slack's 3 s
/// had passed). Slack retries only Events API deliveries (up to 3 times, with
/// `X-Slack-Retry-Num`); a command or interaction answered 503 shows its person an error.
pub fn router(max_in_flight: usize) -> Router<AppState> {
    let slots = Arc::new(Semaphore::new(max_in_flight));
    Router::new()
        .route("/slack/commands", post(slack))
        .route("/slack/interactions", post(slack))
        .route("/slack/events", post(slack))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(
            move |mut req: Request, next: Next| {
                req.extensions_mut().insert(InFlight(slots.clone()));
                next.run(req)
            },
        ))
}

/// The places for Slack requests being served; a request takes one once its signature is
/// checked, so strangers' requests never hold one.
#[derive(Clone)]
struct InFlight(Arc<Semaphore>);

/// The route Tallyfy calls when a task the app created is completed. Tallyfy signs
/// nothing: the unguessable token in the path and the organization header are the checks.
pub fn tallyfy_router() -> Router<AppState> {
    Router::new()
        .route(crate::cards::ROUTE, post(tallyfy_webhook))
        .layer(DefaultBodyLimit::max(TALLYFY_BODY_LIMIT))
}

/// Tallyfy sends a completion once, with the whole process's data so far (every answer
/// given in it: tallyfy/documentation, integrations/webhooks/webhook-payload-structure), so
/// a big process's call is large; it is read only after its token and organization are
/// checked, and only the task's id is kept of it. Anything larger is refused with 413.
const TALLYFY_BODY_LIMIT: usize = 1024 * 1024;

/// The organization and the token are checked before the body is read: a made-up token is
/// answered 404 without waiting for its body.
async fn tallyfy_webhook(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    req: Request,
) -> Response {
    let org = header(&req, "x-tallyfy-orgid");
    let job = match crate::cards::webhook::admit(&state, &token, org.as_deref()).await {
        Ok(job) => job,
        Err(refused) => return webhook_answer(refused),
    };
    if let Some(standing) = req.extensions().get::<Standing>() {
        standing.prove();
    }
    let (body, _held) = match read_body(req, &state, TALLYFY_BODY_LIMIT).await {
        Ok(read) => read,
        Err(answer) => return answer,
    };
    webhook_answer(crate::cards::webhook::take(&state, &token, job, &body).await)
}

fn webhook_answer(received: crate::cards::Received) -> Response {
    use crate::cards::Received;
    match received {
        Received::Accepted => StatusCode::OK.into_response(),
        Received::Unknown => StatusCode::NOT_FOUND.into_response(),
        Received::Foreign => StatusCode::FORBIDDEN.into_response(),
        Received::Malformed => StatusCode::BAD_REQUEST.into_response(),
        Received::Limited => StatusCode::TOO_MANY_REQUESTS.into_response(),
        Received::Unavailable => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

fn busy() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "busy; try again").into_response()
}

/// Reads a body of at most `limit` bytes (413 past it) within the body timeout (408 past
/// it), each chunk taking its place in the connection's share of the bytes in flight (503
/// when that share is spent). The places are held until what is returned is dropped.
async fn read_body(
    req: Request,
    state: &AppState,
    limit: usize,
) -> Result<(Bytes, Vec<BodyBytes>), Response> {
    use futures::StreamExt;
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "Failed to buffer the request body: length limit exceeded",
        )
            .into_response()
    };
    let announced = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let standing = req.extensions().get::<Standing>().cloned();
    let mut stream = req.into_body().into_data_stream();
    let reading = async {
        let mut body = Vec::new();
        let mut held = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| {
                (StatusCode::BAD_REQUEST, "the body could not be read").into_response()
            })?;
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            if let Some(standing) = &standing {
                let Some(place) = standing.take_bytes(chunk.len()) else {
                    tracing::warn!("too many body bytes in flight: answering 503");
                    return Err(busy());
                };
                held.push(place);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((Bytes::from(body), held))
    };
    tokio::time::timeout(state.config.http.body_timeout, reading)
        .await
        .map_err(|_| {
            tracing::info!("gave up on a request body that stopped arriving");
            (StatusCode::REQUEST_TIMEOUT, "the body took too long").into_response()
        })?
}

/// A request body whose Slack signature has been checked, and its place among the Slack
/// requests in flight. The headers are checked first (present, well formed, recent): a
/// request that fails there is refused before its body is read. The body must then arrive
/// within the body timeout, and a request gets its place in flight (or 503) only once its
/// signature is checked.
pub struct Verified(
    pub Bytes,
    #[allow(dead_code)] Option<OwnedSemaphorePermit>,
    pub Sent,
);

/// When Slack sent a request, as near as can be told: when it arrived, less how long its
/// `X-Slack-Request-Timestamp` says it was on its way beyond the second that header is
/// rounded to. Slack's 3 s (a trigger id's life, an answer's deadline) count from then.
#[derive(Clone, Copy, Debug)]
pub struct Sent(pub tokio::time::Instant);

impl Sent {
    fn from_header(arrived: tokio::time::Instant, timestamp: Option<&str>) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let sent = timestamp.and_then(|t| t.trim().parse::<i64>().ok());
        // The header is whole seconds: a request sent at 12.9 s reads 12. Only what is
        // past that second counts, so a prompt request is never taken for a late one.
        let late = sent
            .and_then(|sent| now.checked_sub(sent))
            .map(|secs| secs.saturating_sub(1).clamp(0, 300) as u64)
            .unwrap_or_default();
        let late = std::time::Duration::from_secs(late);
        Self(arrived.checked_sub(late).unwrap_or(arrived))
    }
}

impl FromRequest<AppState> for Verified {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let Some(verifier) = &state.verifier else {
            state.metrics.slack_request("unsigned", "rejected");
            return Err((
                StatusCode::UNAUTHORIZED,
                "HTTP requests are disabled: no signing secret is configured",
            )
                .into_response());
        };
        let arrived = tokio::time::Instant::now();
        let timestamp = header(&req, "x-slack-request-timestamp");
        let signature = header(&req, "x-slack-signature");
        let claim = verifier
            .claim(timestamp.as_deref(), signature.as_deref())
            .map_err(|e| refused(state, e))?;
        let slots = req.extensions().get::<InFlight>().cloned();
        let standing = req.extensions().get::<Standing>().cloned();
        let (body, _held) = read_body(req, state, BODY_LIMIT).await?;
        if let Some(standing) = &standing {
            standing.arrived();
        }
        claim.check(verifier, &body).map_err(|e| {
            if let Some(standing) = &standing {
                standing.heard();
            }
            refused(state, e)
        })?;
        if let Some(standing) = standing {
            standing.prove();
        }
        let slot = match slots {
            Some(InFlight(slots)) => Some(slots.try_acquire_owned().map_err(|_| {
                tracing::warn!("too many requests in flight: answering 503");
                busy()
            })?),
            None => None,
        };
        let sent = Sent::from_header(arrived, timestamp.as_deref());
        Ok(Verified(body, slot, sent))
    }
}

fn refused(state: &AppState, e: SignatureError) -> Response {
    state.metrics.slack_request("unsigned", "rejected");
    tracing::warn!(reason = %e, "refused a request with a bad Slack signature");
    (StatusCode::UNAUTHORIZED, "invalid Slack signature").into_response()
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
        Answer::Serialized(body) => (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
    }
}

/// What a signed body holds, told apart by its content: a JSON document is an Events API
/// callback; a form with `command` (or `ssl_check`) is a slash command; a form with
/// `payload` is an interaction.
enum Delivery {
    Command(CommandBody),
    Interaction(Box<Interaction>),
    Event(serde_json::Value),
}

/// A body that is none of them, or does not parse as the one it claims to be.
struct Malformed {
    kind: &'static str,
    why: String,
}

impl Malformed {
    /// `why` is kept for the log without what it quotes of the body.
    fn new(kind: &'static str, why: impl ToString) -> Self {
        Self {
            kind,
            why: crate::telemetry::without_quoted(&why.to_string()),
        }
    }
}

fn read(body: &[u8]) -> Result<Delivery, Malformed> {
    if body.trim_ascii_start().starts_with(b"{") {
        return serde_json::from_slice(body)
            .map(Delivery::Event)
            .map_err(|e| Malformed::new("event", e));
    }
    // A command's keys are told apart as sent (Slack never encodes them): its body is
    // decoded once, by the command's own parser.
    if command::raw_fields(body).any(|(k, _)| k == b"command" || k == b"ssl_check") {
        return command::parse_body(body)
            .map(Delivery::Command)
            .map_err(|e| Malformed::new("command", e));
    }
    let mut fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| Malformed::new("form", e))?;
    match fields.iter().position(|(k, _)| k == "payload") {
        Some(at) => interaction::parse_payload(&fields.swap_remove(at).1)
            .map(|interaction| Delivery::Interaction(Box::new(interaction)))
            .map_err(|e| Malformed::new("interaction", e)),
        None => Err(Malformed::new(
            "form",
            "neither a command nor an interaction",
        )),
    }
}

async fn slack(State(state): State<AppState>, Verified(body, _slot, sent): Verified) -> Response {
    match read(&body) {
        Ok(Delivery::Command(CommandBody::SslCheck)) => StatusCode::OK.into_response(),
        Ok(Delivery::Command(CommandBody::Command(cmd))) => {
            respond(dispatch::command(&state, *cmd).await)
        }
        Ok(Delivery::Interaction(interaction)) => {
            respond(dispatch::interaction(&state, *interaction, sent.0).await)
        }
        Ok(Delivery::Event(event)) => match dispatch::event(&state, &event) {
            Some(answer) => respond(answer),
            None => bad_request(&state, "event", "no type".into()),
        },
        Err(Malformed { kind, why }) => bad_request(&state, kind, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_counted_from_when_slack_sent_it() {
        let arrived = tokio::time::Instant::now();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        // Sent this second: taken as sent on arrival.
        assert_eq!(
            Sent::from_header(arrived, Some(&now.to_string())).0,
            arrived
        );
        assert_eq!(Sent::from_header(arrived, None).0, arrived);
        // Sent 4 s ago: at least 3 s before it arrived.
        let late = Sent::from_header(arrived, Some(&(now - 4).to_string())).0;
        assert!(arrived - late >= std::time::Duration::from_secs(3));
    }

    #[test]
    fn bodies_are_told_apart_by_what_they_hold() {
        assert!(matches!(
            read(b" {\"type\":\"url_verification\",\"challenge\":\"c\"}"),
            Ok(Delivery::Event(_))
        ));
        assert!(matches!(
            read(b"ssl_check=1&token=x"),
            Ok(Delivery::Command(CommandBody::SslCheck))
        ));
        // An ssl check is one whatever else the form carries, as Bolt has it.
        assert!(matches!(
            read(b"ssl_check=1&payload=%7B%22type%22%3A%22event_callback%22%7D"),
            Ok(Delivery::Command(CommandBody::SslCheck))
        ));
        assert!(matches!(
            read(b"payload=%7B%22type%22%3A%22view_closed%22%7D"),
            Ok(Delivery::Interaction(_))
        ));
        assert!(matches!(
            read(b"payload=%7Bnot-json"),
            Err(Malformed {
                kind: "interaction",
                ..
            })
        ));
        assert!(matches!(
            read(b"nothing=here"),
            Err(Malformed { kind: "form", .. })
        ));
    }
}
