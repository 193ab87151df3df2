//! What a person is shown of their work in Tallyfy: each task as a line with its link and
//! deadline, and under it the card's buttons ([`crate::cards::buttons`]: Mark done, or
//! Approve and Reject, and Comment) and "Open in Tallyfy". Used by the alerts, the digest
//! and the Home tab alike. Titles are escaped; Slack's block limits are kept.

use jiff::Timestamp;
use slack_morphism::prelude::*;

use crate::cards::buttons;
use crate::slack::{limits, mrkdwn};
use crate::state::Services;
use crate::tallyfy::model::ListedTask;

/// The "Open in Tallyfy" button: a link, which Slack still reports as an action.
pub const OPEN_ACTION: &str = "open_in_tallyfy";
/// Tasks a digest lists (two blocks each; a message holds at most 50 blocks).
const DIGEST_SHOWN: usize = 20;

/// One of a person's tasks, with the key its buttons carry.
pub struct Shown<'a> {
    pub task: &'a ListedTask,
    pub key: String,
}

/// The task's deadline, when Tallyfy gave one it can read.
pub fn deadline(task: &ListedTask) -> Option<Timestamp> {
    let raw = task.deadline.as_deref()?;
    raw.parse::<Timestamp>().ok().or_else(|| {
        jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", raw)
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    })
}

/// Where the task is seen in Tallyfy: its process, else the task.
pub fn link(app: &Services, task: &ListedTask) -> String {
    match task.run.as_ref().map(|r| &r.id).or(task.run_id.as_ref()) {
        Some(run) => app.links.run(run),
        None => app.links.task(&task.id),
    }
}

fn section(text: String) -> SlackBlock {
    SlackSectionBlock::new()
        .with_text(SlackBlockMarkDownText::new(mrkdwn::clip(&text, limits::SECTION_TEXT)).into())
        .into()
}

/// The task's line: its linked title and deadline (`overdue` when it has passed `now`).
pub fn line(app: &Services, task: &ListedTask, now: Timestamp) -> String {
    let title = task.title.as_deref().unwrap_or("Untitled task");
    let title = mrkdwn::shorten(title, limits::SHOWN_TITLE);
    let due = deadline(task)
        .map(|at| {
            let when = mrkdwn::date(at.as_second(), &crate::deadline::utc_label(at));
            if at < now {
                format!(" \u{b7} *overdue* since {when}")
            } else {
                format!(" \u{b7} due {when}")
            }
        })
        .unwrap_or_default();
    format!("{}{due}", mrkdwn::link(&link(app, task), &title))
}

/// The task as two blocks: its line, and its buttons.
pub fn task_blocks(app: &Services, shown: &Shown<'_>, now: Timestamp) -> Vec<SlackBlock> {
    let approval = shown.task.task_type.as_deref() == Some("approval");
    let mut actions = buttons::task_buttons(&shown.key, false, approval);
    actions.push(
        SlackBlockButtonElement::new("Open in Tallyfy".into())
            .with_action_id(OPEN_ACTION.into())
            .with_url(
                link(app, shown.task)
                    .parse()
                    .expect("a Tallyfy link is a URL"),
            )
            .into(),
    );
    let mut block = SlackActionsBlock::new(actions);
    if let Some(id) = buttons::actions_block_id(approval) {
        block = block.with_block_id(id);
    }
    vec![section(line(app, shown.task, now)), block.into()]
}

/// The direct message for a task just assigned to the reader.
pub fn assigned(app: &Services, shown: &Shown<'_>, now: Timestamp) -> SlackMessageContent {
    let text = format!(
        ":inbox_tray: A task was assigned to you in Tallyfy: {}",
        line(app, shown.task, now)
    );
    let mut blocks = vec![section(text.clone())];
    blocks.extend(task_blocks(app, shown, now).into_iter().skip(1));
    SlackMessageContent::new()
        .with_text(mrkdwn::clip(&text, limits::SECTION_TEXT))
        .with_blocks(blocks)
}

/// The morning digest: what is due today or overdue, soonest first.
pub fn digest(app: &Services, due: &[Shown<'_>], now: Timestamp) -> SlackMessageContent {
    let overdue = due
        .iter()
        .filter(|s| deadline(s.task).is_some_and(|at| at < now))
        .count();
    let text = match (due.len(), overdue) {
        (1, 1) => ":sunrise: Good morning. 1 task of yours is overdue.".to_string(),
        (1, _) => ":sunrise: Good morning. 1 task of yours is due today.".to_string(),
        (n, 0) => format!(":sunrise: Good morning. {n} tasks of yours are due today."),
        (n, o) => format!(
            ":sunrise: Good morning. {n} tasks of yours are due today or overdue ({o} overdue)."
        ),
    };
    let mut blocks = vec![section(text.clone())];
    for shown in due.iter().take(DIGEST_SHOWN) {
        blocks.extend(task_blocks(app, shown, now));
    }
    if due.len() > DIGEST_SHOWN {
        let more = due.len() - DIGEST_SHOWN;
        blocks.push(section(format!("and {more} more in Tallyfy.")));
    }
    SlackMessageContent::new()
        .with_text(text)
        .with_blocks(blocks)
}
