//! Reading: tasks, a run, members, groups and tags, in Tallyfy's pages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::access::{check_auth, read_request, record};
use super::*;

/// One page of `tasks` in Tallyfy's list shape.
pub(super) fn page_of(tasks: Vec<Value>, query: &HashMap<String, String>) -> Response {
    let per_page: usize = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(10)
        .min(100);
    let page: usize = query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let total = tasks.len();
    let total_pages = total.div_ceil(per_page).max(1);
    let data: Vec<Value> = tasks
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    Json(json!({
        "data": data,
        "meta": {"pagination": {"total": total, "count": data.len(), "per_page": per_page,
                  "current_page": page, "total_pages": total_pages, "links": {}}}
    }))
    .into_response()
}

/// `GET /organizations/{org}/tasks?q=&is_oneoff=&owners=&status=`: the organization's
/// tasks whose title contains `q`, filtered as [`super::assigning::passes`] says.
pub(super) async fn list_tasks(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(org): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = read_request(
        &inner,
        &org,
        format!("/organizations/{org}/tasks"),
        &query,
        &headers,
    ) {
        return r;
    }
    let s = inner.lock().unwrap();
    let q = query.get("q").map(|q| q.to_lowercase()).unwrap_or_default();
    let oneoff = query.get("is_oneoff").map(|v| v == "true");
    let tasks: Vec<Value> = s
        .runs
        .values()
        .flatten()
        .filter(|t| {
            t["title"]
                .as_str()
                .is_some_and(|title| title.to_lowercase().contains(&q))
        })
        .filter(|t| oneoff.is_none_or(|o| o == t["run"].is_null()))
        .filter(|t| super::assigning::passes(t, &query))
        .cloned()
        .collect();
    drop(s);
    page_of(tasks, &query)
}

/// `GET /organizations/{org}/tasks/{task}`: one task, one-off or in a run.
pub(super) async fn get_task(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((org, task)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = read_request(
        &inner,
        &org,
        format!("/organizations/{org}/tasks/{task}"),
        &query,
        &headers,
    ) {
        return r;
    }
    let s = inner.lock().unwrap();
    let mut found = s
        .runs
        .values()
        .flatten()
        .find(|t| t["id"] == task.as_str())
        .cloned();
    // `with=form_fields` adds the task's fields (the documentation's get-task page).
    let with = query.get("with").map(String::as_str).unwrap_or_default();
    if let Some(found) = found
        .as_mut()
        .filter(|_| with.split(',').any(|w| w == "form_fields"))
    {
        let fields = s.fields.get(task.as_str()).cloned().unwrap_or_default();
        found["form_fields"] = json!({ "data": fields });
    }
    drop(s);
    match found {
        Some(task) => Json(json!({ "data": task })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": true, "message": "Task not found", "code": "RESOURCE_NOT_FOUND"})),
        )
            .into_response(),
    }
}

/// `GET /organizations/{org}/runs/{run}/tasks`.
pub(super) async fn list_run_tasks(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((org, run)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = read_request(
        &inner,
        &org,
        format!("/organizations/{org}/runs/{run}/tasks"),
        &query,
        &headers,
    ) {
        return r;
    }
    let tasks = inner.lock().unwrap().runs.get(&run).cloned();
    match tasks {
        Some(tasks) => page_of(tasks, &query),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": true, "message": "Run not found", "code": "RESOURCE_NOT_FOUND"})),
        )
            .into_response(),
    }
}

pub(super) async fn list_users(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(org): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = read_request(
        &inner,
        &org,
        format!("/organizations/{org}/users"),
        &query,
        &headers,
    ) {
        return r;
    }
    let delay = inner.lock().unwrap().list_delay;
    tokio::time::sleep(delay).await;
    let q = query.get("q").map(|q| q.to_lowercase()).unwrap_or_default();
    let per_page: usize = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let page: usize = query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let s = inner.lock().unwrap();
    // Like Tallyfy's search: a partial match on first name or email.
    let matches: Vec<Value> = s
        .members
        .iter()
        .filter(|m| {
            q.is_empty()
                || m.email.to_lowercase().contains(&q)
                || m.first_name.to_lowercase().contains(&q)
        })
        .map(|m| {
            json!({
                "id": m.id, "email": m.email, "first_name": m.first_name, "last_name": "Example",
                "full_name": format!("{} Example", m.first_name), "timezone": "UTC",
                "status": m.status, "is_active": m.status == "active"
            })
        })
        .collect();
    let total = matches.len();
    let total_pages = total.div_ceil(per_page).max(1);
    let data: Vec<Value> = matches
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    Json(json!({
        "data": data,
        "meta": {"pagination": {"total": total, "count": data.len(), "per_page": per_page, "current_page": page,
                                 "total_pages": total_pages, "links": {}}}
    }))
    .into_response()
}

pub(super) async fn me(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap) -> Response {
    record(
        &inner,
        "GET",
        "/me".into(),
        HashMap::new(),
        &headers,
        Value::Null,
    );
    if let Err(r) = check_auth(&headers, ORG, false) {
        return r;
    }
    Json(json!({"data": {"id": 1, "email": "owner@example.com", "full_name": "Org Owner"}}))
        .into_response()
}

pub(super) async fn get_run(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((org, run)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = read_request(
        &inner,
        &org,
        format!("/organizations/{org}/runs/{run}"),
        &query,
        &headers,
    ) {
        return r;
    }
    let s = inner.lock().unwrap();
    let Some(tasks) = s.runs.get(&run) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": true, "message": "Run not found", "code": "RESOURCE_NOT_FOUND"})),
        )
            .into_response();
    };
    // A launched run has its own name; an ad-hoc one is named by its first task.
    let name = match s.templates.run_names.get(&run) {
        Some(name) => json!(name),
        None => tasks
            .first()
            .map(|t| t["title"].clone())
            .unwrap_or(Value::Null),
    };
    let done = tasks.iter().filter(|t| t["status"] == "completed").count();
    let mut run_json = json!({
        "id": run, "name": name, "status": if done == tasks.len() { "complete" } else { "active" },
        // The user whose token made the process owns it.
        "owner_id": tasks.first().map(|t| t["starter_id"].clone()).unwrap_or(Value::Null),
        "progress": {"complete": done, "total": tasks.len(), "percent": done * 100 / tasks.len().max(1)},
    });
    if query
        .get("with")
        .is_some_and(|w| w.split(',').any(|x| x == "tasks"))
    {
        run_json["tasks"] = json!({"data": tasks});
    }
    Json(json!({"data": run_json})).into_response()
}

pub(super) async fn list_groups(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(org): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = read_request(
        &inner,
        &org,
        format!("/organizations/{org}/groups"),
        &query,
        &headers,
    ) {
        return r;
    }
    let s = inner.lock().unwrap();
    if s.groups_refused {
        return no_permission();
    }
    let data: Vec<Value> = s
        .groups
        .iter()
        // A group lists its members' ids and its guests' emails, the shape Tallyfy's group
        // create and update take (tallyfy/mcp-public, server/tools/group_management.py).
        .map(|(id, name)| {
            let members = s.group_members.get(id).cloned().unwrap_or_default();
            json!({"id": id, "name": name, "description": "", "members": members, "guests": []})
        })
        .collect();
    // Tallyfy's `links` may be null, `{}` or `[]`: the groups list says null.
    one_page(data, Value::Null)
}

pub(super) async fn list_tags(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(org): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = read_request(
        &inner,
        &org,
        format!("/organizations/{org}/tags"),
        &query,
        &headers,
    ) {
        return r;
    }
    let s = inner.lock().unwrap();
    if s.tags_refused {
        return no_permission();
    }
    let data: Vec<Value> = s
        .tags
        .iter()
        .map(|(id, title)| json!({"id": id, "title": title, "color": "#3b7cd8"}))
        .collect();
    one_page(data, json!({}))
}

/// Tallyfy's 403 for a token without the rights (a non-admin listing groups or tags).
pub(super) fn no_permission() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(
            json!({"error": true, "message": "You do not have permission to perform this action."}),
        ),
    )
        .into_response()
}

/// A whole list on one page, in Tallyfy's list shape.
pub(super) fn one_page(data: Vec<Value>, links: Value) -> Response {
    let total = data.len();
    Json(json!({"data": data, "meta": {"pagination": {"total": total, "count": total, "per_page": 100, "current_page": 1, "total_pages": 1, "links": links}}}))
        .into_response()
}
