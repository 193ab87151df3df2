//! Completing a task as Tallyfy rules it, and filling its form fields first, as Tallyfy's
//! documentation and clients describe it (tallyfy/documentation at 7f1f2c2a,
//! `src/content/docs/pro/integrations/open-api/code-samples/tasks/`; tallyfy/mcp-public,
//! `server/tools/task_management.py`; tallyfy/n8n, `nodes/Tallyfy/Tallyfy.node.ts`):
//! - `complete-task.mdx`: `is_approved` (boolean) is required to complete an approval task
//!   (`true` approves, `false` rejects) and ignored for other types; form values cannot be
//!   sent with a completion: "The API validates that all required form fields are filled
//!   before allowing completion". MCP `complete_task`: without `is_approved` an approval
//!   answers 422 "The is approved field is required"; the gate is the task's own
//!   `task_type`. n8n's Complete sends `is_approved: true|false` the same way. The words of
//!   the refusal for an unfilled field are not published: it is told here as a 422 on
//!   `taskdata.{field id}` in Tallyfy's validation shape.
//! - `get-task.mdx`: `GET .../tasks/{id}?with=form_fields` adds
//!   `form_fields: {data: [{id, label, field_type, value, required}]}` (saved as
//!   `tests/fixtures/tallyfy/get-task-with-form-fields.json`); MCP `_task_fields` reads the
//!   choices (`options`) there too, as `{id, text}` objects (`_normalize_option_dicts`).
//!   Without `with`, no `form_fields`.
//! - `update-task.mdx`: `PUT /organizations/{org}/runs/{run}/tasks/{task}` (a task of a
//!   run: send only what changes) and `PUT /organizations/{org}/tasks/{task}` (a one-off
//!   task: `title`, `deadline` and `owners` in every update; `owners` replaces the
//!   assignees). `taskdata` is keyed by the field's id; a key that matches no field is
//!   dropped silently. Values: text a plain string of at most 200 characters, textarea a
//!   string of at most 30,000, email a string, date an ISO 8601 string, radio the choice's
//!   text, dropdown `{id, text}` both matching a choice, multiselect a list of those, file
//!   a list of file objects (MCP `_TASKDATA_SHAPE_HELP`: each with `id`, `url` or
//!   `full_url`; MCP quotes "Invalid dropdown choice selected.").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::access::{check_auth, record};
use super::tasks::{hex_id, invalid};
use super::{FakeTallyfy, Inner};

/// A create's `form_fields` as Tallyfy keeps them: each with an id of its own, its
/// choices as `{id, text}`, and no value yet.
pub(super) fn stored_fields(given: Option<&Value>, next_id: &mut u64) -> Vec<Value> {
    let list = given.and_then(Value::as_array).cloned().unwrap_or_default();
    list.into_iter()
        .filter_map(|field| {
            let mut field = field.as_object()?.clone();
            *next_id += 1;
            field.insert("id".into(), json!(hex_id(*next_id, "f1")));
            let choices: Vec<Value> = field
                .get("options")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, o)| match o {
                    Value::String(text) => json!({"id": i + 1, "text": text}),
                    other => other,
                })
                .collect();
            field.insert("options".into(), json!(choices));
            field.entry("required").or_insert(json!(false));
            field.insert("value".into(), Value::Null);
            Some(Value::Object(field))
        })
        .collect()
}

fn filled(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(list) => !list.is_empty(),
        _ => true,
    }
}

/// Why Tallyfy would not complete `task` (with form fields `fields`) as `body` asks; `None`
/// when it would.
pub(super) fn refusal(task: &Value, fields: &[Value], body: &Value) -> Option<Response> {
    if task["task_type"] == "approval" && !body.get("is_approved").is_some_and(Value::is_boolean) {
        return Some(invalid(
            json!({"is_approved": ["The is approved field is required."]}),
        ));
    }
    let mut errors = Map::new();
    for field in fields {
        if field["required"] == true && !filled(&field["value"]) {
            let label = field["label"].as_str().unwrap_or("form");
            errors.insert(
                format!("taskdata.{}", field["id"].as_str().unwrap_or_default()),
                json!([format!("The {label} field is required.")]),
            );
        }
    }
    (!errors.is_empty()).then(|| invalid(Value::Object(errors)))
}

/// Why `value` is not an answer Tallyfy takes for `field`; `None` when it is.
fn wrong_answer(field: &Value, value: &Value) -> Option<String> {
    let label = field["label"].as_str().unwrap_or("field");
    let choices = field["options"].as_array().cloned().unwrap_or_default();
    let is_choice = |v: &Value| {
        choices
            .iter()
            .any(|c| c["id"] == v["id"] && c["text"] == v["text"])
    };
    let chars = |v: &Value| v.as_str().map(|s| s.chars().count());
    let ok = match field["field_type"].as_str().unwrap_or_default() {
        "text" => {
            if chars(value).is_some_and(|n| n > 200) {
                return Some(format!(
                    "The {label} may not be greater than 200 characters."
                ));
            }
            value.is_string() || value.is_number() || value.is_boolean()
        }
        "textarea" => chars(value).is_some_and(|n| n <= 30_000),
        "email" => value.is_string(),
        "date" => value.as_str().is_some_and(|s| {
            s.parse::<jiff::Timestamp>().is_ok()
                || jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", s).is_ok()
        }),
        "radio" => choices.iter().any(|c| c["text"] == *value),
        "dropdown" => {
            if !is_choice(value) {
                return Some("Invalid dropdown choice selected.".into());
            }
            true
        }
        "multiselect" => value
            .as_array()
            .is_some_and(|list| list.iter().all(is_choice)),
        "file" => value.as_array().is_some_and(|list| {
            list.iter()
                .all(|f| f.get("id").or(f.get("url")).or(f.get("full_url")).is_some())
        }),
        _ => true,
    };
    (!ok).then(|| format!("The {label} is not a valid answer."))
}

/// `PUT /organizations/{org}/tasks/{task}` and `.../runs/{run}/tasks/{task}`: the task's
/// title, deadline, owners and form values change as sent.
pub(super) async fn update_task(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let org = params.get("org").cloned().unwrap_or_default();
    let task_id = params.get("task").cloned().unwrap_or_default();
    let path = match params.get("run") {
        Some(run) => format!("/organizations/{org}/runs/{run}/tasks/{task_id}"),
        None => format!("/organizations/{org}/tasks/{task_id}"),
    };
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record(&inner, "PUT", path, HashMap::new(), &headers, value.clone());
    if let Err(r) = check_auth(&headers, &org, true) {
        return r;
    }
    let mut s = inner.lock().unwrap();
    let home = s
        .runs
        .iter()
        .find(|(_, tasks)| tasks.iter().any(|t| t["id"] == task_id.as_str()))
        .map(|(run, _)| run.clone());
    let found = match (&home, params.get("run")) {
        (Some(home), Some(run)) => home == run,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if !found {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": true, "message": "Task not found", "code": "RESOURCE_NOT_FOUND"})),
        )
            .into_response();
    }
    let oneoff = home.as_deref().is_some_and(|h| h.starts_with("oneoff-"));
    let mut errors = Map::new();
    if oneoff && !params.contains_key("run") {
        for required in ["title", "deadline", "owners"] {
            if value.get(required).is_none_or(Value::is_null) {
                errors.insert(
                    required.into(),
                    json!([format!("The {required} field is required.")]),
                );
            }
        }
    }
    let fields = s.fields.get(&task_id).cloned().unwrap_or_default();
    let taskdata = value
        .get("taskdata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (id, answer) in &taskdata {
        // A key that names no field of the task is dropped without a word.
        if let Some(field) = fields.iter().find(|f| f["id"] == id.as_str()) {
            if let Some(message) = wrong_answer(field, answer) {
                errors.insert(format!("taskdata.{id}"), json!([message]));
            }
        }
    }
    if !errors.is_empty() {
        return invalid(Value::Object(errors));
    }
    if let Some(kept) = s.fields.get_mut(&task_id) {
        for field in kept.iter_mut() {
            let id = field["id"].as_str().unwrap_or_default().to_string();
            if let Some(answer) = taskdata.get(&id) {
                field["value"] = answer.clone();
            }
        }
    }
    let task = s
        .runs
        .values_mut()
        .flatten()
        .find(|t| t["id"] == task_id.as_str())
        .expect("found above");
    for key in ["title", "owners"] {
        if let Some(v) = value.get(key).filter(|v| !v.is_null()) {
            task[key] = v.clone();
        }
    }
    let answer = task.clone();
    (StatusCode::OK, Json(json!({ "data": answer }))).into_response()
}

impl FakeTallyfy {
    /// A form field is added to task `task_id` in Tallyfy itself (`{label, field_type,
    /// required, options}`); answers its id.
    pub fn add_form_field(&self, task_id: &str, field: Value) -> String {
        let mut s = self.inner.lock().unwrap();
        let mut next = s.next_id;
        let made = stored_fields(Some(&json!([field])), &mut next);
        s.next_id = next;
        let id = made[0]["id"].as_str().unwrap_or_default().to_string();
        s.fields.entry(task_id.into()).or_default().extend(made);
        id
    }

    /// The form fields of task `task_id`, with their values, as Tallyfy keeps them.
    pub fn form_fields(&self, task_id: &str) -> Vec<Value> {
        let s = self.inner.lock().unwrap();
        s.fields.get(task_id).cloned().unwrap_or_default()
    }

    /// The bodies of the calls that asked Tallyfy to complete a task, accepted or not.
    pub fn completion_bodies(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/completed-tasks"))
            .map(|r| r.body)
            .collect()
    }

    /// Approval `task_id` is approved (or rejected, with `approved` false) by member `by`
    /// in Tallyfy itself: completed with `is_approved` as `complete-task.mdx` gives it,
    /// its webhook called as a completion's is. Answers the status the webhook answered.
    pub async fn decide_and_tell(&self, task_id: &str, by: u64, approved: bool) -> Option<u16> {
        {
            let mut s = self.inner.lock().unwrap();
            let task = s.runs.values_mut().flatten().find(|t| t["id"] == task_id)?;
            task["is_approved"] = json!(approved);
        }
        self.complete_id_and_tell(task_id, by, true).await
    }

    /// The task `task_id` as Tallyfy holds it now.
    pub fn task(&self, task_id: &str) -> Option<Value> {
        let s = self.inner.lock().unwrap();
        s.runs
            .values()
            .flatten()
            .find(|t| t["id"] == task_id)
            .cloned()
    }
}
