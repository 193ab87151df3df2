//! The services every request handler and every job shares, built once from configuration.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::Config;
use crate::courier::Courier;
use crate::create_once::{Creator, RetryPolicy};
use crate::directory::Directory;
use crate::jobs::ledger::Ledger;
use crate::jobs::queue::{Queue, RedisQueue};
use crate::jobs::{Jobs, QueueSettings};
use crate::seal::{JobMac, ValueSigner};
use crate::slack::api::SlackApi;
use crate::slack::signature::Verifier;
use crate::slack::workspace::Workspace;
use crate::store::signed::SignedStore;
use crate::store::{Breaker, MemoryStore, RedisStore, Store};

/// What the key the store's values are signed with is derived for (from `JOB_SIGNING_KEY`).
const STORE_VALUES: &str = "store values";
use crate::tallyfy::{Links, TallyfyClient};
use crate::telemetry::Metrics;

pub struct Services {
    pub config: Config,
    /// `None` when no signing secret is configured: every HTTP request from Slack is refused.
    pub verifier: Option<Verifier>,
    pub slack: SlackApi,
    /// The one workspace and app served, once Slack has said which.
    pub workspace: Workspace,
    pub tallyfy: TallyfyClient,
    /// Links into Tallyfy's web app.
    pub links: Links,
    pub store: Arc<dyn Store>,
    /// The same store, when it is Redis: its values signed, and those an earlier release
    /// left unsigned signed in the background.
    pub signed_store: Option<Arc<SignedStore>>,
    /// What is stored about each job.
    pub ledger: Ledger,
    pub directory: Directory,
    /// Every message posted after Slack was answered goes through it.
    pub courier: Courier,
    /// Creates work in Tallyfy exactly once.
    pub creator: Creator,
    pub jobs: Jobs,
    pub metrics: Metrics,
    /// What time it is (a test sets it).
    pub clock: Clock,
}

impl Services {
    /// The creator that makes work as the person who asked (`origin`): through their own
    /// Tallyfy token when the service acts as each person; the reason, when it cannot.
    pub async fn creator_for(
        &self,
        origin: &crate::courier::Origin,
    ) -> Result<Creator, crate::failures::Failure> {
        match self
            .directory
            .client_for(&origin.team_id, &origin.user_id)
            .await
        {
            Ok(tallyfy) => Ok(self.creator.through(Arc::new(tallyfy))),
            Err(e) => Err(crate::failures::as_requester(&e)),
        }
    }
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
        let (store, signed): (Arc<dyn Store>, _) = match &config.store.redis {
            Some(target) => {
                let redis = Arc::new(RedisStore::connect(
                    target,
                    &config.store.key_prefix,
                    metrics.clone(),
                    breaker.clone(),
                )?);
                let key = config
                    .store
                    .job_signing_key
                    .as_ref()
                    .ok_or_else(|| anyhow::anyhow!("no key to sign the store's values with"))?;
                let signer = ValueSigner::new(&key.derive_for(STORE_VALUES));
                let signed = Arc::new(SignedStore::new(redis, signer, metrics.clone()));
                (signed.clone() as Arc<dyn Store>, Some(signed))
            }
            None => {
                tracing::warn!(
                    "REDIS_URL is not set: using an in-process store and job queue. Run a single \
                     replica only; caches and duplicate checks are lost on restart, and work in \
                     flight is lost if the process dies"
                );
                (Arc::new(MemoryStore::default()) as Arc<dyn Store>, None)
            }
        };
        let slack = SlackApi::new(&config.slack, metrics.clone())?;
        let tallyfy = TallyfyClient::new(&config.tallyfy, metrics.clone(), store.clone());
        let links = Links::new(&config.tallyfy.web_url, tallyfy.org_id());
        let directory = Directory::new(
            slack.clone(),
            tallyfy.clone(),
            store.clone(),
            config.directory.clone(),
            metrics.clone(),
        );
        let ledger = Ledger::new(store.clone());
        let courier = Courier::new(slack.clone(), ledger.clone(), metrics.clone());
        let creator = Creator::new(
            Arc::new(tallyfy.clone()),
            ledger.clone(),
            Arc::new(courier.clone()),
            metrics.clone(),
            RetryPolicy {
                backoff: Duration::from_millis(500),
                retry_for: config.jobs.retry_for,
                settle: config.tallyfy.timeout,
            },
        );
        let settings = QueueSettings {
            consumer: crate::store::instance_name(),
            claim_after: config.jobs.claim_after,
            concurrency: config.jobs.concurrency,
        };
        let shared: Option<Arc<dyn Queue>> =
            match (&config.store.redis, &config.store.job_signing_key) {
                (Some(target), Some(key)) => Some(Arc::new(RedisQueue::connect(
                    target,
                    &config.store.key_prefix,
                    &settings.consumer,
                    settings.claim_after,
                    POLL_LIMIT,
                    breaker,
                    JobMac::new(key),
                )?)),
                // Configuration requires the key with Redis.
                _ => None,
            };
        let jobs = Jobs::new(ledger.clone(), metrics.clone(), shared, settings);
        let verifier = config.slack.signing_secret.clone().map(Verifier::new);
        Ok(AppState(Arc::new(Services {
            config,
            verifier,
            slack,
            workspace: Workspace::default(),
            tallyfy,
            links,
            store,
            signed_store: signed,
            ledger,
            directory,
            courier,
            creator,
            jobs,
            metrics,
            clock: Clock::default(),
        })))
    }
}

/// The longest blocking read of the job queue.
const POLL_LIMIT: Duration = Duration::from_secs(2);
