//! Every value the service keeps in Redis is signed, and a value it reads back is acted on
//! only when its signature checks: whoever can write to Redis without the key cannot make
//! a card's button act on another task, put words on a card, have Retry create something
//! nobody asked for, or give the directory a wrong answer. The signature binds the key the
//! value is kept under ([`ValueSigner`]), so a value copied under another key does not
//! check either. A value that does not check is treated as absent (and counted in
//! `tallyfy_slack_store_values_refused_total`).
//!
//! Kept as they are: the counters Redis increments, `position:{run}` (a wrong one only
//! puts an added task at another place in its run, which Tallyfy shows) and
//! `calls:{token}:{minute}` (a webhook token's calls, for its limit), and `tallyfy:tokens`,
//! encrypted and authenticated by its own key.
//!
//! Values an earlier release wrote are not signed. For a day after this store first
//! signed (its `signing-since` record), they are still read, and every replica signs the
//! ones it finds, every ten minutes, so that a rolling upgrade loses nothing; after that
//! day an unsigned value is refused like any other that does not check.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::contract::{Store, StoreError};
use super::send_schedule::Reservation;
use super::RedisStore;
use crate::seal::ValueSigner;
use crate::telemetry::Metrics;

/// When this store began signing (unix seconds, signed like any value).
const SINCE: &str = "signing-since";
/// How long the record of it is kept; it is written again at every start.
const SINCE_TTL: Duration = Duration::from_secs(400 * 24 * 3600);
/// How long after that unsigned values from an earlier release are still read.
pub const LEGACY_GRACE: Duration = Duration::from_secs(24 * 3600);
/// How often unsigned values are looked for and signed during that time.
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Whether a key's value is kept as it is: the counters Redis increments, and the tokens
/// sealed with their own key.
fn exempt(key: &str) -> bool {
    key.starts_with("position:") || key.starts_with("calls:") || key == "tallyfy:tokens"
}

/// Redis, with every value signed.
pub struct SignedStore {
    redis: Arc<RedisStore>,
    signer: ValueSigner,
    /// Until when (unix seconds) unsigned values are read; until [`SignedStore::start`]
    /// has learned it, they are.
    legacy_until: AtomicI64,
    metrics: Metrics,
}

impl SignedStore {
    pub fn new(redis: Arc<RedisStore>, signer: ValueSigner, metrics: Metrics) -> Self {
        Self {
            redis,
            signer,
            legacy_until: AtomicI64::new(i64::MAX),
            metrics,
        }
    }

    /// Learns when this store began signing (recording it now, the first time), and so
    /// until when unsigned values are read. False while Redis cannot say.
    pub async fn start(&self) -> bool {
        let now = jiff::Timestamp::now().as_second();
        let _ = self.set_if_absent(SINCE, &now.to_string(), SINCE_TTL).await;
        let Ok(Some(since)) = self.get(SINCE).await else {
            return false;
        };
        let Ok(since) = since.parse::<i64>() else {
            return false;
        };
        // Written again so that it outlives every value written before it.
        let _ = self.set(SINCE, &since.to_string(), SINCE_TTL).await;
        let until = since.saturating_add(LEGACY_GRACE.as_secs() as i64);
        self.legacy_until.store(until, Ordering::Relaxed);
        true
    }

    /// Whether unsigned values written by an earlier release are still read.
    pub fn reads_unsigned(&self) -> bool {
        jiff::Timestamp::now().as_second() < self.legacy_until.load(Ordering::Relaxed)
    }

    /// Signs every unsigned value under the prefix (strings and lists; nothing that changed
    /// meanwhile is overwritten). Answers how many keys were signed.
    pub async fn sign_unsigned(&self) -> Result<usize, StoreError> {
        let signer = self.signer.clone();
        // A bare number is left alone: a counter an earlier release kept may be one.
        let sign = move |key: &str, value: &str| {
            let counter = value.parse::<i64>().is_ok();
            (!exempt(key) && !counter && !ValueSigner::is_signed(value))
                .then(|| signer.sign(key, value))
        };
        self.redis.rewrite_values(&sign).await
    }

    fn read(&self, key: &str, stored: String) -> Option<String> {
        if exempt(key) {
            return Some(stored);
        }
        if let Some(value) = self.signer.open(key, &stored) {
            return Some(value.to_string());
        }
        if !ValueSigner::is_signed(&stored) && self.reads_unsigned() {
            return Some(stored);
        }
        self.metrics.store_value_refused();
        tracing::warn!(
            key = key.split(':').next().unwrap_or(""),
            "a value in the store did not check; it is treated as absent"
        );
        None
    }

    fn written(&self, key: &str, value: &str) -> String {
        if exempt(key) {
            value.to_string()
        } else {
            self.signer.sign(key, value)
        }
    }
}

#[async_trait]
impl Store for SignedStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.redis.get(key).await?.and_then(|v| self.read(key, v)))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        let found = self.redis.get_many(keys).await?;
        Ok(keys
            .iter()
            .zip(found)
            .map(|(key, v)| v.and_then(|v| self.read(key, v)))
            .collect())
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        self.redis.set(key, &self.written(key, value), ttl).await
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.redis
            .set_if_absent(key, &self.written(key, value), ttl)
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.redis.delete(key).await
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.redis.expire(key, ttl).await
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, StoreError> {
        self.redis.incr(key, ttl).await
    }

    async fn push_recent(
        &self,
        key: &str,
        value: &str,
        keep: usize,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.redis
            .push_recent(key, &self.written(key, value), keep, ttl)
            .await
    }

    async fn recent(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let found = self.redis.recent(key).await?;
        Ok(found
            .into_iter()
            .filter_map(|v| self.read(key, v))
            .collect())
    }

    async fn reserve(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        within: Duration,
    ) -> Result<Reservation, StoreError> {
        self.redis.reserve(key, limit, window, within).await
    }

    async fn unbook(&self, key: &str, id: &str) -> Result<(), StoreError> {
        self.redis.unbook(key, id).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.redis.ping().await
    }

    async fn measure(&self) {
        self.redis.measure().await
    }

    fn kind(&self) -> &'static str {
        self.redis.kind()
    }
}

/// Signs the values an earlier release left unsigned, now and every ten minutes for as
/// long as they are read, until `stop` completes.
pub async fn sign_earlier_values(
    store: Arc<SignedStore>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        let known = store.start().await;
        if known && !store.reads_unsigned() {
            return;
        }
        match store.sign_unsigned().await {
            Ok(0) => {}
            Ok(signed) => tracing::info!(signed, "signed values an earlier release kept unsigned"),
            Err(e) => tracing::info!(error = %e, "could not sign the earlier release's values yet"),
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
        }
    }
}
