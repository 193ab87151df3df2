//! One connection for the three ways Redis is run: one server, a primary behind Redis
//! Sentinel, or a Redis Cluster. The store and the job queue send every command through
//! [`RedisConn`] and do not know which it is.
//!
//! - One server: the `redis` crate's `ConnectionManager`, which reconnects by itself;
//!   single commands sent at about the same moment go out together ([`Coalescing`]).
//! - A cluster: the crate's cluster connection (`cluster-async`), which follows `MOVED`
//!   and `ASK`, and splits a command over several slots (`MGET`) into one per slot. Each
//!   script, `MULTI` and pipeline of the service names one key, so none spans slots.
//!   When the primaries have replicas, each write is followed by `WAIT 1` on the primary
//!   that took it ([`ClusterConn`]), as behind Sentinel.
//! - Sentinel ([`Failover`]): the sentinels name the primary; a connection error, or a
//!   server that answers it is a replica now (`READONLY`), makes it ask them again and move
//!   to the new primary. Each write is followed by `WAIT 1`, so that a write the service
//!   was told is done is on a replica too, and survives the primary's death; a write whose
//!   answer was lost with the primary is in doubt, and the callers look it up (a claim, a
//!   job's progress) rather than repeat it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    Cmd, ConnectionAddr, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, RedisResult, Value,
};

use super::coalesce::Coalescing;
use super::contract::{StoreError, CALL_TIMEOUT};
use super::replicated::{reads_only, ClusterConn, ReplicaWait};
use crate::config::RedisTarget;

#[derive(Clone)]
pub enum RedisConn {
    Server(Coalescing),
    Cluster(ClusterConn),
    Sentinel(Failover),
}

fn backend(e: RedisError) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn manager_config(response: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CALL_TIMEOUT))
        .set_response_timeout(Some(response))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200))
}

/// A node's URL: `host:port` reached as `REDIS_URL` says (scheme, credentials, database),
/// or the node's own URL.
fn node_url(node: &str, server: Option<&str>) -> Result<String, StoreError> {
    if node.contains("://") {
        return Ok(node.to_string());
    }
    let Some(server) = server else {
        return Ok(format!("redis://{node}"));
    };
    let (host, port) = node
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        .ok_or_else(|| StoreError::Backend(format!("{node} is not host:port")))?;
    let mut url = url::Url::parse(server).map_err(|e| StoreError::Backend(e.to_string()))?;
    url.set_host(Some(host))
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    url.set_port(Some(port))
        .map_err(|_| StoreError::Backend(format!("{node} is not host:port")))?;
    Ok(url.to_string())
}

impl RedisConn {
    /// Connects lazily: the service starts while Redis is down, and connects (again) by
    /// itself. `response` is the longest a command waits for its answer.
    pub fn open(target: &RedisTarget, response: Duration) -> Result<Self, StoreError> {
        Self::open_with(target, response, Coalescing::new)
    }

    /// As [`Self::open`], for blocking reads: on one server, each command is sent alone
    /// (a blocking read batched with other commands would hold their answers back).
    pub fn open_for_blocking(target: &RedisTarget, response: Duration) -> Result<Self, StoreError> {
        Self::open_with(target, response, Coalescing::alone)
    }

    fn open_with(
        target: &RedisTarget,
        response: Duration,
        server: fn(ConnectionManager) -> Coalescing,
    ) -> Result<Self, StoreError> {
        crate::tls::init();
        match target {
            RedisTarget::Server(url) => {
                let client = redis::Client::open(url.expose()).map_err(backend)?;
                ConnectionManager::new_lazy_with_config(client, manager_config(response))
                    .map(|conn| Self::Server(server(conn)))
                    .map_err(backend)
            }
            RedisTarget::Cluster { nodes, server } => {
                let server = server.as_ref().map(|s| s.expose());
                let urls = nodes
                    .iter()
                    .map(|n| node_url(n, server))
                    .collect::<Result<Vec<_>, _>>()?;
                let client = ClusterClientBuilder::new(urls)
                    .retries(2)
                    .max_retry_wait(200)
                    .build()
                    .map_err(backend)?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(CALL_TIMEOUT)
                    .set_response_timeout(response);
                Ok(Self::Cluster(ClusterConn::new(
                    client.get_pending_async_connection_with_config(config),
                )))
            }
            RedisTarget::Sentinel {
                sentinels,
                master,
                server,
                password,
                username,
            } => Failover::open(
                sentinels,
                master,
                server.as_ref().map(|s| s.expose()),
                (username.as_deref(), password.as_ref().map(|s| s.expose())),
                response,
            )
            .map(Self::Sentinel),
        }
    }

    /// Where a command over every key (`SCAN`) must go: each primary of a cluster
    /// (`host`, `port`), or the one server (None).
    pub async fn every_primary(&mut self) -> RedisResult<Vec<Option<(String, u16)>>> {
        let Self::Cluster(conn) = self else {
            return Ok(vec![None]);
        };
        // CLUSTER NODES: `<id> <ip:port@bus-port[,hostname]> <flags> ...`, one line a node.
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(conn.inner())
            .await?;
        Ok(nodes
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace().skip(1);
                let address = fields.next()?.split(['@', ',']).next()?;
                let flags = fields.next()?;
                let primary = flags.split(',').any(|f| f == "master")
                    && !flags.split(',').any(|f| f == "fail" || f == "noaddr");
                let (host, port) = address.rsplit_once(':')?;
                primary.then(|| Some((host.to_string(), port.parse().ok()?)))?
            })
            .map(Some)
            .collect())
    }

    /// Sends `cmd` to the cluster primary `at` (from [`Self::every_primary`]), or as usual.
    pub async fn query_at<T: redis::FromRedisValue>(
        &mut self,
        at: Option<&(String, u16)>,
        cmd: &Cmd,
    ) -> RedisResult<T> {
        match (self, at) {
            (Self::Cluster(conn), Some((host, port))) => {
                use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                let value = conn.inner().route_command(cmd.clone(), route).await?;
                redis::from_redis_value(value).map_err(Into::into)
            }
            (conn, _) => cmd.query_async(conn).await,
        }
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Sentinel(c) => c.get_db(),
        }
    }
}

/// The primary the sentinels name, followed through failovers.
#[derive(Clone)]
pub struct Failover(Arc<FailoverInner>);

struct FailoverInner {
    /// One question to the sentinels at a time.
    sentinel: tokio::sync::Mutex<SentinelClient>,
    /// The primary's address and the connection to it.
    primary: RwLock<Option<(String, ConnectionManager)>>,
    config: ConnectionManagerConfig,
    db: i64,
    /// A lookup started after an error is running.
    looking: AtomicBool,
    /// Whether writes wait for a replica now.
    wait: ReplicaWait,
}

/// A sentinel's address: `host:port`, or a `redis(s)://host:port` URL.
fn sentinel_addr(raw: &str) -> Result<ConnectionAddr, StoreError> {
    if raw.contains("://") {
        return Ok(raw.into_connection_info().map_err(backend)?.addr().clone());
    }
    raw.rsplit_once(':')
        .and_then(|(h, p)| Some(ConnectionAddr::Tcp(h.to_string(), p.parse().ok()?)))
        .ok_or_else(|| StoreError::Backend(format!("{raw} is not host:port")))
}

/// The primary (or its connection) is gone or is not the primary any more.
fn lost(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(e.code(), Some("READONLY" | "MASTERDOWN" | "LOADING"))
}

impl Failover {
    fn open(
        sentinels: &[String],
        master: &str,
        server: Option<&str>,
        (username, password): (Option<&str>, Option<&str>),
        response: Duration,
    ) -> Result<Self, StoreError> {
        let addresses = sentinels
            .iter()
            .map(|s| sentinel_addr(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut builder = SentinelClientBuilder::new(addresses, master, SentinelServerType::Master)
            .map_err(backend)?;
        let mut db = 0;
        if let Some(server) = server {
            let info = server.into_connection_info().map_err(backend)?;
            let settings = info.redis_settings();
            db = settings.db();
            builder = builder.set_client_to_redis_db(db);
            if let Some(user) = settings.username() {
                builder = builder.set_client_to_redis_username(user);
            }
            if let Some(pass) = settings.password() {
                builder = builder.set_client_to_redis_password(pass);
            }
            if let ConnectionAddr::TcpTls { insecure, .. } = info.addr() {
                builder = builder.set_client_to_redis_tls_mode(if *insecure {
                    redis::TlsMode::Insecure
                } else {
                    redis::TlsMode::Secure
                });
            }
        }
        if let Some(username) = username {
            builder = builder.set_client_to_sentinel_username(username);
        }
        if let Some(password) = password {
            builder = builder.set_client_to_sentinel_password(password);
        }
        let client = builder.build().map_err(backend)?;
        Ok(Self(Arc::new(FailoverInner {
            sentinel: tokio::sync::Mutex::new(client),
            primary: RwLock::new(None),
            config: manager_config(response),
            db,
            looking: AtomicBool::new(false),
            wait: ReplicaWait::default(),
        })))
    }

    /// The connection to the primary, asking the sentinels first if none is known yet.
    async fn current(&self) -> RedisResult<ConnectionManager> {
        let known = self
            .0
            .primary
            .read()
            .unwrap()
            .as_ref()
            .map(|(_, c)| c.clone());
        match known {
            Some(conn) => Ok(conn),
            None => self.find().await,
        }
    }

    /// Asks the sentinels which server is the primary now; a new one gets a new connection.
    async fn find(&self) -> RedisResult<ConnectionManager> {
        let mut sentinel = self.0.sentinel.lock().await;
        let client = sentinel.async_get_client().await?;
        let address = client.get_connection_info().addr().to_string();
        let mut primary = self.0.primary.write().unwrap();
        if let Some((known, conn)) = primary.as_ref() {
            if *known == address {
                return Ok(conn.clone());
            }
        }
        let conn = ConnectionManager::new_lazy_with_config(client, self.0.config.clone())?;
        tracing::info!(primary = %address, "Redis Sentinel names this server as the primary");
        *primary = Some((address, conn.clone()));
        Ok(conn)
    }

    /// After an error that says the primary may have changed, asks the sentinels in the
    /// background (one question at a time), so the next command goes to the right server.
    fn look_again(&self) {
        if self.0.looking.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.find().await {
                tracing::warn!(error = %e, "Redis Sentinel named no reachable primary yet");
            }
            this.0.looking.store(false, Ordering::Release);
        });
    }

    /// Waits (briefly) until a replica has every write sent on `conn` so far.
    async fn settle(&self, conn: &mut ConnectionManager) -> RedisResult<()> {
        if !self.0.wait.due() {
            return Ok(());
        }
        let replicas: i64 = ReplicaWait::command().query_async(conn).await?;
        self.0.wait.record(replicas);
        Ok(())
    }

    /// The primary's connection for the next command.
    async fn before(&self) -> RedisResult<ConnectionManager> {
        let found = self.current().await;
        if found.is_err() {
            self.look_again();
        }
        found
    }

    /// After a command: a write waits for a replica to have it; an error that says the
    /// primary may have changed has the sentinels asked again.
    async fn after<T>(
        &self,
        conn: &mut ConnectionManager,
        writes: bool,
        result: RedisResult<T>,
    ) -> RedisResult<T> {
        let result = match result {
            Ok(value) if writes => self.settle(conn).await.map(|()| value),
            other => other,
        };
        if let Err(e) = &result {
            if lost(e) {
                self.look_again();
            }
        }
        result
    }
}

impl ConnectionLike for Failover {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut conn = self.before().await?;
            let result = conn.req_packed_command(cmd).await;
            self.after(&mut conn, !reads_only(cmd), result).await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut conn = self.before().await?;
            let result = conn.req_packed_commands(pipeline, offset, count).await;
            let writes = pipeline.cmd_iter().any(|c| !reads_only(c));
            self.after(&mut conn, writes, result).await
        })
    }

    fn get_db(&self) -> i64 {
        self.0.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nodes_address_takes_the_servers_scheme_and_credentials() {
        assert_eq!(
            node_url(
                "10.0.0.7:7001",
                Some("rediss://app:secret@redis.example:6380/0")
            )
            .unwrap(),
            "rediss://app:secret@10.0.0.7:7001/0"
        );
        assert_eq!(
            node_url("10.0.0.7:7001", None).unwrap(),
            "redis://10.0.0.7:7001"
        );
        assert_eq!(
            node_url("redis://other:7000", Some("rediss://x@y:1")).unwrap(),
            "redis://other:7000"
        );
    }

    #[test]
    fn only_commands_that_change_nothing_skip_the_wait() {
        assert!(reads_only(&redis::cmd("MGET")));
        assert!(reads_only(&redis::cmd("get")));
        assert!(!reads_only(&redis::cmd("SET")));
        assert!(!reads_only(&redis::cmd("EVALSHA")));
        assert!(!reads_only(&redis::cmd("XREADGROUP")));
    }
}
