//! The job queue. Work a user submitted is pushed here before Slack is answered, so it
//! outlives the process that took the request.
//!
//! With Redis the queue is a stream read through one consumer group: each job goes to one
//! replica, stays "pending" until that replica acknowledges it, and is kept claimed by a
//! heartbeat while it runs. A job whose replica stopped touching it (it crashed or was
//! killed) for longer than the claim timeout is taken over by another replica. Without
//! Redis an in-process channel offers the same interface; a crash then loses what was in
//! flight.
//!
//! Payloads are opaque strings: the queue does not read what a job means. It does check
//! who wrote it: each stream entry carries, beside the job, an HMAC-SHA256 of it under
//! `JOB_SIGNING_KEY`, and an entry without a valid one is acknowledged and dropped unrun,
//! so that someone who can write to Redis cannot make the replicas act.
//!
//! Both queues are bounded: the in-process one holds at most [`LOCAL_CAPACITY`] waiting
//! jobs, and the stream refuses a job once it holds [`MAX_LEN`] (it never trims one that
//! was not acknowledged); a refused job is reported to the caller.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::streams::{StreamAutoClaimReply, StreamReadReply};

use crate::config::RedisTarget;
use crate::seal::JobMac;
use crate::store::{Breaker, RedisConn, StoreError, CALL_TIMEOUT};
use pace::Pace;

pub mod local;
mod pace;

/// One job handed to this replica.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: String,
    pub payload: String,
    /// How many times the job has been handed out, this time included.
    pub deliveries: u32,
}

#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Adds a job; once this returns Ok the job is kept until acknowledged.
    async fn push(&self, payload: &str) -> Result<(), StoreError>;
    /// The next job for this replica, waiting up to `wait` for one: first a job another
    /// replica abandoned, then a new one.
    async fn next(&self, wait: Duration) -> Result<Option<Delivery>, StoreError>;
    /// The most jobs [`Queue::next_batch`] hands out at once.
    fn most_at_once(&self) -> usize {
        1
    }
    /// Up to `max` jobs for this replica, as [`Queue::next`] hands them out: one read for
    /// all of them when several are waiting.
    async fn next_batch(&self, wait: Duration, max: usize) -> Result<Vec<Delivery>, StoreError> {
        let _ = max;
        Ok(self.next(wait).await?.into_iter().collect())
    }
    /// Keeps a job claimed while it runs, so no other replica takes it over.
    async fn touch(&self, id: &str) -> Result<(), StoreError>;
    /// Gives a job back unfinished, for another replica to take at once.
    async fn release(&self, id: &str) -> Result<(), StoreError>;
    /// The job is done: forget it.
    async fn ack(&self, id: &str) -> Result<(), StoreError>;
    /// The job could not finish now: hand it out again after `after`.
    async fn retry_later(&self, delivery: &Delivery, after: Duration);
    /// Jobs not taken yet, and jobs taken and not finished.
    async fn depth(&self) -> Result<(u64, u64), StoreError>;
    /// This replica stops reading for good: the jobs it still holds are handed to the
    /// others, and it is forgotten as a reader.
    async fn leave(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// `redis` or `memory`.
    fn kind(&self) -> &'static str;
}

/// The consumer group every replica reads through.
const GROUP: &str = "workers";
/// The field of a stream entry that holds the job.
const FIELD: &str = "job";
/// The field that holds the job's MAC, in hex.
const MAC_FIELD: &str = "mac";
/// The most jobs the stream holds, far above any real backlog: past it a new job is
/// refused (and runs in the replica that took it), and none already queued is trimmed.
pub const MAX_LEN: u64 = 100_000;
/// The stream (and its consumer group) expire after this long without a new job: every
/// key the service writes has a time to live. A job is given up long before.
const STREAM_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often at most a replica asks for jobs left by others (`XAUTOCLAIM`; at least every
/// tenth of the claim timeout), rather than once per job it reads.
const TAKE_OVER_EVERY: Duration = Duration::from_secs(1);
/// The consumer jobs are handed to when their replica gives them back or leaves: it never
/// reads, so another replica takes them over.
const HANDED_BACK: &str = "handed-back";

/// Adds a job unless the stream is full, and keeps the stream's time to live fresh.
const PUSH_SCRIPT: &str = r"
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  return redis.error_reply('FULL the job queue is full')
end
local id = redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[3], ARGV[4], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return id
";
/// The most jobs a replica reads from the stream at once (when as many slots are free).
const BATCH: usize = 16;
/// The push script, hashed once.
static PUSH: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(PUSH_SCRIPT));

/// The queue in Redis, shared by every replica.
pub struct RedisQueue {
    /// Short commands.
    conn: RedisConn,
    /// Blocking reads, on a connection of their own so they never hold up other commands.
    reader: RedisConn,
    stream: String,
    /// This replica's name in the consumer group.
    consumer: String,
    /// How long a job may go untouched before another replica takes it over.
    claim_after: Duration,
    group_ready: AtomicBool,
    /// When this replica next asks for jobs left by others.
    take_overs: Pace,
    breaker: Arc<Breaker>,
    /// Signs the jobs pushed and checks the jobs read.
    mac: JobMac,
    max_len: u64,
}

impl RedisQueue {
    /// The queue on one server at `url`; see [`RedisQueue::connect`].
    pub fn new(
        url: &str,
        prefix: &str,
        consumer: &str,
        claim_after: Duration,
        longest_wait: Duration,
        breaker: Arc<Breaker>,
        mac: JobMac,
    ) -> Result<Self, StoreError> {
        let target = RedisTarget::server(url);
        Self::connect(
            &target,
            prefix,
            consumer,
            claim_after,
            longest_wait,
            breaker,
            mac,
        )
    }

    /// Connects lazily, like the store: the service starts while Redis is down. The stream
    /// is one key, so every command on it goes to one node of a cluster.
    pub fn connect(
        target: &RedisTarget,
        prefix: &str,
        consumer: &str,
        claim_after: Duration,
        longest_wait: Duration,
        breaker: Arc<Breaker>,
        mac: JobMac,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            conn: RedisConn::open(target, CALL_TIMEOUT)?,
            reader: RedisConn::open_for_blocking(target, longest_wait + CALL_TIMEOUT)?,
            stream: format!("{prefix}:jobs"),
            consumer: consumer.to_string(),
            claim_after,
            group_ready: AtomicBool::new(false),
            take_overs: Pace::new(TAKE_OVER_EVERY.min(claim_after / 10)),
            breaker,
            mac,
            max_len: MAX_LEN,
        })
    }

    /// The same queue holding at most `max_len` jobs.
    pub fn with_max_len(mut self, max_len: u64) -> Self {
        self.max_len = max_len;
        self
    }

    /// The job in `entry` when its MAC is valid. An entry that is not a job this service
    /// signed is acknowledged and dropped, and logged by its id only.
    async fn accept(&self, entry: &redis::streams::StreamId) -> Result<Option<String>, StoreError> {
        let payload = entry.get::<String>(FIELD);
        let signed = match (&payload, entry.get::<String>(MAC_FIELD)) {
            (Some(payload), Some(tag)) => self.mac.verify(payload, &tag),
            _ => false,
        };
        if signed {
            return Ok(payload);
        }
        tracing::error!(
            id = %entry.id,
            "a job on the stream without a valid signature was dropped unrun (check that every \
             replica has the same JOB_SIGNING_KEY)"
        );
        self.ack(&entry.id).await?;
        Ok(None)
    }

    async fn bounded<T>(
        &self,
        limit: Duration,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.breaker.check()?;
        let outcome = tokio::time::timeout(limit, fut).await;
        // Redis lost the group (it restarted without its data): make it again.
        if let Ok(Err(e)) = &outcome {
            if e.code() == Some("NOGROUP") {
                self.group_ready.store(false, Ordering::Relaxed);
            }
        }
        self.breaker.judge(outcome)
    }

    async fn ensure_group(&self) -> Result<(), StoreError> {
        if self.group_ready.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let created = self
            .bounded(
                CALL_TIMEOUT,
                redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&self.stream)
                    .arg(GROUP)
                    .arg("0")
                    .arg("MKSTREAM")
                    .query_async::<()>(&mut conn),
            )
            .await;
        match created {
            Ok(()) => {
                let mut conn = self.conn.clone();
                let _ = self
                    .bounded(
                        CALL_TIMEOUT,
                        redis::cmd("PEXPIRE")
                            .arg(&self.stream)
                            .arg(STREAM_TTL.as_millis() as u64)
                            .query_async::<()>(&mut conn),
                    )
                    .await;
            }
            Err(StoreError::Backend(e)) if e.contains("BUSYGROUP") => {}
            Err(e) => return Err(e),
        }
        self.group_ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// A job idle longer than the claim timeout, now claimed by this replica.
    async fn take_over(&self) -> Result<Option<Delivery>, StoreError> {
        let mut conn = self.conn.clone();
        let reply: StreamAutoClaimReply = self
            .bounded(
                CALL_TIMEOUT,
                redis::cmd("XAUTOCLAIM")
                    .arg(&self.stream)
                    .arg(GROUP)
                    .arg(&self.consumer)
                    .arg(self.claim_after.as_millis() as u64)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut conn),
            )
            .await?;
        let Some(entry) = reply.claimed.into_iter().next() else {
            return Ok(None);
        };
        // Nothing this service wrote is dropped rather than tripped over forever.
        let Some(payload) = self.accept(&entry).await? else {
            return Ok(None);
        };
        let deliveries = self.delivery_count(&entry.id).await.unwrap_or(2);
        tracing::info!(job = %entry.id, deliveries, "took over a job another replica left unfinished");
        Ok(Some(Delivery {
            id: entry.id,
            payload,
            deliveries,
        }))
    }

    /// Claims jobs for `consumer`, resetting how long they have been idle (or setting it).
    async fn claim(
        &self,
        consumer: &str,
        ids: &[&str],
        idle: Option<Duration>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(&self.stream)
            .arg(GROUP)
            .arg(consumer)
            .arg(0)
            .arg(ids);
        if let Some(idle) = idle {
            cmd.arg("IDLE").arg(idle.as_millis() as u64);
        }
        cmd.arg("JUSTID");
        self.bounded(CALL_TIMEOUT, cmd.query_async::<Vec<String>>(&mut conn))
            .await
            .map(|_| ())
    }

    async fn delivery_count(&self, id: &str) -> Result<u32, StoreError> {
        let mut conn = self.conn.clone();
        // XPENDING key group start end count -> [[id, consumer, idle ms, deliveries]]
        let pending: Vec<(String, String, u64, u64)> = self
            .bounded(
                CALL_TIMEOUT,
                redis::cmd("XPENDING")
                    .arg(&self.stream)
                    .arg(GROUP)
                    .arg(id)
                    .arg(id)
                    .arg(1)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(pending.first().map(|p| p.3 as u32).unwrap_or(1))
    }
}

#[async_trait]
impl Queue for RedisQueue {
    async fn push(&self, payload: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = PUSH.key(&self.stream);
        invocation
            .arg(self.max_len)
            .arg(FIELD)
            .arg(payload)
            .arg(MAC_FIELD)
            .arg(self.mac.sign(payload))
            .arg(STREAM_TTL.as_millis() as u64);
        self.bounded(CALL_TIMEOUT, invocation.invoke_async::<String>(&mut conn))
            .await
            .map(|_| ())
    }

    async fn next(&self, wait: Duration) -> Result<Option<Delivery>, StoreError> {
        Ok(self.next_batch(wait, 1).await?.pop())
    }

    fn most_at_once(&self) -> usize {
        BATCH
    }

    async fn next_batch(&self, wait: Duration, max: usize) -> Result<Vec<Delivery>, StoreError> {
        self.ensure_group().await?;
        if self.take_overs.due() {
            if let Some(taken) = self.take_over().await? {
                // More may have been left: the next call looks again at once.
                self.take_overs.now();
                return Ok(vec![taken]);
            }
        }
        let mut reader = self.reader.clone();
        let reply: Option<StreamReadReply> = self
            .bounded(
                wait + CALL_TIMEOUT,
                redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(&self.consumer)
                    .arg("COUNT")
                    .arg(max.max(1))
                    .arg("BLOCK")
                    .arg(wait.as_millis().max(1) as u64)
                    .arg("STREAMS")
                    .arg(&self.stream)
                    .arg(">")
                    .query_async(&mut reader),
            )
            .await?;
        let mut taken = Vec::new();
        for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
            // An unsigned entry that could not be dropped stays pending: it is taken over
            // (and dropped) later. The jobs read with it are not held back for it.
            match self.accept(&entry).await {
                Ok(Some(payload)) => taken.push(Delivery {
                    id: entry.id,
                    payload,
                    deliveries: 1,
                }),
                Ok(None) => {}
                Err(e) if taken.is_empty() => return Err(e),
                Err(_) => {}
            }
        }
        Ok(taken)
    }

    async fn touch(&self, id: &str) -> Result<(), StoreError> {
        self.claim(&self.consumer, &[id], None).await
    }

    async fn release(&self, id: &str) -> Result<(), StoreError> {
        // Marking the job idle for far longer than the claim timeout lets the next replica
        // that looks take it over at once.
        self.claim(HANDED_BACK, &[id], Some(self.claim_after * 1000))
            .await
    }

    async fn leave(&self) -> Result<(), StoreError> {
        // Deleting a consumer deletes the record of the jobs it holds, which would then never
        // be handed out again: first they go to the consumer that never reads, each keeping
        // the claim timeout it had (one waiting to run again later still waits).
        loop {
            let mut conn = self.conn.clone();
            // XPENDING key group - + count consumer -> [[id, consumer, idle ms, deliveries]]
            let pending: Vec<(String, String, u64, u64)> = self
                .bounded(
                    CALL_TIMEOUT,
                    redis::cmd("XPENDING")
                        .arg(&self.stream)
                        .arg(GROUP)
                        .arg("-")
                        .arg("+")
                        .arg(100)
                        .arg(&self.consumer)
                        .query_async(&mut conn),
                )
                .await?;
            if pending.is_empty() {
                break;
            }
            for (id, _, idle, _) in &pending {
                self.claim(
                    HANDED_BACK,
                    &[id.as_str()],
                    Some(Duration::from_millis(*idle)),
                )
                .await?;
            }
        }
        let mut conn = self.conn.clone();
        self.bounded(
            CALL_TIMEOUT,
            redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(&self.stream)
                .arg(GROUP)
                .arg(&self.consumer)
                .query_async::<u64>(&mut conn),
        )
        .await
        .map(|_| ())
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        self.bounded(
            CALL_TIMEOUT,
            redis::pipe()
                .atomic()
                .cmd("XACK")
                .arg(&self.stream)
                .arg(GROUP)
                .arg(id)
                .ignore()
                .cmd("XDEL")
                .arg(&self.stream)
                .arg(id)
                .ignore()
                .query_async::<()>(&mut conn),
        )
        .await
    }

    async fn depth(&self) -> Result<(u64, u64), StoreError> {
        self.ensure_group().await?;
        let mut conn = self.conn.clone();
        // Finished jobs are deleted, so the stream holds the waiting and the pending ones.
        let (length, pending): (u64, (u64, redis::Value, redis::Value, redis::Value)) = self
            .bounded(
                CALL_TIMEOUT,
                redis::pipe()
                    .cmd("XLEN")
                    .arg(&self.stream)
                    .cmd("XPENDING")
                    .arg(&self.stream)
                    .arg(GROUP)
                    .query_async(&mut conn),
            )
            .await?;
        Ok((length.saturating_sub(pending.0), pending.0))
    }

    async fn retry_later(&self, _delivery: &Delivery, _after: Duration) {
        // Left unacknowledged and untouched, the job is taken over once the claim timeout
        // has passed, by whichever replica looks first.
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests;
