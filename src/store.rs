//! Shared state: the assignee cache, idempotency claims, job progress and locks, and the
//! Tallyfy rate schedule. Two implementations with one interface: Redis, shared by every
//! replica, and an in-process map for a single replica. Every call is bounded in time, and
//! a [`Breaker`] fails calls fast while Redis is not answering, so a slow or absent Redis
//! can never hold up an answer to Slack. (The job queue is in `jobs::queue`.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::AsyncCommands;

use crate::config::RedisTarget;
use crate::telemetry::Metrics;

mod coalesce;
mod connect;
mod contract;
mod memory;
mod replicated;
mod rewrite;
mod send_schedule;
pub mod signed;
pub use connect::RedisConn;
pub use contract::{Store, StoreError, CALL_TIMEOUT};
pub use memory::{MemoryStore, MEMORY_CAPACITY};
pub use send_schedule::{Reservation, SendSchedule};

/// After a failed call, how long Redis is not asked again: while it is down, callers get
/// an answer at once instead of each waiting out a timeout.
const BREAK_FOR: Duration = Duration::from_secs(2);

/// Fails calls fast for a moment after one failed. Shared by everything that talks to the
/// same Redis (the store and the job queue).
#[derive(Debug, Default)]
pub struct Breaker {
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    /// Ok when a call may go; else Redis failed moments ago.
    pub fn check(&self) -> Result<(), StoreError> {
        match *self.open_until.lock().unwrap() {
            Some(until) if Instant::now() < until => Err(StoreError::Unavailable),
            _ => Ok(()),
        }
    }

    /// Records how a call went: `reachable` is false when Redis did not answer at all (a
    /// timeout, a refused or dropped connection); an error Redis itself answered with says
    /// it is up.
    pub fn record(&self, reachable: bool) {
        let mut open = self.open_until.lock().unwrap();
        if reachable {
            *open = None;
        } else if open.is_none() {
            *open = Some(Instant::now() + BREAK_FOR);
        }
    }

    /// Sorts a call's outcome, recording whether Redis answered.
    pub fn judge<T>(
        &self,
        outcome: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, StoreError> {
        let (result, reachable) = match outcome {
            Ok(Ok(v)) => (Ok(v), true),
            Ok(Err(e)) => {
                let unreachable = e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout();
                (Err(StoreError::Backend(e.to_string())), !unreachable)
            }
            Err(_) => (Err(StoreError::Timeout), false),
        };
        self.record(reachable);
        result
    }
}

/// Redis, shared by every replica. Keys are namespaced by a prefix, so several
/// installations (or test runs) can share one server.
pub struct RedisStore {
    conn: RedisConn,
    prefix: String,
    metrics: Metrics,
    breaker: Arc<Breaker>,
    /// Tells this process's writes from other replicas' (host, process, start time).
    instance: String,
}

impl RedisStore {
    /// One server at `url`; see [`RedisStore::connect`].
    pub fn new(
        url: &str,
        prefix: &str,
        metrics: Metrics,
        breaker: Arc<Breaker>,
    ) -> Result<Self, StoreError> {
        Self::connect(&RedisTarget::server(url), prefix, metrics, breaker)
    }

    /// Connects lazily: the service starts even while Redis is down, and reconnects by
    /// itself (to the new primary after a Sentinel failover, to the right node of a cluster).
    pub fn connect(
        target: &RedisTarget,
        prefix: &str,
        metrics: Metrics,
        breaker: Arc<Breaker>,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            conn: RedisConn::open(target, CALL_TIMEOUT)?,
            prefix: format!("{prefix}:"),
            metrics,
            breaker,
            instance: instance_name(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.breaker.check()?;
        let result = self
            .breaker
            .judge(tokio::time::timeout(CALL_TIMEOUT, fut).await);
        if let Err(e) = &result {
            self.metrics.store_error();
            tracing::warn!(error = %e, "Redis call failed");
        }
        result
    }
}

/// [`SendSchedule::book`] in Redis, on a sorted set of booked send times (ms), with Redis's
/// own clock so that replicas' clocks do not matter. Answers the wait in ms.
const RESERVE_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local at = now
if n > 0 then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  at = math.max(at, tonumber(last[2]))
end
if n >= limit then
  local e = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
  at = math.max(at, tonumber(e[2]) + window)
end
if at - now > tonumber(ARGV[4]) then
  return {0, at - now}
end
redis.call('ZADD', KEYS[1], at, ARGV[3])
redis.call('PEXPIRE', KEYS[1], at - now + window)
return {1, at - now}
";

/// [`RESERVE_SCRIPT`], hashed once (its SHA-1 names it to `EVALSHA`).
static RESERVE: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(RESERVE_SCRIPT));

/// Takes the lease `lease` for `me`, or keeps it, for `ttl`: one replica at a time does
/// what it guards (a poller). Without the store each replica takes it.
pub async fn hold_lease(store: &dyn Store, lease: &str, me: &str, ttl: Duration) -> bool {
    match store.set_if_absent(lease, me, ttl).await {
        Ok(true) => true,
        Ok(false) => match store.get(lease).await {
            Ok(Some(holder)) if holder == me => store.set(lease, me, ttl).await.is_ok(),
            _ => false,
        },
        Err(_) => true,
    }
}

/// A name for this process among the replicas: the host (the pod's name under
/// Kubernetes), the process and its start time, so a restarted replica is a new one.
pub fn instance_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{host}-{}-{started:x}", std::process::id())
}

/// The texts in an `INFO` answer: one server's, or each node's of a cluster.
fn info_texts(value: redis::Value, texts: &mut Vec<String>) {
    match value {
        redis::Value::BulkString(bytes) => texts.push(String::from_utf8_lossy(&bytes).into()),
        redis::Value::VerbatimString { text, .. } | redis::Value::SimpleString(text) => {
            texts.push(text)
        }
        redis::Value::Map(entries) => {
            for (_, v) in entries {
                info_texts(v, texts);
            }
        }
        redis::Value::Array(items) => {
            for v in items {
                info_texts(v, texts);
            }
        }
        _ => {}
    }
}

fn ttl_ms(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        self.bounded(async move { conn.get(key).await }).await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        // MGET answers with one entry per key: a single round trip however many there are.
        self.bounded(async move { redis::cmd("MGET").arg(&keys).query_async(&mut conn).await })
            .await
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        let value = value.to_string();
        self.bounded(async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ttl_ms(ttl))
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        let value = value.to_string();
        let answer: Option<String> = self
            .bounded(async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms(ttl))
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(answer.is_some())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        self.bounded(async move { conn.del::<_, ()>(key).await })
            .await
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        self.bounded(async move { conn.pexpire(key, ttl_ms(ttl) as i64).await })
            .await
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        let (value,): (i64,) = self
            .bounded(async move {
                redis::pipe()
                    .atomic()
                    .incr(&key, 1)
                    .pexpire(&key, ttl_ms(ttl) as i64)
                    .ignore()
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(value)
    }

    async fn push_recent(
        &self,
        key: &str,
        value: &str,
        keep: usize,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        let value = value.to_string();
        self.bounded(async move {
            redis::pipe()
                .atomic()
                .lpush(&key, value)
                .ignore()
                .ltrim(&key, 0, keep as isize - 1)
                .ignore()
                .pexpire(&key, ttl_ms(ttl) as i64)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    async fn recent(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        self.bounded(async move { conn.lrange(key, 0, -1).await })
            .await
    }

    async fn reserve(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        within: Duration,
    ) -> Result<Reservation, StoreError> {
        static BOOKINGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut conn = self.conn.clone();
        let key = self.key(key);
        // Each booking is its own member of the set, across every replica.
        let member = format!(
            "{}-{}",
            self.instance,
            BOOKINGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let script = &*RESERVE;
        let id = member.clone();
        let (booked, wait_ms): (u8, u64) = self
            .bounded(async move {
                script
                    .key(key)
                    .arg(limit.max(1))
                    .arg(ttl_ms(window))
                    .arg(member)
                    .arg(within.as_millis() as u64)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        let wait = Duration::from_millis(wait_ms);
        Ok(if booked == 1 {
            Reservation::Booked { wait, id }
        } else {
            Reservation::Full { wait }
        })
    }

    async fn unbook(&self, key: &str, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        let id = id.to_string();
        self.bounded(async move { conn.zrem::<_, _, ()>(key, id).await })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let result = self
            .bounded(async move { redis::cmd("PING").query_async::<String>(&mut conn).await })
            .await;
        self.metrics.store_up(result.is_ok());
        result.map(|_| ())
    }

    async fn measure(&self) {
        let mut conn = self.conn.clone();
        let info = self
            .bounded(async move {
                redis::cmd("INFO")
                    .arg("memory")
                    .query_async::<redis::Value>(&mut conn)
                    .await
            })
            .await;
        // One server answers with its text; a cluster with each primary's: they add up.
        let memory = info.ok().and_then(|info| {
            let mut texts = Vec::new();
            info_texts(info, &mut texts);
            let field = |info: &str, name: &str| {
                info.lines()
                    .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                    .and_then(|value| value.trim().parse::<u64>().ok())
            };
            let mut total = None::<(u64, u64)>;
            for text in &texts {
                let (used, max) = (field(text, "used_memory")?, field(text, "maxmemory")?);
                let (u, m) = total.unwrap_or_default();
                total = Some((u + used, m + max));
            }
            total
        });
        self.metrics.redis_memory(memory);
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
