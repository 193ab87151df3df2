//! What every store offers, Redis or in-process: one interface, with one error type.

use std::time::Duration;

use async_trait::async_trait;

use super::send_schedule::Reservation;

/// The longest any one store call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(750);

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("store call timed out")]
    Timeout,
    #[error("Redis failed moments ago; not asked again yet")]
    Unavailable,
    #[error("store error: {0}")]
    Backend(String),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Several keys in one round trip; the answer has one entry per key, in order.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError>;
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError>;
    /// Sets `key` only when it is absent; true when this call set it (an atomic claim).
    async fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Makes `key` live `ttl` from now, value untouched, in one atomic step (no read and
    /// write back that could undo a write made between them); false when there is no
    /// such key.
    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Adds one to the number at `key` (absent counts as 0) and returns the new value;
    /// atomic across replicas. The key then lives for `ttl`.
    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, StoreError>;
    /// Puts `value` at the head of the list at `key`, keeping the newest `keep` entries.
    async fn push_recent(
        &self,
        key: &str,
        value: &str,
        keep: usize,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// The list at `key`, newest first.
    async fn recent(&self, key: &str) -> Result<Vec<String>, StoreError>;
    /// Books a send time in the rolling-window schedule at `key`: at most `limit` sends in
    /// any `window`, atomic across replicas. A time further off than `within` is not
    /// booked: the answer says how far off it is.
    async fn reserve(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        within: Duration,
    ) -> Result<Reservation, StoreError>;
    /// Gives back a booking that will not be used (its call was cancelled).
    async fn unbook(&self, key: &str, id: &str) -> Result<(), StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    /// Puts how much memory the store uses, and may use, into the metrics (Redis's
    /// `INFO memory`, read within the store's call timeout); nothing for the in-process map.
    async fn measure(&self) {}
    /// `redis` or `memory`.
    fn kind(&self) -> &'static str;
}
