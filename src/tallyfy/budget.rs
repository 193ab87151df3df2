//! Tallyfy's rate budget: 600 requests a minute for the organization, on a rolling window.
//! Every replica books its calls in one schedule kept in the store, so together they never
//! send more than the budget in any window; a call that would overrun it waits for its
//! turn instead of collecting a 429. While the store cannot be reached, each replica keeps
//! the same schedule in process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::{SendSchedule, Store};

/// Where the schedule lives in the store.
const KEY: &str = "tallyfy:budget";
/// Added to the window, so that clock and network jitter between this service and Tallyfy
/// can never make Tallyfy count more calls in a window than the budget.
const MARGIN: Duration = Duration::from_millis(100);

pub struct RateBudget {
    store: Arc<dyn Store>,
    limit: u32,
    window: Duration,
    /// The schedule used while the store cannot be reached.
    local: Mutex<SendSchedule>,
    /// Whether the fall-back to the local schedule has been logged.
    warned: AtomicBool,
}

impl RateBudget {
    /// At most `limit` calls in any `window`, shared through `store`.
    pub fn new(store: Arc<dyn Store>, limit: u32, window: Duration) -> Self {
        Self {
            store,
            limit,
            window,
            local: Mutex::new(SendSchedule::default()),
            warned: AtomicBool::new(false),
        }
    }

    /// Waits until a call fits in the budget, then counts it; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        let window = self.window + MARGIN;
        let wait = match self.store.reserve(KEY, self.limit, window).await {
            Ok(wait) => {
                self.warned.store(false, Ordering::Relaxed);
                wait
            }
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "the shared Tallyfy rate budget is unreachable; keeping it in this process");
                }
                let now = tokio::time::Instant::now();
                let at = self.local.lock().unwrap().book(now, self.limit, window);
                at - now
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
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
        assert_eq!(budget.acquire().await, Duration::ZERO);
        for _ in 0..4 {
            budget.acquire().await;
        }
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the budget's worth goes at once"
        );
        budget.acquire().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(1100),
            "the sixth waits a window"
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
                schedule.acquire().await;
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
}
