//! What Tallyfy's documentation says of a few reads, and the test hooks that go with them:
//!
//! - `GET /organizations/{org}/users/{id}`: one member, `{"data": {id, email, first_name,
//!   last_name, full_name, status, is_active, ...}}`, 404 when none (tallyfy/documentation,
//!   open-api/code-samples/members/get-member). A read of a completed task names its
//!   completer only by `completer_id`; this is where their name is found.
//! - A task's captured form values travel in its webhook's payload (`this_task.captures`,
//!   `form-fields`, `process.process_forms`), so a process with much data sends a large
//!   body (integrations/webhooks/webhook-payload-structure).

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::access::read_request;
use super::{FakeTallyfy, Inner};

/// `GET /organizations/{org}/users/{id}`.
pub(super) async fn get_member(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((org, user)): Path<(String, String)>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = read_request(
        &inner,
        &org,
        format!("/organizations/{org}/users/{user}"),
        &query,
        &headers,
    ) {
        return r;
    }
    let s = inner.lock().unwrap();
    let found = s
        .members
        .iter()
        .find(|m| user.parse::<u64>().is_ok_and(|id| id == m.id));
    match found {
        Some(m) => Json(json!({"data": {
            "id": m.id, "email": m.email, "first_name": m.first_name, "last_name": "Example",
            "full_name": format!("{} Example", m.first_name), "timezone": "UTC",
            "status": m.status, "is_active": m.status == "active",
        }}))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": true, "message": "User not found", "code": "RESOURCE_NOT_FOUND"})),
        )
            .into_response(),
    }
}

impl FakeTallyfy {
    /// The first task titled `title` holds a captured form value of `size` bytes under
    /// `alias`, as when its assignee filled a field in: it travels in every webhook
    /// payload of its process from then on.
    pub fn capture(&self, title: &str, alias: &str, size: usize) {
        let mut s = self.inner.lock().unwrap();
        if let Some(task) = s.runs.values_mut().flatten().find(|t| t["title"] == title) {
            let timeline = format!("capture-{alias}");
            if !task.get("captures").is_some_and(Value::is_object) {
                task["captures"] = json!({});
            }
            task["captures"][timeline] =
                json!({"alias": alias, "label": alias, "value": "x".repeat(size)});
        }
    }

    /// The last webhook call's payload.
    pub fn last_webhook_payload(&self) -> Option<Value> {
        self.inner
            .lock()
            .unwrap()
            .last_webhook
            .as_ref()
            .map(|(_, payload)| payload.clone())
    }
}
