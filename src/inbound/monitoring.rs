//! The routes an operator and the orchestrator use: liveness, readiness and metrics.
//! Metrics are served on the monitoring address (`METRICS_ADDR`, by default 127.0.0.1:9100,
//! with liveness and readiness for probes), and on the public port only when
//! `METRICS_ADDR=public`. Liveness and readiness stay on the public port too, where the
//! previous release's probes look for them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

/// How long a readiness check's look at the store is reused: the probe is public, and
/// however often anyone asks, the store is asked at most once in this time.
const STORE_LOOK_KEPT: Duration = Duration::from_secs(1);

/// The store's last answer to a readiness check, and when it came; one look at a time.
#[derive(Default)]
struct StoreLook(tokio::sync::Mutex<Option<(Instant, bool)>>);

impl StoreLook {
    /// Whether the store answers, asked at most once per [`STORE_LOOK_KEPT`]: requests
    /// that come while it is being asked wait for that answer.
    async fn reachable(&self, state: &AppState) -> bool {
        let mut last = self.0.lock().await;
        if let Some((at, up)) = *last {
            if at.elapsed() < STORE_LOOK_KEPT {
                return up;
            }
        }
        let up = match state.store.ping().await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "readiness: the store is unreachable");
                false
            }
        };
        *last = Some((Instant::now(), up));
        up
    }
}

/// Liveness and readiness, and metrics too when `with_metrics`.
pub fn router(with_metrics: bool) -> Router<AppState> {
    let look = Arc::new(StoreLook::default());
    let router = Router::new().route("/healthz", get(healthz)).route(
        "/readyz",
        get(move |state: State<AppState>| readyz(state, look.clone())),
    );
    if with_metrics {
        router.merge(metrics_router())
    } else {
        router
    }
}

/// `/metrics` alone, for the metrics address.
fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// The process is alive and serving HTTP.
async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Ready for traffic once configuration is loaded (it is, or the process would not run).
/// A Redis outage does not take a replica out of rotation: Redis is shared, so it would
/// take every replica out at once, while each can still answer Slack and do the work in
/// process. The answer says "degraded" instead, and `store_up` in the metrics drops to 0.
/// The answer names what is degraded and what that means, never the error itself (which
/// could name hosts or credentials): that goes to the log.
async fn readyz(State(state): State<AppState>, look: Arc<StoreLook>) -> Response {
    let store = state.store.kind();
    let queue = state.jobs.kind();
    let mut degraded = Vec::new();
    let mut effects = Vec::new();
    if !look.reachable(&state).await {
        degraded.push("store");
        effects.push("shared caches, duplicate checks and the shared job queue are unavailable; work runs in this process");
    }
    if state.workspace.identity().is_none() {
        degraded.push("slack");
        effects.push("Slack has not yet said which workspace the bot token belongs to; every request is refused until it has");
    }
    if degraded.is_empty() {
        return Json(json!({ "status": "ready", "store": store, "queue": queue })).into_response();
    }
    Json(json!({
        "status": "degraded",
        "degraded": degraded,
        "store": store,
        "queue": queue,
        "effect": effects.join("; "),
    }))
    .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    tokio::join!(state.jobs.measure(), state.store.measure());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
