//! Tallyfy's webhook: every task the app creates carries a `webhook`, a URL on
//! `PUBLIC_URL` with an unguessable token for that creation, which Tallyfy calls when the
//! task is completed (once, with no retries and no signature; its `X-Tallyfy-orgID`
//! header names the organization). The call is a trigger, never a source of truth:
//!
//! - it is checked (a token this service gave out, this organization, at most
//!   [`CALLS_PER_MINUTE`] calls a minute on one token) and kept as a job on the durable
//!   queue before it is answered; only the payload's task id is kept. A call the store
//!   cannot keep is answered 503 (Tallyfy does not call again; without a public URL the
//!   poller reads the work instead, see `docs/keys.md`);
//! - the job ([`tell_job`]) waits for the card's record, checks that the task is the one
//!   the token's card follows (the task itself, or one of the project's tasks), reads what
//!   to tell from Tallyfy, and tells each piece of news once, marking it told only after
//!   Slack took it; Slack failing is waited out with backoff, then by the queue.
//!
//! One card's news is told by one teller at a time (`news::holding`, which the poller,
//! Reopen and a Retry's card go through too), from what Tallyfy says at that moment, so a
//! late call never shows an older state.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::news::{self, News, Untold};
use super::poll;
use super::store::{self, Card, Followed, DONE_TTL, FOLLOW_TTL};
use crate::jobs::ledger::{Step, Stored};
use crate::jobs::Outcome;
use crate::state::{AppState, Services};

/// The kind under which a webhook call is queued.
pub const KIND: &str = "webhook";
/// Calls a minute one webhook token may make; beyond it, nothing is done.
pub const CALLS_PER_MINUTE: i64 = 10;
/// How long a job waits, within one run, for the card's record to be kept.
const CARD_WAIT: Duration = Duration::from_secs(20);
/// The pauses between tries when Slack does not take the news, within one run.
const SLACK_BACKOFF: [u64; 4] = [1, 2, 4, 8];

/// Where Tallyfy calls; the token follows.
pub const ROUTE: &str = "/tallyfy/webhook/{token}";
const ROUTE_PREFIX: &str = "/tallyfy/webhook/";

/// The webhook for creation `step` of `job`; none without a public URL (Socket Mode).
pub async fn webhook_for(app: &Services, job: &str, step: Step) -> Option<String> {
    let base = app.config.public_url.as_ref()?;
    let token = store::of(app).webhook_token(job, step).await;
    Some(format!(
        "{}{ROUTE_PREFIX}{token}",
        base.as_str().trim_end_matches('/')
    ))
}

/// The one thing kept from a call: the task it names (Tallyfy's task payload's
/// `this_task.id`). Everything else is read from Tallyfy.
#[derive(Debug, Deserialize)]
struct Event {
    this_task: TaskEvent,
}

#[derive(Debug, Deserialize)]
struct TaskEvent {
    id: Value,
}

/// The task a payload names, when it names one plausibly.
fn task_named(body: &[u8]) -> Option<String> {
    let event = serde_json::from_slice::<Event>(body).ok()?;
    let id = match event.this_task.id {
        Value::String(id) => id,
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let plausible = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    plausible.then_some(id)
}

/// A webhook call, queued: whose card, and the task the call named.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookJob {
    /// What the job runs under: the card and the task.
    pub key: String,
    pub job: String,
    pub task: String,
}

impl WebhookJob {
    pub fn stored(&self) -> Stored {
        Stored::new(KIND, &self.key, self)
    }
}

/// How a webhook call was taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Checked and kept as a job.
    Accepted,
    /// A token this service never gave out.
    Unknown,
    /// Sent for another organization.
    Foreign,
    /// Not a task payload.
    Malformed,
    /// Too many calls on this token this minute: nothing is done.
    Limited,
    /// The store could not check or keep it.
    Unavailable,
}

/// Checks a call before its body is read: this organization, and a token this service
/// gave out; answers the card's job the token was made for.
pub async fn admit(app: &AppState, token: &str, org: Option<&str>) -> Result<String, Received> {
    if org != Some(app.tallyfy.org_id()) {
        return Err(Received::Foreign);
    }
    match store::of(app).watched(token).await {
        Ok(Some(job)) => Ok(job),
        Ok(None) => Err(Received::Unknown),
        Err(e) => {
            tracing::warn!(error = %e, "could not check a webhook call");
            Err(Received::Unavailable)
        }
    }
}

/// Takes an admitted call on `token` (made for job `job`) whose body is `body`.
pub async fn take(app: &AppState, token: &str, job: String, body: &[u8]) -> Received {
    let cards = store::of(app);
    let Some(task) = task_named(body) else {
        return Received::Malformed;
    };
    match cards.count_call(token).await {
        Ok(calls) if calls > CALLS_PER_MINUTE => {
            app.metrics.job("webhook", "limited");
            return Received::Limited;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not count a webhook call");
            return Received::Unavailable;
        }
    }
    let work = WebhookJob {
        key: format!("webhook:{job}:{task}"),
        job,
        task,
    };
    if let Err(e) = app.jobs.submit_kept(work.stored()).await {
        tracing::warn!(error = %e, "could not keep a webhook call");
        return Received::Unavailable;
    }
    app.metrics.job("webhook", "kept");
    Received::Accepted
}

/// Runs a kept webhook call: tells the news of the card's work, read from Tallyfy.
pub async fn tell_job(app: &Services, work: &WebhookJob) -> Outcome {
    let Some(card) = card_when_kept(app, &work.job).await else {
        if app.ledger.told(&work.job).await {
            // Told without a card (a response URL or a direct message): no thread to tell.
            return Outcome::Done;
        }
        return Outcome::Untold;
    };
    let Some(followed) = followed(app, &work.job, &card).await else {
        tracing::info!("a webhook call for a card with nothing to follow; nothing told");
        return Outcome::Done;
    };
    news::holding(
        app,
        &work.job,
        news::HOLD,
        tell_followed(app, work, &followed),
    )
    .await
    .unwrap_or(Outcome::Untold)
}

/// Tells what Tallyfy says of `followed`, when the call's task belongs to it.
async fn tell_followed(app: &Services, work: &WebhookJob, followed: &Followed) -> Outcome {
    let cards = store::of(app);
    let belongs = match followed {
        Followed::Task(id) => id.0 == work.task,
        Followed::Run(run) => match app.tallyfy.get_run(run).await {
            Ok(run) => run
                .tasks
                .is_some_and(|t| t.data.iter().any(|t| t.id.0 == work.task)),
            Err(e) => {
                tracing::info!(error = %e, "could not read a project for a webhook call");
                return Outcome::Untold;
            }
        },
    };
    if !belongs {
        app.metrics.job("webhook", "refused");
        tracing::warn!("a webhook call named a task its card does not follow; nothing told");
        return Outcome::Done;
    }
    let Ok(all) = poll::read(app, followed).await else {
        return Outcome::Untold;
    };
    for news in all {
        if cards.was_told(&news.key).await {
            continue;
        }
        let key = news.key.clone();
        let ttl = if finished(&news) {
            DONE_TTL
        } else {
            FOLLOW_TTL
        };
        if !tell_with_backoff(app, &work.job, news).await {
            return Outcome::Untold;
        }
        cards.mark_told(&key, ttl).await;
        app.metrics.job("webhook", "news");
    }
    Outcome::Done
}

fn finished(news: &News) -> bool {
    news.progress.is_finished()
}

/// Tells `news`, trying again with growing pauses while Slack does not take it.
async fn tell_with_backoff(app: &Services, job: &str, news: News) -> bool {
    for pause in std::iter::once(0).chain(SLACK_BACKOFF) {
        tokio::time::sleep(Duration::from_secs(pause)).await;
        match news::tell(app, job, news.clone()).await {
            Ok(()) => return true,
            Err(Untold::NoCard) => return false,
            Err(Untold::Slack) => {}
        }
    }
    false
}

/// Job `job`'s card, waiting up to [`CARD_WAIT`] for its record (a completion can come
/// before the card is posted).
async fn card_when_kept(app: &Services, job: &str) -> Option<Card> {
    let cards = store::of(app);
    let mut waited = Duration::ZERO;
    loop {
        if let Some(card) = cards.card(job).await {
            return Some(card);
        }
        if waited >= CARD_WAIT || app.ledger.told(job).await {
            // The card's record is kept before its job is marked told.
            return cards.card(job).await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        waited += Duration::from_millis(250);
    }
}

/// What the card follows; for a record kept by an earlier release, what its buttons act
/// on says it.
async fn followed(app: &Services, job: &str, card: &Card) -> Option<Followed> {
    if let Some(followed) = &card.followed {
        return Some(followed.clone());
    }
    let cards = store::of(app);
    if let Some(target) = cards.target(job, None).await {
        return Some(Followed::Task(target.created.id));
    }
    let line = cards.target(job, Some(1)).await?;
    line.created.run_id().cloned().map(Followed::Run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_task_id_is_taken_from_a_payload() {
        let body = serde_json::json!({"this_task": {"id": "t1", "title": "x".repeat(60_000)}});
        assert_eq!(
            task_named(body.to_string().as_bytes()).as_deref(),
            Some("t1")
        );
        let numeric = serde_json::json!({"this_task": {"id": 42}});
        assert_eq!(
            task_named(numeric.to_string().as_bytes()).as_deref(),
            Some("42")
        );
        let odd = serde_json::json!({"this_task": {"id": "a b"}});
        assert_eq!(task_named(odd.to_string().as_bytes()), None);
        assert_eq!(task_named(b"{}"), None);
    }
}
