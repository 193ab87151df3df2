//! Highly available Redis for tests, started by the test itself on free ports: a Redis
//! Cluster of three primaries ([`OwnCluster`]), and a primary with a replica watched by
//! three sentinels ([`OwnSentinels`]) whose primary the test can kill.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::redis::{free_port, unique_prefix};

fn scratch(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{kind}-{}", unique_prefix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn server(args: &[String]) -> Child {
    Command::new("redis-server")
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/test installs it)")
}

async fn answer(port: u16, args: &[&str]) -> Option<redis::Value> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut conn).await.ok()
}

async fn text(port: u16, args: &[&str]) -> String {
    match answer(port, args).await {
        Some(value) => redis::from_redis_value::<String>(value).unwrap_or_default(),
        None => String::new(),
    }
}

async fn until(what: &str, within: Duration, mut ready: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !ready().await {
        assert!(started.elapsed() < within, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn stop(process: &mut Child) {
    let _ = Command::new("kill")
        .args(["-CONT", &process.id().to_string()])
        .status();
    let _ = process.kill();
    let _ = process.wait();
}

/// Three primaries in one Redis Cluster (`--cluster-enabled yes`, joined with
/// `redis-cli --cluster create`), no replicas (or one each), nothing kept on disk.
pub struct OwnCluster {
    pub ports: Vec<u16>,
    dir: PathBuf,
    processes: Vec<Option<Child>>,
}

impl OwnCluster {
    pub async fn start() -> Self {
        Self::start_with(0).await
    }

    /// Three primaries with a replica each, which takes over when its primary dies.
    pub async fn start_with_replicas() -> Self {
        Self::start_with(1).await
    }

    async fn start_with(replicas: usize) -> Self {
        let dir = scratch("redis-cluster");
        let ports: Vec<u16> = (0..3 * (1 + replicas)).map(|_| free_port()).collect();
        let processes = ports
            .iter()
            .map(|port| {
                let args: Vec<String> = [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &free_port().to_string(),
                    "--cluster-config-file",
                    &dir.join(format!("nodes-{port}.conf")).display().to_string(),
                    "--cluster-node-timeout",
                    "2000",
                    "--dir",
                    &dir.display().to_string(),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ]
                .iter()
                .map(|a| a.to_string())
                .collect();
                Some(server(&args))
            })
            .collect();
        let cluster = Self {
            ports,
            dir,
            processes,
        };
        for &port in &cluster.ports {
            until(
                "a cluster node to start",
                Duration::from_secs(10),
                async || answer(port, &["PING"]).await.is_some(),
            )
            .await;
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", &replicas.to_string()])
            .arg("--cluster-yes")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli is installed");
        assert!(created.success(), "redis-cli --cluster create");
        for &port in &cluster.ports {
            until(
                "the cluster to be ready",
                Duration::from_secs(15),
                async || {
                    text(port, &["CLUSTER", "INFO"])
                        .await
                        .contains("cluster_state:ok")
                },
            )
            .await;
        }
        if replicas > 0 {
            for &port in &cluster.ports {
                until(
                    "each primary's replica to follow it",
                    Duration::from_secs(20),
                    async || {
                        let info = text(port, &["INFO", "replication"]).await;
                        info.contains("role:slave") && info.contains("master_link_status:up")
                            || info.contains(&format!("connected_slaves:{replicas}"))
                    },
                )
                .await;
            }
        }
        cluster
    }

    /// The port of the primary that holds `key` now.
    pub async fn primary_of(&self, key: &str) -> Option<u16> {
        for &port in &self.ports {
            // Any other node answers MOVED.
            if answer(port, &["TYPE", key]).await.is_some() {
                return Some(port);
            }
        }
        None
    }

    /// Kills the node on `port` outright (SIGKILL).
    pub fn kill(&mut self, port: u16) {
        let at = self.ports.iter().position(|p| *p == port).unwrap();
        if let Some(mut process) = self.processes[at].take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Waits until a living node serves `key` again and the cluster says it is whole.
    pub async fn serves(&self, key: &str) {
        let living: Vec<u16> = self
            .ports
            .iter()
            .zip(&self.processes)
            .filter(|(_, process)| process.is_some())
            .map(|(port, _)| *port)
            .collect();
        until(
            "a replica to take over its primary's slots",
            Duration::from_secs(30),
            async || {
                let mut whole = true;
                for &port in &living {
                    whole &= text(port, &["CLUSTER", "INFO"])
                        .await
                        .contains("cluster_state:ok");
                }
                let mut served = false;
                for &port in &living {
                    served |= answer(port, &["TYPE", key]).await.is_some();
                }
                whole && served
            },
        )
        .await;
    }

    /// How many `WAIT` commands the living nodes have answered.
    pub async fn waits(&self) -> u64 {
        let mut total = 0;
        for (&port, process) in self.ports.iter().zip(&self.processes) {
            if process.is_none() {
                continue;
            }
            let stats = text(port, &["INFO", "commandstats"]).await;
            total += stats
                .lines()
                .find_map(|l| l.strip_prefix("cmdstat_wait:calls="))
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
        total
    }

    /// `REDIS_CLUSTER_NODES`: every node, `host:port`, comma-separated.
    pub fn nodes(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A client that follows the cluster's slots, as the test's own hands.
    pub async fn client(&self) -> redis::cluster_async::ClusterConnection {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect();
        redis::cluster::ClusterClient::new(nodes)
            .unwrap()
            .get_async_connection()
            .await
            .unwrap()
    }

    /// How many keys each primary holds under `prefix`.
    pub async fn keys_per_node(&self, prefix: &str) -> Vec<usize> {
        let mut counts = Vec::new();
        for &port in &self.ports {
            let keys = match answer(port, &["KEYS", &format!("{prefix}:*")]).await {
                Some(value) => redis::from_redis_value::<Vec<String>>(value).unwrap_or_default(),
                None => Vec::new(),
            };
            counts.push(keys.len());
        }
        counts
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        for process in self.processes.iter_mut().flatten() {
            stop(process);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The name the sentinels know the primary by (`REDIS_SENTINEL_MASTER`).
pub const SENTINEL_MASTER: &str = "mymaster";

/// A primary, one replica of it, and three sentinels watching them (quorum two), the
/// primary judged down after a second without an answer.
pub struct OwnSentinels {
    pub replica_port: u16,
    pub sentinel_ports: Vec<u16>,
    dir: PathBuf,
    primary: Option<Child>,
    others: Vec<Child>,
}

impl OwnSentinels {
    pub async fn start() -> Self {
        Self::start_with_user(None).await
    }

    /// As [`OwnSentinels::start`], the sentinels also knowing the ACL user `(name,
    /// password)`: the `default` user stays, for the sentinels among themselves, but only
    /// the named one may list the primaries.
    pub async fn start_with_user(user: Option<(&str, &str)>) -> Self {
        // The `default` user may not ask which primary the sentinels know: only the named
        // one may, so a client that does not log in as it finds no primary.
        let acl = user
            .map(|(name, password)| {
                format!(
                    "user default on nopass ~* &* +@all -sentinel|masters\n\
                     user {name} on >{password} ~* &* +@all\n"
                )
            })
            .unwrap_or_default();
        let dir = scratch("redis-sentinel");
        let (primary_port, replica_port) = (free_port(), free_port());
        let data = |port: u16| -> Vec<String> {
            [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &dir.display().to_string(),
                "--dbfilename",
                &format!("dump-{port}.rdb"),
            ]
            .iter()
            .map(|a| a.to_string())
            .collect()
        };
        let primary = server(&data(primary_port));
        let mut replica_args = data(replica_port);
        replica_args.extend(["--replicaof".into(), format!("127.0.0.1 {primary_port}")]);
        let mut others = vec![server(&replica_args)];
        let sentinel_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        for &port in &sentinel_ports {
            // A sentinel rewrites its configuration file: each has its own.
            let conf = dir.join(format!("sentinel-{port}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                     sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {primary_port} 2\n\
                     sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n\
                     sentinel failover-timeout {SENTINEL_MASTER} 10000\n\
                     sentinel parallel-syncs {SENTINEL_MASTER} 1\n{acl}",
                    dir = dir.display()
                ),
            )
            .unwrap();
            others.push(server(&[conf.display().to_string(), "--sentinel".into()]));
        }
        let sentinels = Self {
            replica_port,
            sentinel_ports,
            dir,
            primary: Some(primary),
            others,
        };
        until(
            "the replica to follow the primary",
            Duration::from_secs(15),
            async || {
                text(replica_port, &["INFO", "replication"])
                    .await
                    .contains("master_link_status:up")
            },
        )
        .await;
        // A failover needs the sentinels to know the replica and one another.
        for &port in &sentinels.sentinel_ports {
            until(
                "the sentinels to meet",
                Duration::from_secs(20),
                async || {
                    let count = |args: &[&str]| {
                        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                        async move {
                            let args: Vec<&str> = args.iter().map(String::as_str).collect();
                            match answer(port, &args).await {
                                Some(redis::Value::Array(items)) => items.len(),
                                _ => 0,
                            }
                        }
                    };
                    count(&["SENTINEL", "REPLICAS", SENTINEL_MASTER]).await == 1
                        && count(&["SENTINEL", "SENTINELS", SENTINEL_MASTER]).await == 2
                },
            )
            .await;
        }
        sentinels
    }

    /// `REDIS_SENTINELS`: every sentinel, `host:port`, comma-separated.
    pub fn sentinels(&self) -> String {
        self.sentinel_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The port of the server the sentinels name as primary now.
    pub async fn primary_now(&self) -> Option<u16> {
        for &port in &self.sentinel_ports {
            let found = answer(
                port,
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER],
            )
            .await;
            if let Some(value) = found {
                if let Ok((_, p)) = redis::from_redis_value::<(String, u16)>(value) {
                    return Some(p);
                }
            }
        }
        None
    }

    /// Kills the primary outright (SIGKILL): whatever it had not sent its replica is lost.
    pub fn kill_primary(&mut self) {
        if let Some(mut primary) = self.primary.take() {
            let _ = primary.kill();
            let _ = primary.wait();
        }
    }

    /// Waits until the sentinels have promoted the replica.
    pub async fn promoted(&self) {
        until(
            "a sentinel to promote the replica",
            Duration::from_secs(30),
            async || {
                self.primary_now().await == Some(self.replica_port)
                    && text(self.replica_port, &["INFO", "replication"])
                        .await
                        .contains("role:master")
            },
        )
        .await;
    }
}

impl Drop for OwnSentinels {
    fn drop(&mut self) {
        if let Some(primary) = &mut self.primary {
            stop(primary);
        }
        for process in &mut self.others {
            stop(process);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
