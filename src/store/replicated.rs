//! Writes that wait for a replica (`WAIT 1`), so that a write the service was told is
//! done survives its primary's death: behind Sentinel ([`super::connect`]), and on a Redis
//! Cluster whose primaries have replicas ([`ClusterConn`]), where the `WAIT` goes to the
//! primary that took the write.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::ConnectionLike;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// How long a write waits for a replica to have it.
const REPLICA_WAIT: Duration = Duration::from_millis(250);
/// After a write no replica took in time, how long writes do not wait for one again.
const REPLICA_MISSING_FOR: Duration = Duration::from_secs(10);
/// How long the answer to "do the cluster's primaries have replicas" is kept.
const TOPOLOGY_FOR: Duration = Duration::from_secs(30);

/// Commands that change nothing (everything else is followed by `WAIT`).
pub(super) fn reads_only(cmd: &Cmd) -> bool {
    let Some(redis::Arg::Simple(name)) = cmd.args_iter().next() else {
        return false;
    };
    const READS: &[&[u8]] = &[
        b"GET",
        b"MGET",
        b"LRANGE",
        b"TYPE",
        b"SCAN",
        b"PING",
        b"INFO",
        b"XLEN",
        b"XPENDING",
        b"EXISTS",
        b"PTTL",
        b"TTL",
        b"ROLE",
        b"WAIT",
        b"CLUSTER",
    ];
    READS.iter().any(|r| name.eq_ignore_ascii_case(r))
}

/// Whether writes wait for a replica now: not for a while after one did not come.
#[derive(Default)]
pub(super) struct ReplicaWait {
    missing_until: Mutex<Option<Instant>>,
}

impl ReplicaWait {
    /// False while writes go on without waiting, after no replica took one in time.
    pub(super) fn due(&self) -> bool {
        let mut missing = self.missing_until.lock().unwrap();
        match *missing {
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                *missing = None;
                true
            }
            None => true,
        }
    }

    /// `WAIT 1 <ms>`: until a replica has every write sent on the connection so far.
    pub(super) fn command() -> Cmd {
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(1).arg(REPLICA_WAIT.as_millis() as u64);
        cmd
    }

    /// Takes `WAIT`'s answer: how many replicas have the writes.
    pub(super) fn record(&self, replicas: i64) {
        if replicas >= 1 {
            return;
        }
        let mut missing = self.missing_until.lock().unwrap();
        // Writes that waited together are told once.
        if missing.is_some_and(|until| Instant::now() < until) {
            return;
        }
        *missing = Some(Instant::now() + REPLICA_MISSING_FOR);
        tracing::warn!(
            "no Redis replica took a write within {REPLICA_WAIT:?}: a failover now could \
             lose it; writes stop waiting for a replica for {REPLICA_MISSING_FOR:?}"
        );
    }
}

/// The key a write names first, which decides the primary of a cluster that takes it;
/// None for a command that changes nothing or names no key.
fn written_key(cmd: &Cmd) -> Option<Vec<u8>> {
    if reads_only(cmd) {
        return None;
    }
    let args: Vec<&[u8]> = cmd
        .args_iter()
        .map(|a| match a {
            redis::Arg::Simple(bytes) => bytes,
            _ => &b""[..],
        })
        .collect();
    let name = args.first()?.to_ascii_uppercase();
    let key = match name.as_slice() {
        b"EVAL" | b"EVALSHA" | b"FCALL" => {
            let keys: usize = std::str::from_utf8(args.get(2)?).ok()?.parse().ok()?;
            (keys > 0).then(|| args.get(3)).flatten()?
        }
        b"XREADGROUP" => {
            let at = args
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"STREAMS"))?;
            args.get(at + 1)?
        }
        b"XGROUP" | b"XINFO" | b"OBJECT" => args.get(2)?,
        b"SCRIPT" | b"FUNCTION" | b"CLIENT" | b"CONFIG" | b"MULTI" | b"EXEC" => return None,
        _ => args.get(1)?,
    };
    Some(key.to_vec())
}

/// A cluster connection whose writes wait for a replica of the primary that took them,
/// when the cluster's primaries have replicas (one without any has nothing to wait for).
#[derive(Clone)]
pub struct ClusterConn {
    conn: ClusterConnection,
    state: Arc<ClusterState>,
}

#[derive(Default)]
struct ClusterState {
    wait: ReplicaWait,
    /// When the cluster was last asked whether any primary has a replica, and the answer.
    replicated: Mutex<Option<(Instant, bool)>>,
}

impl ClusterConn {
    pub(super) fn new(conn: ClusterConnection) -> Self {
        Self {
            conn,
            state: Arc::default(),
        }
    }

    /// The cluster connection itself, for commands sent to a given node.
    pub(super) fn inner(&mut self) -> &mut ClusterConnection {
        &mut self.conn
    }

    /// Whether any primary has a replica (`CLUSTER NODES`), asked again every
    /// [`TOPOLOGY_FOR`]; while the question fails, writes do not wait.
    async fn replicated(&mut self) -> bool {
        {
            let mut known = self.state.replicated.lock().unwrap();
            match *known {
                Some((at, answer)) if at.elapsed() < TOPOLOGY_FOR => return answer,
                // Asked once at a time: the others go on with the last answer meanwhile.
                Some((_, answer)) => {
                    *known = Some((Instant::now(), answer));
                }
                None => {}
            }
        }
        let nodes: RedisResult<String> = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut self.conn)
            .await;
        let answer = nodes.is_ok_and(|nodes| {
            nodes.lines().any(|line| {
                let flags = line.split_whitespace().nth(2).unwrap_or_default();
                flags.split(',').any(|f| f == "slave" || f == "replica")
                    && !flags.split(',').any(|f| f == "fail" || f == "noaddr")
            })
        });
        *self.state.replicated.lock().unwrap() = Some((Instant::now(), answer));
        answer
    }

    /// After a write of `key`: waits (briefly) until a replica of its primary has it.
    async fn settle(&mut self, key: Option<Vec<u8>>) -> RedisResult<()> {
        let Some(key) = key else {
            return Ok(());
        };
        if !self.state.wait.due() || !self.replicated().await {
            return Ok(());
        }
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_key(
            &key,
            SlotAddr::Master,
        )));
        let replicas = self
            .conn
            .route_command(ReplicaWait::command(), route)
            .await?;
        self.state.wait.record(redis::from_redis_value(replicas)?);
        Ok(())
    }
}

impl ConnectionLike for ClusterConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let value = self.conn.req_packed_command(cmd).await?;
            self.settle(written_key(cmd)).await?;
            Ok(value)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let values = self
                .conn
                .req_packed_commands(pipeline, offset, count)
                .await?;
            self.settle(pipeline.cmd_iter().find_map(written_key))
                .await?;
            Ok(values)
        })
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_waits_on_the_primary_of_the_key_it_names_first() {
        let key = |cmd: &Cmd| written_key(cmd).map(|k| String::from_utf8(k).unwrap());
        assert_eq!(key(redis::cmd("SET").arg("a").arg("1")), Some("a".into()));
        assert_eq!(
            key(redis::cmd("EVALSHA").arg("abc").arg(1).arg("k").arg("v")),
            Some("k".into())
        );
        assert_eq!(key(redis::cmd("EVALSHA").arg("abc").arg(0)), None);
        assert_eq!(
            key(redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg("g")
                .arg("c")
                .arg("STREAMS")
                .arg("s")
                .arg(">")),
            Some("s".into())
        );
        assert_eq!(
            key(redis::cmd("XGROUP").arg("CREATE").arg("s").arg("g")),
            Some("s".into())
        );
        assert_eq!(key(redis::cmd("GET").arg("a")), None);
        assert_eq!(key(redis::cmd("SCRIPT").arg("LOAD").arg("x")), None);
    }
}
