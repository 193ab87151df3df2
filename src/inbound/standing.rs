//! What a connection has proved. Every connection starts as a stranger's: until one of its
//! requests carries a valid Slack signature or a webhook token this service gave out, it
//! holds a place in a smaller share of the connections and of the memory for bodies, so
//! strangers crowding the port cannot take the places Slack's own requests need. When the
//! strangers' share is full, the oldest stranger is closed to let a new connection in.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::config::HttpConfig;

/// The connections open and the memory bodies may take, shared by every connection.
pub struct Places {
    open: AtomicUsize,
    max_connections: usize,
    max_strangers: usize,
    /// Strangers' connections, oldest first, each with the bell that closes it.
    strangers: Mutex<BTreeMap<u64, Arc<Notify>>>,
    next: std::sync::atomic::AtomicU64,
    /// Bytes of bodies being read for connections that proved themselves: the rest of the
    /// budget (at least one of Slack's largest bodies).
    proven_bytes: Arc<Semaphore>,
    /// Bytes of bodies being read for strangers: a smaller share.
    stranger_bytes: Arc<Semaphore>,
}

/// One connection's place: what it has proved, and the bell that closes it.
#[derive(Clone)]
pub struct Standing {
    id: u64,
    proven: Arc<AtomicBool>,
    places: Arc<Places>,
    pub closed: Arc<Notify>,
}

/// A place for bodies' bytes; given back when dropped.
pub struct Bytes(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl Places {
    pub fn new(http: &HttpConfig) -> Arc<Self> {
        let budget = http.body_bytes_in_flight;
        // A quarter, and never less than one of Slack's largest bodies (1 MiB).
        let strangers_bytes = (budget / 4).max(1024 * 1024).min(budget);
        Arc::new(Self {
            open: AtomicUsize::new(0),
            max_connections: http.max_connections,
            max_strangers: http.max_stranger_connections.min(http.max_connections),
            strangers: Mutex::new(BTreeMap::new()),
            next: Default::default(),
            proven_bytes: Arc::new(Semaphore::new((budget - strangers_bytes).max(1024 * 1024))),
            stranger_bytes: Arc::new(Semaphore::new(strangers_bytes.max(1))),
        })
    }

    /// A place for a new connection, a stranger's until it proves itself: when strangers
    /// fill their share (or every place is taken), the oldest stranger is closed to make
    /// room; when every place is held by connections that proved themselves, none.
    pub fn admit(self: &Arc<Self>) -> Option<Standing> {
        let mut strangers = self.strangers.lock().unwrap();
        let full = self.open.load(Ordering::Acquire) >= self.max_connections;
        if full || strangers.len() >= self.max_strangers {
            match strangers.pop_first() {
                Some((_, oldest)) => {
                    tracing::debug!("strangers' connections are full: closing the oldest");
                    oldest.notify_one();
                }
                None => return None,
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let closed = Arc::new(Notify::new());
        strangers.insert(id, closed.clone());
        self.open.fetch_add(1, Ordering::AcqRel);
        Some(Standing {
            id,
            proven: Arc::new(AtomicBool::new(false)),
            places: self.clone(),
            closed,
        })
    }
}

impl Standing {
    /// The connection sent a request that proved it (a valid signature, a known token).
    pub fn prove(&self) {
        if !self.proven.swap(true, Ordering::AcqRel) {
            self.places.strangers.lock().unwrap().remove(&self.id);
        }
    }

    /// A place for `n` more bytes of a body, from the connection's share; none when that
    /// share is spent.
    pub fn take_bytes(&self, n: usize) -> Option<Bytes> {
        if n == 0 {
            return Some(Bytes(None));
        }
        let pool = if self.proven.load(Ordering::Acquire) {
            &self.places.proven_bytes
        } else {
            &self.places.stranger_bytes
        };
        let n = u32::try_from(n).ok()?;
        pool.clone()
            .try_acquire_many_owned(n)
            .ok()
            .map(|p| Bytes(Some(p)))
    }

    /// The connection has ended: its place is free.
    pub fn leave(&self) {
        self.places.strangers.lock().unwrap().remove(&self.id);
        self.places.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(max_connections: usize, max_strangers: usize) -> Arc<Places> {
        Places::new(&HttpConfig {
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(10),
            max_connections,
            max_in_flight: 256,
            max_stranger_connections: max_strangers,
            body_bytes_in_flight: 32 * 1024 * 1024,
            max_header_bytes: 16 * 1024,
        })
    }

    #[tokio::test]
    async fn the_oldest_stranger_makes_room_and_proven_connections_keep_theirs() {
        let places = places(3, 2);
        let first = places.admit().unwrap();
        let second = places.admit().unwrap();
        // Strangers' share is full: the oldest is told to close.
        let third = places.admit().unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), first.closed.notified())
            .await
            .expect("the oldest stranger is closed");
        first.leave();
        second.prove();
        third.prove();
        let fourth = places.admit().unwrap();
        fourth.prove();
        // Every place is held by a connection that proved itself: no room.
        assert!(places.admit().is_none());
        second.leave();
        // Strangers' bodies have their own, smaller share: a quarter of the budget.
        let stranger = places.admit().unwrap();
        let _held = stranger.take_bytes(8 * 1024 * 1024).expect("a quarter");
        assert!(stranger.take_bytes(1).is_none(), "strangers' share spent");
        assert!(fourth.take_bytes(1024).is_some(), "proven keep theirs");
    }
}
