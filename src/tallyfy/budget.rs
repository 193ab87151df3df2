//! Tallyfy's rate budget: 600 requests a minute for the organization, on a rolling window.
//! Every replica books its calls in one schedule kept in the store, so together they never
//! send more than the budget in any window; a call that would overrun it waits for its
//! turn instead of collecting a 429. While the store cannot be reached, each replica keeps
//! the same schedule in process.
//!
//! The budget is shared fairly: no call waits longer than [`MAX_WAIT`] for its turn (past
//! that it is refused as Tallyfy would refuse it, with the time to wait), and a call that
//! is called off before its turn gives its booking back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::{Reservation, SendSchedule, Store};

/// Where the schedule lives in the store.
const KEY: &str = "tallyfy:budget";
/// Added to the window, so that clock and network jitter between this service and Tallyfy
/// can never make Tallyfy count more calls in a window than the budget.
const MARGIN: Duration = Duration::from_millis(100);
/// The longest a call waits for its turn; one that would wait longer is refused at once.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

pub struct RateBudget {
    store: Arc<dyn Store>,
    limit: u32,
    window: Duration,
    /// The schedules used while the store cannot be reached, by key.
    local: Arc<Mutex<std::collections::HashMap<String, SendSchedule>>>,
    /// Whether the fall-back to the local schedule has been logged.
    warned: AtomicBool,
}

/// The budget has no room within [`MAX_WAIT`]: the earliest turn is `0` away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full(pub Duration);

/// A booking not yet used; given back if dropped before its turn came.
struct Pending {
    give_back: Option<Box<dyn FnOnce() + Send>>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(give_back) = self.give_back.take() {
            give_back();
        }
    }
}

impl RateBudget {
    /// At most `limit` calls in any `window`, shared through `store`.
    pub fn new(store: Arc<dyn Store>, limit: u32, window: Duration) -> Self {
        Self {
            store,
            limit,
            window,
            local: Arc::default(),
            warned: AtomicBool::new(false),
        }
    }

    /// Waits until a call fits in the budget, then counts it; answers how long it waited,
    /// or, when its turn is more than [`MAX_WAIT`] away, that it was not booked.
    pub async fn acquire(&self) -> Result<Duration, Full> {
        self.acquire_as(None).await
    }

    /// As [`RateBudget::acquire`], from the budget of the person with this email, or of the
    /// service's own calls: Tallyfy counts each user's calls on their own.
    pub async fn acquire_as(&self, person: Option<&str>) -> Result<Duration, Full> {
        let key = match person {
            None => KEY.to_string(),
            Some(email) => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(email.trim().to_lowercase().as_bytes());
                format!("{KEY}:{}", hex::encode(&digest[..12]))
            }
        };
        let window = self.window + MARGIN;
        let (wait, mut pending) = match self.store.reserve(&key, self.limit, window, MAX_WAIT).await
        {
            Ok(Reservation::Booked { wait, id }) => {
                self.warned.store(false, Ordering::Relaxed);
                let store = self.store.clone();
                let booked_in = key.clone();
                let give_back = move || {
                    tokio::spawn(async move {
                        let _ = store.unbook(&booked_in, &id).await;
                    });
                };
                (
                    wait,
                    Pending {
                        give_back: Some(Box::new(give_back)),
                    },
                )
            }
            Ok(Reservation::Full { wait }) => return Err(Full(wait)),
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "the shared Tallyfy rate budget is unreachable; keeping it in this process");
                }
                let now = tokio::time::Instant::now();
                let booked = self
                    .local
                    .lock()
                    .unwrap()
                    .entry(key.clone())
                    .or_default()
                    .book(now, self.limit, window, MAX_WAIT);
                match booked {
                    Ok((at, id)) => {
                        let local = self.local.clone();
                        let give_back = move || {
                            if let Some(schedule) = local.lock().unwrap().get_mut(&key) {
                                schedule.unbook(id);
                            }
                        };
                        (
                            at - now,
                            Pending {
                                give_back: Some(Box::new(give_back)),
                            },
                        )
                    }
                    Err(at) => return Err(Full(at - now)),
                }
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        // The turn came: the booking is used.
        pending.give_back = None;
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_lone_call_does_not_wait_and_a_burst_is_spread_over_windows() {
        let budget = RateBudget::new(Arc::new(MemoryStore::default()), 5, Duration::from_secs(1));
        let start = Instant::now();
        assert_eq!(budget.acquire().await, Ok(Duration::ZERO));
        for _ in 0..4 {
            budget.acquire().await.unwrap();
        }
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the budget's worth goes at once"
        );
        budget.acquire().await.unwrap();
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(1100),
            "the sixth waits a window"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn each_person_has_a_budget_of_their_own_beside_the_services() {
        let budget = RateBudget::new(Arc::new(MemoryStore::default()), 2, Duration::from_secs(10));
        let start = Instant::now();
        for _ in 0..2 {
            budget.acquire().await.unwrap();
            budget.acquire_as(Some("alice@example.com")).await.unwrap();
        }
        // The service's budget and Alice's are spent; Bob's (however his email is written)
        // is not.
        budget.acquire_as(Some("Bob@Example.com ")).await.unwrap();
        budget.acquire_as(Some("bob@example.com")).await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO);
        budget.acquire_as(Some("BOB@example.com")).await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_secs(10),
            "Bob's third waits for his window"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_holds_more_than_the_limit() {
        let schedule = Arc::new(RateBudget::new(
            Arc::new(MemoryStore::default()),
            20,
            Duration::from_secs(1),
        ));
        let start = Instant::now();
        let times = Arc::new(Mutex::new(Vec::new()));
        let mut calls = Vec::new();
        for _ in 0..200 {
            let (schedule, times) = (schedule.clone(), times.clone());
            calls.push(tokio::spawn(async move {
                schedule.acquire().await.unwrap();
                times.lock().unwrap().push(start.elapsed());
            }));
        }
        for call in calls {
            call.await.unwrap();
        }
        let mut times = times.lock().unwrap().clone();
        times.sort();
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_secs(1))
                .count();
            assert!(in_window <= 20, "{in_window} calls in one window");
        }
        assert!(
            times.last().unwrap() < &Duration::from_secs(11),
            "{:?}",
            times.last()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_further_off_than_the_cap_is_refused_unbooked() {
        let budget = RateBudget::new(Arc::new(MemoryStore::default()), 1, Duration::from_secs(40));
        assert_eq!(budget.acquire().await, Ok(Duration::ZERO));
        let Err(Full(wait)) = budget.acquire().await else {
            panic!("booked past the cap")
        };
        assert!(wait > MAX_WAIT, "{wait:?}");
        // Nothing was booked: after the window, one call goes at once again.
        tokio::time::sleep(Duration::from_secs(41)).await;
        assert_eq!(budget.acquire().await, Ok(Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_given_up_before_its_turn_gives_its_turn_back() {
        let budget = Arc::new(RateBudget::new(
            Arc::new(MemoryStore::default()),
            2,
            Duration::from_secs(10),
        ));
        budget.acquire().await.unwrap();
        budget.acquire().await.unwrap();
        // The third waits for the next window; it is called off after a second.
        let waiting = budget.clone();
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            async move { waiting.acquire().await },
        )
        .await;
        tokio::task::yield_now().await;
        // Its turn is free again: the next window holds two more calls, not one.
        let start = Instant::now();
        budget.acquire().await.unwrap();
        budget.acquire().await.unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
    }
}
