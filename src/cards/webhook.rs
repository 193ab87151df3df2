//! Tallyfy's webhook: every task the app creates carries a `webhook`, a URL on
//! `PUBLIC_URL` with an unguessable token for that creation, which Tallyfy calls when the
//! task is completed (once, with no retries and no signature; its `X-Tallyfy-orgID`
//! header names the organization). A call is checked (a token this service gave out, this
//! organization), told once whichever replica it reaches and however often it comes (the
//! task and its `completed_at`: a task reopened and completed again is news again),
//! answered at once, and then told on the card ([`super::news`]).

use serde::Deserialize;
use serde_json::Value;

use super::news::{self, News, Progress};
use super::store;
use crate::home::store as home_store;
use crate::jobs::ledger::Step;
use crate::state::{AppState, Services};

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

/// What Tallyfy sends about a task (its documentation's task payload; fields the service
/// does not use are ignored, and every field it uses may be missing).
#[derive(Debug, Deserialize)]
struct Event {
    this_task: TaskEvent,
    #[serde(default)]
    completer: Option<Person>,
    #[serde(default)]
    process: Option<Process>,
}

#[derive(Debug, Deserialize)]
struct TaskEvent {
    id: Value,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    completed_at: Option<String>,
    #[serde(default)]
    completed_by: Option<Person>,
}

#[derive(Debug, Deserialize)]
struct Person {
    #[serde(default)]
    full_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Process {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    progress: Option<Value>,
}

/// How a webhook call was taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Checked and taken (or already told: nothing more to do).
    Accepted,
    /// A token this service never gave out.
    Unknown,
    /// Sent for another organization.
    Foreign,
    /// Not a task payload.
    Malformed,
}

/// Takes one webhook call: checks it, and hands the telling off.
pub async fn receive(app: &AppState, token: &str, org: Option<&str>, body: &[u8]) -> Received {
    if org != Some(app.tallyfy.org_id()) {
        return Received::Foreign;
    }
    let cards = store::of(app);
    let Some(job) = cards.watched(token).await else {
        return Received::Unknown;
    };
    let Ok(event) = serde_json::from_slice::<Event>(body) else {
        return Received::Malformed;
    };
    let mut news = news_from(&event);
    if !news.done {
        // A reopening is told once for the completion it undid (Tallyfy's payload no longer
        // says when that was).
        if let Some(Some(at)) = home_store::of(app)
            .done(std::slice::from_ref(&news.task))
            .await
            .pop()
        {
            news.key = News::key(&news.task, false, Some(&at));
        }
    }
    if !cards.first_news(&news.key).await {
        app.metrics.job("webhook", "repeat");
        return Received::Accepted;
    }
    app.metrics.job("webhook", "news");
    let moved = app.clone();
    let _ = app
        .jobs
        .hand_off(async move { news::tell(&moved, &job, news).await });
    Received::Accepted
}

/// What a webhook call tells.
fn news_from(event: &Event) -> News {
    let done = event.this_task.status.as_deref() == Some("completed");
    let task = match &event.this_task.id {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    };
    let progress = event
        .process
        .as_ref()
        .and_then(|p| {
            let progress = p.progress.as_ref()?;
            let done = progress.get("complete").and_then(Value::as_u64)?;
            let total = progress.get("total").and_then(Value::as_u64)?;
            (total > 1).then_some(Progress::Project { done, total })
        })
        .unwrap_or(Progress::Task { done });
    News {
        key: News::key(&task, done, event.this_task.completed_at.as_deref()),
        task: task.clone(),
        by: None,
        at: event.this_task.completed_at.clone(),
        title: event.this_task.title.clone(),
        who: event
            .completer
            .as_ref()
            .or(event.this_task.completed_by.as_ref())
            .and_then(|p| p.full_name.clone()),
        done,
        progress,
        process: event.process.as_ref().map(|p| {
            let id = match &p.id {
                Some(Value::String(id)) => id.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            (id, p.name.clone())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(status: &str, progress: Option<(u64, u64)>) -> Event {
        let mut v = serde_json::json!({"this_task": {"id": "t1", "title": "Draft <contract>", "status": status, "completed_at": "2026-11-29T10:00:00Z"}, "completer": {"full_name": "Bob Builder"}});
        if let Some((done, total)) = progress {
            v["process"] = serde_json::json!({"id": "r1", "name": "Launch", "progress": {"complete": done, "total": total}});
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn news_reads_the_payload() {
        let news = news_from(&event("completed", Some((3, 5))));
        assert_eq!(news.progress, Progress::Project { done: 3, total: 5 });
        assert_eq!(news.who.as_deref(), Some("Bob Builder"));
        assert_eq!(news.key, "t1:done:2026-11-29T10:00:00Z");
        assert_eq!(news.process, Some(("r1".into(), Some("Launch".into()))));
        let alone = news_from(&event("completed", None));
        assert_eq!(alone.progress, Progress::Task { done: true });
        let reopened = news_from(&event("not-started", None));
        assert_eq!(reopened.progress, Progress::Task { done: false });
        assert_ne!(reopened.key, alone.key, "a reopening is news of its own");
    }
}
