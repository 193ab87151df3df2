//! Shared state: the assignee cache, idempotency claims, job progress and locks, and the
//! Tallyfy rate schedule. Two implementations with one interface: Redis, shared by every
//! replica, and an in-process map for a single replica. Every call is bounded in time, and
//! a [`Breaker`] fails calls fast while Redis is not answering, so a slow or absent Redis
//! can never hold up an answer to Slack. (The job queue is in `jobs::queue`.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;

use crate::telemetry::Metrics;

mod contract;
mod memory;
mod send_schedule;
pub mod signed;
pub use contract::{Store, StoreError};
pub use memory::{MemoryStore, MEMORY_CAPACITY};
pub use send_schedule::{Reservation, SendSchedule};

/// The longest any one store call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(750);

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
    conn: ConnectionManager,
    prefix: String,
    metrics: Metrics,
    breaker: Arc<Breaker>,
    /// Tells this process's writes from other replicas' (host, process, start time).
    instance: String,
}

impl RedisStore {
    /// Connects lazily: the service starts even while Redis is down, and reconnects by itself.
    pub fn new(
        url: &str,
        prefix: &str,
        metrics: Metrics,
        breaker: Arc<Breaker>,
    ) -> Result<Self, StoreError> {
        crate::tls::init();
        let client = redis::Client::open(url).map_err(|e| StoreError::Backend(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(Self {
            conn,
            prefix: format!("{prefix}:"),
            metrics,
            breaker,
            instance: instance_name(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Rewrites the values under the prefix that `rewrite` (given each key without the
    /// prefix, and a value) answers a new value for: strings, and each entry of a list.
    /// A value is replaced only if it is still the one read (a script compares and sets),
    /// and keeps its time to live. Answers how many keys were rewritten.
    pub(crate) async fn rewrite_values(
        &self,
        rewrite: &(dyn Fn(&str, &str) -> Option<String> + Send + Sync),
    ) -> Result<usize, StoreError> {
        let pattern = format!("{}*", self.prefix);
        let (mut cursor, mut rewritten) = (0u64, 0usize);
        loop {
            let mut conn = self.conn.clone();
            let (next, keys): (u64, Vec<String>) = self
                .bounded(async {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            for full in keys {
                let key = full.strip_prefix(&self.prefix).unwrap_or(&full).to_string();
                if self.rewrite_one(&full, &key, rewrite).await? {
                    rewritten += 1;
                }
            }
            cursor = next;
            if cursor == 0 {
                return Ok(rewritten);
            }
        }
    }

    async fn rewrite_one(
        &self,
        full: &str,
        key: &str,
        rewrite: &(dyn Fn(&str, &str) -> Option<String> + Send + Sync),
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let kind: String = self
            .bounded(async { redis::cmd("TYPE").arg(full).query_async(&mut conn).await })
            .await?;
        match kind.as_str() {
            "string" => {
                let Some(old): Option<String> =
                    self.bounded(async { conn.get(full).await }).await?
                else {
                    return Ok(false);
                };
                let Some(new) = rewrite(key, &old) else {
                    return Ok(false);
                };
                let script = redis::Script::new(REWRITE_STRING);
                let done: i64 = self
                    .bounded(async {
                        script
                            .key(full)
                            .arg(&old)
                            .arg(&new)
                            .invoke_async(&mut conn)
                            .await
                    })
                    .await?;
                Ok(done == 1)
            }
            "list" => {
                let old: Vec<String> = self
                    .bounded(async { conn.lrange(full, 0, -1).await })
                    .await?;
                let new: Vec<String> = old
                    .iter()
                    .map(|v| rewrite(key, v).unwrap_or_else(|| v.clone()))
                    .collect();
                if new == old {
                    return Ok(false);
                }
                let script = redis::Script::new(REWRITE_LIST);
                let mut call = script.key(full);
                call.arg(old.len()).arg(&old).arg(&new);
                let done: i64 = self
                    .bounded(async { call.invoke_async(&mut conn).await })
                    .await?;
                Ok(done == 1)
            }
            _ => Ok(false),
        }
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

/// Replaces a string with ARGV[2] if it is still ARGV[1], keeping its time to live.
const REWRITE_STRING: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
";

/// Replaces a list's ARGV[1] entries (ARGV[2..n+1]) with ARGV[n+2..2n+1] if it still holds
/// exactly those, keeping its time to live.
const REWRITE_LIST: &str = r"
local n = tonumber(ARGV[1])
if redis.call('LLEN', KEYS[1]) ~= n then return 0 end
for i = 1, n do
  if redis.call('LINDEX', KEYS[1], i - 1) ~= ARGV[1 + i] then return 0 end
end
for i = 1, n do
  redis.call('LSET', KEYS[1], i - 1, ARGV[1 + n + i])
end
return 1
";

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
        let script = redis::Script::new(RESERVE_SCRIPT);
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
                    .query_async::<String>(&mut conn)
                    .await
            })
            .await;
        let memory = info.ok().and_then(|info| {
            let field = |name: &str| {
                info.lines()
                    .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                    .and_then(|value| value.trim().parse::<u64>().ok())
            };
            Some((field("used_memory")?, field("maxmemory")?))
        });
        self.metrics.redis_memory(memory);
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
