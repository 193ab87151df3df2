//! The job kinds, and which flow performs each: the engine ([`crate::jobs`]) hands every
//! job it takes to [`Performer`], which reads it and calls into the flow that owns it, as
//! mini-redis's `Command` hands `apply` to each command's own file.
//!
//! | kind | stored as | performed by |
//! |---|---|---|
//! | a "New task" submission | `{"kind": "task", ...}` | [`crate::task::job`] |
//! | a "New project" submission | `{"kind": "project", ...}` | [`crate::project::job`] |
//! | a template's kick-off form | `{"kind": "template", ...}` | [`crate::project::template_job`] |
//! | a call of Tallyfy's webhook | `{"kind": "webhook", "key", "job", "task"}` | [`crate::cards::webhook::tell_job`] |
//! | a Retry button press | `{"kind": "retry", "key", "response_url", "pressed_by"}` | here: the kept job again, for the person who asked for it only |

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::cards::webhook::{self, WebhookJob};
use crate::cards::{Replaced, Reply};
use crate::failures;
use crate::jobs::{self, Attempt, Outcome, Runnable, Stored, WhenHeld};
use crate::project::job::{self as project_job, ProjectJob};
use crate::project::template_job::{self, TemplateJob};
use crate::slack::ids::UserId;
use crate::state::{AppState, Services};
use crate::task::job::{self as task_job, TaskJob};

/// The kind under which a Retry press is stored.
pub const RETRY: &str = "retry";

/// A unit of work on the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    Task(TaskJob),
    Project(ProjectJob),
    /// A template launched from its kick-off form.
    Template(TemplateJob),
    /// A "Retry" button: run the kept job `key` again; only what is missing gets created.
    Retry(RetryJob),
    /// A call of Tallyfy's webhook: tell the card's news, read from Tallyfy.
    Webhook(WebhookJob),
}

/// A Retry press: the job it retries, and where to answer the person who pressed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryJob {
    pub key: String,
    pub response_url: String,
    /// Who pressed the button: only the person who made the request may retry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressed_by: Option<UserId>,
    /// The message the button was on, when it is one in a conversation (not an ephemeral
    /// one): the card that replaces it is followed there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressed_on: Option<PressedOn>,
}

/// A message in a conversation, by its channel and `ts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PressedOn {
    pub channel: String,
    pub ts: String,
}

impl RetryJob {
    pub fn stored(&self) -> Stored {
        Stored::new(RETRY, &self.key, self)
    }
}

/// Reads jobs for the engine and performs them with the application's services.
pub struct Performer {
    app: AppState,
}

impl Performer {
    pub fn new(app: AppState) -> Self {
        Self { app }
    }
}

impl jobs::Reader for Performer {
    fn read(&self, payload: &str) -> Result<Box<dyn Runnable>, String> {
        let job: Job = serde_json::from_str(payload).map_err(|e| e.to_string())?;
        Ok(Box::new(Running {
            app: self.app.clone(),
            job,
        }))
    }
}

/// One job with what it needs to run.
struct Running {
    app: AppState,
    job: Job,
}

#[async_trait]
impl Runnable for Running {
    fn key(&self) -> &str {
        match &self.job {
            Job::Task(job) => &job.key,
            Job::Project(job) => &job.key,
            Job::Template(job) => &job.key,
            Job::Retry(retry) => &retry.key,
            Job::Webhook(call) => &call.key,
        }
    }

    fn request_id(&self) -> Option<&str> {
        match &self.job {
            Job::Task(job) => job.origin.request_id.as_deref(),
            Job::Project(job) => job.origin.request_id.as_deref(),
            Job::Template(job) => job.origin.request_id.as_deref(),
            Job::Retry(_) | Job::Webhook(_) => None,
        }
    }

    async fn run(&self, attempt: Attempt) -> Outcome {
        let app = &self.app;
        match self.job.clone() {
            Job::Task(job) => task_job::create(app, job, attempt).await,
            Job::Project(job) => project_job::create(app, job, Reply::New, attempt).await,
            Job::Template(job) => template_job::launch(app, job, Reply::New, attempt).await,
            Job::Retry(retry) => {
                self::retry(app, &retry).await;
                Outcome::Done
            }
            Job::Webhook(call) => webhook::tell_job(app, &call).await,
        }
    }

    async fn held(&self) -> WhenHeld {
        match &self.job {
            Job::Retry(retry) => {
                let text =
                    "This request is still being worked on; its message will come when it is done.";
                self.app
                    .courier
                    .reply_privately(&retry.response_url, text)
                    .await;
                WhenHeld::Answered
            }
            _ => WhenHeld::LookAgainLater,
        }
    }

    async fn give_up(&self) {
        let app = &self.app;
        match &self.job {
            Job::Task(job) => task_job::give_up(app, job).await,
            Job::Project(job) => project_job::give_up(app, job).await,
            Job::Template(job) => template_job::give_up(app, job).await,
            Job::Retry(retry) => {
                if app.ledger.told(&retry.key).await {
                    return;
                }
                app.metrics.job("job", "given_up");
                let text = format!(":warning: The retry did not finish. {}", failures::GIVEN_UP);
                app.courier
                    .reply_privately(&retry.response_url, &text)
                    .await;
            }
            Job::Webhook(_) => {
                app.metrics.job("webhook", "given_up");
                tracing::error!("a completion could not be told; the card's thread misses it");
            }
        }
    }
}

/// A "Retry" press: runs the kept job again; only what is missing gets created.
async fn retry(app: &Services, retry: &RetryJob) {
    let job = app.ledger.kept::<Job>(&retry.key).await;
    let asked_by = match &job {
        Some(Job::Project(job)) => Some(&job.origin.user_id),
        Some(Job::Task(job)) => Some(&job.origin.user_id),
        Some(Job::Template(job)) => Some(&job.origin.user_id),
        _ => None,
    };
    if let (Some(pressed), Some(asked)) = (&retry.pressed_by, asked_by) {
        if pressed != asked {
            let text = "Only the person who asked for this can retry it.";
            app.courier.reply_privately(&retry.response_url, text).await;
            return;
        }
    }
    let replaced = Replaced {
        response_url: retry.response_url.clone(),
        message: retry
            .pressed_on
            .as_ref()
            .map(|m| (m.channel.clone(), m.ts.clone())),
    };
    match job {
        Some(Job::Project(job)) => {
            let reply = Reply::Replace(replaced);
            project_job::create(app, job, reply, Attempt { resumed: true }).await;
        }
        Some(Job::Task(job)) => task_job::retry(app, job, &retry.response_url).await,
        Some(Job::Template(job)) => {
            let reply = Reply::Replace(replaced);
            template_job::launch(app, job, reply, Attempt { resumed: true }).await;
        }
        _ => {
            let text = "I no longer have this request's details (they are kept for 24 hours). Check Tallyfy, or start again with /task or /project.";
            app.courier.reply_privately(&retry.response_url, text).await;
        }
    }
}

#[cfg(test)]
mod tests;
