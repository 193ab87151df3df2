//! Creating, completing and reopening tasks, and calling their webhooks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::access::write_request;
use super::*;

/// Marks the first task `which` picks completed by `completer` (or open again), and gives
/// its webhook and the payload Tallyfy would send it (none when it has no webhook).
pub(super) fn mark(
    s: &mut Inner,
    which: impl Fn(&Value) -> bool,
    completer: Value,
    done: bool,
) -> Option<(String, Value)> {
    let run_key = s
        .runs
        .iter()
        .find(|(_, tasks)| tasks.iter().any(&which))
        .map(|(k, _)| k.clone())?;
    // Milliseconds, so a task completed, reopened and completed again within a second
    // still tells two completions apart.
    let now = iso_millis(jiff::Timestamp::now());
    let tasks = s.runs.get_mut(&run_key)?;
    let task = tasks.iter_mut().find(|t| which(t))?;
    // Tallyfy's task statuses are `not-started`, `in-progress` and `completed`; a reopened
    // task is `in-progress` again, with `completed_at` and `completer_id` cleared
    // (documentation: open-api/code-samples/tasks/reopen-task). A read carries the
    // completer as `completer_id`, a member id (code-samples/tasks/get-task and
    // complete-task); only the webhook's `this_task` names them as `completed_by`.
    task["status"] = json!(if done { "completed" } else { "in-progress" });
    task["completed_at"] = if done { json!(now) } else { Value::Null };
    task["completer_id"] = if done {
        completer.get("id").cloned().unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    if let Some(t) = task.as_object_mut() {
        t.remove("completed_by");
    }
    let this_task = json!({
        "id": task["id"], "title": task["title"], "alias": Value::Null, "status": task["status"],
        "summary": Value::Null, "deadline": task["deadline"], "position": task["position"],
        "completed_at": task["completed_at"], "completed_by": completer.clone(),
        "captures": task.get("captures").cloned().unwrap_or(json!({})),
        "owners": task["owners"], "assets": [],
    });
    let task_id = task["id"].as_str().unwrap_or_default().to_string();
    let payload = webhook_payload(&run_key, tasks, this_task, &completer);
    let hook = s.webhooks.get(&task_id).cloned()?;
    s.last_webhook = Some((hook.clone(), payload.clone()));
    Some((hook, payload))
}

/// The task-level payload Tallyfy sends a task's webhook, in the shape its documentation
/// gives (tallyfy/documentation, integrations/webhooks/webhook-payload-structure; a copy
/// is `tests/fixtures/tallyfy/webhook-task-completed.json`): the task, the completer, the
/// process's data so far (every task's captures, flat and by step: it grows with the
/// process) and `process.progress` as a whole-number percentage, not counts; `next_task`
/// is the first open task by position, or `[]` when none is left.
pub(super) fn webhook_payload(
    run_key: &str,
    tasks: &[Value],
    this_task: Value,
    completer: &Value,
) -> Value {
    let mut form_fields = serde_json::Map::new();
    let mut process_forms = serde_json::Map::new();
    for t in tasks {
        if let Some(captures) = t.get("captures").and_then(Value::as_object) {
            for (timeline, capture) in captures {
                let alias = capture["alias"].as_str().unwrap_or(timeline).to_string();
                form_fields.insert(alias, capture["value"].clone());
            }
            let step = t["id"].as_str().unwrap_or_default().to_string();
            process_forms.insert(step, Value::Object(captures.clone()));
        }
    }
    let total = tasks.len();
    let complete = tasks.iter().filter(|t| t["status"] == "completed").count();
    let next_task = tasks
        .iter()
        .filter(|t| t["status"] != "completed")
        .min_by_key(|t| t["position"].as_u64().unwrap_or(0))
        .map(|t| {
            json!({"id": t["id"], "title": t["title"], "status": t["status"],
                        "position": t["position"], "deadline": t["deadline"],
                        "captures": {}, "owners": t["owners"]})
        })
        .unwrap_or(json!([]));
    let process = if run_key.starts_with("oneoff-") {
        Value::Null
    } else {
        json!({
            "id": run_key, "organization_id": ORG, "name": tasks[0]["title"], "summary": "",
            "status": if complete == total { "complete" } else { "in-progress" },
            "progress": complete * 100 / total.max(1),
            "created_at": "2026-11-28T10:00:00.000Z",
            "ClientURL": format!("https://go.tallyfy.com/tracker/{run_key}"),
            "prerun": {}, "process_forms": process_forms, "tags": [],
        })
    };
    let process_tasks: serde_json::Map<String, Value> = tasks
        .iter()
        .filter_map(|t| t["id"].as_str().map(|id| (id.to_string(), json!(id))))
        .collect();
    json!({
        "this_task": this_task, "launcher": {"id": 1, "email": "owner@example.com", "full_name": "Org Owner"},
        "completer": completer, "process-tasks": process_tasks, "form-fields": form_fields,
        "template": Value::Null, "process": process, "guest-links": {}, "next_task": next_task,
    })
}

/// `POST /organizations/{org}/completed-tasks` and `.../runs/{run}/completed-tasks`
/// `{"task_id"}` (Tallyfy's CLI, `resources.go`): the task is completed by the token's
/// user, and its webhook called.
pub(super) async fn complete_task(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let org = params.get("org").cloned().unwrap_or_default();
    let path = match params.get("run") {
        Some(run) => format!("/organizations/{org}/runs/{run}/completed-tasks"),
        None => format!("/organizations/{org}/completed-tasks"),
    };
    let value = match write_request(&inner, &org, path, &headers, &body) {
        Ok(value) => value,
        Err(r) => return r,
    };
    let Some(task_id) = value
        .get("task_id")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return invalid(json!({"task_id": ["The task id field is required."]}));
    };
    let (known, told) = {
        let mut s = inner.lock().unwrap();
        let completer = s.actor(&headers);
        let task = s
            .runs
            .values()
            .flatten()
            .find(|t| t["id"] == task_id.as_str())
            .cloned();
        let known = task.is_some();
        if let Some(task) = &task {
            let fields = s.fields.get(&task_id).cloned().unwrap_or_default();
            if let Some(refused) = super::identity::completion_refused(&s, &headers, task) {
                return refused;
            }
            if let Some(refused) = super::completion::refusal(task, &fields, &value) {
                return refused;
            }
        }
        if let Some(approved) = value
            .get("is_approved")
            .filter(|_| task.as_ref().is_some_and(|t| t["task_type"] == "approval"))
        {
            let approved = approved.clone();
            if let Some(t) = s
                .runs
                .values_mut()
                .flatten()
                .find(|t| t["id"] == task_id.as_str())
            {
                t["is_approved"] = approved;
            }
        }
        (
            known,
            mark(&mut s, |t| t["id"] == task_id.as_str(), completer, true),
        )
    };
    if !known {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": true, "message": "Task not found", "code": "RESOURCE_NOT_FOUND"})),
        )
            .into_response();
    }
    if let Some((hook, payload)) = told {
        tokio::spawn(async move { send_webhook(&hook, ORG, &payload).await });
    }
    (
        StatusCode::CREATED,
        Json(json!({"data": {"id": task_id, "status": "completed"}})),
    )
        .into_response()
}

/// One webhook call, as Tallyfy makes it: one attempt, no retries, no signature.
pub(super) async fn send_webhook(hook: &str, org: &str, payload: &Value) -> Option<u16> {
    let response = reqwest::Client::new()
        .post(hook)
        .header("X-Tallyfy-orgID", org)
        .json(payload)
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

/// A time as Tallyfy's answers give it, to the millisecond (`2026-11-29T10:00:00.123Z`).
pub(super) fn iso_millis(at: jiff::Timestamp) -> String {
    format!(
        "{}.{:03}Z",
        at.strftime("%Y-%m-%dT%H:%M:%S"),
        at.subsec_millisecond()
    )
}

pub(super) fn invalid(errors: Value) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"error": true, "errors": errors})),
    )
        .into_response()
}

pub(super) fn hex_id(n: u64, salt: &str) -> String {
    format!("{salt}{n:0>width$x}", width = 32 - salt.len())
}

/// A create runs to its end even when the client hangs up, as a real server's does.
pub(super) async fn create_task(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    tokio::spawn(create_task_to_the_end(inner, org, headers, body))
        .await
        .unwrap()
}

pub(super) async fn create_task_to_the_end(
    inner: Arc<Mutex<Inner>>,
    org: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/organizations/{org}/tasks");
    let value = match write_request(&inner, &org, path, &headers, &body) {
        Ok(value) => value,
        Err(r) => return r,
    };
    let _in_flight = super::CreateInFlight::enter(&inner);
    let latency = inner.lock().unwrap().create_latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = {
        let mut s = inner.lock().unwrap();
        if s.unavailable_until
            .is_some_and(|until| std::time::Instant::now() < until)
        {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": true, "message": "Service Unavailable"})),
            )
                .into_response();
        }
        let title = value
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        s.titled_faults
            .remove(&title)
            .or_else(|| s.create_faults.pop_front())
    };
    match fault {
        Some(Fault::Status {
            status,
            body,
            retry_after,
        }) => {
            let mut response = (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", secs.to_string().parse().unwrap());
                response
                    .headers_mut()
                    .insert("x-ratelimit-remaining", "0".parse().unwrap());
            }
            return response;
        }
        Some(Fault::RateLimitedUntil(ahead)) => {
            let when = jiff::Timestamp::now() + ahead;
            let date = when.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"message": "Too Many Attempts.", "code": "RATE_LIMIT_EXCEEDED"})),
            )
                .into_response();
            response
                .headers_mut()
                .insert("retry-after", date.parse().unwrap());
            return response;
        }
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::CommitThenHang(_))
        | Some(Fault::CommitThenFail(_))
        | Some(Fault::AnswerWithArray)
        | None => {}
    }
    let after = fault;
    let Value::Object(task) = value else {
        return invalid(json!({"title": ["The title field is required."]}));
    };
    let mut errors = serde_json::Map::new();
    match task.get("title").and_then(Value::as_str) {
        None | Some("") => {
            errors.insert("title".into(), json!(["The title field is required."]));
        }
        Some(t) if t.chars().count() > 600 => {
            errors.insert(
                "title".into(),
                json!(["The title may not be greater than 600 characters."]),
            );
        }
        _ => {}
    }
    let types = ["task", "approval", "expiring", "email", "expiring_email"];
    if !task
        .get("task_type")
        .and_then(Value::as_str)
        .is_some_and(|t| types.contains(&t))
    {
        errors.insert(
            "task_type".into(),
            json!(["The selected task type is invalid."]),
        );
    }
    let deadline_ok = task.get("deadline").and_then(Value::as_str).and_then(|d| {
        jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", d)
            .ok()
            .filter(|_| d.len() == 19)
    });
    match deadline_ok {
        None => {
            errors.insert(
                "deadline".into(),
                json!(["The deadline does not match the format Y-m-d H:i:s."]),
            );
        }
        Some(dt) => {
            let ts = dt.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp();
            if ts <= jiff::Timestamp::now() {
                errors.insert(
                    "deadline".into(),
                    json!(["The deadline must be a date after now."]),
                );
            }
        }
    }
    let owners = task.get("owners").cloned().unwrap_or(Value::Null);
    let users = owners.get("users").and_then(Value::as_array).cloned();
    match users {
        None if owners.get("guests").is_none() && owners.get("groups").is_none() => {
            errors.insert("owners".into(), json!(["The owners field is required."]));
        }
        None => {}
        Some(list) => {
            let s = inner.lock().unwrap();
            for (i, u) in list.iter().enumerate() {
                let known = u.as_u64().is_some_and(|id| {
                    s.members
                        .iter()
                        .any(|m| m.id == id && (m.status == "active" || m.status == "invited"))
                });
                if !known {
                    errors.insert(
                        format!("owners.users.{i}"),
                        json!([format!("The selected owners.users.{i} is invalid.")]),
                    );
                }
            }
        }
    }
    {
        let s = inner.lock().unwrap();
        for (i, g) in owners
            .get("guests")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if !g
                .as_str()
                .is_some_and(|e| e.contains('@') && e.contains('.'))
            {
                errors.insert(
                    format!("owners.guests.{i}"),
                    json!([format!(
                        "The owners.guests.{i} must be a valid email address."
                    )]),
                );
            }
        }
        for (i, g) in owners
            .get("groups")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if !g
                .as_str()
                .is_some_and(|id| s.groups.iter().any(|(gid, _)| gid == id))
            {
                errors.insert(
                    format!("owners.groups.{i}"),
                    json!([format!("The selected owners.groups.{i} is invalid.")]),
                );
            }
        }
    }
    {
        let s = inner.lock().unwrap();
        let tags: Vec<String> = s.tags.iter().map(|(id, _)| id.clone()).collect();
        options::check(&task, &tags, &mut errors);
    }
    if !errors.is_empty() {
        return invalid(Value::Object(errors));
    }

    let created = {
        let mut s = inner.lock().unwrap();
        s.next_id += 1;
        let task_id = hex_id(s.next_id, "7a");
        let run = match task.get("run_id").and_then(Value::as_str) {
            Some(run_id) => {
                if !s.runs.contains_key(run_id) {
                    // A run id Tallyfy does not have is refused by its validator, on the
                    // field (422 `{"error": true, "errors": {"run_id": [..]}}`,
                    // shared/docs/tallyfy-api.md "Errors and limits"): sending it again
                    // cannot pass.
                    return invalid(json!({"run_id": ["The selected run id is invalid."]}));
                }
                Some(run_id.to_string())
            }
            None if task.get("separate_task_for_each_assignee") == Some(&json!(true))
                || s.oneoff_has_run =>
            {
                Some(hex_id(s.next_id, "9c"))
            }
            None => None,
        };
        let title = task["title"].clone();
        let deadline = deadline_ok
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%S.000Z")
            .to_string();
        let split = task.get("run_id").is_none()
            && task.get("separate_task_for_each_assignee") == Some(&json!(true));
        // One owner set per task: each assignee alone when the create is split.
        let owner_sets: Vec<Value> = if split {
            split_owners(&owners, &s.group_members)
        } else {
            vec![
                json!({"users": owners.get("users").cloned().unwrap_or(json!([])), "guests": owners.get("guests").cloned().unwrap_or(json!([])), "groups": owners.get("groups").cloned().unwrap_or(json!([]))}),
            ]
        };
        // The token's user starts the task (and owns the process it makes).
        let starter = s.actor(&headers)["id"].clone();
        let only_assignees = task
            .get("can_complete_only_assignees")
            .cloned()
            .unwrap_or(json!(false));
        let mut made = Vec::new();
        for (i, owner_set) in owner_sets.into_iter().enumerate() {
            let id = if i == 0 {
                task_id.clone()
            } else {
                s.next_id += 1;
                hex_id(s.next_id, "7a")
            };
            made.push(json!({
                "id": id, "title": title, "status": "not-started", "task_type": task["task_type"],
                "deadline": deadline, "owners": owner_set, "starter_id": starter,
                "can_complete_only_assignees": only_assignees,
                "position": task.get("position").cloned().unwrap_or(json!(1)),
                "run": run.as_ref().map(|id| json!({"id": id, "name": title, "started_at": "2026-11-28T10:00:00.000Z"})),
            }));
        }
        let fields = super::completion::stored_fields(task.get("form_fields"), &mut s.next_id);
        for m in &made {
            let id = m["id"].as_str().unwrap_or_default().to_string();
            s.fields.insert(id, fields.clone());
        }
        if let Some(hook) = task.get("webhook").and_then(Value::as_str) {
            for m in &made {
                let id = m["id"].as_str().unwrap_or_default().to_string();
                s.webhooks.insert(id, hook.to_string());
            }
        }
        s.runs
            .entry(run.clone().unwrap_or_else(|| format!("oneoff-{task_id}")))
            .or_default()
            .extend(made.iter().cloned());
        made.swap_remove(0)
    };
    match after {
        Some(Fault::CommitThenHang(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::CommitThenFail(status)) => {
            return (
                StatusCode::from_u16(status).unwrap(),
                Json(json!({"error": true, "message": "Bad Gateway"})),
            )
                .into_response()
        }
        Some(Fault::AnswerWithArray) => {
            return (StatusCode::CREATED, Json(json!({ "data": [created] }))).into_response()
        }
        _ => {}
    }
    (StatusCode::CREATED, Json(json!({ "data": created }))).into_response()
}

/// The owners of each task of a split create: every member, every member of every group
/// and every guest alone (each person once); the owners as given when that is nobody.
pub(super) fn split_owners(
    owners: &Value,
    group_members: &HashMap<String, Vec<u64>>,
) -> Vec<Value> {
    let ids = |key: &str| {
        owners
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut users: Vec<u64> = ids("users").iter().filter_map(Value::as_u64).collect();
    for group in ids("groups").iter().filter_map(Value::as_str) {
        for member in group_members.get(group).into_iter().flatten() {
            if !users.contains(member) {
                users.push(*member);
            }
        }
    }
    let mut sets: Vec<Value> = users
        .iter()
        .map(|u| json!({"users": [u], "guests": [], "groups": []}))
        .collect();
    sets.extend(
        ids("guests")
            .into_iter()
            .map(|g| json!({"users": [], "guests": [g], "groups": []})),
    );
    if sets.is_empty() {
        sets.push(json!({"users": [], "guests": [], "groups": ids("groups")}));
    }
    sets
}
