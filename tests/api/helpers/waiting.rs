//! Waiting for something to happen, never for a fixed time: each wait ends as soon as what
//! it waits for has happened, and fails with a message naming it when it does not.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::app::{TestApp, CHANNEL};

/// Polls `probe` until it yields a value (up to 10 s).
pub async fn eventually<T>(what: &str, probe: impl FnMut() -> Option<T>) -> T {
    eventually_within(Duration::from_secs(10), what, probe).await
}

/// Polls `probe` until it yields a value, for up to `limit`.
pub async fn eventually_within<T>(
    limit: Duration,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if started.elapsed() > limit {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to `within`) for the message posted to `CHANNEL`.
pub async fn announced(app: &TestApp, within: Duration) -> Value {
    posted_in(app, CHANNEL, within).await
}

/// Waits (up to `within`) for a message posted to `channel` (a user id: a direct message).
pub async fn posted_in(app: &TestApp, channel: &str, within: Duration) -> Value {
    eventually_within(within, "the message", || {
        app.slack
            .calls("chat.postMessage")
            .into_iter()
            .find(|c| c.body["channel"] == channel)
            .map(|c| c.body)
    })
    .await
}

/// Waits long enough for background work to have happened, for asserting that it did not.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}
