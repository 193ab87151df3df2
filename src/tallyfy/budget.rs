//! Tallyfy's rate budget (600 requests a minute for the organization), kept as a GCRA
//! schedule: requests are spaced evenly, with a small burst allowed, and a request that
//! would overrun the budget waits for its turn instead of collecting a 429.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct RateBudget {
    /// Time between requests at the sustained rate.
    interval: Duration,
    /// How far ahead of the schedule a burst may run.
    burst: Duration,
    /// The theoretical arrival time of the next request.
    next: Mutex<Option<Instant>>,
}

impl RateBudget {
    /// `per_minute` requests a minute, of which up to `burst` may go at once.
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        let interval = Duration::from_secs(60) / per_minute.max(1);
        Self {
            interval,
            burst: interval * burst.saturating_sub(1),
            next: Mutex::new(None),
        }
    }

    /// Waits until a request fits in the budget, then counts it; returns how long it waited.
    pub async fn acquire(&self) -> Duration {
        let wait = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let tat = next.map_or(now, |t| t.max(now));
            let allowed_at = tat.checked_sub(self.burst).unwrap_or(now);
            *next = Some(tat + self.interval);
            allowed_at.saturating_duration_since(now)
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

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_then_requests_are_spaced() {
        let budget = RateBudget::per_minute(600, 5);
        let start = Instant::now();
        for _ in 0..5 {
            budget.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst needs no wait");
        budget.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        for _ in 0..10 {
            budget.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(1100));
    }

    #[tokio::test(start_paused = true)]
    async fn no_minute_holds_more_than_the_budget() {
        let budget = RateBudget::per_minute(60, 10);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..200 {
            budget.acquire().await;
            times.push(start.elapsed());
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_secs(60))
                .count();
            assert!(in_window <= 60 + 10, "{in_window} requests in one minute");
        }
    }
}
