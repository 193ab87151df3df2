//! Where Redis is: one server (`REDIS_URL`), the primary that Redis Sentinel names
//! (`REDIS_SENTINELS`, `REDIS_SENTINEL_MASTER`), or a Redis Cluster (`REDIS_CLUSTER_NODES`).
//! With Sentinel or a cluster, `REDIS_URL` (when set) still gives how to reach each server:
//! its scheme (`rediss://` for TLS), user name, password and database; its host is not used.

use url::Url;

use super::secret::Secret;

/// The name Redis Sentinel's own examples give the primary (`sentinel monitor mymaster`).
pub const DEFAULT_SENTINEL_MASTER: &str = "mymaster";

#[derive(Clone, Debug)]
pub enum RedisTarget {
    /// One server, at `REDIS_URL`.
    Server(Secret),
    /// The primary the sentinels name, found again after a failover.
    Sentinel {
        /// `host:port` of each sentinel (or `rediss://host:port` to reach one over TLS).
        sentinels: Vec<String>,
        /// The name the sentinels monitor the primary under.
        master: String,
        /// `REDIS_URL`: how to reach the primary (scheme, credentials, database).
        server: Option<Secret>,
        /// `REDIS_SENTINEL_PASSWORD`: the sentinels' own password, when they require one.
        password: Option<Secret>,
        /// `REDIS_SENTINEL_USERNAME`: the ACL user the sentinels know this service as
        /// (with the password); `None` for the `default` user.
        username: Option<String>,
    },
    /// A Redis Cluster, found from any of these seed nodes (`host:port`).
    Cluster {
        nodes: Vec<String>,
        server: Option<Secret>,
    },
}

impl RedisTarget {
    /// One server at `url` (as `REDIS_URL` alone).
    pub fn server(url: &str) -> Self {
        Self::Server(Secret::new(url))
    }

    /// The setting that names it, for messages.
    pub fn setting(&self) -> &'static str {
        match self {
            Self::Server(_) => "REDIS_URL",
            Self::Sentinel { .. } => "REDIS_SENTINELS",
            Self::Cluster { .. } => "REDIS_CLUSTER_NODES",
        }
    }
}

fn valid_url(raw: &str) -> bool {
    matches!(Url::parse(raw), Ok(u) if matches!(u.scheme(), "redis" | "rediss" | "redis+unix" | "unix"))
}

/// `host:port`, or a `redis://` or `rediss://` URL with a host and port.
fn valid_address(raw: &str) -> bool {
    if raw.contains("://") {
        return matches!(Url::parse(raw), Ok(u) if matches!(u.scheme(), "redis" | "rediss")
            && u.host_str().is_some() && u.port().is_some());
    }
    matches!(raw.rsplit_once(':'), Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok())
}

/// A setting's value, trimmed; None when absent or empty.
fn get(lookup: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A comma-separated list of addresses; each one that is not `host:port` is reported.
fn addresses(
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<String>,
    name: &str,
) -> Option<Vec<String>> {
    let raw = get(lookup, name)?;
    let list: Vec<String> = raw
        .split(',')
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    if list.is_empty() || !list.iter().all(|a| valid_address(a)) {
        errors.push(format!(
            "{name} must list host:port addresses separated by commas, like redis-1:26379,redis-2:26379"
        ));
        return None;
    }
    Some(list)
}

/// Reads where Redis is; None when no setting names one (the in-process store).
pub(super) fn read(
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<String>,
) -> Option<RedisTarget> {
    let server = get(lookup, "REDIS_URL").map(Secret::new);
    if let Some(url) = &server {
        if !valid_url(url.expose()) {
            errors.push("REDIS_URL must look like redis://host:6379 or rediss://host:6379".into());
        }
    }
    let sentinels = addresses(lookup, errors, "REDIS_SENTINELS");
    let nodes = addresses(lookup, errors, "REDIS_CLUSTER_NODES");
    match (sentinels, nodes) {
        (Some(_), Some(_)) => {
            errors.push(
                "REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set: Redis is either behind \
                 Sentinel or a cluster; set one"
                    .into(),
            );
            None
        }
        (Some(sentinels), None) => Some(RedisTarget::Sentinel {
            sentinels,
            master: get(lookup, "REDIS_SENTINEL_MASTER")
                .unwrap_or_else(|| DEFAULT_SENTINEL_MASTER.into()),
            server,
            password: get(lookup, "REDIS_SENTINEL_PASSWORD").map(Secret::new),
            username: get(lookup, "REDIS_SENTINEL_USERNAME"),
        }),
        (None, Some(nodes)) => Some(RedisTarget::Cluster { nodes, server }),
        (None, None) => server.map(RedisTarget::Server),
    }
}
