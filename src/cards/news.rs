//! Telling a card's news, however it was learned (Tallyfy's webhook, the poller, a press
//! of Reopen): once, in the card's thread ("Bob Builder completed *Draft contract*"), with
//! the card updated in place ("3 of 5 done", "Done", "Project complete", the last also
//! said in the channel).
//!
//! One card's news is told by one teller at a time ([`holding`]), each reading Tallyfy's
//! state once it holds the card: a late teller never puts an older state back.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use slack_morphism::prelude::*;

use super::buttons;
use super::store;
use crate::slack::ids::UserId;
use crate::slack::{limits, mrkdwn};
use crate::state::Services;
use crate::tallyfy::model::TaskId;
use crate::worklists;

/// The block of the card that says how far the work is.
const PROGRESS_BLOCK: &str = "progress";

/// A completion (or a reopening), however it was learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct News {
    /// What it is told once by: the task, done or open, and when it was completed.
    pub key: String,
    /// The task's id.
    pub task: String,
    /// The Slack user who made the change from the card, when it was made there.
    pub by: Option<UserId>,
    /// When a completion was made.
    pub at: Option<String>,
    pub title: Option<String>,
    pub who: Option<String>,
    pub done: bool,
    /// An approval's decision, as Tallyfy has it: approved (`true`) or rejected.
    pub approved: Option<bool>,
    pub progress: Progress,
    /// The project's run and name, for "is complete".
    pub process: Option<(String, Option<String>)>,
}

impl News {
    pub fn key(task: &str, done: bool, completed_at: Option<&str>) -> String {
        let state = if done { "done" } else { "open" };
        format!("{task}:{state}:{}", completed_at.unwrap_or(""))
    }
}

/// How far the work is, as the card shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A project: this many of its lines are done; `complete` when Tallyfy says the run is.
    Project {
        done: u64,
        total: u64,
        complete: bool,
    },
    /// A project whose lines could not be counted: the percentage Tallyfy gives.
    Percent { percent: u64, complete: bool },
    /// A task on its own.
    Task { done: bool },
}

impl Progress {
    pub(super) fn is_project_complete(&self) -> bool {
        matches!(
            self,
            Progress::Project { complete: true, .. } | Progress::Percent { complete: true, .. }
        )
    }

    /// Whether the work is finished: a task done, a project Tallyfy says is complete.
    pub fn is_finished(&self) -> bool {
        match self {
            Progress::Task { done } => *done,
            _ => self.is_project_complete(),
        }
    }

    fn line(&self) -> String {
        match self {
            _ if self.is_project_complete() => ":tada: Project complete".into(),
            Progress::Project { done, total, .. } => format!("{done} of {total} done"),
            Progress::Percent { percent, .. } => format!("{percent}% done"),
            Progress::Task { done: true } => ":white_check_mark: Done".into(),
            Progress::Task { done: false } => "Reopened".into(),
        }
    }
}

/// Why news was not told.
#[derive(Debug, PartialEq, Eq)]
pub enum Untold {
    /// The card's record is not kept (yet, or ever: a confirmation through a response URL
    /// or a direct message has no card).
    NoCard,
    /// Slack did not take the update or the reply: tell it again later.
    Slack,
}

/// How long one card's news is held by its teller without word from it (the hold then
/// lapses, so a teller that died holds nothing for long).
pub(super) const HOLD: Duration = Duration::from_secs(90);
/// How often a teller waiting for the card looks again.
const HOLD_POLL: Duration = Duration::from_millis(100);

/// Runs `tell` while holding job `job`'s card, waiting up to `wait` for whoever holds it
/// now; `None`, with nothing done, when the card was not free in time: the caller leaves
/// its news untold, for its next round. Every teller of a card's news (Tallyfy's webhook,
/// the poller, Reopen, the card a Retry puts in place) goes through here, and reads
/// Tallyfy inside `tell`, so the card's updates land in the order Tallyfy's states came.
pub(super) async fn holding<T>(
    app: &Services,
    job: &str,
    wait: Duration,
    tell: impl Future<Output = T>,
) -> Option<T> {
    static TELLERS: AtomicU64 = AtomicU64::new(0);
    let teller = TELLERS.fetch_add(1, Ordering::Relaxed);
    let holder = format!("{}/{teller}", crate::store::instance_name());
    let key = format!("news:{job}");
    let started = tokio::time::Instant::now();
    while !matches!(app.ledger.lock(&key, &holder, HOLD).await, Ok(true)) {
        if started.elapsed() >= wait {
            return None;
        }
        tokio::time::sleep(HOLD_POLL).await;
    }
    // A long telling (a big project's lines, while Slack paces the posts) keeps its hold.
    let keep = async {
        loop {
            tokio::time::sleep(HOLD / 3).await;
            app.ledger.relock(&key, &holder, HOLD).await;
        }
    };
    let told = tokio::select! {
        told = tell => told,
        never = keep => never,
    };
    app.ledger.unlock(&key).await;
    Some(told)
}

/// Tells `news` in job `job`'s card's thread, and updates the card; `Ok` once Slack took
/// both (the card's update, which is the same however often it is made, comes first).
pub async fn tell(app: &Services, job: &str, news: News) -> Result<(), Untold> {
    let cards = store::of(app);
    let Some(card) = cards.card(job).await else {
        return Err(Untold::NoCard);
    };
    let who = news.who.as_deref().unwrap_or("Someone");
    let title = mrkdwn::shorten(
        news.title.as_deref().unwrap_or("a task"),
        limits::SHOWN_TITLE,
    );
    // A completion made with the card's "Mark done" names the person who pressed it, not
    // the user of the service's own Tallyfy token.
    let pressed_by = match news.done {
        true => cards.completer(&news.task).await,
        false => None,
    };
    // An approval is told as decided: from Tallyfy's read, else as pressed on the card.
    let decided = match (news.approved, &pressed_by) {
        (Some(true), _) => Some("approved".to_string()),
        (Some(false), _) => Some("rejected".to_string()),
        (None, Some(_)) => cards.decision(&news.task).await,
        (None, None) => None,
    };
    let reply = if news.done {
        let mark = match decided.as_deref() {
            Some("rejected") => ":x:",
            _ => ":white_check_mark:",
        };
        let by = match &pressed_by {
            Some(user) => mrkdwn::mention(user),
            None => mrkdwn::escape(who),
        };
        format!(
            "{mark} {by} {} *{}*",
            decided.as_deref().unwrap_or("completed"),
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
    let finished = news.progress.is_finished();
    let updated = buttons::with_turn(
        with_progress(card.content.clone(), &news.progress.line()),
        finished,
    );
    if let Err(e) = app.courier.update(&card.channel, &card.ts, updated).await {
        tracing::warn!(error = %e, "could not update the confirmation");
        return Err(Untold::Slack);
    }
    if let Err(e) = app
        .courier
        .reply_in_thread(&card.channel, &card.ts, &reply)
        .await
    {
        tracing::warn!(error = %e, "could not reply in the confirmation's thread");
        return Err(Untold::Slack);
    }
    if pressed_by.is_some() {
        cards.take_completer(&news.task).await;
    }
    let at = news.done.then(|| news.at.clone().unwrap_or_default());
    worklists::of(app)
        .note_done(&news.task, at.as_deref())
        .await;
    if finished {
        cards.keep_for(job, store::DONE_TTL).await;
    } else if !news.done {
        // Reopened: followed for as long as new work is.
        cards.keep_for(job, store::FOLLOW_TTL).await;
    }
    if news.progress.is_project_complete() {
        let (run, name) = news.process.clone().unwrap_or_default();
        if cards.first_news(&format!("complete:{job}:{run}")).await {
            let name = name.as_deref().unwrap_or("The project");
            let line = format!(
                ":tada: *{}* is complete.",
                mrkdwn::escape(&mrkdwn::shorten(name, limits::SHOWN_TITLE))
            );
            let _ = app.courier.say(&card.channel, &line).await;
        }
    }
    Ok(())
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
        approved: None,
        progress: Progress::Task { done: false },
        process: None,
    };
    // Marked told only once Slack took it (one press at a time holds the task), after
    // whatever news of the card is being told now: Tallyfy's webhook calls on no
    // reopening, so this waits as long as any teller may hold the card.
    let (cards, key) = (store::of(app), news.key.clone());
    let told = holding(app, job, HOLD, async {
        !cards.was_told(&key).await && tell(app, job, news).await.is_ok()
    })
    .await;
    if told == Some(true) {
        cards.mark_told(&key, store::FOLLOW_TTL).await;
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

    #[test]
    fn the_card_says_how_far_the_work_is() {
        let project = |done, total, complete| Progress::Project {
            done,
            total,
            complete,
        };
        assert_eq!(project(3, 5, false).line(), "3 of 5 done");
        // Complete only when Tallyfy says so, whatever the count.
        assert!(project(5, 5, true).is_project_complete());
        assert!(!project(5, 5, false).is_project_complete());
        assert_eq!(project(1, 1, false).line(), "1 of 1 done");
        let percent = Progress::Percent {
            percent: 25,
            complete: false,
        };
        assert_eq!(percent.line(), "25% done");
        assert!(!percent.is_finished());
        assert_eq!(
            Progress::Task { done: true }.line(),
            ":white_check_mark: Done"
        );
        assert_eq!(Progress::Task { done: false }.line(), "Reopened");
        assert_ne!(
            News::key("t1", false, Some("x")),
            News::key("t1", true, Some("x")),
            "a reopening is news of its own"
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
