//! Reopening and commenting on tasks, as Tallyfy's CLI calls them (`tallyfy/cli`,
//! `pkg/tallyfy/resources.go`; shared/docs/tallyfy-api.md, "Completing, reopening,
//! commenting"):
//! - `DELETE /organizations/{org}/completed-tasks/{task}` reopens a one-off task
//!   (`ReopenOrgTask`), `DELETE /organizations/{org}/runs/{run}/completed-tasks/{task}` a
//!   task of a run (`ReopenTask`). Tallyfy calls no webhook on a reopening; the task's
//!   webhook is called again when it is next completed.
//! - `POST /organizations/{org}/tasks/{task}/comment {"content"}` (`CommentTask`; the
//!   Swagger definition's `threadInput`): `content` is required. `state` says who sees it:
//!   `hide-for-guests` (the default when it is left out), `open` (guests too) or
//!   `collapsed` (tallyfy/mcp-public, `server/tools/comment_management.py`,
//!   `add_task_comment`: "omit it and guests will NOT see the comment"; Tallyfy's
//!   `PostCommentRequest` validates content, state and label).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::access::{check_auth, record, write_request};
use super::tasks::{invalid, mark};
use super::Inner;

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": true, "message": "Task not found", "code": "RESOURCE_NOT_FOUND"})),
    )
        .into_response()
}

/// `DELETE .../completed-tasks/{task}` and `.../runs/{run}/completed-tasks/{task}`: the
/// task is open again. A task of a run is found only under its own run; reopening a task
/// that is open already changes nothing.
pub(super) async fn reopen_task(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let org = params.get("org").cloned().unwrap_or_default();
    let task_id = params.get("task").cloned().unwrap_or_default();
    let path = match params.get("run") {
        Some(run) => format!("/organizations/{org}/runs/{run}/completed-tasks/{task_id}"),
        None => format!("/organizations/{org}/completed-tasks/{task_id}"),
    };
    record(
        &inner,
        "DELETE",
        path,
        HashMap::new(),
        &headers,
        Value::Null,
    );
    if let Err(r) = check_auth(&headers, &org, false) {
        return r;
    }
    let mut s = inner.lock().unwrap();
    let home = s
        .runs
        .iter()
        .find(|(_, tasks)| tasks.iter().any(|t| t["id"] == task_id.as_str()))
        .map(|(run, _)| run.clone());
    let in_place = match (&home, params.get("run")) {
        (None, _) => false,
        (Some(home), Some(run)) => home == run,
        (Some(home), None) => home.starts_with("oneoff-"),
    };
    if !in_place {
        return not_found();
    }
    let completed = s
        .runs
        .values()
        .flatten()
        .any(|t| t["id"] == task_id.as_str() && t["status"] == "completed");
    if completed {
        // Tallyfy calls no webhook when a task is reopened.
        let _ = mark(&mut s, |t| t["id"] == task_id.as_str(), Value::Null, false);
    }
    let task = s
        .runs
        .values()
        .flatten()
        .find(|t| t["id"] == task_id.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    (StatusCode::OK, Json(json!({ "data": task }))).into_response()
}

/// `POST /organizations/{org}/tasks/{task}/comment {"content"}`: a comment on the task,
/// by the token's user.
pub(super) async fn comment_task(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((org, task_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/organizations/{org}/tasks/{task_id}/comment");
    let value = match write_request(&inner, &org, path, &headers, &body) {
        Ok(value) => value,
        Err(r) => return r,
    };
    let content = value
        .get("content")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    if content.is_empty() {
        return invalid(json!({"content": ["The content field is required."]}));
    }
    let state = match value.get("state") {
        None | Some(Value::Null) => "hide-for-guests",
        Some(v) => match v.as_str() {
            Some(st @ ("hide-for-guests" | "open" | "collapsed")) => st,
            _ => return invalid(json!({"state": ["The selected state is invalid."]})),
        },
    };
    let mut s = inner.lock().unwrap();
    if !s
        .runs
        .values()
        .flatten()
        .any(|t| t["id"] == task_id.as_str())
    {
        return not_found();
    }
    s.next_id += 1;
    let comment = json!({
        "id": super::tasks::hex_id(s.next_id, "5c"),
        "task_id": task_id,
        "content": value["content"],
        "state": state,
        "author": s.actor(&headers),
        "created_at": super::tasks::iso_millis(jiff::Timestamp::now()),
    });
    s.comments.entry(task_id).or_default().push(comment.clone());
    (StatusCode::CREATED, Json(json!({ "data": comment }))).into_response()
}
