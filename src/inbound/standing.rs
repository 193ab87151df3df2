//! What a connection has proved. Every connection starts as a stranger's: until one of its
//! requests carries a valid Slack signature or a webhook token this service gave out, it
//! holds a place in a smaller share of the connections and of the memory for bodies, so
//! strangers crowding the port cannot take the places Slack's own requests need. When the
//! strangers' share is full, a stranger is closed to let a new connection in: the oldest of
//! those that sent a request's head and are still sending its body (or were refused),
//! else the oldest of those not heard from in the quarter second since they connected;
//! when there is none, the new connection is closed instead. A stranger whose request has
//! arrived whole is being checked and is never closed for another. Slack sends each
//! request at once, so a flood of trickling strangers cannot close Slack's connection
//! before its signature is checked, even when the flood keeps the service too busy to
//! read it at once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Duration, Instant};

use crate::config::HttpConfig;

/// The connections open and the memory bodies may take, shared by every connection.
pub struct Places {
    open: AtomicUsize,
    max_connections: usize,
    max_strangers: usize,
    /// Strangers' connections, each with the bell that closes it.
    strangers: Mutex<Strangers>,
    next: std::sync::atomic::AtomicU64,
    /// Bytes of bodies being read for connections that proved themselves: the rest of the
    /// budget (at least one of Slack's largest bodies).
    proven_bytes: Arc<Semaphore>,
    /// Bytes of bodies being read for strangers: a smaller share.
    stranger_bytes: Arc<Semaphore>,
}

/// Strangers' connections by how far their request has come, oldest first in each.
#[derive(Default)]
struct Strangers {
    /// Nothing read yet, each with when it connected.
    unheard: BTreeMap<u64, (Instant, Arc<Notify>)>,
    /// A request's head read and its body still arriving, or a request refused.
    heard: BTreeMap<u64, Arc<Notify>>,
    /// A request arrived whole and is being checked.
    arrived: BTreeMap<u64, Arc<Notify>>,
}

impl Strangers {
    fn len(&self) -> usize {
        self.unheard.len() + self.heard.len() + self.arrived.len()
    }

    fn remove(&mut self, id: u64) -> Option<Arc<Notify>> {
        self.unheard
            .remove(&id)
            .map(|(_, bell)| bell)
            .or_else(|| self.heard.remove(&id))
            .or_else(|| self.arrived.remove(&id))
    }

    /// The stranger to close for a new connection, taken out: none when every stranger
    /// connected less than [`UNHEARD_GRACE`] ago and was not heard from yet, or sent a
    /// request that arrived whole.
    fn evict(&mut self) -> Option<Arc<Notify>> {
        if let Some((_, bell)) = self.heard.pop_first() {
            return Some(bell);
        }
        let (_, (since, _)) = self.unheard.first_key_value()?;
        if since.elapsed() < UNHEARD_GRACE {
            return None;
        }
        self.unheard.pop_first().map(|(_, (_, bell))| bell)
    }
}

/// How long a new connection may wait to be read before a newcomer can take its place.
const UNHEARD_GRACE: Duration = Duration::from_millis(250);

/// Where a stranger's connection is among the strangers.
enum Stage {
    Heard,
    Arrived,
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
            strangers: Mutex::default(),
            next: Default::default(),
            proven_bytes: Arc::new(Semaphore::new((budget - strangers_bytes).max(1024 * 1024))),
            stranger_bytes: Arc::new(Semaphore::new(strangers_bytes.max(1))),
        })
    }

    /// A place for a new connection, a stranger's until it proves itself: when strangers
    /// fill their share (or every place is taken), a stranger is closed to make room (see
    /// the module's note); when every place is held by connections that proved themselves
    /// or whose request is being checked, none.
    pub fn admit(self: &Arc<Self>) -> Option<Standing> {
        let mut strangers = self.strangers.lock().unwrap();
        let full = self.open.load(Ordering::Acquire) >= self.max_connections;
        if full || strangers.len() >= self.max_strangers {
            match strangers.evict() {
                Some(bell) => {
                    tracing::debug!("strangers' connections are full: closing one");
                    bell.notify_one();
                }
                None => return None,
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let closed = Arc::new(Notify::new());
        strangers
            .unheard
            .insert(id, (Instant::now(), closed.clone()));
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
            self.places.strangers.lock().unwrap().remove(self.id);
        }
    }

    /// A request's head has arrived (its body may still be on its way), or a request was
    /// refused: a stranger is among the first to be closed for a new connection.
    pub fn heard(&self) {
        self.settle(Stage::Heard);
    }

    /// A request has arrived whole and is being checked: the stranger is not closed for a
    /// new connection until it is answered ([`Standing::heard`] again when it is refused).
    pub fn arrived(&self) {
        self.settle(Stage::Arrived);
    }

    fn settle(&self, stage: Stage) {
        if self.proven.load(Ordering::Acquire) {
            return;
        }
        let mut strangers = self.places.strangers.lock().unwrap();
        // A connection already closed to make room stays out.
        if let Some(bell) = strangers.remove(self.id) {
            match stage {
                Stage::Heard => strangers.heard.insert(self.id, bell),
                Stage::Arrived => strangers.arrived.insert(self.id, bell),
            };
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
        self.places.strangers.lock().unwrap().remove(self.id);
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

    #[tokio::test(start_paused = true)]
    async fn the_oldest_stranger_makes_room_and_proven_connections_keep_theirs() {
        let places = places(3, 2);
        let first = places.admit().unwrap();
        let second = places.admit().unwrap();
        tokio::time::advance(UNHEARD_GRACE).await;
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

    async fn is_closed(standing: &Standing) -> bool {
        tokio::time::timeout(
            std::time::Duration::from_millis(50),
            standing.closed.notified(),
        )
        .await
        .is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn tricklers_make_room_before_a_connection_not_yet_heard_and_a_whole_request_keeps_its_place(
    ) {
        let places = places(100, 3);
        let slack = places.admit().unwrap();
        let trickler = places.admit().unwrap();
        let idle = places.admit().unwrap();
        // Not heard from, and connected a moment ago: a newcomer is turned away.
        assert!(
            places.admit().is_none(),
            "no stranger has had its chance yet"
        );
        tokio::time::advance(UNHEARD_GRACE).await;
        trickler.heard();
        // The trickler sent its head and is still sending its body: it goes first, though
        // Slack's connection is older.
        let newcomer = places.admit().unwrap();
        assert!(is_closed(&trickler).await, "the trickler makes room");
        trickler.leave();
        assert!(!is_closed(&slack).await);
        // Slack's request arrived whole: it is checked, never closed for a newcomer.
        slack.arrived();
        let later = places.admit().unwrap();
        assert!(
            is_closed(&idle).await,
            "the oldest not heard from makes room"
        );
        idle.leave();
        tokio::time::advance(UNHEARD_GRACE).await;
        let last = places.admit().unwrap();
        assert!(is_closed(&newcomer).await);
        newcomer.leave();
        assert!(!is_closed(&slack).await, "a whole request keeps its place");
        // A refused request's connection is heard again: it may be closed.
        later.arrived();
        last.arrived();
        assert!(
            places.admit().is_none(),
            "every stranger's request is being checked"
        );
        slack.heard();
        let _again = places.admit().unwrap();
        assert!(is_closed(&slack).await);
    }
}
