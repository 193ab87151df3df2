//! The work behind a submission, after the modal has closed: map the assignees, create the
//! work in Tallyfy, and tell the channel (or, failing that, the requester). This is the one
//! place that talks to Tallyfy on a user's behalf.
//!
//! A submission becomes a [`Job`] on the [`crate::queue`] before Slack is answered. Any
//! replica may run it; a job whose replica died is taken over by another. Each creation is
//! recorded as it happens (sent; created with id X; the outcome told), so a job run again,
//! by a retry button or by the replica that took it over, does only what is missing and
//! never creates the same thing twice.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use slack_morphism::prelude::SlackMessageContent;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::directory::Directory;
use crate::project::{
    self, message as project_message, PlanError, PlannedTask, ProjectPlan, ProjectRef,
};
use crate::queue::{Delivery, LocalQueue, Queue};
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
    /// The request that asked for the work, for the logs.
    #[serde(default)]
    pub request_id: Option<String>,
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

/// Where a job's outcome is told.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A new message where the request came from.
    New,
    /// Replace the message whose button was pressed, through its `response_url`.
    Replace(String),
}

/// A unit of work on the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    Task(TaskJob),
    Project(ProjectJob),
    /// A "Retry" button: run the kept job `key` again; only what is missing gets created.
    Retry {
        key: String,
        response_url: String,
    },
}

impl Job {
    /// The request that asked for the work, when known.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Job::Task(job) => job.origin.request_id.as_deref(),
            Job::Project(job) => job.origin.request_id.as_deref(),
            Job::Retry { .. } => None,
        }
    }

    /// What identifies the submission the job serves; a retry shares its job's key.
    pub fn key(&self) -> &str {
        match self {
            Job::Task(job) => &job.key,
            Job::Project(job) => &job.key,
            Job::Retry { key, .. } => key,
        }
    }
}

/// How long a job's data and progress are kept: its retry button works this long.
const JOB_TTL: Duration = Duration::from_secs(24 * 3600);
/// Appends to one run in flight at once.
const APPEND_CONCURRENCY: usize = 4;

/// Rate-limit answers are waited out at most this many times per creation.
const MAX_RATE_LIMIT_WAITS: u32 = 5;
/// The longest single wait a `Retry-After` may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The longest pause between two attempts at an unavailable Tallyfy.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// After this long of an unavailable Tallyfy the requester is told their work is delayed.
const DELAY_NOTICE_AFTER: Duration = Duration::from_secs(10);
/// A job handed out this many times without finishing is given up, with a notice.
const MAX_DELIVERIES: u32 = 5;
/// How long the queue is waited on at a time.
const POLL: Duration = Duration::from_secs(1);
/// A write that Redis refused is tried again this often, this many times (two minutes).
const LATE_WRITE_PAUSE: Duration = Duration::from_millis(500);
const LATE_WRITE_TRIES: u32 = 240;
/// The record of a creation that was sent but whose outcome is not known yet.
const SENDING: &str = "sending";

#[derive(Clone)]
pub struct Worker {
    pub slack: SlackApi,
    pub tallyfy: TallyfyClient,
    pub directory: Directory,
    /// Base of links to Tallyfy, without a trailing `/`.
    pub web_url: String,
    pub metrics: Metrics,
    pub store: Arc<dyn Store>,
    /// The base of the exponential backoff between attempts at an unavailable Tallyfy.
    pub backoff: Duration,
    /// How long a creation keeps trying an unavailable Tallyfy before it is given up.
    pub retry_for: Duration,
    /// How long to wait before looking for a creation whose answer was lost: Tallyfy may
    /// still be working on it, so it gets as long again as the request was given.
    pub settle: Duration,
}

/// How the queue is consumed.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    /// This replica's name among the consumers.
    pub consumer: String,
    /// A job untouched this long is taken over by another replica.
    pub claim_after: Duration,
    /// Jobs run at once by this replica.
    pub concurrency: usize,
}

/// Takes jobs from the queue and runs them; keeps track of them for shutdown.
#[derive(Clone)]
pub struct Jobs {
    worker: Worker,
    /// The queue every replica shares, when there is Redis.
    shared: Option<Arc<dyn Queue>>,
    /// This process's own queue: the only one without Redis, the fallback while Redis is down.
    local: Arc<LocalQueue>,
    settings: QueueSettings,
    tracker: TaskTracker,
    /// Jobs running and work handed off by request handlers: what `idle` waits for.
    work: TaskTracker,
    /// Stops taking jobs.
    stop: CancellationToken,
    /// Hands back the jobs still running.
    abort: CancellationToken,
    slots: Arc<Semaphore>,
}

impl Jobs {
    pub fn new(worker: Worker, shared: Option<Arc<dyn Queue>>, settings: QueueSettings) -> Self {
        Self {
            worker,
            shared,
            local: Arc::new(LocalQueue::default()),
            slots: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            settings,
            tracker: TaskTracker::new(),
            work: TaskTracker::new(),
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
        }
    }

    /// `redis` when jobs go through the shared queue, else `memory`.
    pub fn kind(&self) -> &'static str {
        self.shared.as_ref().map_or("memory", |q| q.kind())
    }

    /// The shared queue's depth, into the metrics (the in-process queue's, without Redis).
    pub async fn measure(&self) {
        let queue: &dyn Queue = match &self.shared {
            Some(shared) => shared.as_ref(),
            None => self.local.as_ref(),
        };
        if let Ok((waiting, pending)) = queue.depth().await {
            self.worker.metrics.queue_depth(waiting, pending);
        }
    }

    /// Queues a job. It is kept before this returns: in Redis when it answers in time, else
    /// in this process, so a Redis outage delays nothing and loses nothing that is running.
    pub async fn submit(&self, job: Job) {
        let payload = serde_json::to_string(&job).expect("jobs are plain data");
        if let Some(shared) = &self.shared {
            match shared.push(&payload).await {
                Ok(()) => {
                    self.worker.metrics.job("queue", "shared");
                    return;
                }
                Err(e) => {
                    self.worker.metrics.job("queue", "local_fallback");
                    tracing::warn!(error = %e, key = job.key(), "could not queue the job in Redis; running it in this process");
                }
            }
        }
        if self.local.push(&payload).await.is_err() {
            tracing::error!(
                key = job.key(),
                "the local queue is closed; the job is dropped"
            );
        }
    }

    /// Runs `work` in the background after a request was answered (opening a modal, say),
    /// in the current span, tracked like a job: shutdown waits for it, `idle` counts it.
    pub fn hand_off(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        self.work.spawn(work.in_current_span());
    }

    /// Completes once this replica runs no job and no handed-off work, and the queues it
    /// reads hold no job, waiting or taken: everything submitted so far has been done.
    pub async fn idle(&self) {
        let mut quiet = 0;
        while quiet < 2 {
            quiet = if self.work.is_empty() && self.queues_empty().await {
                quiet + 1
            } else {
                0
            };
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn queues_empty(&self) -> bool {
        let local = matches!(self.local.depth().await, Ok((0, 0)));
        let shared = match &self.shared {
            Some(shared) => matches!(shared.depth().await, Ok((0, 0))),
            None => true,
        };
        local && shared
    }

    /// Starts taking jobs: from the shared queue, and from this process's own.
    pub fn start(&self) {
        if let Some(shared) = &self.shared {
            self.tracker
                .spawn(self.clone().consume(shared.clone(), false));
        }
        let local: Arc<dyn Queue> = self.local.clone();
        self.tracker.spawn(self.clone().consume(local, true));
    }

    /// Stops taking jobs and waits up to `within` for those in flight; what is still running
    /// then is handed back to the shared queue for another replica. True when all ended.
    pub async fn drain(&self, within: Duration) -> bool {
        self.stop.cancel();
        self.tracker.close();
        self.work.close();
        let all = async {
            self.tracker.wait().await;
            self.work.wait().await;
        };
        if tokio::time::timeout(within, all)
            .await
            .is_ok()
        {
            return true;
        }
        self.abort.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.work.wait()).await;
        false
    }

    /// Takes jobs one at a time while a slot is free. The local queue is emptied even after
    /// the stop: its jobs exist nowhere else.
    async fn consume(self, queue: Arc<dyn Queue>, finish_backlog: bool) {
        let mut failing = false;
        loop {
            let stopping = self.stop.is_cancelled();
            if stopping && !finish_backlog {
                break;
            }
            let permit = tokio::select! {
                _ = self.stop.cancelled(), if !finish_backlog => break,
                permit = self.slots.clone().acquire_owned() => permit.expect("the slots are never closed"),
            };
            let wait = if stopping {
                Duration::from_millis(1)
            } else {
                POLL
            };
            let next = tokio::select! {
                _ = self.stop.cancelled(), if !finish_backlog => break,
                next = queue.next(wait) => next,
            };
            match next {
                Ok(Some(delivery)) => {
                    failing = false;
                    let (jobs, queue) = (self.clone(), queue.clone());
                    self.work.spawn(async move {
                        let _permit = permit;
                        jobs.run(queue, delivery).await
                    });
                }
                Ok(None) if stopping => break,
                Ok(None) => failing = false,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, queue = queue.kind(), "cannot read the job queue; trying again");
                        failing = true;
                    }
                    tokio::select! {
                        _ = self.stop.cancelled(), if !finish_backlog => break,
                        _ = tokio::time::sleep(POLL) => {}
                    }
                }
            }
        }
    }

    /// Runs one delivered job under a lock on its key, keeping the job claimed while it runs.
    async fn run(&self, queue: Arc<dyn Queue>, delivery: Delivery) {
        let job: Job = match serde_json::from_str(&delivery.payload) {
            Ok(job) => job,
            Err(e) => {
                tracing::error!(error = %e, id = %delivery.id, "unreadable job dropped");
                let _ = queue.ack(&delivery.id).await;
                return;
            }
        };
        let span = tracing::info_span!(
            "job",
            key = %job.key(),
            deliveries = delivery.deliveries,
            request_id = job.request_id().unwrap_or_default()
        );
        self.run_job(queue, delivery, job).instrument(span).await
    }

    async fn run_job(&self, queue: Arc<dyn Queue>, delivery: Delivery, job: Job) {
        let _running = self.worker.metrics.job_running();
        let store = &self.worker.store;
        let claim = self.settings.claim_after;
        let lock = format!("running:{}", job.key());
        let holder = format!("{}/{}", self.settings.consumer, delivery.id);
        if let Ok(false) = store.set_if_absent(&lock, &holder, claim).await {
            if let Job::Retry { response_url, .. } = &job {
                self.worker.busy(response_url).await;
                let _ = queue.ack(&delivery.id).await;
            } else {
                // Another replica is running it; if that one dies, this job comes back.
                tracing::info!("the job is already running elsewhere; looking again later");
                queue.retry_later(&delivery, claim).await;
            }
            return;
        }
        if delivery.deliveries > MAX_DELIVERIES {
            tracing::error!(
                "job handed out {} times without finishing; giving up",
                delivery.deliveries
            );
            self.worker.give_up(&job).await;
            let _ = store.delete(&lock).await;
            let _ = queue.ack(&delivery.id).await;
            return;
        }
        let heartbeat = async {
            loop {
                tokio::time::sleep(claim / 3).await;
                let _ = queue.touch(&delivery.id).await;
                let _ = store.set(&lock, &holder, claim).await;
            }
        };
        let finished = tokio::select! {
            finished = self.worker.perform(job, delivery.deliveries > 1) => finished,
            _ = heartbeat => false,
            _ = self.abort.cancelled() => {
                let _ = queue.release(&delivery.id).await;
                let _ = store.delete(&lock).await;
                tracing::warn!("shutdown: job handed back unfinished");
                return;
            }
        };
        let _ = store.delete(&lock).await;
        if !finished {
            tracing::warn!("the outcome could not be told; the job runs again later");
            queue.retry_later(&delivery, claim).await;
            return;
        }
        if let Err(e) = queue.ack(&delivery.id).await {
            tracing::warn!(error = %e, "could not acknowledge a finished job; trying again while Redis is out");
            let id = delivery.id.clone();
            write_later(move || {
                let (queue, id) = (queue.clone(), id.clone());
                async move { queue.ack(&id).await.is_ok() }
            });
        }
    }
}

/// One creation in Tallyfy, with its record in the store.
struct Creation<'a> {
    /// The job's key.
    job: &'a str,
    /// Where the creation's progress is recorded.
    record: String,
    origin: &'a Origin,
    /// What is being created, for the requester: "the task *x*".
    what: &'a str,
    /// An earlier run of the job may have sent this creation without recording it.
    resumed: bool,
}

impl Worker {
    /// Does a job to its end. Every failure ends in a message to the requester. False when
    /// the outcome could not be told (Slack is failing): the job is run again later, and
    /// what it already created is recorded, so that only the telling is repeated.
    pub async fn perform(&self, job: Job, resumed: bool) -> bool {
        match job {
            Job::Task(job) => self.create_task(job, resumed).await,
            Job::Project(job) => self.create_project(job, Reply::New, resumed).await,
            Job::Retry { key, response_url } => {
                self.retry(&key, &response_url).await;
                true
            }
        }
    }

    /// Keeps a job's data for its retry button.
    async fn keep(&self, job: &Job) {
        let raw = serde_json::to_string(job).expect("jobs are plain data");
        if let Err(e) = self
            .store
            .set(&format!("job:{}", job.key()), &raw, JOB_TTL)
            .await
        {
            tracing::warn!(error = %e, "could not keep the job; its retry button will not work");
        }
    }

    /// Whether the outcome of this job was already told (an earlier run got that far).
    async fn told(&self, key: &str) -> bool {
        matches!(
            self.store.get(&format!("progress:{key}:told")).await,
            Ok(Some(_))
        )
    }

    async fn mark_told(&self, key: &str) {
        let (store, key) = (self.store.clone(), format!("progress:{key}:told"));
        if store.set(&key, "1", JOB_TTL).await.is_err() {
            // Redis is out: keep trying for a while, so that a replica that takes the job
            // over once Redis is back finds it told and does not announce it again.
            write_later(move || {
                let (store, key) = (store.clone(), key.clone());
                async move { store.set(&key, "1", JOB_TTL).await.is_ok() }
            });
        }
    }

    /// Creates the task and delivers the outcome.
    pub async fn create_task(&self, mut job: TaskJob, resumed: bool) -> bool {
        if self.told(&job.key).await {
            tracing::info!("the task was created and announced by an earlier run");
            return true;
        }
        let owners = match &job.owners {
            Some(owners) => owners.clone(),
            None => match self.resolve_owners(&job).await {
                Ok(owners) => owners,
                Err((problem, retry)) => return self.fail(&job, &problem, retry).await,
            },
        };
        job.owners = Some(owners.clone());
        self.keep(&Job::Task(job.clone())).await;
        let draft = &job.draft;
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
        let what = format!("the task *{}*", crate::slack::mrkdwn::escape(&draft.title));
        let creation = Creation {
            job: &job.key,
            record: format!("progress:{}:task", job.key),
            origin: &job.origin,
            what: &what,
            resumed,
        };
        let mut result = self.create_once(&creation, &request).await;
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
                        result = self.create_once(&creation, &request).await;
                    }
                    Ok(_) => {}
                    Err((problem, retry)) => return self.fail(&job, &problem, retry).await,
                }
            }
        }
        let created = match result {
            Ok((created, _)) => created,
            Err(TallyfyError::NotFound(_)) if draft.project.is_some() => {
                let name = draft
                    .project
                    .as_ref()
                    .map(|p| p.name.as_str())
                    .unwrap_or_default();
                let reason = format!(
                    "The project \u{201c}{name}\u{201d} no longer exists in Tallyfy. Run /task again and pick another project or a standalone task."
                );
                return self.fail(&job, &reason, false).await;
            }
            Err(e) => return self.fail(&job, &e.user_message(), true).await,
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
        if !self.deliver(&job.origin, content).await {
            return false;
        }
        self.mark_told(&job.key).await;
        true
    }

    /// Resolves a task's people now. The error is what to tell the requester, and whether
    /// a retry of the same job can help (a lookup that failed) or not (someone who cannot
    /// be assigned: that needs a new form).
    async fn resolve_owners(&self, job: &TaskJob) -> Result<Owners, (String, bool)> {
        match self
            .directory
            .resolve_all(&job.origin.team_id, &job.draft.assignees)
            .await
        {
            Ok(resolved) => task::draft_owners(&job.draft, &resolved).map_err(|p| (p, false)),
            Err(e) => {
                tracing::warn!(error = %e, "assignee lookup failed");
                Err((e.user_message("assignees'"), true))
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
    pub async fn create_project(&self, mut job: ProjectJob, reply: Reply, resumed: bool) -> bool {
        if matches!(reply, Reply::New) && self.told(&job.key).await {
            tracing::info!("the project was created and announced by an earlier run");
            return true;
        }
        let plan = match job.plan.clone() {
            Some(plan) => plan,
            None => match project::plan(&self.directory, &job.origin.team_id, &job.form).await {
                Ok(plan) => plan,
                Err(PlanError::Problems(problems)) => {
                    let text: Vec<String> = problems.into_values().collect();
                    return self.fail_project(&job, &text.join(" "), false).await;
                }
                Err(PlanError::Lookup(e)) => {
                    tracing::warn!(error = %e, "project lookups failed");
                    return self
                        .fail_project(&job, &e.user_message("people's"), true)
                        .await;
                }
            },
        };
        job.plan = Some(plan.clone());
        self.keep(&Job::Project(job.clone())).await;
        let run = match self.ensure_run(&job, &plan, resumed).await {
            Ok(run) => run,
            Err(e) => return self.fail_project(&job, &e.user_message(), true).await,
        };
        let results = self.append_all(&job, &run, &plan, resumed).await;
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
                let told = self.slack.respond(&url, &body).await.is_ok()
                    || self.deliver(&job.origin, content).await;
                if told {
                    // The job's first run, if it still comes, has nothing left to say.
                    self.mark_told(&job.key).await;
                }
                told
            }
            Reply::New => {
                if !self.deliver(&job.origin, content).await {
                    return false;
                }
                self.mark_told(&job.key).await;
                true
            }
        }
    }

    /// The project's run: the one an earlier attempt created, or a new one.
    async fn ensure_run(
        &self,
        job: &ProjectJob,
        plan: &ProjectPlan,
        resumed: bool,
    ) -> Result<RunId, TallyfyError> {
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
        let what = format!("the project *{}*", crate::slack::mrkdwn::escape(&plan.name));
        let creation = Creation {
            job: &job.key,
            record: format!("progress:{}:run", job.key),
            origin: &job.origin,
            what: &what,
            resumed,
        };
        let (created, fresh) = self.create_once(&creation, &request).await?;
        let run = created.run_id().cloned().ok_or_else(|| {
            TallyfyError::Unexpected("the created project came back without a run".into())
        })?;
        if !fresh {
            return Ok(run);
        }
        tracing::info!(run_id = %run, "project run created");
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
        job: &ProjectJob,
        run: &RunId,
        plan: &ProjectPlan,
        resumed: bool,
    ) -> Vec<Result<(), String>> {
        let appends = plan.tasks.iter().cloned().map(|task| {
            let (worker, run) = (self.clone(), run.clone());
            async move { worker.append(job, &run, &task, resumed).await }
        });
        futures::stream::iter(appends)
            .buffered(APPEND_CONCURRENCY)
            .collect()
            .await
    }

    async fn append(
        &self,
        job: &ProjectJob,
        run: &RunId,
        task: &PlannedTask,
        resumed: bool,
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
        let what = format!(
            "the project *{}*",
            crate::slack::mrkdwn::escape(&job.form.name)
        );
        let creation = Creation {
            job: &job.key,
            record: format!("progress:{}:task:{}", job.key, task.position),
            origin: &job.origin,
            what: &what,
            resumed,
        };
        match self.create_once(&creation, &request).await {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, position = task.position, "could not append a task");
                Err(e.user_message())
            }
        }
    }

    /// A "Retry" button: runs the kept job again; only what is missing gets created.
    async fn retry(&self, key: &str, response_url: &str) {
        let job = match self.store.get(&format!("job:{key}")).await {
            Ok(Some(raw)) => serde_json::from_str::<Job>(&raw).ok(),
            _ => None,
        };
        match job {
            Some(Job::Project(job)) => {
                self.create_project(job, Reply::Replace(response_url.to_string()), true)
                    .await;
            }
            Some(Job::Task(job)) if self.told(&job.key).await => {
                let text = "This task was already created; its message is in the conversation it came from.";
                self.reply_privately(response_url, text).await;
            }
            Some(Job::Task(job)) => {
                self.create_task(job, true).await;
            }
            _ => {
                let text = "I no longer have this request's details (they are kept for 24 hours). Check Tallyfy, or start again with /task or /project.";
                self.reply_privately(response_url, text).await;
            }
        }
    }

    /// A private answer to a button press, leaving its message as it is.
    async fn reply_privately(&self, response_url: &str, text: &str) {
        let body = serde_json::json!({"response_type": "ephemeral", "replace_original": false, "text": text});
        let _ = self.slack.respond(response_url, &body).await;
    }

    /// A retry pressed while the job is still running.
    async fn busy(&self, response_url: &str) {
        let text = "This request is still being worked on; its message will come when it is done.";
        self.reply_privately(response_url, text).await;
    }

    /// A job that kept failing before it could finish: tell the requester, with a retry.
    async fn give_up(&self, job: &Job) {
        if self.told(job.key()).await {
            // It did finish: the last run only failed to say so to the queue.
            return;
        }
        self.metrics.job("job", "given_up");
        if !matches!(job, Job::Retry { .. }) {
            self.keep(job).await;
        }
        let reason = "It kept failing before it could finish. Press Retry to try again; nothing that was already created is created twice.";
        match job {
            Job::Task(job) => {
                self.fail(job, reason, true).await;
            }
            Job::Project(job) => {
                self.fail_project(job, reason, true).await;
            }
            Job::Retry { response_url, .. } => {
                let text = format!(":warning: The retry did not finish. {reason}");
                self.reply_privately(response_url, &text).await;
            }
        }
    }

    async fn fail_project(&self, job: &ProjectJob, reason: &str, retry: bool) -> bool {
        self.metrics.job("create_project", "failed");
        tracing::warn!(key = %job.key, %reason, "project not created");
        let text = format!(
            ":warning: The project *{}* was not created. {}",
            crate::slack::mrkdwn::escape(&job.form.name),
            crate::slack::mrkdwn::escape(reason)
        );
        let key = retry.then_some(job.key.as_str());
        self.notify(&job.origin, message::failure(&text, key)).await
    }

    async fn fail(&self, job: &TaskJob, reason: &str, retry: bool) -> bool {
        self.metrics.job("create_task", "failed");
        tracing::warn!(key = %job.key, %reason, "task not created");
        if retry {
            self.keep(&Job::Task(job.clone())).await;
        }
        let key = retry.then_some(job.key.as_str());
        let text = message::not_created(&job.draft.title, reason);
        self.notify(&job.origin, message::failure(&text, key)).await
    }

    /// Sends a creation exactly once, whatever happens on the way: a record in the store
    /// says it was already made; an attempt whose outcome is unknown (no answer, or a 5xx
    /// that may have come after the work was done) is looked up before it is sent again.
    /// Rate limits are waited out; an unavailable Tallyfy is retried with jittered
    /// exponential backoff for up to `retry_for`, and the requester is told of the delay.
    /// The flag is true when the creation was made or found by this call.
    async fn create_once(
        &self,
        c: &Creation<'_>,
        request: &NewTask,
    ) -> Result<(CreatedTask, bool), TallyfyError> {
        let mut unsure = c.resumed;
        match self.store.get(&c.record).await {
            Ok(Some(raw)) if raw == SENDING => unsure = true,
            Ok(Some(raw)) => {
                if let Ok(created) = serde_json::from_str::<CreatedTask>(&raw) {
                    return Ok((created, false));
                }
            }
            Ok(None) | Err(_) => {}
        }
        let started = tokio::time::Instant::now();
        let (mut waits, mut failures, mut told) = (0u32, 0u32, false);
        loop {
            let outcome = match self.find_if(unsure, request).await {
                Ok(Some(found)) => {
                    tracing::info!(task_id = %found.id, "an earlier attempt had created it; not creating it again");
                    Ok(found)
                }
                Ok(None) => {
                    let _ = self.store.set(&c.record, SENDING, JOB_TTL).await;
                    self.tallyfy.create_task(request).await
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(created) => {
                    let raw = serde_json::to_string(&created).expect("plain data");
                    if let Err(e) = self.store.set(&c.record, &raw, JOB_TTL).await {
                        tracing::warn!(error = %e, "could not record a creation; a later run will look it up");
                    }
                    return Ok((created, true));
                }
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
                Err(e) if e.is_transient() && started.elapsed() < self.retry_for => {
                    unsure |= e.outcome_unknown();
                    failures += 1;
                    if !told && started.elapsed() >= DELAY_NOTICE_AFTER {
                        told = true;
                        self.tell_delay(c).await;
                    }
                    let mut pause =
                        jittered((self.backoff * 2u32.pow(failures.min(16) - 1)).min(MAX_BACKOFF));
                    if e.outcome_unknown() {
                        pause = pause.max(self.settle);
                    }
                    tracing::info!(error = %e, attempt = failures, "Tallyfy unavailable: retrying");
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// When `unsure`, the task Tallyfy already holds for this request, if any.
    async fn find_if(
        &self,
        unsure: bool,
        request: &NewTask,
    ) -> Result<Option<CreatedTask>, TallyfyError> {
        if !unsure {
            return Ok(None);
        }
        self.tallyfy.find_task(request).await
    }

    /// Tells the requester, once per job, that Tallyfy is slow to take their work.
    async fn tell_delay(&self, c: &Creation<'_>) {
        let first = self
            .store
            .set_if_absent(&format!("progress:{}:delayed", c.job), "1", JOB_TTL)
            .await;
        if !matches!(first, Ok(true)) {
            return;
        }
        self.metrics.job("creation", "delayed");
        let minutes = self.retry_for.as_secs().div_ceil(60);
        let text = format!(
            ":hourglass_flowing_sand: Tallyfy is not answering right now, so {} is not created yet. I'll keep trying for up to {minutes} minutes and post here when it's done, or tell you if it can't be.",
            c.what
        );
        self.notify(c.origin, message::notice(&text)).await;
    }

    /// Posts the confirmation where the request came from: the channel (or its thread);
    /// else through the command's `response_url`; else privately to the requester.
    async fn deliver(&self, origin: &Origin, content: SlackMessageContent) -> bool {
        if let Some(channel) = &origin.channel_id {
            match self
                .post(channel, origin.thread_ts.as_deref(), &content)
                .await
            {
                Ok(()) => return true,
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
                return true;
            }
        }
        match self.post(&origin.user_id, None, &content).await {
            Ok(()) => true,
            Err(e) => {
                self.metrics.job("confirmation", "undelivered");
                tracing::error!(error = %e, user = %origin.user_id, "confirmation could not be delivered anywhere");
                false
            }
        }
    }

    /// A private message to the requester: the `response_url` (ephemeral), else an
    /// ephemeral message in the channel, else a direct message.
    async fn notify(&self, origin: &Origin, content: SlackMessageContent) -> bool {
        if let Some(url) = &origin.response_url {
            if self
                .slack
                .respond(url, &response_body(&content, "ephemeral"))
                .await
                .is_ok()
            {
                return true;
            }
        }
        if let Some(channel) = &origin.channel_id {
            if self
                .slack
                .post_ephemeral(channel, &origin.user_id, content.clone())
                .await
                .is_ok()
            {
                return true;
            }
        }
        match self.post(&origin.user_id, None, &content).await {
            Ok(()) => true,
            Err(e) => {
                self.metrics.job("notice", "undelivered");
                tracing::error!(error = %e, user = %origin.user_id, "notice could not be delivered anywhere");
                false
            }
        }
    }

    /// `chat.postMessage`, waiting out rate limits (a few times): a 429 means nothing was
    /// posted, so the retry cannot double the message.
    async fn post(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        content: &SlackMessageContent,
    ) -> Result<(), SlackCallError> {
        let mut waits = 0;
        loop {
            match self
                .slack
                .post_message(channel, thread_ts, content.clone())
                .await
            {
                Err(SlackCallError::RateLimited(after)) if waits < MAX_RATE_LIMIT_WAITS => {
                    waits += 1;
                    let wait = after.unwrap_or(Duration::from_secs(1)).min(MAX_RETRY_AFTER);
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }
}

/// Tries a write Redis refused again in the background, every `LATE_WRITE_PAUSE`, until
/// `attempt` says it went through or `LATE_WRITE_TRIES` have passed.
fn write_later<F, Fut>(attempt: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    tokio::spawn(
        async move {
            for _ in 0..LATE_WRITE_TRIES {
                tokio::time::sleep(LATE_WRITE_PAUSE).await;
                if attempt().await {
                    return;
                }
            }
        }
        .in_current_span(),
    );
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
