//! Creating work in Tallyfy exactly once, whatever happens on the way. Each creation is
//! recorded in the job's [`Ledger`] before it is sent and once it is made; a creation
//! already made is never sent again, and one whose outcome is unknown (no answer, or a 5xx
//! that may have come after the work was done) is looked up in Tallyfy before it is sent
//! again. Rate limits are waited out; an unavailable Tallyfy is retried with jittered
//! exponential backoff for a while, and the requester is told of the delay once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::courier::{self, Courier, Origin};
use crate::jobs::ledger::{Ledger, Progress, Step};
use crate::tallyfy::model::{CreatedTask, NewTask};
use crate::tallyfy::templates::{Launch, Launched};
use crate::tallyfy::{TallyfyClient, TallyfyError};
use crate::telemetry::Metrics;

/// Rate-limit answers are waited out at most this many times per creation.
const MAX_RATE_LIMIT_WAITS: u32 = 5;
/// The longest single wait a `Retry-After` may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The longest pause between two attempts at an unavailable Tallyfy.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// After this long of an unavailable Tallyfy the requester is told their work is delayed.
const DELAY_NOTICE_AFTER: Duration = Duration::from_secs(10);

/// Tallyfy, as far as creating a task (or launching a template) goes.
#[async_trait]
pub trait TaskSink: Send + Sync {
    async fn create_task(&self, task: &NewTask) -> Result<CreatedTask, TallyfyError>;
    /// The task Tallyfy already holds that `task` would create, if any.
    async fn find_task(&self, task: &NewTask) -> Result<Option<CreatedTask>, TallyfyError>;
    /// Launches a template.
    async fn launch(&self, launch: &Launch) -> Result<Launched, TallyfyError> {
        let _ = launch;
        Err(TallyfyError::Unexpected(
            "this Tallyfy launches nothing".into(),
        ))
    }
    /// The run Tallyfy already holds that `launch` would make, if any.
    async fn find_launched(&self, launch: &Launch) -> Result<Option<Launched>, TallyfyError> {
        let _ = launch;
        Ok(None)
    }
}

#[async_trait]
impl TaskSink for TallyfyClient {
    async fn create_task(&self, task: &NewTask) -> Result<CreatedTask, TallyfyError> {
        TallyfyClient::create_task(self, task).await
    }

    async fn find_task(&self, task: &NewTask) -> Result<Option<CreatedTask>, TallyfyError> {
        TallyfyClient::find_task(self, task).await
    }

    async fn launch(&self, launch: &Launch) -> Result<Launched, TallyfyError> {
        TallyfyClient::launch(self, launch).await
    }

    async fn find_launched(&self, launch: &Launch) -> Result<Option<Launched>, TallyfyError> {
        TallyfyClient::find_launched(self, launch).await
    }
}

/// Where a "your work is delayed" notice goes.
#[async_trait]
pub trait DelayNotice: Send + Sync {
    async fn delayed(&self, origin: &Origin, text: &str);
}

#[async_trait]
impl DelayNotice for Courier {
    async fn delayed(&self, origin: &Origin, text: &str) {
        let _ = self.tell(origin, courier::notice(text)).await;
    }
}

/// How long and how often an unavailable Tallyfy is tried.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// The base of the exponential backoff between attempts.
    pub backoff: Duration,
    /// How long a creation keeps trying before it is given up.
    pub retry_for: Duration,
    /// How long to wait before looking for a creation whose answer was lost: Tallyfy may
    /// still be working on it, so it gets as long again as the request was given.
    pub settle: Duration,
}

/// One creation a job makes.
pub struct Creation<'a> {
    /// The job's key.
    pub job: &'a str,
    /// Which of the job's creations this is.
    pub step: Step,
    pub origin: &'a Origin,
    /// What is being created, for the requester: "the task *x*" (mrkdwn, escaped).
    pub what: &'a str,
    /// An earlier run of the job may have sent this creation without recording it.
    pub resumed: bool,
    /// The caller has just read this creation's record, under the job's lock, and found
    /// none: it is not read again.
    pub known_unsent: bool,
}

/// What a launch (or any creation) came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Once<T> {
    /// Made (or found in Tallyfy) by this call.
    Now(T),
    /// Made by an earlier run, as recorded.
    Before(T),
}

/// What a creation came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Made {
    /// Made (or found in Tallyfy) by this call.
    Now(CreatedTask),
    /// Made by an earlier run, as recorded.
    Before(CreatedTask),
}

impl Made {
    pub fn task(&self) -> &CreatedTask {
        match self {
            Made::Now(task) | Made::Before(task) => task,
        }
    }

    pub fn into_task(self) -> CreatedTask {
        match self {
            Made::Now(task) | Made::Before(task) => task,
        }
    }
}

#[derive(Clone)]
pub struct Creator {
    tallyfy: Arc<dyn TaskSink>,
    ledger: Ledger,
    notices: Arc<dyn DelayNotice>,
    metrics: Metrics,
    policy: RetryPolicy,
}

impl Creator {
    pub fn new(
        tallyfy: Arc<dyn TaskSink>,
        ledger: Ledger,
        notices: Arc<dyn DelayNotice>,
        metrics: Metrics,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            tallyfy,
            ledger,
            notices,
            metrics,
            policy,
        }
    }

    /// The same creator, sending its creations through `tallyfy` (a client acting as the
    /// person who asked).
    pub fn through(&self, tallyfy: Arc<dyn TaskSink>) -> Self {
        Self {
            tallyfy,
            ..self.clone()
        }
    }

    /// How long an unavailable Tallyfy is tried.
    pub fn retry_for(&self) -> Duration {
        self.policy.retry_for
    }

    /// Sends a creation exactly once (see the module's documentation).
    pub async fn create_once(
        &self,
        c: &Creation<'_>,
        request: &NewTask,
    ) -> Result<Made, TallyfyError> {
        let sink = &self.tallyfy;
        let made = self
            .once(c, || sink.create_task(request), || sink.find_task(request))
            .await?;
        Ok(match made {
            Once::Now(task) => Made::Now(task),
            Once::Before(task) => Made::Before(task),
        })
    }

    /// Launches a template exactly once, as [`Creator::create_once`] creates a task: a
    /// launch whose answer was lost is looked for among the template's runs by its name.
    pub async fn launch_once(
        &self,
        c: &Creation<'_>,
        launch: &Launch,
    ) -> Result<Once<Launched>, TallyfyError> {
        let sink = &self.tallyfy;
        self.once(c, || sink.launch(launch), || sink.find_launched(launch))
            .await
    }

    /// One creation, sent by `send` and looked for by `find` when its outcome is unsure.
    async fn once<T, S, F>(
        &self,
        c: &Creation<'_>,
        send: impl Fn() -> S,
        find: impl Fn() -> F,
    ) -> Result<Once<T>, TallyfyError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        S: std::future::Future<Output = Result<T, TallyfyError>>,
        F: std::future::Future<Output = Result<Option<T>, TallyfyError>>,
    {
        let mut unsure = c.resumed;
        if !c.known_unsent {
            match self.ledger.progress::<T>(c.job, c.step).await {
                Progress::Made(created) => return Ok(Once::Before(created)),
                Progress::Sending => unsure = true,
                Progress::NotSent => {}
            }
        }
        let started = tokio::time::Instant::now();
        let (mut waits, mut failures, mut told) = (0u32, 0u32, false);
        loop {
            let looked = if unsure { find().await } else { Ok(None) };
            let outcome = match looked {
                Ok(Some(found)) => {
                    tracing::info!("an earlier attempt had created it; not creating it again");
                    Ok(found)
                }
                Ok(None) => {
                    // The record goes out with the creation's first call to Redis (its rate
                    // budget), ahead of it on the connection; a run that finds it, or that
                    // resumes after a crash, looks in Tallyfy before sending again.
                    let ((), sent) = tokio::join!(self.ledger.sending(c.job, c.step), send());
                    sent
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(created) => {
                    self.ledger.made(c.job, c.step, &created).await;
                    return Ok(Once::Now(created));
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
                Err(e) if e.is_transient() && started.elapsed() < self.policy.retry_for => {
                    unsure |= e.outcome_unknown();
                    failures += 1;
                    if !told && started.elapsed() >= DELAY_NOTICE_AFTER {
                        told = true;
                        self.tell_delay(c).await;
                    }
                    let mut pause = jittered(
                        (self.policy.backoff * 2u32.pow(failures.min(16) - 1)).min(MAX_BACKOFF),
                    );
                    if e.outcome_unknown() {
                        pause = pause.max(self.policy.settle);
                    }
                    tracing::info!(error = %e, attempt = failures, "Tallyfy unavailable: retrying");
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Tells the requester, once per job, that Tallyfy is slow to take their work.
    async fn tell_delay(&self, c: &Creation<'_>) {
        if !self.ledger.first_delay(c.job).await {
            return;
        }
        self.metrics.job("creation", "delayed");
        let minutes = self.policy.retry_for.as_secs().div_ceil(60);
        let text = format!(
            ":hourglass_flowing_sand: Tallyfy is not answering right now, so {} is not created yet. I'll keep trying for up to {minutes} minutes and post here when it's done, or tell you if it can't be.",
            c.what
        );
        self.notices.delayed(c.origin, &text).await;
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

#[cfg(test)]
mod tests;
