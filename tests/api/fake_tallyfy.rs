//! A local Tallyfy API that checks what the real one checks: the bearer token, the
//! `X-Tallyfy-Client` header, JSON bodies, required fields, task types, the deadline
//! format, known member ids, existing run ids. It answers in Tallyfy's shapes, including
//! its error shapes, and can be told to fail, rate-limit or hang.
//!
//! Where it behaves as Tallyfy does, and the source for it (see shared/docs/tallyfy-api.md):
//! - A create with `separate_task_for_each_assignee: true` makes a run holding one task per
//!   assignee (groups expanded to their members), each owned by one person, and answers
//!   with one of them: Tallyfy's MCP server reads the fan-out back (`_read_back_fanout`),
//!   and the "launch a process without a template" page describes the split.
//! - Member statuses are `active`, `invited` and `disabled`; invited members can be
//!   assigned (MCP `user_management.py`, the docs' member-statuses page).
//! - Lists page 10 rows by default and at most 100 (CLI `pkg/tallyfy/`, docs).
//! - Errors come as `{"error": true, "message"}`, `{"message", "errors": {field: [..]}}`
//!   and `{"error": {"code", "message", "details"}}` (409 `SEAT_POOL_EXHAUSTED`, CLI);
//!   `Retry-After` is given in seconds or as an HTTP date (CLI parses both); a 2xx `data`
//!   may be an array (the Python SDK accepts one).
//! - Listing groups needs an admin: other tokens get 403 (docs, groups endpoint).
//! - A task created with a `webhook` is told about once, when completed (or completed
//!   again after a reopening): one POST, no retries, no signature, with the header
//!   `X-Tallyfy-orgID` and the task payload `{this_task: {id, title, status, completed_at,
//!   completed_by, owners}, completer, process: {id, name, status, progress}, next_task}`
//!   (Tallyfy's webhook documentation; shared/docs/tallyfy-api.md, "Webhooks").
//! - A create's optional fields (flags, `started_at`, `max_assignable`, `tags`,
//!   `form_fields`) are checked in [`options`], each rule with its source.
//! - Tags are listed at `GET /organizations/{org}/tags` as `{id, title, color}` (MCP
//!   `tag_management.py`).

// Handlers answer early with a whole `Response`, as axum handlers do.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::fake_tallyfy_options as options;

pub const ORG: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
pub const TOKEN: &str = "tallyfy-test-token";
/// The OAuth client and the refresh token the fake's token endpoint accepts first.
pub const CLIENT_ID: &str = "tallyfy-client-7";
pub const CLIENT_SECRET: &str = "tallyfy-client-secret";
pub const REFRESH_TOKEN: &str = "tallyfy-refresh-0";

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HashMap<String, String>,
    pub body: Value,
    /// When it arrived.
    pub at: std::time::Instant,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub status: String,
}

/// A scripted answer to the next create.
#[derive(Clone, Debug)]
pub enum Fault {
    Status {
        status: u16,
        body: Value,
        retry_after: Option<u64>,
    },
    /// Wait this long before answering normally.
    Slow(Duration),
    /// Create the task, then hold the answer this long (a lost response).
    CommitThenHang(Duration),
    /// Create the task, then answer with this 5xx status (a proxy that failed late).
    CommitThenFail(u16),
    /// 429 with `Retry-After` as an HTTP date this far ahead.
    RateLimitedUntil(Duration),
    /// Create the task, and answer with `data` as a one-element array.
    AnswerWithArray,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Request>,
    members: Vec<Member>,
    runs: HashMap<String, Vec<Value>>,
    create_faults: VecDeque<Fault>,
    /// Faults for the next create of a task with this title.
    titled_faults: HashMap<String, Fault>,
    list_delay: Duration,
    /// Every create answers 503 until then.
    unavailable_until: Option<std::time::Instant>,
    /// The access token API calls must carry, and the refresh token that renews it.
    access_token: String,
    refresh_token: String,
    refreshes: usize,
    refresh_delay: Duration,
    /// API calls turned away for their token.
    unauthorized: usize,
    /// Calls allowed in any window, when enforced.
    rate_limit: Option<(usize, Duration)>,
    arrivals: Vec<std::time::Instant>,
    rate_limited: usize,
    groups: Vec<(String, String)>,
    /// Members of each group, by group id.
    group_members: HashMap<String, Vec<u64>>,
    /// The webhook each task was created with, by task id.
    webhooks: HashMap<String, String>,
    /// The last webhook call made: where, and what was sent.
    last_webhook: Option<(String, Value)>,
    /// Whether listing groups is refused (a token without admin rights).
    groups_refused: bool,
    /// The organization's tags: (id, title).
    tags: Vec<(String, String)>,
    /// Whether listing tags is refused.
    tags_refused: bool,
    /// Whether a standalone one-off task comes back inside a run of its own.
    oneoff_has_run: bool,
    next_id: u64,
}

#[derive(Clone)]
pub struct FakeTallyfy {
    inner: Arc<Mutex<Inner>>,
    pub base: String,
}

impl FakeTallyfy {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            access_token: TOKEN.into(),
            refresh_token: REFRESH_TOKEN.into(),
            ..Inner::default()
        }));
        let app = Router::new()
            .route(
                "/api/organizations/{org}/tasks",
                post(create_task).get(list_tasks),
            )
            .route("/api/organizations/{org}/runs/{run}/tasks", get(list_run_tasks))
            .route("/api/organizations/{org}/tasks/{task}", get(get_task))
            .route("/api/organizations/{org}/completed-tasks", post(complete_task))
            .route(
                "/api/organizations/{org}/runs/{run}/completed-tasks",
                post(complete_task),
            )
            .route("/api/organizations/{org}/users", get(list_users))
            .route("/api/organizations/{org}/runs/{run}", get(get_run))
            .route("/api/organizations/{org}/groups", get(list_groups))
            .route("/api/organizations/{org}/tags", get(list_tags))
            .route("/api/me", get(me))
            .fallback(|| async {
                (StatusCode::NOT_FOUND, Json(json!({"error": true, "message": "Endpoint not found", "code": "ENDPOINT_NOT_FOUND"})))
            })
            .layer(axum::middleware::from_fn_with_state(
                inner.clone(),
                rate_limit,
            ))
            .layer(axum::middleware::from_fn_with_state(
                inner.clone(),
                bearer_check,
            ))
            .route("/oauth/token", post(token))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { inner, base }
    }

    pub fn api_url(&self) -> String {
        format!("{}/api", self.base)
    }

    pub fn add_member(&self, id: u64, email: &str, first_name: &str, status: &str) {
        self.inner.lock().unwrap().members.push(Member {
            id,
            email: email.into(),
            first_name: first_name.into(),
            status: status.into(),
        });
    }

    pub fn add_group(&self, id: &str, name: &str) {
        self.inner
            .lock()
            .unwrap()
            .groups
            .push((id.into(), name.into()));
    }

    /// The group's members: a project the group owns gets one task per member.
    pub fn add_group_members(&self, id: &str, members: &[u64]) {
        self.inner
            .lock()
            .unwrap()
            .group_members
            .insert(id.into(), members.to_vec());
    }

    /// Listing groups answers 403, as for a token without admin rights.
    pub fn refuse_groups(&self) {
        self.inner.lock().unwrap().groups_refused = true;
    }

    pub fn add_tag(&self, id: &str, title: &str) {
        self.inner
            .lock()
            .unwrap()
            .tags
            .push((id.into(), title.into()));
    }

    /// Listing tags answers 403.
    pub fn refuse_tags(&self) {
        self.inner.lock().unwrap().tags_refused = true;
    }

    /// Requests to list the tags.
    pub fn tag_lists(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.path.ends_with("/tags") && r.method == "GET")
            .count()
    }

    /// Requests to list the groups.
    pub fn group_lists(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.path.ends_with("/groups"))
            .count()
    }

    pub fn fault_next_create(&self, fault: Fault) {
        self.inner.lock().unwrap().create_faults.push_back(fault);
    }

    /// The next create of a task titled `title` gets `fault`.
    pub fn fault_create_titled(&self, title: &str, fault: Fault) {
        self.inner
            .lock()
            .unwrap()
            .titled_faults
            .insert(title.to_string(), fault);
    }

    /// The tasks of a run, in the order they were created.
    pub fn run_tasks(&self, run_id: &str) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap()
            .runs
            .get(run_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Deletes a run, as someone might in Tallyfy's web app.
    pub fn delete_run(&self, run_id: &str) {
        self.inner.lock().unwrap().runs.remove(run_id);
    }

    /// Marks the `index`th task of a run completed.
    pub fn complete(&self, run_id: &str, index: usize) {
        if let Some(task) = self
            .inner
            .lock()
            .unwrap()
            .runs
            .get_mut(run_id)
            .and_then(|t| t.get_mut(index))
        {
            task["status"] = json!("completed");
        }
    }

    /// The first task titled `title` is completed by member `by` (or reopened, with
    /// `done` false), and its webhook, if it has one, is called as Tallyfy calls it: once.
    /// Answers the status the webhook's server answered.
    pub async fn complete_and_tell(&self, title: &str, by: u64, done: bool) -> Option<u16> {
        let told = {
            let mut s = self.inner.lock().unwrap();
            let completer = s
                .members
                .iter()
                .find(|m| m.id == by)
                .map(|m| json!({"id": m.id, "email": m.email, "full_name": format!("{} Example", m.first_name)}))
                .unwrap_or(Value::Null);
            mark(&mut s, |t| t["title"] == title, completer, done)?
        };
        send_webhook(&told.0, ORG, &told.1).await
    }

    /// Tasks completed through Tallyfy's completion endpoints, by task id.
    pub fn completions(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/completed-tasks"))
            .map(|r| r.body["task_id"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The last webhook call, sent again as it was (Tallyfy can call more than once).
    pub async fn repeat_last_webhook(&self) -> Option<u16> {
        let (hook, payload) = self.inner.lock().unwrap().last_webhook.clone()?;
        send_webhook(&hook, ORG, &payload).await
    }

    /// The last webhook call's payload, sent to `hook` with `org` as the organization.
    pub async fn send_last_webhook_to(&self, hook: &str, org: &str) -> Option<u16> {
        let (_, payload) = self.inner.lock().unwrap().last_webhook.clone()?;
        send_webhook(hook, org, &payload).await
    }

    /// The access token in use stops working, as when it expires or its user logs out.
    pub fn expire_access_token(&self) {
        self.inner.lock().unwrap().access_token = "expired".into();
    }

    /// Token refreshes granted.
    pub fn refreshes(&self) -> usize {
        self.inner.lock().unwrap().refreshes
    }

    /// The token endpoint takes this long to answer.
    pub fn slow_refreshes(&self, delay: Duration) {
        self.inner.lock().unwrap().refresh_delay = delay;
    }

    /// API calls refused with 401.
    pub fn unauthorized(&self) -> usize {
        self.inner.lock().unwrap().unauthorized
    }

    /// Enforces Tallyfy's rolling-window limit: over `limit` calls in any `window`, a call
    /// gets 429 with `Retry-After`, as Tallyfy answers.
    pub fn limit_rate(&self, limit: usize, window: Duration) {
        self.inner.lock().unwrap().rate_limit = Some((limit, window));
    }

    /// When each call that was let through arrived.
    pub fn arrivals(&self) -> Vec<std::time::Instant> {
        self.inner.lock().unwrap().arrivals.clone()
    }

    /// How many calls were turned away with 429 by [`FakeTallyfy::limit_rate`].
    pub fn rate_limited(&self) -> usize {
        self.inner.lock().unwrap().rate_limited
    }

    /// Every create answers 503 (Tallyfy's shape) for the next `period`.
    pub fn unavailable_for(&self, period: Duration) {
        self.inner.lock().unwrap().unavailable_until = Some(std::time::Instant::now() + period);
    }

    pub fn give_oneoff_tasks_a_run(&self) {
        self.inner.lock().unwrap().oneoff_has_run = true;
    }

    pub fn set_list_delay(&self, delay: Duration) {
        self.inner.lock().unwrap().list_delay = delay;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Creation requests that Tallyfy accepted or refused (all POSTs to /tasks).
    pub fn creates(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/tasks"))
            .collect()
    }

    pub fn member_searches(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/users"))
            .collect()
    }

    /// Tasks that exist with this title.
    pub fn tasks_titled(&self, title: &str) -> usize {
        self.inner
            .lock()
            .unwrap()
            .runs
            .values()
            .flatten()
            .filter(|t| t["title"] == title)
            .count()
    }

    /// Runs (processes) whose first task has this title: a project made twice shows 2.
    pub fn runs_titled(&self, title: &str) -> usize {
        self.inner
            .lock()
            .unwrap()
            .runs
            .iter()
            .filter(|(id, tasks)| {
                !id.starts_with("oneoff-") && tasks.first().is_some_and(|t| t["title"] == title)
            })
            .count()
    }

    /// Tasks that exist, by run.
    pub fn tasks_created(&self) -> usize {
        self.inner.lock().unwrap().runs.values().map(Vec::len).sum()
    }
}

/// Marks the first task `which` picks completed by `completer` (or open again), and gives
/// its webhook and the payload Tallyfy would send it (none when it has no webhook).
fn mark(
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
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string();
    let tasks = s.runs.get_mut(&run_key)?;
    let task = tasks.iter_mut().find(|t| which(t))?;
    task["status"] = json!(if done { "completed" } else { "not-started" });
    task["completed_at"] = if done { json!(now) } else { Value::Null };
    task["completed_by"] = if done { completer.clone() } else { Value::Null };
    let this_task = json!({
        "id": task["id"], "title": task["title"], "status": task["status"],
        "completed_at": task["completed_at"], "completed_by": task["completed_by"],
        "owners": task["owners"],
    });
    let task_id = task["id"].as_str().unwrap_or_default().to_string();
    let total = tasks.len();
    let complete = tasks.iter().filter(|t| t["status"] == "completed").count();
    let process = if run_key.starts_with("oneoff-") {
        Value::Null
    } else {
        json!({
            "id": run_key, "name": tasks[0]["title"],
            "status": if complete == total { "complete" } else { "active" },
            "progress": {"complete": complete, "total": total, "percent": complete * 100 / total.max(1)},
        })
    };
    let payload = json!({"this_task": this_task, "completer": completer, "process": process, "next_task": Value::Null});
    let hook = s.webhooks.get(&task_id).cloned()?;
    s.last_webhook = Some((hook.clone(), payload.clone()));
    Some((hook, payload))
}

/// `POST /organizations/{org}/completed-tasks` and `.../runs/{run}/completed-tasks`
/// `{"task_id"}` (Tallyfy's CLI, `resources.go`): the task is completed by the token's
/// user, and its webhook called.
async fn complete_task(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(params): Path<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let org = params.get("org").cloned().unwrap_or_default();
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = match params.get("run") {
        Some(run) => format!("/organizations/{org}/runs/{run}/completed-tasks"),
        None => format!("/organizations/{org}/completed-tasks"),
    };
    record(
        &inner,
        "POST",
        path,
        HashMap::new(),
        &headers,
        value.clone(),
    );
    if let Err(r) = check_auth(&headers, &org, true) {
        return r;
    }
    let Some(task_id) = value
        .get("task_id")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return invalid(json!({"task_id": ["The task id field is required."]}));
    };
    let owner = json!({"id": 1, "email": "owner@example.com", "full_name": "Org Owner"});
    let (known, told) = {
        let mut s = inner.lock().unwrap();
        let known = s
            .runs
            .values()
            .flatten()
            .any(|t| t["id"] == task_id.as_str());
        (
            known,
            mark(&mut s, |t| t["id"] == task_id.as_str(), owner, true),
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
async fn send_webhook(hook: &str, org: &str, payload: &Value) -> Option<u16> {
    let response = reqwest::Client::new()
        .post(hook)
        .header("X-Tallyfy-orgID", org)
        .json(payload)
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

/// API calls must carry the access token in use: any other gets Tallyfy's 401.
async fn bearer_check(
    State(inner): State<Arc<Mutex<Inner>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let sent = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    {
        let mut s = inner.lock().unwrap();
        if sent != format!("Bearer {}", s.access_token) {
            s.unauthorized += 1;
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": true, "message": "Unauthenticated."})),
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// `POST /oauth/token`, `grant_type=refresh_token`: form-encoded only, as Tallyfy's is.
/// Both tokens are replaced on success.
async fn token(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let oauth_error = |status: StatusCode, code: &str| {
        (
            status,
            Json(json!({"error": code, "message": format!("OAuth error: {code}")})),
        )
            .into_response()
    };
    let form_encoded = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    if field("grant_type") != "refresh_token" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let delay = inner.lock().unwrap().refresh_delay;
    tokio::time::sleep(delay).await;
    let mut s = inner.lock().unwrap();
    if field("refresh_token") != s.refresh_token {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    s.refreshes += 1;
    s.access_token = format!("tallyfy-access-{}", s.refreshes);
    s.refresh_token = format!("tallyfy-refresh-{}", s.refreshes);
    Json(json!({
        "token_type": "Bearer", "expires_in": 3600,
        "access_token": s.access_token, "refresh_token": s.refresh_token
    }))
    .into_response()
}

/// Tallyfy's rate limit: a rolling window over the calls it let through.
async fn rate_limit(
    State(inner): State<Arc<Mutex<Inner>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    {
        let mut s = inner.lock().unwrap();
        let now = std::time::Instant::now();
        if let Some((limit, window)) = s.rate_limit {
            let recent: Vec<std::time::Instant> = s
                .arrivals
                .iter()
                .copied()
                .filter(|t| now.duration_since(*t) < window)
                .collect();
            if recent.len() >= limit {
                s.rate_limited += 1;
                let retry = (recent[recent.len() - limit] + window).duration_since(now);
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"message": "Too Many Attempts.", "code": "RATE_LIMIT_EXCEEDED"})),
                )
                    .into_response();
                let headers = response.headers_mut();
                headers.insert(
                    "retry-after",
                    (retry.as_secs() + 1).to_string().parse().unwrap(),
                );
                headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
                return response;
            }
        }
        s.arrivals.push(now);
    }
    next.run(request).await
}

/// Records a GET and checks its credentials, as every read endpoint does.
fn read_request(
    inner: &Mutex<Inner>,
    org: &str,
    path: String,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<(), Response> {
    record(inner, "GET", path, query.clone(), headers, Value::Null);
    check_auth(headers, org, false)
}

fn record(
    inner: &Mutex<Inner>,
    method: &str,
    path: String,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    body: Value,
) {
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    inner.lock().unwrap().requests.push(Request {
        method: method.into(),
        path,
        query,
        headers,
        body,
        at: std::time::Instant::now(),
    });
}

/// Tallyfy's authentication checks, in its own error shapes.
fn check_auth(headers: &HeaderMap, org: &str, with_body: bool) -> Result<(), Response> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if header("x-tallyfy-client") != "APIClient" {
        return Err((StatusCode::NOT_FOUND, Json(json!({"error": true, "message": "Endpoint not found", "code": "ENDPOINT_NOT_FOUND"}))).into_response());
    }
    if !header("authorization").starts_with("Bearer ") {
        return Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": true, "message": "Unauthenticated."})),
        )
            .into_response());
    }
    if !header("accept").contains("application/json")
        || (with_body && !header("content-type").starts_with("application/json"))
    {
        return Err((
            StatusCode::BAD_REQUEST,
            Json(json!({"error": true, "message": "JSON expected"})),
        )
            .into_response());
    }
    if org != ORG {
        return Err((
            StatusCode::FORBIDDEN,
            Json(json!({"error": true, "message": "You do not belong to this organization."})),
        )
            .into_response());
    }
    Ok(())
}

fn invalid(errors: Value) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"error": true, "errors": errors})),
    )
        .into_response()
}

fn hex_id(n: u64, salt: &str) -> String {
    format!("{salt}{n:0>width$x}", width = 32 - salt.len())
}

/// A create runs to its end even when the client hangs up, as a real server's does.
async fn create_task(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    tokio::spawn(create_task_to_the_end(inner, org, headers, body))
        .await
        .unwrap()
}

async fn create_task_to_the_end(
    inner: Arc<Mutex<Inner>>,
    org: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record(
        &inner,
        "POST",
        format!("/organizations/{org}/tasks"),
        HashMap::new(),
        &headers,
        value.clone(),
    );
    if let Err(r) = check_auth(&headers, &org, true) {
        return r;
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
                    return (StatusCode::NOT_FOUND, Json(json!({"error": true, "message": "Run not found", "code": "RESOURCE_NOT_FOUND"}))).into_response();
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
                "deadline": deadline, "owners": owner_set,
                "position": task.get("position").cloned().unwrap_or(json!(1)),
                "run": run.as_ref().map(|id| json!({"id": id, "name": title, "started_at": "2026-11-28T10:00:00.000Z"})),
            }));
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
fn split_owners(owners: &Value, group_members: &HashMap<String, Vec<u64>>) -> Vec<Value> {
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

/// One page of `tasks` in Tallyfy's list shape.
fn page_of(tasks: Vec<Value>, query: &HashMap<String, String>) -> Response {
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

/// `GET /organizations/{org}/tasks?q=&is_oneoff=`: the organization's tasks whose title
/// contains `q`.
async fn list_tasks(
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
        .cloned()
        .collect();
    drop(s);
    page_of(tasks, &query)
}

/// `GET /organizations/{org}/tasks/{task}`: one task, one-off or in a run.
async fn get_task(
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
    let found = inner
        .lock()
        .unwrap()
        .runs
        .values()
        .flatten()
        .find(|t| t["id"] == task.as_str())
        .cloned();
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
async fn list_run_tasks(
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

async fn list_users(
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

async fn me(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap) -> Response {
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

async fn get_run(
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
    let name = tasks
        .first()
        .map(|t| t["title"].clone())
        .unwrap_or(Value::Null);
    let done = tasks.iter().filter(|t| t["status"] == "completed").count();
    let mut run_json = json!({
        "id": run, "name": name, "status": if done == tasks.len() { "complete" } else { "active" },
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

async fn list_groups(
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
        .map(|(id, name)| json!({"id": id, "name": name, "description": "", "members": []}))
        .collect();
    // Tallyfy's `links` may be null, `{}` or `[]`: the groups list says null.
    one_page(data, Value::Null)
}

async fn list_tags(
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
fn no_permission() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(
            json!({"error": true, "message": "You do not have permission to perform this action."}),
        ),
    )
        .into_response()
}

/// A whole list on one page, in Tallyfy's list shape.
fn one_page(data: Vec<Value>, links: Value) -> Response {
    let total = data.len();
    Json(json!({"data": data, "meta": {"pagination": {"total": total, "count": total, "per_page": 100, "current_page": 1, "total_pages": 1, "links": links}}}))
        .into_response()
}
