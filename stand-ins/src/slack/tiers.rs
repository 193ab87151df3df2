//! Slack's rate limits, as its reference pages give them: per method, per workspace, per
//! app (api.slack.com/apis/rate-limits, "Overview"; each method's page names its tier;
//! slackapi/java-slack-sdk `MethodsRateLimits` lists the same):
//!
//! - Tier 2, "20+ per minute": `users.list`, `conversations.list`;
//! - Tier 3, "50+ per minute": `chat.update` and the other `conversations.*` methods the
//!   app calls (`conversations.history`, `.replies`, `.join`, `.info`);
//! - Tier 4, "100+ per minute": `views.open`, `views.update`, `views.push`,
//!   `views.publish`, `conversations.members`;
//! - `chat.postMessage`, the special tier: "1 per second per channel. Short bursts >1
//!   allowed" (rate-limits page, "Posting messages"; api.slack.com/methods/chat.postMessage,
//!   "Rate limiting"). Slack does not say how short; this stand-in lets a channel take
//!   [`POST_BURST`] posts at once, then one a second.
//!
//! Past a limit Slack answers HTTP 429 with `Retry-After`, the seconds to wait (rate-limits
//! page, "Responding to rate limiting conditions"); the call did nothing. A call refused
//! is not counted. Each tier's floor is what is enforced: Slack may allow more, never less.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Posts one channel takes at once before Slack holds it to one a second.
pub const POST_BURST: f64 = 10.0;
const MINUTE: Duration = Duration::from_secs(60);

/// Calls of `method` Slack answers in a minute, when it has a tier this stand-in keeps.
fn per_minute(method: &str) -> Option<usize> {
    match method {
        "users.list" | "conversations.list" => Some(20),
        "conversations.members" => Some(100),
        "chat.update" => Some(50),
        m if m.starts_with("conversations.") => Some(50),
        m if m.starts_with("views.") => Some(100),
        _ => None,
    }
}

/// What each limit has counted so far.
#[derive(Default)]
pub(super) struct Tiers {
    /// When each counted call of the last minute was made, by method.
    minute: HashMap<String, VecDeque<Instant>>,
    /// Each channel's posts left to burst, and when they were last topped up.
    posts: HashMap<String, (f64, Instant)>,
    /// Limits are not kept (a soak measuring the app, not Slack's pacing).
    pub off: bool,
}

impl Tiers {
    /// Counts a call of `method` (posting to `channel`), or answers the seconds the caller
    /// is to wait when the call is over its limit.
    pub fn admit(&mut self, method: &str, channel: &str) -> Result<(), u64> {
        if self.off {
            return Ok(());
        }
        let now = Instant::now();
        if method == "chat.postMessage" {
            let (left, since) = self
                .posts
                .entry(channel.to_string())
                .or_insert((POST_BURST, now));
            *left = (*left + now.duration_since(*since).as_secs_f64()).min(POST_BURST);
            *since = now;
            if *left < 1.0 {
                return Err(1);
            }
            *left -= 1.0;
            return Ok(());
        }
        let Some(most) = per_minute(method) else {
            return Ok(());
        };
        let calls = self.minute.entry(method.to_string()).or_default();
        while calls
            .front()
            .is_some_and(|t| now.duration_since(*t) >= MINUTE)
        {
            calls.pop_front();
        }
        if calls.len() >= most {
            let oldest = *calls.front().unwrap();
            return Err(MINUTE.saturating_sub(oldest.elapsed()).as_secs() + 1);
        }
        calls.push_back(now);
        Ok(())
    }
}

impl Tiers {
    /// Counts `calls` calls of `method` made now by someone else with the same app in the
    /// same workspace (Slack's limits are per app per workspace: another replica, or the
    /// app's previous process).
    pub fn spend(&mut self, method: &str, calls: usize) {
        let now = Instant::now();
        let counted = self.minute.entry(method.to_string()).or_default();
        counted.extend(std::iter::repeat_n(now, calls));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_is_held_to_its_tier() {
        let mut tiers = Tiers::default();
        for _ in 0..50 {
            assert_eq!(tiers.admit("chat.update", "C1"), Ok(()));
        }
        assert!(
            tiers.admit("chat.update", "C1").is_err(),
            "Tier 3: 50 a minute"
        );
        for _ in 0..20 {
            assert_eq!(tiers.admit("users.list", ""), Ok(()));
        }
        let wait = tiers.admit("users.list", "").unwrap_err();
        assert!((1..=61).contains(&wait), "{wait}");
        for _ in 0..100 {
            assert_eq!(tiers.admit("views.open", ""), Ok(()));
        }
        assert!(
            tiers.admit("views.open", "").is_err(),
            "Tier 4: 100 a minute"
        );
        assert_eq!(tiers.admit("auth.test", ""), Ok(()), "no tier kept");
    }

    #[test]
    fn a_channel_takes_a_short_burst_of_posts_then_one_a_second() {
        let mut tiers = Tiers::default();
        for _ in 0..POST_BURST as usize {
            assert_eq!(tiers.admit("chat.postMessage", "C1"), Ok(()));
        }
        assert_eq!(tiers.admit("chat.postMessage", "C1"), Err(1));
        assert_eq!(tiers.admit("chat.postMessage", "C2"), Ok(()), "per channel");
    }
}
