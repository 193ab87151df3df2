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
//!   `X-Tallyfy-orgID` and the documented task payload, whose `process.progress` is a
//!   percentage (built in `tasks::webhook_payload`, with its source).
//! - A create's optional fields (flags, `started_at`, `max_assignable`, `tags`,
//!   `form_fields`) are checked in [`options`], each rule with its source.
//! - Tags are listed at `GET /organizations/{org}/tags` as `{id, title, color}` (MCP
//!   `tag_management.py`).
//! - Tasks are reopened and commented on as Tallyfy's CLI does it, in [`changes`].
//! - An approval is completed only with `is_approved`, a task with required form fields
//!   only once they are filled (`PUT .../tasks/{task}` with `taskdata`): [`completion`].
//! - Templates are listed, read and launched as Tallyfy documents it, in [`templates`].

// Handlers answer early with a whole `Response`, as axum handlers do.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use self::access::{bearer_check, rate_limit, token};
use self::changes::{comment_task, reopen_task};
use self::lists::{
    get_run, get_task, list_groups, list_run_tasks, list_tags, list_tasks, list_users, me,
};
use self::tasks::{complete_task, create_task, mark, send_webhook};

mod access;
mod assigning;
mod changes;
mod completion;
mod contract;
mod identity;
mod lists;
pub mod options;
mod tasks;
mod templates;

pub use self::identity::Acting;
pub use self::templates::{employee_onboarding, plain_template, ONBOARDING};

pub const ORG: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
pub const TOKEN: &str = "tallyfy-test-token";
/// The OAuth client and the refresh token the fake's token endpoint accepts first.
pub const CLIENT_ID: &str = "tallyfy-client-7";
pub const CLIENT_SECRET: &str = "tallyfy-client-secret";
pub const REFRESH_TOKEN: &str = "tallyfy-refresh-0";

#[derive(Clone, Debug)]
pub struct Request {
    /// Who the call acted as, by its token.
    pub acting: Acting,
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
    /// When set, [`Request`]s keep about this many of the newest (for a soak).
    history: Option<usize>,
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
    /// Each task's form fields (with their values), by task id.
    fields: HashMap<String, Vec<Value>>,
    /// Comments on each task, by task id, oldest first.
    comments: HashMap<String, Vec<Value>>,
    next_id: u64,
    /// How long every create takes to answer, like a distant Tallyfy.
    create_latency: Duration,
    /// Creates being answered now, and the most there ever were at once.
    creates_now: usize,
    creates_most: usize,
    /// Templates, and what was launched from them.
    templates: templates::Templates,
    /// Application and member tokens given out.
    identities: identity::Identities,
}

/// One create being answered, counted while it is.
struct CreateInFlight(Arc<Mutex<Inner>>);

impl CreateInFlight {
    fn enter(inner: &Arc<Mutex<Inner>>) -> Self {
        let mut s = inner.lock().unwrap();
        s.creates_now += 1;
        s.creates_most = s.creates_most.max(s.creates_now);
        Self(inner.clone())
    }
}

impl Drop for CreateInFlight {
    fn drop(&mut self) {
        self.0.lock().unwrap().creates_now -= 1;
    }
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
            .route(
                "/api/organizations/{org}/tasks/{task}",
                get(get_task).put(completion::update_task),
            )
            .route(
                "/api/organizations/{org}/runs/{run}/tasks/{task}",
                put(completion::update_task),
            )
            .route("/api/organizations/{org}/completed-tasks", post(complete_task))
            .route(
                "/api/organizations/{org}/runs/{run}/completed-tasks",
                post(complete_task),
            )
            .route(
                "/api/organizations/{org}/completed-tasks/{task}",
                delete(reopen_task),
            )
            .route(
                "/api/organizations/{org}/runs/{run}/completed-tasks/{task}",
                delete(reopen_task),
            )
            .route(
                "/api/organizations/{org}/tasks/{task}/comment",
                post(comment_task),
            )
            .route("/api/organizations/{org}/users", get(list_users))
            .route("/api/organizations/{org}/users/{user}", get(contract::get_member))
            .route("/api/organizations/{org}/runs/{run}", get(get_run))
            .route("/api/organizations/{org}/groups", get(list_groups))
            .route("/api/organizations/{org}/tags", get(list_tags))
            .route("/api/organizations/{org}/checklists", get(templates::list_templates))
            .route("/api/organizations/{org}/checklists/{id}", get(templates::get_template))
            .route(
                "/api/organizations/{org}/runs",
                post(templates::launch).get(templates::list_runs),
            )
            .route("/api/me", get(me))
            .route(
                "/api/applications/{org}/users/{email}/token",
                post(identity::mint_member_token),
            )
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

    /// The task `task_id`'s owners are changed in Tallyfy itself to these members and
    /// groups (someone removed from it, someone added, a group given it).
    pub fn set_owners(&self, task_id: &str, users: &[u64], groups: &[&str]) {
        let mut s = self.inner.lock().unwrap();
        if let Some(task) = s.runs.values_mut().flatten().find(|t| t["id"] == task_id) {
            task["owners"] = json!({"users": users, "guests": [], "groups": groups});
        }
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
    /// `done` false) in Tallyfy itself. A completion calls the task's webhook, if it has
    /// one, as Tallyfy calls it: once. A reopening calls none: Tallyfy's webhooks fire on
    /// completion only (shared/docs/tallyfy-api.md, "Webhooks": complete, reopen,
    /// complete gives two calls). Answers the status the webhook's server answered.
    pub async fn complete_and_tell(&self, title: &str, by: u64, done: bool) -> Option<u16> {
        self.change_and_tell(|t| t["title"] == title, by, done)
            .await
    }

    /// As [`FakeTallyfy::complete_and_tell`], for the task `task_id`.
    pub async fn complete_id_and_tell(&self, task_id: &str, by: u64, done: bool) -> Option<u16> {
        self.change_and_tell(|t| t["id"] == task_id, by, done).await
    }

    async fn change_and_tell(
        &self,
        which: impl Fn(&Value) -> bool,
        by: u64,
        done: bool,
    ) -> Option<u16> {
        let told = {
            let mut s = self.inner.lock().unwrap();
            let completer = s
                .members
                .iter()
                .find(|m| m.id == by)
                .map(|m| json!({"id": m.id, "email": m.email, "full_name": format!("{} Example", m.first_name)}))
                .unwrap_or(Value::Null);
            mark(&mut s, which, completer, done)?
        };
        if !done {
            return None;
        }
        send_webhook(&told.0, ORG, &told.1).await
    }

    /// Every run and its tasks, oldest first; a one-off task is alone under `oneoff-{id}`.
    pub fn all_runs(&self) -> Vec<(String, Vec<Value>)> {
        let mut runs: Vec<(String, Vec<Value>)> = self
            .inner
            .lock()
            .unwrap()
            .runs
            .iter()
            .map(|(id, tasks)| (id.clone(), tasks.clone()))
            .collect();
        runs.sort_by_key(|(_, tasks)| {
            tasks
                .iter()
                .filter_map(|t| t["id"].as_str().map(String::from))
                .min()
        });
        runs
    }

    /// The organization's members.
    pub fn members(&self) -> Vec<Member> {
        self.inner.lock().unwrap().members.clone()
    }

    /// Tasks completed through Tallyfy's completion endpoints, by task id.
    pub fn completions(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/completed-tasks"))
            .map(|r| r.body["task_id"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Tasks reopened through Tallyfy's reopen endpoints, by task id.
    pub fn reopenings(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "DELETE" && r.path.contains("/completed-tasks/"))
            .filter_map(|r| r.path.rsplit('/').next().map(str::to_string))
            .collect()
    }

    /// The comments on a task, oldest first: `{id, task_id, content, author, created_at}`.
    pub fn comments(&self, task_id: &str) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap()
            .comments
            .get(task_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every comment on every task.
    pub fn all_comments(&self) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap()
            .comments
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    /// The id of the first task titled `title`.
    pub fn task_id_titled(&self, title: &str) -> Option<String> {
        self.inner
            .lock()
            .unwrap()
            .runs
            .values()
            .flatten()
            .find(|t| t["title"] == title)
            .and_then(|t| t["id"].as_str().map(str::to_string))
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

    /// Application tokens granted (`grant_type=client_credentials`).
    pub fn app_grants(&self) -> usize {
        self.inner.lock().unwrap().identities.grants
    }

    /// Member tokens minted for the member with this email.
    pub fn mints_for(&self, email: &str) -> usize {
        let s = self.inner.lock().unwrap();
        s.members
            .iter()
            .find(|m| m.email.eq_ignore_ascii_case(email))
            .and_then(|m| s.identities.mints.get(&m.id).copied())
            .unwrap_or(0)
    }

    /// Every member token stops working, as when they expire or are revoked.
    pub fn revoke_member_tokens(&self) {
        self.inner.lock().unwrap().identities.revoke_members();
    }

    /// Every application token stops working.
    pub fn revoke_app_tokens(&self) {
        self.inner.lock().unwrap().identities.revoke_apps();
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

    /// Every create answers after `delay` (on top of any fault).
    pub fn set_create_latency(&self, delay: Duration) {
        self.inner.lock().unwrap().create_latency = delay;
    }

    /// The most creates that were ever being answered at once.
    pub fn creates_at_once(&self) -> usize {
        self.inner.lock().unwrap().creates_most
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
    /// Keeps only about the newest `entries` requests (for a soak).
    pub fn keep_history(&self, entries: usize) {
        self.inner.lock().unwrap().history = Some(entries);
    }

    pub fn tasks_created(&self) -> usize {
        self.inner.lock().unwrap().runs.values().map(Vec::len).sum()
    }
}
