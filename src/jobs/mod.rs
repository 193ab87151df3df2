//! The job engine: it takes jobs from the [`queue`], runs each under a lock on its key
//! while a heartbeat keeps it claimed, hands a job whose replica died to another, gives up
//! a job that keeps dying, and on shutdown lets running jobs finish or hands them back.
//! It knows no job kinds: a job arrives as a stored payload, and the [`Reader`] it is
//! started with turns that into a [`Runnable`] that does the work (see `crate::job_kinds`).
//! What is stored about a job lives in the [`ledger`].

pub mod ledger;
pub mod queue;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::telemetry::Metrics;
pub use ledger::Stored;
use ledger::{write_later, Ledger};
use queue::local::LocalQueue;
use queue::{Delivery, Queue};

/// Work handed off by request handlers that may run at once in one replica.
pub const MAX_HANDED_OFF: usize = 256;

/// Too much handed-off work is running already: this piece was not started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too much work is running already")]
pub struct Busy;

/// A job handed out this many times without finishing is given up, with a notice.
pub const MAX_DELIVERIES: u32 = 5;
/// How long the queue is waited on at a time.
const POLL: Duration = Duration::from_secs(1);

/// Whether an earlier run of a job may have begun its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// True when the job was handed out before (its replica died, or it could not tell
    /// its outcome): a creation may have been sent without being recorded.
    pub resumed: bool,
}

/// How a run of a job ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done, and whoever needed to hear of it was told.
    Done,
    /// The outcome could not be told (Slack is failing): run the job again later. What it
    /// made is recorded, so only the telling is repeated.
    Untold,
}

/// How a shutdown left the jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drained {
    /// Every job and handed-off piece of work finished in time.
    Finished,
    /// Some were still running: they were stopped and handed back for another replica.
    HandedBack,
}

/// What to do with a job whose key another run holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenHeld {
    /// Look at it again later: if that run dies, this one carries on.
    LookAgainLater,
    /// The job answered for itself (a button press told "still working"): drop it.
    Answered,
}

/// One job, read from its payload, ready to run. Each job kind implements it.
#[async_trait]
pub trait Runnable: Send + Sync {
    /// What identifies the work: two runs with one key never run at once.
    fn key(&self) -> &str;
    /// The request that asked for the work, for the logs.
    fn request_id(&self) -> Option<&str> {
        None
    }
    /// Does the job to its end; every failure ends in a message to the requester.
    async fn run(&self, attempt: Attempt) -> Outcome;
    /// Another run holds the job's key.
    async fn held(&self) -> WhenHeld {
        WhenHeld::LookAgainLater
    }
    /// The job kept dying before it could finish: tell the requester.
    async fn give_up(&self);
}

/// Turns a stored payload into a job to run.
pub trait Reader: Send + Sync + 'static {
    fn read(&self, payload: &str) -> Result<Box<dyn Runnable>, String>;
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
    ledger: Ledger,
    metrics: Metrics,
    /// The queue every replica shares, when there is Redis.
    shared: Option<Arc<dyn Queue>>,
    /// This process's own queue: the only one without Redis, the fallback while Redis is down.
    local: Arc<LocalQueue>,
    settings: QueueSettings,
    /// The consumers.
    tracker: TaskTracker,
    /// Jobs running and work handed off by request handlers: what `idle` waits for.
    work: TaskTracker,
    /// Stops taking jobs.
    stop: CancellationToken,
    /// Hands back the jobs still running.
    abort: CancellationToken,
    slots: Arc<Semaphore>,
    /// Room for work handed off by request handlers.
    handed_off: Arc<Semaphore>,
}

impl Jobs {
    pub fn new(
        ledger: Ledger,
        metrics: Metrics,
        shared: Option<Arc<dyn Queue>>,
        settings: QueueSettings,
    ) -> Self {
        Self {
            ledger,
            metrics,
            shared,
            local: Arc::new(LocalQueue::default()),
            slots: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            handed_off: Arc::new(Semaphore::new(MAX_HANDED_OFF)),
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
            self.metrics.queue_depth(waiting, pending);
        }
    }

    /// Queues a job. It is kept before this returns: in Redis when it answers in time, else
    /// in this process, so a Redis outage delays nothing and loses nothing that is running.
    pub async fn submit(&self, job: Stored) {
        if let Some(shared) = &self.shared {
            match shared.push(&job.json).await {
                Ok(()) => {
                    self.metrics.job("queue", "shared");
                    return;
                }
                Err(e) => {
                    self.metrics.job("queue", "local_fallback");
                    tracing::warn!(error = %e, key = %job.key, "could not queue the job in Redis; running it in this process");
                }
            }
        }
        if let Err(e) = self.local.push(&job.json).await {
            tracing::error!(error = %e, key = %job.key, "the job is dropped");
        }
    }

    /// Queues a job that must outlive this process: in Redis when there is Redis (an
    /// error when it cannot take it), else in this process, the only queue there is.
    pub async fn submit_kept(&self, job: Stored) -> Result<(), crate::store::StoreError> {
        match &self.shared {
            Some(shared) => shared.push(&job.json).await,
            None => self.local.push(&job.json).await,
        }
    }

    /// Runs `work` in the background after a request was answered (opening a modal, say),
    /// in the current span, tracked like a job: shutdown waits for it, `idle` counts it.
    /// At most [`MAX_HANDED_OFF`] run at once: past that the work is refused, so a bad day
    /// at Slack cannot pile up work (and memory) without bound.
    pub fn hand_off(
        &self,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), Busy> {
        let permit = self.handed_off.clone().try_acquire_owned().map_err(|_| {
            self.metrics.job("hand_off", "refused");
            Busy
        })?;
        // On the heap at once: the task is then moved as a pointer, not copied whole.
        let work = Box::pin(work);
        self.work.spawn(
            async move {
                let _permit = permit;
                work.await
            }
            .in_current_span(),
        );
        Ok(())
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

    /// Starts taking jobs, from the shared queue and from this process's own, and running
    /// them with what `reader` makes of them.
    pub fn start(&self, reader: Arc<dyn Reader>) {
        if let Some(shared) = &self.shared {
            self.tracker
                .spawn(self.clone().consume(reader.clone(), shared.clone(), false));
        }
        let local: Arc<dyn Queue> = self.local.clone();
        self.tracker
            .spawn(self.clone().consume(reader, local, true));
    }

    /// Stops taking jobs and waits up to `within` for those in flight; what is still running
    /// then is handed back to the shared queue for another replica.
    pub async fn drain(&self, within: Duration) -> Drained {
        self.stop.cancel();
        self.tracker.close();
        self.work.close();
        let all = async {
            self.tracker.wait().await;
            self.work.wait().await;
        };
        let drained = if tokio::time::timeout(within, all).await.is_ok() {
            Drained::Finished
        } else {
            self.abort.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(2), self.work.wait()).await;
            Drained::HandedBack
        };
        // Once its jobs are handed back, this replica is no longer one of the stream's readers.
        if let Some(shared) = &self.shared {
            if let Err(e) = shared.leave().await {
                tracing::warn!(error = %e, "could not leave the shared queue; its jobs are taken over after the claim timeout");
            }
        }
        drained
    }

    /// Takes jobs while a slot is free, in one read as many as are waiting and fit. The
    /// local queue is emptied even after the stop: its jobs exist nowhere else.
    async fn consume(self, reader: Arc<dyn Reader>, queue: Arc<dyn Queue>, finish_backlog: bool) {
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
            // As many jobs as there are free slots (up to what the queue reads at once) in
            // one read. A queue that hands out one at a time holds one slot while it waits.
            let mut permits = vec![permit];
            while permits.len() < queue.most_at_once() {
                match self.slots.clone().try_acquire_owned() {
                    Ok(permit) => permits.push(permit),
                    Err(_) => break,
                }
            }
            let wait = if stopping {
                Duration::from_millis(1)
            } else {
                POLL
            };
            let next = tokio::select! {
                _ = self.stop.cancelled(), if !finish_backlog => break,
                next = queue.next_batch(wait, permits.len()) => next,
            };
            match next {
                Ok(deliveries) if !deliveries.is_empty() => {
                    failing = false;
                    for (delivery, permit) in deliveries.into_iter().zip(permits) {
                        let (jobs, queue, reader) = (self.clone(), queue.clone(), reader.clone());
                        self.work.spawn(async move {
                            let _permit = permit;
                            jobs.run(reader.as_ref(), queue, delivery).await
                        });
                    }
                }
                Ok(_) if stopping => break,
                Ok(_) => failing = false,
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

    /// Runs one delivered job in a span that names it.
    async fn run(&self, reader: &dyn Reader, queue: Arc<dyn Queue>, delivery: Delivery) {
        let job = match reader.read(&delivery.payload) {
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
        self.run_locked(job.as_ref(), queue, delivery)
            .instrument(span)
            .await
    }

    /// Runs a job under a lock on its key, keeping the job claimed while it runs.
    async fn run_locked(&self, job: &dyn Runnable, queue: Arc<dyn Queue>, delivery: Delivery) {
        let _running = self.metrics.job_running();
        let claim = self.settings.claim_after;
        let key = job.key();
        let holder = format!("{}/{}", self.settings.consumer, delivery.id);
        if let Ok(false) = self.ledger.lock(key, &holder, claim).await {
            match job.held().await {
                WhenHeld::Answered => {
                    let _ = queue.ack(&delivery.id).await;
                }
                WhenHeld::LookAgainLater => {
                    // Another replica is running it; if that one dies, this job comes back.
                    tracing::info!("the job is already running elsewhere; looking again later");
                    queue.retry_later(&delivery, claim).await;
                }
            }
            return;
        }
        if delivery.deliveries > MAX_DELIVERIES {
            tracing::error!(
                "job handed out {} times without finishing; giving up",
                delivery.deliveries
            );
            job.give_up().await;
            self.ledger.unlock(key).await;
            let _ = queue.ack(&delivery.id).await;
            return;
        }
        let heartbeat = async {
            loop {
                tokio::time::sleep(claim / 3).await;
                let _ = queue.touch(&delivery.id).await;
                self.ledger.relock(key, &holder, claim).await;
            }
        };
        let attempt = Attempt {
            resumed: delivery.deliveries > 1,
        };
        let outcome = tokio::select! {
            outcome = job.run(attempt) => outcome,
            _ = heartbeat => Outcome::Untold,
            _ = self.abort.cancelled() => {
                let _ = queue.release(&delivery.id).await;
                self.ledger.unlock(key).await;
                tracing::warn!("shutdown: job handed back unfinished");
                return;
            }
        };
        if outcome == Outcome::Untold {
            tracing::warn!("the outcome could not be told; the job runs again later");
            tokio::join!(self.ledger.unlock(key), queue.retry_later(&delivery, claim));
            return;
        }
        // The lock and the job go together: one round trip.
        let (_, acked) = tokio::join!(self.ledger.unlock(key), queue.ack(&delivery.id));
        if let Err(e) = acked {
            tracing::warn!(error = %e, "could not acknowledge a finished job; trying again while Redis is out");
            let id = delivery.id.clone();
            write_later(move || {
                let (queue, id) = (queue.clone(), id.clone());
                async move { queue.ack(&id).await.is_ok() }
            });
        }
    }
}

#[cfg(test)]
mod tests;
