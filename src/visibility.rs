//! The channel sees the work get done. Every create the app sends carries a `webhook`: a
//! URL on `PUBLIC_URL` with an unguessable token for that creation, which Tallyfy calls
//! when the task is completed (once, with no retries and no signature; its
//! `X-Tallyfy-orgID` header names the organization). A call is checked (a token this
//! service gave out, this organization), told once whichever replica it reaches and however
//! often it comes (the task and its `completed_at`: a task reopened and completed again is
//! news again), answered at once, and then told in the confirmation's thread ("Bob
//! Builder completed *Draft contract*") while the confirmation itself is updated in place
//! ("3 of 5 done", "Done", "Project complete", the last also said in the channel).
//!
//! Without a public URL (Socket Mode) there are no webhooks: one replica at a time (it
//! holds a lease in the store) reads the tasks and projects the app created, every
//! `TALLYFY_POLL_SECS`, within the shared rate budget, and tells the same news the same
//! way, once. Work a day old is read a tenth as often; work a month old, no more.
//!
//! A task's card carries its assignees' buttons ([`card`]): "Mark done" while it is open,
//! "Reopen" once it is done ([`actions`]), and "Comment" ([`comment`]); a project's card
//! offers the same for each of its lines. A reopening made from a card is told in the
//! thread with who made it ("@bob reopened *Draft contract*"). What was made for whom is
//! kept for their Home tab ([`records`]), with whether each task was last told done.

pub mod actions;
pub mod card;
pub mod comment;
mod poll;
pub mod records;

pub use poll::poll;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use slack_morphism::prelude::*;

use crate::courier::Posted;
use crate::jobs::ledger::{Step, FOLLOW_TTL};
use crate::slack::ids::UserId;
use crate::slack::{limits, mrkdwn};
use crate::state::{AppState, Services};
use crate::tallyfy::model::{RunId, TaskId};

/// Where Tallyfy calls; the token follows.
pub const ROUTE: &str = "/tallyfy/webhook/{token}";
const ROUTE_PREFIX: &str = "/tallyfy/webhook/";
/// The block of the confirmation that says how far the work is.
const PROGRESS_BLOCK: &str = "progress";
/// Where the work read by polling is listed, and how many entries the list keeps.
const POLLED: &str = "polled";
const POLLED_KEEP: usize = 1000;
/// The lease that makes one replica the poller.
const LEASE: &str = "poller";
const DAY: i64 = 24 * 3600;

/// The webhook for creation `step` of `job`; none without a public URL (Socket Mode).
pub async fn webhook_for(app: &Services, job: &str, step: Step) -> Option<String> {
    let base = app.config.public_url.as_ref()?;
    let token = app.ledger.webhook_token(job, step).await;
    Some(format!(
        "{}{ROUTE_PREFIX}{token}",
        base.as_str().trim_end_matches('/')
    ))
}

/// What a confirmation's card follows in Tallyfy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Followed {
    Task(TaskId),
    Run(RunId),
}

/// A confirmation in a channel: where it is and what it says.
#[derive(Serialize, Deserialize)]
struct Card {
    channel: String,
    ts: String,
    content: SlackMessageContent,
}

/// One piece of work the poller reads: whose card, what, and since when (unix seconds).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Polled {
    job: String,
    followed: Followed,
    since: i64,
}

/// Keeps where a job's confirmation went, when it went to a channel; without a public URL,
/// also lists what the card follows, for the poller.
pub async fn remember_card(
    app: &Services,
    job: &str,
    posted: &Posted,
    content: &SlackMessageContent,
    followed: Followed,
) {
    let Posted::InChannel { channel, ts } = posted else {
        return;
    };
    let card = Card {
        channel: channel.clone(),
        ts: ts.clone(),
        content: content.clone(),
    };
    let raw = serde_json::to_string(&card).expect("plain data");
    app.ledger.keep_card(job, &raw).await;
    if app.config.public_url.is_none() {
        let entry = Polled {
            job: job.to_string(),
            followed,
            since: jiff::Timestamp::now().as_second(),
        };
        let raw = serde_json::to_string(&entry).expect("plain data");
        if let Err(e) = app
            .store
            .push_recent(POLLED, &raw, POLLED_KEEP, FOLLOW_TTL)
            .await
        {
            tracing::warn!(error = %e, "could not list the work to read for completions");
        }
    }
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
    let Some(job) = app.ledger.watched(token).await else {
        return Received::Unknown;
    };
    let Ok(event) = serde_json::from_slice::<Event>(body) else {
        return Received::Malformed;
    };
    let mut news = News::from_event(&event);
    if !news.done {
        // A reopening is told once for the completion it undid (Tallyfy's payload no longer
        // says when that was).
        if let Some(Some(at)) = app
            .ledger
            .done(std::slice::from_ref(&news.task))
            .await
            .pop()
        {
            news.key = News::key(&news.task, false, Some(&at));
        }
    }
    if !app.ledger.first_news(&news.key).await {
        app.metrics.job("webhook", "repeat");
        return Received::Accepted;
    }
    app.metrics.job("webhook", "news");
    let moved = app.clone();
    let _ = app
        .jobs
        .hand_off(async move { tell(&moved, &job, news).await });
    Received::Accepted
}

/// A completion (or a reopening), however it was learned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct News {
    /// What it is told once by: the task, done or open, and when it was completed.
    key: String,
    /// The task's id.
    task: String,
    /// The Slack user who made the change from the card, when it was made there.
    by: Option<UserId>,
    /// When a completion was made.
    at: Option<String>,
    title: Option<String>,
    who: Option<String>,
    done: bool,
    progress: Progress,
    /// The project's run and name, for "is complete".
    process: Option<(String, Option<String>)>,
}

impl News {
    fn key(task: &str, done: bool, completed_at: Option<&str>) -> String {
        let state = if done { "done" } else { "open" };
        format!("{task}:{state}:{}", completed_at.unwrap_or(""))
    }

    fn from_event(event: &Event) -> Self {
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
        Self {
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
}

/// Tells the confirmation's thread, and updates the confirmation.
async fn tell(app: &Services, job: &str, news: News) {
    let Some(card) = app
        .ledger
        .card(job)
        .await
        .and_then(|raw| serde_json::from_str::<Card>(&raw).ok())
    else {
        // The confirmation went through a response URL or a direct message: no card.
        return;
    };
    let who = news.who.as_deref().unwrap_or("Someone");
    let title = mrkdwn::shorten(
        news.title.as_deref().unwrap_or("a task"),
        limits::SHOWN_TITLE,
    );
    // A completion made with the card's "Mark done" names the person who pressed it, not
    // the user of the service's own Tallyfy token.
    let pressed_by = match news.done {
        true => app.ledger.take_completer(&news.task).await,
        false => None,
    };
    let reply = if let (true, Some(user)) = (news.done, &pressed_by) {
        format!(
            ":white_check_mark: {} completed *{}*",
            mrkdwn::mention(user),
            mrkdwn::escape(&title)
        )
    } else if news.done {
        format!(
            ":white_check_mark: {} completed *{}*",
            mrkdwn::escape(who),
            mrkdwn::escape(&title)
        )
    } else if let Some(by) = &news.by {
        format!(
            ":arrows_counterclockwise: {} reopened *{}*",
            mrkdwn::mention(by),
            mrkdwn::escape(&title)
        )
    } else {
        format!(
            ":arrows_counterclockwise: *{}* was reopened",
            mrkdwn::escape(&title)
        )
    };
    let at = news.done.then(|| news.at.clone().unwrap_or_default());
    app.ledger.note_done(&news.task, at.as_deref()).await;
    if let Err(e) = app
        .courier
        .reply_in_thread(&card.channel, &card.ts, &reply)
        .await
    {
        tracing::warn!(error = %e, "could not reply in the confirmation's thread");
    }
    let finished = match news.progress {
        Progress::Task { done } => done,
        Progress::Project { .. } => news.progress.is_project_complete(),
    };
    let updated = card::with_turn(
        with_progress(card.content.clone(), &news.progress.line()),
        finished,
    );
    if let Err(e) = app.courier.update(&card.channel, &card.ts, updated).await {
        tracing::warn!(error = %e, "could not update the confirmation");
    }
    if news.progress.is_project_complete() {
        let (run, name) = news.process.clone().unwrap_or_default();
        if app
            .ledger
            .first_news(&format!("complete:{job}:{run}"))
            .await
        {
            let name = name.as_deref().unwrap_or("The project");
            let line = format!(
                ":tada: *{}* is complete.",
                mrkdwn::escape(&mrkdwn::shorten(name, limits::SHOWN_TITLE))
            );
            let _ = app.courier.say(&card.channel, &line).await;
        }
    }
}

/// Tells that `by` reopened `task` (titled `title`) from job `job`'s card, once for the
/// completion at `completed_at` it undid: in the thread, and on the card.
pub async fn reopened(
    app: &Services,
    job: &str,
    task: &TaskId,
    title: &str,
    by: &UserId,
    completed_at: Option<&str>,
) {
    let news = News {
        key: News::key(&task.0, false, completed_at),
        task: task.0.clone(),
        by: Some(by.clone()),
        at: None,
        title: Some(title.to_string()),
        who: None,
        done: false,
        progress: Progress::Task { done: false },
        process: None,
    };
    if app.ledger.first_news(&news.key).await {
        tell(app, job, news).await;
    }
}

/// How far the work is, as the card shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Progress {
    /// A project: this many of its tasks are done.
    Project { done: u64, total: u64 },
    /// A task on its own.
    Task { done: bool },
}

impl Progress {
    fn is_project_complete(&self) -> bool {
        matches!(self, Progress::Project { done, total } if done >= total)
    }

    fn line(&self) -> String {
        match self {
            Progress::Project { done, total } if done >= total => ":tada: Project complete".into(),
            Progress::Project { done, total } => format!("{done} of {total} done"),
            Progress::Task { done: true } => ":white_check_mark: Done".into(),
            Progress::Task { done: false } => "Reopened".into(),
        }
    }
}

/// The card with its progress line (replacing an earlier one), above its buttons.
fn with_progress(mut content: SlackMessageContent, line: &str) -> SlackMessageContent {
    let progress: SlackBlock = SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
        SlackBlockMarkDownText::new(line.to_string()),
    )])
    .with_block_id(PROGRESS_BLOCK.into())
    .into();
    let mut blocks = content.blocks.take().unwrap_or_default();
    blocks.retain(|b| {
        !matches!(b, SlackBlock::Context(c) if c.block_id.as_ref().map(|id| id.0.as_str()) == Some(PROGRESS_BLOCK))
    });
    let at = blocks
        .iter()
        .rposition(|b| matches!(b, SlackBlock::Actions(_)))
        .unwrap_or(blocks.len());
    blocks.insert(at, progress);
    content.blocks = Some(blocks);
    content
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
    fn news_reads_the_payload_and_says_what_the_card_shows() {
        let news = News::from_event(&event("completed", Some((3, 5))));
        assert_eq!(news.progress.line(), "3 of 5 done");
        assert_eq!(news.who.as_deref(), Some("Bob Builder"));
        assert_eq!(news.key, "t1:done:2026-11-29T10:00:00Z");
        assert!(News::from_event(&event("completed", Some((5, 5))))
            .progress
            .is_project_complete());
        let alone = News::from_event(&event("completed", None));
        assert_eq!(alone.progress.line(), ":white_check_mark: Done");
        let reopened = News::from_event(&event("not-started", None));
        assert_eq!(reopened.progress.line(), "Reopened");
        assert_ne!(reopened.key, alone.key, "a reopening is news of its own");
    }

    #[test]
    fn the_progress_line_replaces_the_last_one_above_the_buttons() {
        let content = SlackMessageContent::new().with_blocks(vec![
            SlackSectionBlock::new()
                .with_text(SlackBlockMarkDownText::new("card".into()).into())
                .into(),
            SlackActionsBlock::new(vec![]).into(),
        ]);
        let once = with_progress(content, "1 of 3 done");
        let twice = with_progress(once, "2 of 3 done");
        let json = serde_json::to_value(&twice).unwrap();
        let blocks = json["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[1]["block_id"], "progress");
        assert_eq!(blocks[1]["elements"][0]["text"], "2 of 3 done");
        assert_eq!(blocks[2]["type"], "actions");
    }
}
