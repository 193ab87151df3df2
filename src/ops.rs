//! The routes an operator and the orchestrator use: liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is alive and serving HTTP.
async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Ready for traffic: configuration is loaded (it is, or the process would not run) and
/// the store answers.
async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.kind();
    match state.store.ping().await {
        Ok(()) => Json(json!({ "status": "ready", "store": store })).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "store": store, "error": e.to_string() })),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
