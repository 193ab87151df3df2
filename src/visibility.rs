//! The channel sees the work get done. Every create the app sends carries a `webhook`: a
//! URL on `PUBLIC_URL` with an unguessable token for that creation, which Tallyfy calls
//! when the task is completed (once, with no retries and no signature; its
//! `X-Tallyfy-orgID` header names the organization). A call is checked (a token this
//! service gave out, this organization), told once whichever replica it reaches and however
//! often it comes (the task and its `completed_at`: a task reopened and completed again is
//! news again), answered at once, and then told in the confirmation's thread ("Bob
//! Builder completed *Draft contract*") while the confirmation itself is updated in place
//! ("3 of 5 done", "Done", "Project complete", the last also said in the channel).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use slack_morphism::prelude::*;

use crate::courier::Posted;
use crate::jobs::ledger::Step;
use crate::slack::{limits, mrkdwn};
use crate::state::{AppState, Services};

/// Where Tallyfy calls; the token follows.
pub const ROUTE: &str = "/tallyfy/webhook/{token}";
const ROUTE_PREFIX: &str = "/tallyfy/webhook/";
/// The block of the confirmation that says how far the work is.
const PROGRESS_BLOCK: &str = "progress";

/// The webhook for creation `step` of `job`; none without a public URL (Socket Mode).
pub async fn webhook_for(app: &Services, job: &str, step: Step) -> Option<String> {
    let base = app.config.public_url.as_ref()?;
    let token = app.ledger.webhook_token(job, step).await;
    Some(format!(
        "{}{ROUTE_PREFIX}{token}",
        base.as_str().trim_end_matches('/')
    ))
}

/// A confirmation in a channel: where it is and what it says.
#[derive(Serialize, Deserialize)]
struct Card {
    channel: String,
    ts: String,
    content: SlackMessageContent,
}

/// Keeps where a job's confirmation went, when it went to a channel.
pub async fn remember_card(
    app: &Services,
    job: &str,
    posted: &Posted,
    content: &SlackMessageContent,
) {
    if let Posted::InChannel { channel, ts } = posted {
        let card = Card {
            channel: channel.clone(),
            ts: ts.clone(),
            content: content.clone(),
        };
        let raw = serde_json::to_string(&card).expect("plain data");
        app.ledger.keep_card(job, &raw).await;
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
    status: Option<String>,
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
    let done = event.this_task.status.as_deref() == Some("completed");
    let when = event.this_task.completed_at.as_deref().unwrap_or("");
    let news = format!(
        "{}:{}:{when}",
        event.this_task.id,
        if done { "done" } else { "open" }
    );
    if !app.ledger.first_news(&news).await {
        app.metrics.job("webhook", "repeat");
        return Received::Accepted;
    }
    app.metrics.job("webhook", "news");
    let moved = app.clone();
    let _ = app
        .jobs
        .hand_off(async move { tell(&moved, &job, event, done).await });
    Received::Accepted
}

/// Tells the confirmation's thread, and updates the confirmation.
async fn tell(app: &Services, job: &str, event: Event, done: bool) {
    let Some(card) = app
        .ledger
        .card(job)
        .await
        .and_then(|raw| serde_json::from_str::<Card>(&raw).ok())
    else {
        // The confirmation went through a response URL or a direct message: no card.
        return;
    };
    let who = event
        .completer
        .as_ref()
        .or(event.this_task.completed_by.as_ref())
        .and_then(|p| p.full_name.as_deref())
        .unwrap_or("Someone");
    let title = mrkdwn::shorten(
        event.this_task.title.as_deref().unwrap_or("a task"),
        limits::SHOWN_TITLE,
    );
    let reply = if done {
        format!(
            ":white_check_mark: {} completed *{}*",
            mrkdwn::escape(who),
            mrkdwn::escape(&title)
        )
    } else {
        format!(
            ":arrows_counterclockwise: *{}* was reopened",
            mrkdwn::escape(&title)
        )
    };
    if let Err(e) = app
        .courier
        .reply_in_thread(&card.channel, &card.ts, &reply)
        .await
    {
        tracing::warn!(error = %e, "could not reply in the confirmation's thread");
    }
    let progress = Progress::of(&event, done);
    let updated = with_progress(card.content.clone(), &progress.line());
    if let Err(e) = app.courier.update(&card.channel, &card.ts, updated).await {
        tracing::warn!(error = %e, "could not update the confirmation");
    }
    if progress.is_project_complete() {
        let run = event
            .process
            .as_ref()
            .and_then(|p| p.id.as_ref())
            .map(Value::to_string)
            .unwrap_or_default();
        if app
            .ledger
            .first_news(&format!("complete:{job}:{run}"))
            .await
        {
            let name = event
                .process
                .as_ref()
                .and_then(|p| p.name.as_deref())
                .unwrap_or("The project");
            let line = format!(
                ":tada: *{}* is complete.",
                mrkdwn::escape(&mrkdwn::shorten(name, limits::SHOWN_TITLE))
            );
            let _ = app
                .courier
                .reply_in_thread(&card.channel, &card.ts, &line)
                .await;
            let _ = app.courier.say(&card.channel, &line).await;
        }
    }
}

/// How far the work is, as the card shows it.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    /// A project: this many of its tasks are done.
    Project { done: u64, total: u64 },
    /// A task on its own.
    Task { done: bool },
}

impl Progress {
    fn of(event: &Event, done: bool) -> Self {
        let counts = event.process.as_ref().and_then(|p| {
            let progress = p.progress.as_ref()?;
            let done = progress.get("complete").and_then(Value::as_u64)?;
            let total = progress.get("total").and_then(Value::as_u64)?;
            Some((done, total, p.status.as_deref() == Some("complete")))
        });
        match counts {
            Some((done, total, _)) if total > 1 => Progress::Project { done, total },
            _ => Progress::Task { done },
        }
    }

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
    blocks.retain(|b| !matches!(b, SlackBlock::Context(c) if c.block_id.as_ref().map(|id| id.0.as_str()) == Some(PROGRESS_BLOCK)));
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
            v["process"] = serde_json::json!({"id": "r1", "name": "Launch", "status": if done == total { "complete" } else { "active" }, "progress": {"complete": done, "total": total}});
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn progress_reads_the_process_and_says_what_the_card_shows() {
        assert_eq!(
            Progress::of(&event("completed", Some((3, 5))), true).line(),
            "3 of 5 done"
        );
        assert!(Progress::of(&event("completed", Some((5, 5))), true).is_project_complete());
        assert_eq!(
            Progress::of(&event("completed", None), true).line(),
            ":white_check_mark: Done"
        );
        assert_eq!(
            Progress::of(&event("not-started", None), false).line(),
            "Reopened"
        );
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
