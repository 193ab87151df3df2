//! Logs and metrics. Logs go to stdout as text or JSON, filtered by `RUST_LOG`; metrics are
//! kept per application (not in a global), so two instances in one test process do not mix.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

tokio::task_local! {
    /// The id of the request being handled: the `x-request-id` of an HTTP request, or the
    /// envelope id of a Socket Mode message. Jobs carry it, so their log lines can be
    /// matched with the request that caused them.
    pub static REQUEST_ID: String;
}

/// The id of the request this code runs for, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Installs the global log subscriber. Safe to call more than once (later calls do nothing).
pub fn init_logging(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

struct Inner {
    registry: Registry,
    slack_requests: Family<RequestLabels, Counter>,
    slack_calls: Family<CallLabels, Counter>,
    slack_call_seconds: Family<MethodLabel, Histogram>,
    tallyfy_calls: Family<CallLabels, Counter>,
    tallyfy_call_seconds: Family<MethodLabel, Histogram>,
    directory: Family<ResultLabel, Counter>,
    jobs: Family<RequestLabels, Counter>,
    store_errors: Counter,
    store_values_refused: Counter,
    store_up: Gauge,
    jobs_in_flight: Gauge,
    queue_waiting: Gauge,
    queue_pending: Gauge,
    rate_waits: Counter,
    rate_wait_seconds: Histogram,
    redis_used_memory: Family<NoLabels, Gauge>,
    redis_maxmemory: Family<NoLabels, Gauge>,
}

/// A metric without labels that is left out of the exposition while unknown.
type NoLabels = Vec<(String, String)>;

/// The service's Prometheus metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tallyfy_slack");
        let slack_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "slack_requests",
            "Requests from Slack by kind (command, view_submission, ...) and outcome",
            slack_requests.clone(),
        );
        let slack_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "slack_api_calls",
            "Slack Web API calls by method and result",
            slack_calls.clone(),
        );
        let slack_call_seconds = Family::<MethodLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "slack_api_call_seconds",
            "Slack Web API call latency",
            slack_call_seconds.clone(),
        );
        let tallyfy_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "tallyfy_api_calls",
            "Tallyfy API calls by endpoint and status",
            tallyfy_calls.clone(),
        );
        let tallyfy_call_seconds = Family::<MethodLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "tallyfy_api_call_seconds",
            "Tallyfy API call latency",
            tallyfy_call_seconds.clone(),
        );
        let directory = Family::<ResultLabel, Counter>::default();
        registry.register(
            "directory_lookups",
            "Assignee resolutions by result (cache_hit, cache_miss, no_account)",
            directory.clone(),
        );
        let jobs = Family::<RequestLabels, Counter>::default();
        registry.register(
            "jobs",
            "Jobs and their steps by kind and outcome",
            jobs.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "store_errors",
            "Store (Redis) calls that failed or timed out",
            store_errors.clone(),
        );
        let store_values_refused = Counter::default();
        registry.register(
            "store_values_refused",
            "Values read from the store that did not check (treated as absent)",
            store_values_refused.clone(),
        );
        let store_up = Gauge::default();
        registry.register(
            "store_up",
            "1 when the store answered its last health check",
            store_up.clone(),
        );
        let jobs_in_flight = Gauge::default();
        registry.register(
            "jobs_in_flight",
            "Jobs running now in this process",
            jobs_in_flight.clone(),
        );
        let queue_waiting = Gauge::default();
        registry.register(
            "queue_waiting",
            "Jobs in the shared queue that no replica has taken yet",
            queue_waiting.clone(),
        );
        let queue_pending = Gauge::default();
        registry.register(
            "queue_pending",
            "Jobs in the shared queue that a replica has taken and not finished",
            queue_pending.clone(),
        );
        let rate_waits = Counter::default();
        registry.register(
            "tallyfy_rate_waits",
            "Tallyfy calls that waited for the rate budget",
            rate_waits.clone(),
        );
        let rate_wait_seconds = latency_histogram();
        registry.register(
            "tallyfy_rate_wait_seconds",
            "How long Tallyfy calls waited for the rate budget",
            rate_wait_seconds.clone(),
        );
        let redis_used_memory = Family::<NoLabels, Gauge>::default();
        registry.register_with_unit(
            "redis_used_memory",
            "Memory Redis uses (INFO memory used_memory), read at each scrape; absent when Redis did not answer",
            prometheus_client::registry::Unit::Bytes,
            redis_used_memory.clone(),
        );
        let redis_maxmemory = Family::<NoLabels, Gauge>::default();
        registry.register_with_unit(
            "redis_maxmemory",
            "Redis's maxmemory (0: no limit), read at each scrape; absent when Redis did not answer",
            prometheus_client::registry::Unit::Bytes,
            redis_maxmemory.clone(),
        );
        Metrics(Arc::new(Inner {
            registry,
            slack_requests,
            slack_calls,
            slack_call_seconds,
            tallyfy_calls,
            tallyfy_call_seconds,
            directory,
            jobs,
            store_errors,
            store_values_refused,
            store_up,
            jobs_in_flight,
            queue_waiting,
            queue_pending,
            rate_waits,
            rate_wait_seconds,
            redis_used_memory,
            redis_maxmemory,
        }))
    }
}

impl Metrics {
    pub fn slack_request(&self, kind: &str, outcome: &str) {
        self.0
            .slack_requests
            .get_or_create(&RequestLabels {
                kind: kind.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn slack_call(&self, method: &str, status: &str, elapsed: Duration) {
        self.0
            .slack_calls
            .get_or_create(&CallLabels {
                method: method.into(),
                status: status.into(),
            })
            .inc();
        self.0
            .slack_call_seconds
            .get_or_create(&MethodLabel {
                method: method.into(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn tallyfy_call(&self, endpoint: &str, status: &str, elapsed: Duration) {
        self.0
            .tallyfy_calls
            .get_or_create(&CallLabels {
                method: endpoint.into(),
                status: status.into(),
            })
            .inc();
        self.0
            .tallyfy_call_seconds
            .get_or_create(&MethodLabel {
                method: endpoint.into(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn directory(&self, result: &str) {
        self.0
            .directory
            .get_or_create(&ResultLabel {
                result: result.into(),
            })
            .inc();
    }

    pub fn job(&self, kind: &str, outcome: &str) {
        self.0
            .jobs
            .get_or_create(&RequestLabels {
                kind: kind.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Counts a job as running until the returned guard is dropped.
    pub fn job_running(&self) -> JobGuard {
        self.0.jobs_in_flight.inc();
        JobGuard(self.clone())
    }

    pub fn rate_wait(&self, waited: Duration) {
        self.0.rate_waits.inc();
        self.0.rate_wait_seconds.observe(waited.as_secs_f64());
    }

    pub fn store_error(&self) {
        self.0.store_errors.inc();
    }

    pub fn store_value_refused(&self) {
        self.0.store_values_refused.inc();
    }

    pub fn store_up(&self, up: bool) {
        self.0.store_up.set(i64::from(up));
    }

    /// The shared queue's depth: jobs waiting for a replica, and jobs taken and running.
    pub fn queue_depth(&self, waiting: u64, pending: u64) {
        self.0.queue_waiting.set(waiting as i64);
        self.0.queue_pending.set(pending as i64);
    }

    /// Redis's `used_memory` and `maxmemory`, or `None` when Redis did not tell them: the
    /// two are then left out rather than showing an old reading.
    pub fn redis_memory(&self, memory: Option<(u64, u64)>) {
        let (used, max) = (&self.0.redis_used_memory, &self.0.redis_maxmemory);
        match memory {
            Some((used_memory, maxmemory)) => {
                used.get_or_create(&Vec::new()).set(used_memory as i64);
                max.get_or_create(&Vec::new()).set(maxmemory as i64);
            }
            None => {
                used.clear();
                max.clear();
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.0.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Holds a job in `jobs_in_flight` while it runs.
pub struct JobGuard(Metrics);

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.0 .0.jobs_in_flight.dec();
    }
}
/// A parse error's text fit for the logs: what it quotes of the input (between double
/// quotes, or between backticks unless it is a short field name) is left out, since a
/// malformed body can carry anyone's data. "invalid type: string \"a@b.c\", expected
/// struct User" becomes "invalid type: string \"…\", expected struct User".
pub fn without_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find(quote) else {
            out.push('…');
            return out;
        };
        let quoted = &after[..end];
        let field_name = quote == '`'
            && quoted.len() <= 40
            && quoted
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        out.push_str(if field_name { quoted } else { "…" });
        out.push(quote);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::without_quoted;

    #[test]
    fn what_a_parse_error_quotes_of_the_input_is_left_out() {
        assert_eq!(
            without_quoted(r#"invalid type: string "alice@example.com", expected struct User"#),
            r#"invalid type: string "…", expected struct User"#
        );
        assert_eq!(
            without_quoted("missing field `user_id` at line 1 column 9"),
            "missing field `user_id` at line 1 column 9"
        );
        assert_eq!(
            without_quoted("unknown variant `bob@x.io`, expected `task`"),
            "unknown variant `…`, expected `task`"
        );
        assert_eq!(without_quoted(r#"cut "off"#), r#"cut "…"#);
    }
}
