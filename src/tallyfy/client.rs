//! The Tallyfy API client: base URL, token and timeout from configuration, the headers
//! Tallyfy requires on every call, and errors sorted into what the caller can act on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{header, Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

use super::auth::Auth;
use super::budget::RateBudget;
use super::error::TallyfyError;
use super::model::{
    CreatedTask, Data, Group, GroupMembers, ListedTask, Member, MemberId, NewTask, OneOrFirst,
    Page, Run, RunId, Tag, TaskId,
};
use crate::config::TallyfyConfig;
use crate::store::Store;
use crate::telemetry::Metrics;

mod completing;
mod work;

/// Rows per page when listing: as many as Tallyfy gives.
const PER_PAGE: u32 = super::limits::MAX_PER_PAGE;
/// Pages read at most when searching members by email.
const MAX_PAGES: u32 = 5;

#[derive(Clone)]
pub struct TallyfyClient {
    http: reqwest::Client,
    base: Url,
    org_id: String,
    auth: Arc<Auth>,
    metrics: Metrics,
    budget: Arc<RateBudget>,
    /// The email of the person calls are made as; `None` for the service's own calls.
    person: Option<Arc<str>>,
}

impl std::fmt::Debug for TallyfyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TallyfyClient")
            .field("base", &self.base.as_str())
            .field("org_id", &self.org_id)
            .finish()
    }
}

impl TallyfyClient {
    /// A client whose calls share the rate budget kept in `store` with every replica.
    pub fn new(config: &TallyfyConfig, metrics: Metrics, store: Arc<dyn Store>) -> Self {
        crate::tls::init();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("tallyfy-slack/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the TLS backend is compiled in");
        let budget = Arc::new(RateBudget::new(
            store.clone(),
            config.rate_limit,
            config.rate_window,
        ));
        Self {
            auth: Arc::new(Auth::new(config, store, http.clone(), budget.clone())),
            http,
            base: config.api_url.clone(),
            org_id: config.org_id.clone(),
            metrics,
            budget,
            person: None,
        }
    }

    /// The same client, making its calls as the member with this email: with their own
    /// token when the service acts as each person (client credentials), else as before.
    pub fn acting_as(&self, email: &str) -> TallyfyClient {
        let mut client = self.clone();
        if self.auth.acts_as_people() {
            client.person = Some(Arc::from(email));
        }
        client
    }

    /// Whether what a person does is done with their own token.
    pub fn acts_as_people(&self) -> bool {
        self.auth.acts_as_people()
    }

    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// `POST /organizations/{org}/tasks`: a one-off task, an empty process
    /// (`separate_task_for_each_assignee`), or a task appended to a run (`run_id`).
    pub async fn create_task(&self, task: &NewTask) -> Result<CreatedTask, TallyfyError> {
        let path = format!("organizations/{}/tasks", self.org_id);
        let req = self.request(Method::POST, &path).json(task);
        let created: Data<OneOrFirst<CreatedTask>> = self.send("create_task", req).await?;
        created
            .data
            .into_first()
            .ok_or_else(|| TallyfyError::Unexpected("create_task: an empty data array".into()))
    }

    /// The organization's member with exactly this email (case-insensitive), if any.
    pub async fn find_member_by_email(&self, email: &str) -> Result<Option<Member>, TallyfyError> {
        let path = format!("organizations/{}/users", self.org_id);
        for page in 1..=MAX_PAGES {
            let req = self.request(Method::GET, &path).query(&[
                ("q", email),
                ("page", &page.to_string()),
                ("per_page", &PER_PAGE.to_string()),
            ]);
            let members: Page<Member> = self.send("list_users", req).await?;
            if let Some(found) = members
                .data
                .iter()
                .find(|m| m.email.trim().eq_ignore_ascii_case(email.trim()))
            {
                return Ok(Some(found.clone()));
            }
            if !members.has_next() {
                break;
            }
        }
        Ok(None)
    }

    /// The organization's groups (every page, up to a bound).
    pub async fn list_groups(&self) -> Result<Vec<Group>, TallyfyError> {
        self.every_page("groups", "list_groups").await
    }

    /// The organization's groups with their members, as Tallyfy has them now.
    pub async fn group_members(&self) -> Result<Vec<GroupMembers>, TallyfyError> {
        self.every_page("groups", "list_groups").await
    }

    /// The organization's tags (every page, up to a bound).
    pub async fn list_tags(&self) -> Result<Vec<Tag>, TallyfyError> {
        self.every_page("tags", "list_tags").await
    }

    /// Every page of the organization's list `list` (up to a bound), as `call` in metrics.
    async fn every_page<T: DeserializeOwned>(
        &self,
        list: &str,
        call: &'static str,
    ) -> Result<Vec<T>, TallyfyError> {
        let path = format!("organizations/{}/{list}", self.org_id);
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let req = self.request(Method::GET, &path).query(&[
                ("page", page.to_string()),
                ("per_page", PER_PAGE.to_string()),
            ]);
            let found: Page<T> = self.send(call, req).await?;
            let more = found.has_next();
            all.extend(found.data);
            if !more {
                break;
            }
        }
        Ok(all)
    }

    /// The task Tallyfy already holds that `request` would create, if any: a creation whose
    /// answer was lost is looked up here before it is sent again. Appends are looked for
    /// in their run; anything else among the organization's tasks with that title.
    pub async fn find_task(&self, request: &NewTask) -> Result<Option<CreatedTask>, TallyfyError> {
        let (path, search) = match &request.run_id {
            Some(run) => (
                format!("organizations/{}/runs/{run}/tasks", self.org_id),
                None,
            ),
            None => (
                format!("organizations/{}/tasks", self.org_id),
                Some(request.title.as_str()),
            ),
        };
        for page in 1..=MAX_PAGES {
            let mut query = vec![
                ("page", page.to_string()),
                ("per_page", PER_PAGE.to_string()),
            ];
            if let Some(q) = search {
                query.push(("q", q.to_string()));
            }
            let req = self.request(Method::GET, &path).query(&query);
            let found: Page<ListedTask> = self.send("find_task", req).await?;
            let more = found.has_next();
            if let Some(task) = found.data.into_iter().find(|t| t.is_made_by(request)) {
                return Ok(Some(task.into_created()));
            }
            if !more {
                break;
            }
        }
        Ok(None)
    }

    /// A run with its tasks, for progress.
    pub async fn get_run(&self, run: &RunId) -> Result<Run, TallyfyError> {
        let path = format!("organizations/{}/runs/{}", self.org_id, run);
        let req = self.request(Method::GET, &path).query(&[("with", "tasks")]);
        let found: Data<Run> = self.send("get_run", req).await?;
        Ok(found.data)
    }

    /// Reopens a completed task: a one-off task through
    /// `DELETE /organizations/{org}/completed-tasks/{task}`, a task of a run through
    /// `DELETE /organizations/{org}/runs/{run}/completed-tasks/{task}` (Tallyfy's CLI,
    /// `resources.go`: `ReopenOrgTask`, `ReopenTask`).
    pub async fn reopen_task(&self, task: &CreatedTask) -> Result<(), TallyfyError> {
        let path = match task.run_id() {
            Some(run) => format!(
                "organizations/{}/runs/{run}/completed-tasks/{}",
                self.org_id, task.id
            ),
            None => format!("organizations/{}/completed-tasks/{}", self.org_id, task.id),
        };
        let req = self.request(Method::DELETE, &path);
        let _: serde_json::Value = self.send("reopen_task", req).await?;
        Ok(())
    }

    /// Comments on a task: `POST /organizations/{org}/tasks/{task}/comment {"content"}`
    /// (Tallyfy's CLI, `resources.go`: `CommentTask`). Tallyfy hides a comment from guests
    /// unless it is sent with `state: "open"` (tallyfy/mcp-public,
    /// `server/tools/comment_management.py`): `for_guests` sends it so.
    pub async fn comment(
        &self,
        task: &TaskId,
        content: &str,
        for_guests: bool,
    ) -> Result<(), TallyfyError> {
        let path = format!("organizations/{}/tasks/{}/comment", self.org_id, task);
        let mut body = serde_json::json!({ "content": content });
        if for_guests {
            body["state"] = "open".into();
        }
        let req = self.request(Method::POST, &path).json(&body);
        let _: serde_json::Value = self.send("comment", req).await?;
        Ok(())
    }

    /// `GET /organizations/{org}/tasks/{id}`: one task, one-off or in a run.
    pub async fn get_task(&self, task: &TaskId) -> Result<ListedTask, TallyfyError> {
        let path = format!("organizations/{}/tasks/{}", self.org_id, task);
        let req = self.request(Method::GET, &path);
        let found: Data<ListedTask> = self.send("get_task", req).await?;
        Ok(found.data)
    }

    /// `GET /organizations/{org}/users/{id}`: one member (Tallyfy's documentation,
    /// open-api/code-samples/members/get-member).
    pub async fn get_member(&self, member: MemberId) -> Result<Member, TallyfyError> {
        let path = format!("organizations/{}/users/{}", self.org_id, member);
        let req = self.request(Method::GET, &path);
        let found: Data<Member> = self.send("get_member", req).await?;
        Ok(found.data)
    }

    /// `GET /me`: the token's own user; proves the credentials work.
    pub async fn me(&self) -> Result<serde_json::Value, TallyfyError> {
        let req = self.request(Method::GET, "me");
        self.send("me", req).await
    }

    pub(super) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = self.base.join(path).expect("API paths are relative");
        self.http
            .request(method, url)
            .header("X-Tallyfy-Client", "APIClient")
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/json")
    }

    pub(super) async fn send<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        req: RequestBuilder,
    ) -> Result<T, TallyfyError> {
        let person = self.person.as_deref();
        let waited = match self.budget.acquire_as(person).await {
            Ok(waited) => waited,
            // No turn soon: refused here as Tallyfy would refuse it, without sending.
            Err(super::budget::Full(wait)) => {
                self.metrics
                    .tallyfy_call(endpoint, "budget_full", Duration::ZERO);
                return Err(TallyfyError::RateLimited {
                    retry_after: Some(wait),
                });
            }
        };
        if !waited.is_zero() {
            self.metrics.rate_wait(waited);
        }
        let started = Instant::now();
        let token = match self.auth.token(person).await {
            Ok(token) => token,
            Err(e) => {
                self.metrics
                    .tallyfy_call(endpoint, &e.metric_label(), started.elapsed());
                return Err(e);
            }
        };
        let again = req.try_clone();
        let mut result = self.exchange(req.bearer_auth(token.expose())).await;
        // A refused token is renewed (when the app can) and the call made once more.
        if let (Err(TallyfyError::Unauthorized), Some(again)) = (&result, again) {
            if let Some(renewed) = self.auth.renew(person, &token).await {
                if let Err(super::budget::Full(wait)) = self.budget.acquire_as(person).await {
                    return Err(TallyfyError::RateLimited {
                        retry_after: Some(wait),
                    });
                }
                result = self.exchange(again.bearer_auth(renewed.expose())).await;
            }
        }
        // Tallyfy does not let this person do it: told as theirs, not the app's.
        if let (Some(_), Err(TallyfyError::Forbidden(message))) = (person, &result) {
            result = Err(TallyfyError::PersonForbidden(message.clone()));
        }
        let status = match &result {
            Ok(_) => "ok".to_string(),
            Err(e) => e.metric_label(),
        };
        self.metrics
            .tallyfy_call(endpoint, &status, started.elapsed());
        let body = result?;
        // Tallyfy's answers carry people's names, emails and titles: an error keeps where
        // the answer went wrong, never what it said.
        serde_json::from_slice(&body).map_err(|e| {
            TallyfyError::Unexpected(format!(
                "{endpoint}: {:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }

    async fn exchange(&self, req: RequestBuilder) -> Result<bytes::Bytes, TallyfyError> {
        let response = req.send().await.map_err(TallyfyError::from_transport)?;
        let status = response.status();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, jiff::Timestamp::now()));
        let body = response
            .bytes()
            .await
            .map_err(TallyfyError::from_transport)?;
        if status.is_success() {
            return Ok(body);
        }
        let error = TallyfyError::from_status(status, &body, retry_after);
        tracing::warn!(status = status.as_u16(), request_id = request_id.as_deref(), error = %error, "Tallyfy refused a request");
        Err(error)
    }
}

/// Tallyfy's error bodies: `{"error":true,"message":..,"errors":{field:[..]}}`,
/// `{"message":..,"errors":{..}}`, and `{"error":{"code":..,"message":..,"details":..}}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    errors: Option<serde_json::Value>,
    #[serde(default)]
    code: Option<String>,
    /// `true`, or an object with `code` and `message`.
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl ErrorBody {
    /// The message and the code, wherever the body put them.
    fn message_and_code(&self) -> (Option<String>, Option<String>) {
        let nested = |field: &str| {
            self.error
                .as_ref()
                .and_then(|e| e.get(field))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        (
            self.message.clone().or_else(|| nested("message")),
            self.code.clone().or_else(|| nested("code")),
        )
    }
}

/// `Retry-After`: a number of seconds, or an HTTP date (then the time left until it).
fn retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let left = at.duration_since(now);
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

impl TallyfyError {
    pub(super) fn from_transport(e: reqwest::Error) -> Self {
        // A request's URL may carry an email (`users?q=`): errors never keep it.
        let e = e.without_url();
        if e.is_connect() {
            TallyfyError::Unreachable(e.to_string())
        } else {
            // Sent, but no complete answer: the outcome is unknown.
            TallyfyError::NoAnswer(if e.is_timeout() {
                "timed out".into()
            } else {
                e.to_string()
            })
        }
    }

    pub(super) fn from_status(
        status: StatusCode,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> Self {
        let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let (message, code) = parsed.message_and_code();
        let message =
            message.unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        match status.as_u16() {
            400 | 422 => TallyfyError::Invalid {
                message,
                fields: field_errors(parsed.errors.as_ref()),
            },
            401 => TallyfyError::Unauthorized,
            403 => TallyfyError::Forbidden(message),
            404 => TallyfyError::NotFound(code.unwrap_or(message)),
            429 => TallyfyError::RateLimited { retry_after },
            status @ (408 | 500..=599) => TallyfyError::Server { status, message },
            status => TallyfyError::Refused {
                status,
                code,
                message,
            },
        }
    }
}

/// Flattens `{"field": ["message", ...]}` into `(field, message)` pairs.
fn field_errors(errors: Option<&serde_json::Value>) -> Vec<(String, String)> {
    let Some(serde_json::Value::Object(map)) = errors else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (field, messages) in map {
        match messages {
            serde_json::Value::Array(list) => out.extend(
                list.iter()
                    .filter_map(|m| m.as_str())
                    .map(|m| (field.clone(), m.to_string())),
            ),
            serde_json::Value::String(m) => out.push((field.clone(), m.clone())),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_keep_each_field_message() {
        let body = br#"{"error":true,"errors":{"title":["The title may not be greater than 600 characters."],"owners.users.0":["The selected owners.users.0 is invalid."]}}"#;
        let TallyfyError::Invalid { fields, .. } =
            TallyfyError::from_status(StatusCode::UNPROCESSABLE_ENTITY, body, None)
        else {
            panic!("not Invalid")
        };
        assert_eq!(fields.len(), 2);
        assert!(fields.contains(&(
            "title".into(),
            "The title may not be greater than 600 characters.".into()
        )));
    }

    #[test]
    fn laravel_style_validation_bodies_are_read_too() {
        let body = br#"{"message":"The given data was invalid.","errors":{"deadline":["The deadline must be a date after now."]}}"#;
        let err = TallyfyError::from_status(StatusCode::UNPROCESSABLE_ENTITY, body, None);
        let TallyfyError::Invalid { fields, .. } = err else {
            panic!("not Invalid: {err:?}")
        };
        assert_eq!(
            fields,
            vec![(
                "deadline".to_string(),
                "The deadline must be a date after now.".to_string()
            )]
        );
    }

    #[test]
    fn statuses_map_to_what_a_caller_acts_on() {
        let e = TallyfyError::from_status(
            StatusCode::TOO_MANY_REQUESTS,
            b"{}",
            Some(Duration::from_secs(7)),
        );
        assert!(
            matches!(e, TallyfyError::RateLimited { retry_after: Some(d) } if d.as_secs() == 7)
        );
        assert!(matches!(
            TallyfyError::from_status(StatusCode::UNAUTHORIZED, b"", None),
            TallyfyError::Unauthorized
        ));
        assert!(matches!(
            TallyfyError::from_status(StatusCode::BAD_GATEWAY, b"<html>", None),
            TallyfyError::Server { status: 502, .. }
        ));
        for status in [405, 409, 410, 413] {
            let e = TallyfyError::from_status(StatusCode::from_u16(status).unwrap(), b"{}", None);
            assert!(matches!(e, TallyfyError::Refused { .. }), "{status}: {e:?}");
            assert!(
                !e.is_transient() && !e.outcome_unknown(),
                "{status} is not retried"
            );
        }
        let timeout = TallyfyError::from_status(StatusCode::REQUEST_TIMEOUT, b"", None);
        assert!(timeout.is_transient());
    }

    #[test]
    fn the_nested_error_shape_gives_tallyfys_code_and_message() {
        let body = br#"{"error":{"code":"SEAT_POOL_EXHAUSTED","message":"No seats are left.","details":{}}}"#;
        let e = TallyfyError::from_status(StatusCode::CONFLICT, body, None);
        let TallyfyError::Refused {
            status,
            code,
            message,
        } = e
        else {
            panic!("not Refused: {e:?}")
        };
        assert_eq!(status, 409);
        assert_eq!(code.as_deref(), Some("SEAT_POOL_EXHAUSTED"));
        assert_eq!(message, "No seats are left.");
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now: jiff::Timestamp = "2026-11-29T10:00:00Z".parse().unwrap();
        assert_eq!(retry_after("12", now), Some(Duration::from_secs(12)));
        assert_eq!(
            retry_after("Sun, 29 Nov 2026 10:00:08 GMT", now),
            Some(Duration::from_secs(8))
        );
        assert_eq!(
            retry_after("Sun, 29 Nov 2026 09:59:00 GMT", now),
            Some(Duration::ZERO),
            "a date already past means now"
        );
        assert_eq!(retry_after("soon", now), None);
    }
}
