//! A check made at most once per interval, by however many workers share it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Says yes to the first caller, then to no one until `every` has passed.
pub struct Pace {
    every: Duration,
    last: Mutex<Option<Instant>>,
}

impl Pace {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last: Mutex::new(None),
        }
    }

    /// Whether the check is due; if it is, the next one is due `every` from now.
    pub fn due(&self) -> bool {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|at| now.duration_since(at) >= self.every);
        if due {
            *last = Some(now);
        }
        due
    }

    /// The next check is due at once.
    pub fn now(&self) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_check_is_due_once_per_interval_or_when_asked_for() {
        let pace = Pace::new(Duration::from_secs(1));
        assert!(pace.due());
        assert!(!pace.due());
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(!pace.due());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(pace.due());
        pace.now();
        assert!(pace.due());
    }
}
