//! The work behind a submission, after the modal has closed: map the assignees, create the
//! task in Tallyfy, and tell the channel (or, failing that, the requester). This is the one
//! place that talks to Tallyfy on a user's behalf.
//!
//! Jobs run in this process, tracked so that shutdown can wait for them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use slack_morphism::prelude::SlackMessageContent;
use tokio_util::task::TaskTracker;

use crate::directory::Directory;
use crate::slack::api::{SlackApi, SlackCallError};
use crate::tallyfy::model::{CreatedTask, NewTask, Owners};
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
        self.tracker
            .spawn(async move { worker.create_task(job).await });
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
            None => match self
                .directory
                .resolve_all(&job.origin.team_id, &draft.assignees)
                .await
            {
                Ok(resolved) => match task::owners(&resolved) {
                    Ok(owners) => owners,
                    Err(problem) => return self.fail(&job, &problem).await,
                },
                Err(e) => {
                    tracing::warn!(error = %e, "assignee lookup failed");
                    return self
                        .fail(&job, "I couldn't look up the assignees' Tallyfy accounts just now. Please try again in a few minutes.")
                        .await;
                }
            },
        };
        let request = NewTask {
            title: draft.title.clone(),
            summary: draft.summary.clone(),
            task_type: draft.task_type,
            owners,
            deadline: crate::deadline::tallyfy_format(draft.deadline),
            separate_task_for_each_assignee: None,
            run_id: None,
            position: None,
        };
        let created = match self.create_with_retries(&request).await {
            Ok(created) => created,
            Err(e) => {
                if matches!(e, TallyfyError::Unauthorized) {
                    tracing::error!("Tallyfy refused the access token: renew TALLYFY_ACCESS_TOKEN");
                }
                return self.fail(&job, &e.user_message()).await;
            }
        };
        self.metrics.job("create_task", "created");
        let link = self.link(&created);
        tracing::info!(task_id = %created.id, run_id = created.run_id().map(|r| r.0.as_str()), "task created");
        let content = message::confirmation(&Created {
            title: &draft.title,
            requester: &job.origin.user_id,
            assignees: &draft.assignees,
            deadline: draft.deadline,
            task_type: draft.task_type,
            link: &link,
        });
        self.deliver(&job.origin, content).await;
    }

    /// The link to created work: its process when it has one, else the task itself.
    fn link(&self, created: &CreatedTask) -> String {
        let org = self.tallyfy.org_id();
        match created.run_id() {
            Some(run) => format!("{}/{org}/processes/{run}", self.web_url),
            None => format!("{}/{org}/tasks/{}", self.web_url, created.id),
        }
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
                Err(TallyfyError::Unreachable(reason)) if retries < MAX_CONNECT_RETRIES => {
                    retries += 1;
                    tracing::info!(%reason, attempt = retries, "Tallyfy unreachable: retrying");
                    tokio::time::sleep(self.backoff * 2u32.pow(retries - 1)).await;
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

/// A message as a `response_url` body.
fn response_body(content: &SlackMessageContent, response_type: &str) -> serde_json::Value {
    let mut body = serde_json::to_value(content).unwrap_or_default();
    body["response_type"] = response_type.into();
    body
}
