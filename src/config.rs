//! Configuration: one typed struct, read from the environment (and a `.env` file) in one
//! place. Every problem is reported, one line each, before the service starts; secrets are
//! wrapped in [`Secret`] so that neither `Debug` nor a log line can print them.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use url::Url;

use crate::seal::Key;

mod grants;
mod redis_target;
mod secret;
pub use grants::{ClientGrant, TallyfyRefresh};
pub use redis_target::{RedisTarget, DEFAULT_SENTINEL_MASTER};
pub use secret::Secret;

/// What the keys derived from the Slack secret are for (see [`Key::derive`]).
const JOB_KEY_PURPOSE: &str = "job signing";
const STORE_KEY_PURPOSE: &str = "store encryption";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct SlackConfig {
    /// Absent only when the service runs over Socket Mode alone; then every HTTP request
    /// to a `/slack/*` route is refused.
    pub signing_secret: Option<Secret>,
    pub bot_token: Secret,
    pub app_token: Option<Secret>,
    /// Web API base, ending in `/`.
    pub api_url: Url,
    /// Response URLs are posted to only under this base (ending in `/`).
    pub response_url_base: Url,
    /// Whether Slack guests (multi- and single-channel) may use the app.
    pub allow_guests: bool,
    /// Socket Mode: after half this long with nothing from Slack a ping is sent; after all
    /// of it, the connection is taken for dead and replaced.
    pub socket_idle: Duration,
}

#[derive(Clone, Debug)]
pub struct TallyfyConfig {
    pub org_id: String,
    /// The integration's token; optional with client credentials.
    pub access_token: Option<Secret>,
    /// Set when the service acts as each person (`TALLYFY_CLIENT_ID` and
    /// `TALLYFY_CLIENT_SECRET` without `TALLYFY_REFRESH_TOKEN`).
    pub client_grant: Option<ClientGrant>,
    /// API base, ending in `/`.
    pub api_url: Url,
    /// Base of human links to runs, without a trailing `/`.
    pub web_url: String,
    pub refresh: Option<TallyfyRefresh>,
    pub timeout: Duration,
    /// Calls all replicas together allow themselves in any `rate_window` (Tallyfy allows
    /// 600 a minute per organization).
    pub rate_limit: u32,
    pub rate_window: Duration,
    /// Encrypts the tokens kept in the store (`STORE_ENCRYPTION_KEY`, else derived from
    /// the Slack signing secret or app token).
    pub token_key: Option<Key>,
}

#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Where Redis is; None for the in-process store.
    pub redis: Option<RedisTarget>,
    pub key_prefix: String,
    /// Signs the jobs on the shared stream (`JOB_SIGNING_KEY`, else derived from the Slack
    /// signing secret or app token).
    pub job_signing_key: Option<Key>,
}

#[derive(Clone, Debug)]
pub struct DirectoryConfig {
    /// How long a found Slack-user-to-member mapping is kept.
    pub hit_ttl: Duration,
    /// How long "this person has no Tallyfy account" is kept.
    pub miss_ttl: Duration,
}

#[derive(Clone, Debug)]
pub struct JobsConfig {
    /// A running job untouched this long (its replica died) is taken over by another.
    pub claim_after: Duration,
    /// Jobs one replica runs at once.
    pub concurrency: usize,
    /// How long a creation keeps trying an unavailable Tallyfy before the requester is
    /// told it failed.
    pub retry_for: Duration,
    /// How long shutdown waits for running jobs before handing them back.
    pub drain: Duration,
    /// Without a public URL (so without webhooks), how often the tasks the app created are
    /// read for completions.
    pub poll_every: Duration,
    /// How often the work of people who asked for alerts is read (`ALERTS_POLL_SECS`).
    pub alerts_every: Duration,
}

/// How the HTTP server treats clients: what it waits for, and how many it serves at once.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// A connection whose request headers have not all arrived this long after it began
    /// sending them is closed.
    pub header_timeout: Duration,
    /// A request whose body has not all arrived this long after its headers gets 408.
    pub body_timeout: Duration,
    /// Connections open at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Slack requests being served at once; one more gets 503 at once.
    pub max_in_flight: usize,
    /// Connections that have proved nothing yet (no valid signature, no known webhook
    /// token) open at once; past it the oldest of them is closed.
    pub max_stranger_connections: usize,
    /// Bytes of request bodies being read at once, across connections; strangers get a
    /// quarter of it. A body past it gets 503.
    pub body_bytes_in_flight: usize,
    /// The most a connection buffers of a request's headers.
    pub max_header_bytes: usize,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub slack: SlackConfig,
    pub tallyfy: TallyfyConfig,
    pub store: StoreConfig,
    pub directory: DirectoryConfig,
    pub jobs: JobsConfig,
    pub http: HttpConfig,
    pub host: IpAddr,
    pub port: u16,
    /// Where `/metrics` is served (`METRICS_ADDR`).
    pub metrics_addr: MetricsAt,
    pub public_url: Option<Url>,
    pub log_filter: String,
    pub log_format: LogFormat,
}

/// Where `/metrics` is served: on an address of its own (with `/healthz` and `/readyz`,
/// for probes), or on the public port beside Slack's routes when asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsAt {
    /// `METRICS_ADDR=public`: on the public port, as the release before did by default.
    Public,
    /// On `addr` alone. `required` when `METRICS_ADDR` names it: the service does not start
    /// without it. The default address, if taken, only costs the metrics (with a warning).
    Own { addr: SocketAddr, required: bool },
}

/// Where metrics are served when `METRICS_ADDR` is not set: this host only.
pub const DEFAULT_METRICS_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9100);

/// Every problem found in the environment, one line each.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(line)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Reads the process environment, after loading `.env` when one is present.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests can supply their own variables.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let mut r = Reader {
            lookup: &lookup,
            errors: Vec::new(),
        };

        let app_token = r.optional_secret("SLACK_APP_TOKEN");
        if let Some(token) = &app_token {
            if !token.expose().starts_with("xapp-") {
                r.errors
                    .push("SLACK_APP_TOKEN must be an app-level token starting with xapp-".into());
            }
        }
        let signing_secret = r.optional_secret("SLACK_SIGNING_SECRET");
        if signing_secret.is_none() && app_token.is_none() {
            r.errors.push(
                "SLACK_SIGNING_SECRET is not set: copy it from your Slack app's Basic Information page \
                 (or set SLACK_APP_TOKEN to run over Socket Mode only)"
                    .into(),
            );
        }
        let bot_token = r.required_secret(
            "SLACK_BOT_TOKEN",
            "the Bot User OAuth Token (xoxb-...) from OAuth & Permissions",
        );
        if let Some(token) = &bot_token {
            if !token.expose().starts_with("xoxb-") {
                r.errors
                    .push("SLACK_BOT_TOKEN must be a bot token starting with xoxb-".into());
            }
        }
        let slack_api_url = r.base_url("SLACK_API_URL", "https://slack.com/api/");
        let response_url_base = r.base_url("SLACK_RESPONSE_URL_BASE", "https://hooks.slack.com/");
        let allow_guests = r.flag("SLACK_ALLOW_GUESTS", false);
        let socket_idle = r.seconds("SLACK_SOCKET_IDLE_TIMEOUT_SECS", 30);

        let org_id = r.required(
            "TALLYFY_ORG_ID",
            "your organization id, from Tallyfy's Settings > Organization",
        );
        if let Some(org) = &org_id {
            if org.is_empty() || !org.chars().all(|c| c.is_ascii_alphanumeric()) {
                r.errors
                    .push("TALLYFY_ORG_ID must be letters and digits only".into());
            }
        }
        let tallyfy_api_url = r.base_url("TALLYFY_API_URL", "https://go.tallyfy.com/api/");
        let (refresh, client_grant) = {
            let get = |name: &str| r.get(name);
            let mut errors = Vec::new();
            let read = grants::read(&get, tallyfy_api_url.as_ref(), &mut errors);
            r.errors.extend(errors);
            read
        };
        let access_token = match client_grant {
            Some(_) => r.get("TALLYFY_ACCESS_TOKEN").map(Secret::new),
            None => r.required_secret(
                "TALLYFY_ACCESS_TOKEN",
                "a token from Tallyfy's Settings > Integrations > REST API (or client \
                 credentials: TALLYFY_CLIENT_ID and TALLYFY_CLIENT_SECRET)",
            ),
        };
        let web_url = r
            .base_url("TALLYFY_WEB_URL", "https://go.tallyfy.com/")
            .map(|u| u.as_str().trim_end_matches('/').to_string());
        let tallyfy_timeout = r.seconds("TALLYFY_TIMEOUT_SECS", 20);
        let rate_limit = match lookup("TALLYFY_RATE_LIMIT") {
            None => Some(600),
            Some(raw) => match raw.trim().parse::<u32>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    r.errors.push(format!(
                        "TALLYFY_RATE_LIMIT must be a whole number above 0, not {raw:?}"
                    ));
                    None
                }
            },
        };
        let rate_window = r.seconds("TALLYFY_RATE_WINDOW_SECS", 60);

        let redis = redis_target::read(&lookup, &mut r.errors);
        let key_prefix = lookup("REDIS_KEY_PREFIX").unwrap_or_else(|| "tallyfy-slack".into());
        // Without keys of their own, both are derived from the Slack secret every replica
        // already shares, so that an installation configured for an earlier release (which
        // had neither setting) starts and works as it did.
        let shared_secret = signing_secret
            .as_ref()
            .or(app_token.as_ref())
            .map(|s| s.expose().to_string());
        let derived = |purpose: &str| shared_secret.as_deref().map(|s| Key::derive(s, purpose));
        let token_key = r.key("STORE_ENCRYPTION_KEY").or_else(|| {
            derived(STORE_KEY_PURPOSE).filter(|_| r.get("STORE_ENCRYPTION_KEY").is_none())
        });
        let job_signing_key = r
            .key("JOB_SIGNING_KEY")
            .or_else(|| derived(JOB_KEY_PURPOSE).filter(|_| r.get("JOB_SIGNING_KEY").is_none()));
        let hit_ttl = r.seconds("DIRECTORY_CACHE_TTL_SECS", 24 * 3600);
        let miss_ttl = r.seconds("DIRECTORY_MISS_TTL_SECS", 10 * 60);
        let claim_after = r.seconds("JOB_CLAIM_TIMEOUT_SECS", 30);
        let retry_for = r.seconds("TALLYFY_RETRY_FOR_SECS", 10 * 60);
        let drain = r.seconds("SHUTDOWN_DRAIN_SECS", 20);
        let poll_every = r.seconds("TALLYFY_POLL_SECS", 60);
        let alerts_every = r.seconds("ALERTS_POLL_SECS", 120);
        let concurrency = match r.get("JOB_CONCURRENCY") {
            None => Some(16),
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => Some(n),
                _ => {
                    r.errors.push(format!(
                        "JOB_CONCURRENCY must be a whole number from 1 to 1000, not {raw:?}"
                    ));
                    None
                }
            },
        };

        let header_timeout = r.seconds("HTTP_HEADER_TIMEOUT_SECS", 10);
        let body_timeout = r.seconds("HTTP_BODY_TIMEOUT_SECS", 10);
        let max_connections = r.count("HTTP_MAX_CONNECTIONS", 1024);
        let max_in_flight = r.count("HTTP_MAX_IN_FLIGHT", 256);
        let max_stranger_connections = r.count("HTTP_MAX_STRANGER_CONNECTIONS", 256);
        let body_bytes_in_flight = r.count("HTTP_BODY_BYTES_IN_FLIGHT", 32 * 1024 * 1024);
        let max_header_bytes = r.count("HTTP_MAX_HEADER_BYTES", 16 * 1024);

        let host = match lookup("HOST") {
            None => Some(IpAddr::from([0, 0, 0, 0])),
            Some(h) => match h.parse() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    r.errors.push(format!(
                        "HOST must be an IP address such as 0.0.0.0, not {h:?}"
                    ));
                    None
                }
            },
        };
        let port = match lookup("PORT") {
            None => Some(3000),
            Some(p) => match p.parse::<u16>() {
                Ok(port) => Some(port),
                Err(_) => {
                    r.errors
                        .push(format!("PORT must be a number from 0 to 65535, not {p:?}"));
                    None
                }
            },
        };
        let metrics_addr = match r.get("METRICS_ADDR") {
            None => MetricsAt::Own {
                addr: DEFAULT_METRICS_ADDR,
                required: false,
            },
            Some(raw) if raw.eq_ignore_ascii_case("public") => MetricsAt::Public,
            Some(raw) => match raw.parse::<SocketAddr>() {
                Ok(addr) => MetricsAt::Own {
                    addr,
                    required: true,
                },
                Err(_) => {
                    r.errors.push(format!(
                        "METRICS_ADDR must be an address and port such as 127.0.0.1:9100, or public, not {raw:?}"
                    ));
                    MetricsAt::Public
                }
            },
        };
        let public_url = r.optional_url("PUBLIC_URL");
        let log_filter = lookup("RUST_LOG").unwrap_or_else(|| "info".into());
        let log_format = match lookup("LOG_FORMAT")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("text") => Some(LogFormat::Text),
            Some("json") => Some(LogFormat::Json),
            Some(other) => {
                r.errors
                    .push(format!("LOG_FORMAT must be json or text, not {other:?}"));
                None
            }
        };

        if !r.errors.is_empty() {
            return Err(ConfigErrors(r.errors));
        }
        // Every value below is present: a missing one added an error above.
        Ok(Config {
            slack: SlackConfig {
                signing_secret,
                bot_token: bot_token.unwrap(),
                app_token,
                api_url: slack_api_url.unwrap(),
                response_url_base: response_url_base.unwrap(),
                allow_guests: allow_guests.unwrap(),
                socket_idle: socket_idle.unwrap(),
            },
            tallyfy: TallyfyConfig {
                org_id: org_id.unwrap(),
                access_token,
                client_grant,
                api_url: tallyfy_api_url.unwrap(),
                web_url: web_url.unwrap(),
                refresh,
                timeout: tallyfy_timeout.unwrap(),
                rate_limit: rate_limit.unwrap(),
                rate_window: rate_window.unwrap(),
                token_key,
            },
            store: StoreConfig {
                redis,
                key_prefix,
                job_signing_key,
            },
            directory: DirectoryConfig {
                hit_ttl: hit_ttl.unwrap(),
                miss_ttl: miss_ttl.unwrap(),
            },
            jobs: JobsConfig {
                claim_after: claim_after.unwrap(),
                concurrency: concurrency.unwrap(),
                retry_for: retry_for.unwrap(),
                drain: drain.unwrap(),
                poll_every: poll_every.unwrap(),
                alerts_every: alerts_every.unwrap(),
            },
            http: HttpConfig {
                header_timeout: header_timeout.unwrap(),
                body_timeout: body_timeout.unwrap(),
                max_connections: max_connections.unwrap(),
                max_in_flight: max_in_flight.unwrap(),
                max_stranger_connections: max_stranger_connections.unwrap(),
                body_bytes_in_flight: body_bytes_in_flight.unwrap(),
                max_header_bytes: max_header_bytes.unwrap(),
            },
            host: host.unwrap(),
            port: port.unwrap(),
            metrics_addr,
            public_url,
            log_filter,
            log_format: log_format.unwrap(),
        })
    }
}

struct Reader<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
    errors: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn required(&mut self, name: &str, what: &str) -> Option<String> {
        let value = self.get(name);
        if value.is_none() {
            self.errors.push(format!("{name} is not set: {what}"));
        }
        value
    }

    fn required_secret(&mut self, name: &str, what: &str) -> Option<Secret> {
        self.required(name, what).map(Secret::new)
    }

    fn optional_secret(&mut self, name: &str) -> Option<Secret> {
        self.get(name).map(Secret::new)
    }

    /// A 32-byte key, as 64 hex digits or base64; reported when malformed.
    fn key(&mut self, name: &str) -> Option<Key> {
        let raw = self.get(name)?;
        let key = Key::parse(&raw);
        if key.is_none() {
            self.errors.push(format!(
                "{name} must be 32 bytes, as 64 hex digits or in base64 (`openssl rand -hex 32` makes one)"
            ));
        }
        key
    }

    fn optional_url(&mut self, name: &str) -> Option<Url> {
        let raw = self.get(name)?;
        match Url::parse(&raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            _ => {
                self.errors
                    .push(format!("{name} must be an http(s) URL, not {raw:?}"));
                None
            }
        }
    }

    /// A base URL, normalised to end in `/` so that relative paths join under it.
    fn base_url(&mut self, name: &str, default: &str) -> Option<Url> {
        let raw = self.get(name).unwrap_or_else(|| default.to_string());
        let with_slash = if raw.ends_with('/') {
            raw.clone()
        } else {
            format!("{raw}/")
        };
        match Url::parse(&with_slash) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            _ => {
                self.errors
                    .push(format!("{name} must be an http(s) URL, not {raw:?}"));
                None
            }
        }
    }

    fn seconds(&mut self, name: &str, default: u64) -> Option<Duration> {
        match self.get(name) {
            None => Some(Duration::from_secs(default)),
            Some(raw) => match raw.parse::<u64>() {
                Ok(n) if n > 0 => Some(Duration::from_secs(n)),
                _ => {
                    self.errors.push(format!(
                        "{name} must be a whole number of seconds above 0, not {raw:?}"
                    ));
                    None
                }
            },
        }
    }

    /// `true` or `false`.
    fn flag(&mut self, name: &str, default: bool) -> Option<bool> {
        match self.get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Some(default),
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                self.errors
                    .push(format!("{name} must be true or false, not {other:?}"));
                None
            }
        }
    }

    /// A whole number above 0.
    fn count(&mut self, name: &str, default: usize) -> Option<usize> {
        match self.get(name) {
            None => Some(default),
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    self.errors.push(format!(
                        "{name} must be a whole number above 0, not {raw:?}"
                    ));
                    None
                }
            },
        }
    }
}

#[cfg(test)]
mod tests;
