//! Which Redis the suite shares, chosen by the test process's environment:
//!
//! - by default the server at [`REDIS_URL`];
//! - `TEST_REDIS_CLUSTER_NODES=host:port,...`: a Redis Cluster;
//! - `TEST_REDIS_SENTINELS=host:port,...` (with `TEST_REDIS_SENTINEL_MASTER`, `mymaster`
//!   by default): the primary those sentinels name, followed through a failover.
//!
//! Every test application is given these settings ([`SharedRedis::settings`]), and a test
//! that reads or writes Redis itself does it through [`shared_conn`], which speaks the same
//! topology. `scripts/test-redis-ha` starts such servers and runs the suite against them.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use tallyfy_slack::config::RedisTarget;
use tallyfy_slack::store::RedisConn;

use super::redis::REDIS_URL;

#[derive(Clone, Debug)]
pub enum SharedRedis {
    Server,
    Cluster { nodes: String },
    Sentinel { sentinels: String, master: String },
}

fn setting(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The Redis this test process was told to share.
pub fn shared_redis() -> &'static SharedRedis {
    static SHARED: OnceLock<SharedRedis> = OnceLock::new();
    SHARED.get_or_init(|| {
        if let Some(nodes) = setting("TEST_REDIS_CLUSTER_NODES") {
            SharedRedis::Cluster { nodes }
        } else if let Some(sentinels) = setting("TEST_REDIS_SENTINELS") {
            SharedRedis::Sentinel {
                sentinels,
                master: setting("TEST_REDIS_SENTINEL_MASTER").unwrap_or_else(|| "mymaster".into()),
            }
        } else {
            SharedRedis::Server
        }
    })
}

impl SharedRedis {
    /// The application's settings that name it.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Server => vec![("REDIS_URL", REDIS_URL.to_string())],
            Self::Cluster { nodes } => vec![("REDIS_CLUSTER_NODES", nodes.clone())],
            Self::Sentinel { sentinels, master } => vec![
                ("REDIS_SENTINELS", sentinels.clone()),
                ("REDIS_SENTINEL_MASTER", master.clone()),
            ],
        }
    }

    /// Where the store and the job queue built by a test find it.
    pub fn target(&self) -> RedisTarget {
        let list = |raw: &str| raw.split(',').map(|a| a.trim().to_string()).collect();
        match self {
            Self::Server => RedisTarget::server(REDIS_URL),
            Self::Cluster { nodes } => RedisTarget::Cluster {
                nodes: list(nodes),
                server: None,
            },
            Self::Sentinel { sentinels, master } => RedisTarget::Sentinel {
                sentinels: list(sentinels),
                master: master.clone(),
                server: None,
                password: None,
                username: None,
            },
        }
    }
}

/// The settings an application started by `prepare` gets for the shared Redis. `env` is
/// what the test made of the defaults: one that set a Redis of its own (another
/// `REDIS_URL`, a cluster or sentinels of its own) or none (no `REDIS_URL`) keeps it.
pub(super) fn point_at_shared_redis(env: &mut std::collections::HashMap<String, String>) {
    let own = env.get("REDIS_URL").map(String::as_str) != Some(REDIS_URL)
        || env.contains_key("REDIS_CLUSTER_NODES")
        || env.contains_key("REDIS_SENTINELS");
    if own {
        return;
    }
    env.remove("REDIS_URL");
    for (name, value) in shared_redis().settings() {
        env.insert(name.to_string(), value);
    }
}

/// A test's own connection to the shared Redis. Behind Sentinel, a command that meets the
/// primary's death is sent again (for up to 30 s) once the sentinels name a new one.
#[derive(Clone)]
pub struct SharedConn(RedisConn);

/// The primary (or the connection to it) is gone, or not the primary any more.
fn lost(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(
            e.code(),
            Some("READONLY" | "MASTERDOWN" | "LOADING" | "CLUSTERDOWN" | "TRYAGAIN")
        )
}

const RETRY_FOR: Duration = Duration::from_secs(30);

pub async fn shared_conn() -> SharedConn {
    tallyfy_slack::tls::init();
    SharedConn(RedisConn::open(&shared_redis().target(), Duration::from_secs(5)).unwrap())
}

/// Runs `work` to the end on a runtime of its own, for a test's synchronous code (such as a
/// closure that adjusts an application's settings) that must reach Redis.
pub fn blocking<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work)
    })
    .join()
    .unwrap()
}

impl ConnectionLike for SharedConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let started = Instant::now();
            loop {
                match self.0.req_packed_command(cmd).await {
                    Err(e) if lost(&e) && started.elapsed() < RETRY_FOR => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    other => return other,
                }
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let started = Instant::now();
            loop {
                match self.0.req_packed_commands(pipeline, offset, count).await {
                    Err(e) if lost(&e) && started.elapsed() < RETRY_FOR => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    other => return other,
                }
            }
        })
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}
