//! Waiting for something to happen, never for a fixed time: each wait ends as soon as what
//! it waits for has happened, and fails with a message naming it when it does not.

use std::time::{Duration, Instant};

use super::app::{TestApp, CHANNEL};
use super::messages::Message;

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
pub async fn announced(app: &TestApp, within: Duration) -> Message {
    posted_in(app, CHANNEL, within).await
}

/// Waits (up to `within`) for a message posted to `channel` (a user id: a direct message).
pub async fn posted_in(app: &TestApp, channel: &str, within: Duration) -> Message {
    eventually_within(within, &format!("a message posted to {channel}"), || {
        app.slack
            .calls("chat.postMessage")
            .into_iter()
            .find(|c| c.body["channel"] == channel)
            .map(|c| Message::new(c.body))
    })
    .await
}

/// Waits (up to 10 s) for the first post to any response URL; returns the response URL's
/// hook and the message. `what` names it if it never comes.
pub async fn first_reply(app: &TestApp, what: &str) -> (String, Message) {
    eventually(what, || {
        let (hook, json) = app.slack.responses().into_iter().next()?;
        Some((hook, Message::new(json)))
    })
    .await
}

/// Waits (up to 10 s) for a post to the response URL Slack gave under `hook`.
pub async fn reply_through(app: &TestApp, hook: &str) -> Message {
    eventually(&format!("a reply through the response URL {hook}"), || {
        app.slack
            .responses()
            .into_iter()
            .find(|(h, _)| h == hook)
            .map(|(_, json)| Message::new(json))
    })
    .await
}

/// How long a replica may take to finish what it was asked before a test fails.
const IDLE_LIMIT: Duration = Duration::from_secs(30);

impl TestApp {
    /// Waits (up to 30 s) until this replica runs no job and no background work handed off
    /// by a request, and the queues it reads hold no job: everything asked of it so far has
    /// been done, so a test can go on to check that nothing else happened.
    ///
    /// Only for a replica run in this process; one run as the binary has no engine to ask.
    pub async fn idle(&self) {
        let jobs = self.jobs.as_ref().unwrap_or_else(|| {
            panic!(
                "idle() asks the job engine of a replica run in this process; {} runs as the \
                 binary, so wait for what it does instead (a message, a log line)",
                self.address
            )
        });
        if tokio::time::timeout(IDLE_LIMIT, jobs.idle()).await.is_err() {
            panic!(
                "{} was still busy after {IDLE_LIMIT:?}: a job or a request's background work \
                 never finished, or a job is still waiting in its queue",
                self.address
            );
        }
    }
}

/// Waits until every replica in `replicas` is idle. Waiting for each on its own is enough:
/// work moves between replicas only through the shared queue, and a job waiting or taken
/// there keeps every replica from being idle.
pub async fn all_idle(replicas: &[&TestApp]) {
    futures::future::join_all(replicas.iter().map(|replica| replica.idle())).await;
}
