//! The services every request handler shares, built once from configuration.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::directory::Directory;
use crate::jobs::{Jobs, QueueSettings, Worker};
use crate::queue::{Queue, RedisQueue};
use crate::slack::api::SlackApi;
use crate::slack::signature::Verifier;
use crate::store::{Breaker, MemoryStore, RedisStore, Store};
use crate::tallyfy::TallyfyClient;
use crate::telemetry::Metrics;

pub struct Services {
    pub config: Config,
    /// `None` when no signing secret is configured: every HTTP request from Slack is refused.
    pub verifier: Option<Verifier>,
    pub slack: SlackApi,
    pub tallyfy: TallyfyClient,
    pub store: Arc<dyn Store>,
    /// Submissions claimed while the store could not be reached: repeats that reach this
    /// replica during an outage are still caught.
    pub local_claims: MemoryStore,
    pub directory: Directory,
    pub jobs: Jobs,
    pub metrics: Metrics,
}

/// Cheap to clone; handlers receive it through axum's `State`.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

impl AppState {
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let metrics = Metrics::default();
        let breaker = Arc::new(Breaker::default());
        let store: Arc<dyn Store> = match &config.store.redis_url {
            Some(url) => Arc::new(RedisStore::new(
                url.expose(),
                &config.store.key_prefix,
                metrics.clone(),
                breaker.clone(),
            )?),
            None => {
                tracing::warn!(
                    "REDIS_URL is not set: using an in-process store and job queue. Run a single \
                     replica only; caches and duplicate checks are lost on restart, and work in \
                     flight is lost if the process dies"
                );
                Arc::new(MemoryStore::default())
            }
        };
        let slack = SlackApi::new(&config.slack, metrics.clone())?;
        let tallyfy = TallyfyClient::new(&config.tallyfy, metrics.clone(), store.clone());
        let directory = Directory::new(
            slack.clone(),
            tallyfy.clone(),
            store.clone(),
            config.directory.clone(),
            metrics.clone(),
        );
        let settings = QueueSettings {
            consumer: crate::store::instance_name(),
            claim_after: config.jobs.claim_after,
            concurrency: config.jobs.concurrency,
        };
        let shared: Option<Arc<dyn Queue>> = match &config.store.redis_url {
            Some(url) => Some(Arc::new(RedisQueue::new(
                url.expose(),
                &config.store.key_prefix,
                &settings.consumer,
                settings.claim_after,
                POLL_LIMIT,
                breaker,
            )?)),
            None => None,
        };
        let jobs = Jobs::new(
            Worker {
                slack: slack.clone(),
                tallyfy: tallyfy.clone(),
                directory: directory.clone(),
                web_url: config.tallyfy.web_url.clone(),
                metrics: metrics.clone(),
                store: store.clone(),
                backoff: Duration::from_millis(500),
                retry_for: config.jobs.retry_for,
                settle: config.tallyfy.timeout,
            },
            shared,
            settings,
        );
        let verifier = config.slack.signing_secret.clone().map(Verifier::new);
        Ok(AppState(Arc::new(Services {
            config,
            verifier,
            slack,
            tallyfy,
            store,
            local_claims: MemoryStore::default(),
            directory,
            jobs,
            metrics,
        })))
    }
}

/// The longest blocking read of the job queue.
const POLL_LIMIT: Duration = Duration::from_secs(2);
