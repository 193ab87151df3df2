//! The work behind a submission, after the modal has closed: map the assignees, create the
//! task in Tallyfy, and tell the channel (or, failing that, the requester). This is the one
//! place that talks to Tallyfy on a user's behalf.
//!
//! Jobs run in this process, tracked so that shutdown can wait for them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use slack_morphism::prelude::SlackMessageContent;
use tokio_util::task::TaskTracker;

use std::sync::Arc;

use futures::StreamExt;
use tracing::Instrument;

use crate::directory::Directory;
use crate::project::{
    self, message as project_message, PlanError, PlannedTask, ProjectPlan, ProjectRef,
};
use crate::slack::api::{SlackApi, SlackCallError};
use crate::store::Store;
use crate::tallyfy::model::{CreatedTask, NewTask, Owners, RunId, TaskType};
use crate::tallyfy::{TallyfyClient, TallyfyError};
use crate::task::message::{self, Created};
use crate::task::{self, TaskDraft};
use crate::telemetry::Metrics;

/// Where a request came from, and so where its answers go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub team_id: String,
    pub user_id: String,
    pub channel_id: Option<String>,
    /// The command's `response_url`: a way to answer even where the bot is not a member.
    pub response_url: Option<String>,
    pub thread_ts: Option<String>,
}

/// Create one Tallyfy task from a "New task" submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskJob {
    /// What identifies the submission; the same key is never worked twice.
    pub key: String,
    pub origin: Origin,
    pub draft: TaskDraft,
    /// Owners resolved while the modal was open; `None` when that ran out of time.
    pub owners: Option<Owners>,
}

/// Create a project: its run, then each task appended at its position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectJob {
    pub key: String,
    pub origin: Origin,
    pub form: project::modal::ProjectForm,
    /// People resolved while the modal was open; `None` when that ran out of time.
    pub plan: Option<ProjectPlan>,
}

/// Where a project's outcome is told.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A new message where the request came from.
    New,
    /// Replace the message whose button was pressed, through its `response_url`.
    Replace(String),
}

/// How long a project job is kept for its retry button.
const JOB_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long one run of a project job holds its lock.
const RUNNING_TTL: Duration = Duration::from_secs(10 * 60);
/// Appends to one run in flight at once.
const APPEND_CONCURRENCY: usize = 4;

/// Rate-limit answers are waited out at most this many times per creation.
const MAX_RATE_LIMIT_WAITS: u32 = 5;
/// Connection failures (the request never left) are retried at most this many times.
const MAX_CONNECT_RETRIES: u32 = 3;
/// The longest single wait a `Retry-After` may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Worker {
    pub slack: SlackApi,
    pub tallyfy: TallyfyClient,
    pub directory: Directory,
    /// Base of links to Tallyfy, without a trailing `/`.
    pub web_url: String,
    pub metrics: Metrics,
    pub store: Arc<dyn Store>,
    /// The base of the exponential backoff between connection retries.
    pub backoff: Duration,
}

/// Runs jobs in the background and keeps track of them for shutdown.
#[derive(Clone)]
pub struct Jobs {
    worker: Worker,
    tracker: TaskTracker,
}

impl Jobs {
    pub fn new(worker: Worker) -> Self {
        Self {
            worker,
            tracker: TaskTracker::new(),
        }
    }

    pub fn spawn(&self, job: TaskJob) {
        let worker = self.worker.clone();
        let running = worker.metrics.job_running();
        self.tracker.spawn(
            async move {
                let _running = running;
                worker.create_task(job).await
            }
            .in_current_span(),
        );
    }

    pub fn spawn_project(&self, job: ProjectJob) {
        let worker = self.worker.clone();
        let running = worker.metrics.job_running();
        self.tracker.spawn(
            async move {
                let _running = running;
                worker.create_project(job, Reply::New).await
            }
            .in_current_span(),
        );
    }

    /// The "Retry missing tasks" button: finish the project job `key`.
    pub fn spawn_project_retry(&self, key: String, response_url: String) {
        let worker = self.worker.clone();
        let running = worker.metrics.job_running();
        self.tracker.spawn(
            async move {
                let _running = running;
                worker.retry_project(&key, &response_url).await
            }
            .in_current_span(),
        );
    }

    /// Stops taking jobs and waits up to `within` for those in flight; true when all ended.
    pub async fn drain(&self, within: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(within, self.tracker.wait())
            .await
            .is_ok()
    }
}

impl Worker {
    /// Creates the task and delivers the outcome; never returns an error, because every
    /// failure ends in a message to the requester.
    pub async fn create_task(&self, job: TaskJob) {
        let draft = &job.draft;
        let owners = match &job.owners {
            Some(owners) => owners.clone(),
            None => match self.resolve_owners(&job).await {
                Ok(owners) => owners,
                Err(problem) => return self.fail(&job, &problem).await,
            },
        };
        let position = match &draft.project {
            Some(p) => project::next_position(self.store.as_ref(), &p.run_id).await,
            None => None,
        };
        let mut request = NewTask {
            title: draft.title.clone(),
            summary: draft.summary.clone(),
            task_type: draft.task_type,
            owners,
            deadline: crate::deadline::tallyfy_format(draft.deadline),
            separate_task_for_each_assignee: None,
            run_id: draft.project.as_ref().map(|p| p.run_id.clone()),
            position,
        };
        let mut result = self.create_with_retries(&request).await;
        // A cached member id Tallyfy no longer knows: look the people up afresh, once.
        if let Err(e) = &result {
            if rejects_member_ids(e) {
                tracing::info!("Tallyfy refused a cached member id; resolving the assignees again");
                for user in &draft.assignees {
                    self.directory.forget(&job.origin.team_id, user).await;
                }
                match self.resolve_owners(&job).await {
                    Ok(fresh) if fresh != request.owners => {
                        request.owners = fresh;
                        result = self.create_with_retries(&request).await;
                    }
                    Ok(_) => {}
                    Err(problem) => return self.fail(&job, &problem).await,
                }
            }
        }
        let created = match result {
            Ok(created) => created,
            Err(TallyfyError::NotFound(_)) if draft.project.is_some() => {
                let name = draft
                    .project
                    .as_ref()
                    .map(|p| p.name.as_str())
                    .unwrap_or_default();
                let reason = format!(
                    "The project \u{201c}{name}\u{201d} no longer exists in Tallyfy. Run /task again and pick another project or a standalone task."
                );
                return self.fail(&job, &reason).await;
            }
            Err(e) => {
                if matches!(e, TallyfyError::Unauthorized) {
                    tracing::error!("Tallyfy refused the access token: renew TALLYFY_ACCESS_TOKEN");
                }
                return self.fail(&job, &e.user_message()).await;
            }
        };
        self.metrics.job("create_task", "created");
        let link = self.link(&created, draft.project.as_ref().map(|p| &p.run_id));
        tracing::info!(task_id = %created.id, run_id = created.run_id().map(|r| r.0.as_str()), "task created");
        let groups: Vec<String> = draft.groups.iter().map(|g| g.name.clone()).collect();
        let content = message::confirmation(&Created {
            title: &draft.title,
            requester: &job.origin.user_id,
            assignees: &draft.assignees,
            guests: &request.owners.guests,
            groups: &groups,
            deadline: draft.deadline,
            task_type: draft.task_type,
            link: &link,
            project: draft.project.as_ref().map(|p| p.name.as_str()),
        });
        self.deliver(&job.origin, content).await;
    }

    /// Resolves a task's people now; the error is what to tell the requester.
    async fn resolve_owners(&self, job: &TaskJob) -> Result<Owners, String> {
        match self
            .directory
            .resolve_all(&job.origin.team_id, &job.draft.assignees)
            .await
        {
            Ok(resolved) => task::draft_owners(&job.draft, &resolved),
            Err(e) => {
                tracing::warn!(error = %e, "assignee lookup failed");
                Err("I couldn't look up the assignees' Tallyfy accounts just now. Please try again in a few minutes.".into())
            }
        }
    }

    /// The link to created work: its process when it has one, else the task itself.
    fn link(&self, created: &CreatedTask, run: Option<&RunId>) -> String {
        let org = self.tallyfy.org_id();
        match created.run_id().or(run) {
            Some(run) => format!("{}/{org}/processes/{run}", self.web_url),
            None => format!("{}/{org}/tasks/{}", self.web_url, created.id),
        }
    }

    /// Creates a project: the run (unless an earlier attempt made it), then every task not
    /// yet appended, then the message. Progress is kept in the store, so running the same
    /// job again completes only what is missing.
    pub async fn create_project(&self, mut job: ProjectJob, reply: Reply) -> bool {
        let lock = format!("running:{}", job.key);
        if let Ok(false) = self.store.set_if_absent(&lock, "1", RUNNING_TTL).await {
            return false;
        }
        self.run_project(&mut job, reply).await;
        let _ = self.store.delete(&lock).await;
        true
    }

    async fn run_project(&self, job: &mut ProjectJob, reply: Reply) {
        let plan = match job.plan.clone() {
            Some(plan) => plan,
            None => match project::plan(&self.directory, &job.origin.team_id, &job.form).await {
                Ok(plan) => plan,
                Err(PlanError::Problems(problems)) => {
                    let text: Vec<String> = problems.into_values().collect();
                    return self.fail_project(job, &text.join(" ")).await;
                }
                Err(PlanError::Lookup(e)) => {
                    tracing::warn!(error = %e, "project lookups failed");
                    return self
                        .fail_project(job, "I couldn't look up the people's Tallyfy accounts just now. Please try again in a few minutes.")
                        .await;
                }
            },
        };
        job.plan = Some(plan.clone());
        if let Ok(raw) = serde_json::to_string(&job) {
            if let Err(e) = self
                .store
                .set(&format!("job:{}", job.key), &raw, JOB_TTL)
                .await
            {
                tracing::warn!(error = %e, "could not keep the project job; its retry button will not work");
            }
        }
        let run = match self.ensure_run(job, &plan).await {
            Ok(run) => run,
            Err(e) => return self.fail_project(job, &e.user_message()).await,
        };
        let results = self.append_all(&job.key, &run, &plan).await;
        let missing = results.iter().filter(|r| r.is_err()).count();
        self.metrics.job(
            "create_project",
            if missing == 0 { "complete" } else { "partial" },
        );
        let link = format!("{}/{}/processes/{run}", self.web_url, self.tallyfy.org_id());
        let groups: Vec<String> = job.form.groups.iter().map(|g| g.name.clone()).collect();
        let content = project_message::confirmation(&project_message::Outcome {
            name: &plan.name,
            requester: &job.origin.user_id,
            assignees: &plan.assignees,
            groups: &groups,
            deadline: plan.deadline,
            link: &link,
            tasks: plan.tasks.iter().zip(results).collect(),
            job_key: &job.key,
        });
        match reply {
            Reply::Replace(url) => {
                let mut body = response_body(&content, "in_channel");
                body["replace_original"] = true.into();
                if self.slack.respond(&url, &body).await.is_err() {
                    self.deliver(&job.origin, content).await;
                }
            }
            Reply::New => self.deliver(&job.origin, content).await,
        }
    }

    /// The project's run: the one an earlier attempt created, or a new one.
    async fn ensure_run(
        &self,
        job: &ProjectJob,
        plan: &ProjectPlan,
    ) -> Result<RunId, TallyfyError> {
        let key = format!("progress:{}:run", job.key);
        if let Ok(Some(id)) = self.store.get(&key).await {
            return Ok(RunId(id));
        }
        let request = NewTask {
            title: plan.name.clone(),
            summary: plan.summary.clone(),
            task_type: TaskType::Task,
            owners: plan.owners.clone(),
            deadline: crate::deadline::tallyfy_format(plan.deadline),
            separate_task_for_each_assignee: Some(true),
            run_id: None,
            position: None,
        };
        let created = self.create_with_retries(&request).await?;
        let run = created.run_id().cloned().ok_or_else(|| {
            TallyfyError::Unexpected("the created project came back without a run".into())
        })?;
        tracing::info!(run_id = %run, "project run created");
        if let Err(e) = self.store.set(&key, &run.0, JOB_TTL).await {
            tracing::warn!(error = %e, "could not record the project's run; a retry may create a second one");
        }
        let last_position = plan.tasks.last().map(|t| t.position).unwrap_or(1);
        project::set_last_position(self.store.as_ref(), &run, last_position).await;
        if let Some(channel) = &job.origin.channel_id {
            let remembered = ProjectRef {
                run_id: run.clone(),
                name: plan.name.clone(),
            };
            project::remember(
                self.store.as_ref(),
                &job.origin.team_id,
                channel,
                &remembered,
            )
            .await;
        }
        Ok(run)
    }

    /// Appends every task not yet in the run, a few at a time; positions come from the
    /// plan, so the order holds whatever order the requests finish in.
    async fn append_all(
        &self,
        key: &str,
        run: &RunId,
        plan: &ProjectPlan,
    ) -> Vec<Result<(), String>> {
        let keys: Vec<String> = plan
            .tasks
            .iter()
            .map(|t| format!("progress:{key}:task:{}", t.position))
            .collect();
        let done = self
            .store
            .get_many(&keys)
            .await
            .unwrap_or_else(|_| vec![None; keys.len()]);
        // Each append owns its data: the futures run together, a few at a time.
        let mut appends = Vec::with_capacity(plan.tasks.len());
        for ((task, done), progress_key) in plan.tasks.iter().cloned().zip(done).zip(keys) {
            let (worker, run) = (self.clone(), run.clone());
            appends.push(async move {
                if done.is_some() {
                    return Ok(());
                }
                worker.append(&run, &task, &progress_key).await
            });
        }
        futures::stream::iter(appends)
            .buffered(APPEND_CONCURRENCY)
            .collect()
            .await
    }

    async fn append(
        &self,
        run: &RunId,
        task: &PlannedTask,
        progress_key: &str,
    ) -> Result<(), String> {
        let request = NewTask {
            title: task.title.clone(),
            summary: None,
            task_type: TaskType::Task,
            owners: task.owners.clone(),
            deadline: crate::deadline::tallyfy_format(task.deadline),
            separate_task_for_each_assignee: None,
            run_id: Some(run.clone()),
            position: Some(task.position),
        };
        match self.create_with_retries(&request).await {
            Ok(created) => {
                if let Err(e) = self.store.set(progress_key, &created.id.0, JOB_TTL).await {
                    tracing::warn!(error = %e, "could not record an appended task");
                }
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, position = task.position, "could not append a task");
                Err(e.user_message())
            }
        }
    }

    /// The retry button: runs the kept job again; only what is missing gets created.
    pub async fn retry_project(&self, key: &str, response_url: &str) {
        let job = match self.store.get(&format!("job:{key}")).await {
            Ok(Some(raw)) => serde_json::from_str::<ProjectJob>(&raw).ok(),
            _ => None,
        };
        let Some(job) = job else {
            let text = "I no longer have this project's details (they are kept for 24 hours). Add the missing tasks in Tallyfy, or start again with /project.";
            let _ = self.slack.respond(response_url, &serde_json::json!({"response_type": "ephemeral", "replace_original": false, "text": text})).await;
            return;
        };
        if !self
            .create_project(job, Reply::Replace(response_url.to_string()))
            .await
        {
            let text =
                "This project is already being completed; its message will update when it is done.";
            let _ = self.slack.respond(response_url, &serde_json::json!({"response_type": "ephemeral", "replace_original": false, "text": text})).await;
        }
    }

    async fn fail_project(&self, job: &ProjectJob, reason: &str) {
        self.metrics.job("create_project", "failed");
        tracing::warn!(key = %job.key, %reason, "project not created");
        let text = format!(
            ":warning: The project *{}* was not created. {}",
            crate::slack::mrkdwn::escape(&job.form.name),
            crate::slack::mrkdwn::escape(reason)
        );
        self.notify(&job.origin, &text).await;
    }

    /// Sends the creation, waiting out rate limits and retrying only failures where the
    /// request never reached Tallyfy: a POST whose outcome is unknown is not sent again.
    async fn create_with_retries(&self, request: &NewTask) -> Result<CreatedTask, TallyfyError> {
        let (mut waits, mut retries) = (0, 0);
        loop {
            match self.tallyfy.create_task(request).await {
                Err(TallyfyError::RateLimited { retry_after }) if waits < MAX_RATE_LIMIT_WAITS => {
                    waits += 1;
                    let wait = retry_after
                        .unwrap_or(Duration::from_secs(5))
                        .min(MAX_RETRY_AFTER);
                    tracing::info!(
                        wait_secs = wait.as_secs(),
                        "Tallyfy rate limit: waiting before retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                // The request never left, or Tallyfy said it is not serving (503): nothing
                // was created, so sending it again cannot make a duplicate.
                Err(
                    e @ (TallyfyError::Unreachable(_) | TallyfyError::Server { status: 503, .. }),
                ) if retries < MAX_CONNECT_RETRIES => {
                    retries += 1;
                    tracing::info!(error = %e, attempt = retries, "Tallyfy unavailable: retrying");
                    tokio::time::sleep(jittered(self.backoff * 2u32.pow(retries - 1))).await;
                }
                other => return other,
            }
        }
    }

    async fn fail(&self, job: &TaskJob, reason: &str) {
        self.metrics.job("create_task", "failed");
        tracing::warn!(key = %job.key, %reason, "task not created");
        self.notify(&job.origin, &message::not_created(&job.draft.title, reason))
            .await;
    }

    /// Posts the confirmation where the request came from: the channel (or its thread);
    /// else through the command's `response_url`; else privately to the requester.
    async fn deliver(&self, origin: &Origin, content: SlackMessageContent) {
        if let Some(channel) = &origin.channel_id {
            match self
                .post(channel, origin.thread_ts.as_deref(), &content)
                .await
            {
                Ok(()) => return,
                Err(e) => {
                    tracing::info!(error = %e, "cannot post in the channel; trying the response URL")
                }
            }
        }
        if let Some(url) = &origin.response_url {
            if self
                .slack
                .respond(url, &response_body(&content, "in_channel"))
                .await
                .is_ok()
            {
                return;
            }
        }
        if let Err(e) = self.post(&origin.user_id, None, &content).await {
            self.metrics.job("confirmation", "undelivered");
            tracing::error!(error = %e, user = %origin.user_id, "confirmation could not be delivered anywhere");
        }
    }

    /// A private message to the requester: the `response_url` (ephemeral), else an
    /// ephemeral message in the channel, else a direct message.
    async fn notify(&self, origin: &Origin, text: &str) {
        let content = message::notice(text);
        if let Some(url) = &origin.response_url {
            if self
                .slack
                .respond(url, &response_body(&content, "ephemeral"))
                .await
                .is_ok()
            {
                return;
            }
        }
        if let Some(channel) = &origin.channel_id {
            if self
                .slack
                .post_ephemeral(channel, &origin.user_id, content.clone())
                .await
                .is_ok()
            {
                return;
            }
        }
        if let Err(e) = self.post(&origin.user_id, None, &content).await {
            tracing::error!(error = %e, user = %origin.user_id, "notice could not be delivered anywhere");
        }
    }

    /// `chat.postMessage`, waiting out one rate limit: a 429 means nothing was posted, so
    /// the retry cannot double the message.
    async fn post(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        content: &SlackMessageContent,
    ) -> Result<(), SlackCallError> {
        match self
            .slack
            .post_message(channel, thread_ts, content.clone())
            .await
        {
            Err(SlackCallError::RateLimited(after)) => {
                tokio::time::sleep(after.unwrap_or(Duration::from_secs(1)).min(MAX_RETRY_AFTER))
                    .await;
                self.slack
                    .post_message(channel, thread_ts, content.clone())
                    .await
            }
            other => other,
        }
    }
}

/// `base` scaled by a factor between 0.5 and 1.5, so replicas retrying together spread out.
fn jittered(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    base.mul_f64(0.5 + f64::from(nanos % 1000) / 1000.0)
}

/// Whether Tallyfy refused the request because of a member id in `owners.users`.
fn rejects_member_ids(e: &TallyfyError) -> bool {
    matches!(e, TallyfyError::Invalid { fields, .. } if fields.iter().any(|(f, _)| f.starts_with("owners.users")))
}

/// A message as a `response_url` body.
fn response_body(content: &SlackMessageContent, response_type: &str) -> serde_json::Value {
    let mut body = serde_json::to_value(content).unwrap_or_default();
    body["response_type"] = response_type.into();
    body
}
