//! Send times booked in a rolling window: the shape of Tallyfy's rate budget. The store
//! keeps one schedule per key (in Redis for every replica, or in process), and the budget
//! books each call in it.

use std::collections::VecDeque;
use std::time::Duration;

/// A booking in a send schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// Booked: send after `wait`; `id` gives the booking back if the send is called off.
    Booked { wait: Duration, id: String },
    /// Not booked: the earliest free time is `wait` away, further than was acceptable.
    Full { wait: Duration },
}

/// Send times booked in a rolling window, oldest first: a new send goes at the earliest
/// moment that is not before the last one booked and leaves at most `limit` sends in any
/// window of `window` ending at it. One booking per send, no polling.
#[derive(Debug, Default)]
pub struct SendSchedule {
    booked: VecDeque<(tokio::time::Instant, u64)>,
    next_id: u64,
}

impl SendSchedule {
    /// Books a send no later than `within` from `now`: when it may go, and the booking's
    /// id; or, unbooked, the earliest time there would have been.
    pub fn book(
        &mut self,
        now: tokio::time::Instant,
        limit: u32,
        window: Duration,
        within: Duration,
    ) -> Result<(tokio::time::Instant, u64), tokio::time::Instant> {
        while self.booked.front().is_some_and(|(t, _)| *t + window <= now) {
            self.booked.pop_front();
        }
        let limit = limit.max(1) as usize;
        let mut at = now.max(self.booked.back().map(|(t, _)| *t).unwrap_or(now));
        if self.booked.len() >= limit {
            at = at.max(self.booked[self.booked.len() - limit].0 + window);
        }
        if at - now > within {
            return Err(at);
        }
        self.next_id += 1;
        self.booked.push_back((at, self.next_id));
        Ok((at, self.next_id))
    }

    /// The last send booked, if any.
    pub fn last(&self) -> Option<tokio::time::Instant> {
        self.booked.back().map(|(t, _)| *t)
    }

    /// Gives back the booking `id`.
    pub fn unbook(&mut self, id: u64) {
        self.booked.retain(|(_, booked)| *booked != id);
    }
}
