//! "Comment" on a card (a task's, or a line of a project's): a small form opens (within
//! the press's 3 s trigger id), and what is written there becomes a comment on the task in
//! Tallyfy, saying who wrote it and linking back to the conversation in Slack. The
//! commenter is told privately how it went, in words they can act on when Tallyfy refused
//! it. Only people with a Tallyfy account may comment, and the comment is signed with their
//! name as Tallyfy has it (not a Slack display name, which anyone may choose); anyone else
//! is told so, privately.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use slack_morphism::prelude::*;

use crate::courier::{notice, Origin};
use crate::directory::Assignee;
use crate::failures;
use crate::slack::ids::{ChannelId, TeamId, UserId};
use crate::slack::interaction::ViewSubmission;
use crate::slack::{limits, mrkdwn};
use crate::state::{AppState, Services};
use crate::tallyfy::model::TaskId;

/// The comment form's callback id.
pub const CALLBACK_ID: &str = "task_comment";
/// The comment's block and input.
const BLOCK: &str = "comment";
const INPUT: &str = "text";
/// Slack's limit on a text input.
const MAX_CHARS: u64 = 3000;
/// Characters of the task's title the form's metadata carries.
const TITLE_KEPT: usize = 200;

/// What the comment form carries through Slack: the task, and the card it came from.
#[derive(Debug, Serialize, Deserialize)]
struct Pressed {
    task: TaskId,
    title: String,
    #[serde(default)]
    channel: Option<ChannelId>,
    #[serde(default)]
    ts: Option<String>,
}

/// A press of "Comment": who, where, and the trigger id to open the form with.
pub struct Press {
    pub team: TeamId,
    pub user: UserId,
    pub trigger_id: String,
    pub channel: Option<ChannelId>,
    pub ts: Option<String>,
    pub response_url: Option<String>,
    /// When Slack sent the press: its trigger id lives three seconds from then.
    pub sent: tokio::time::Instant,
}

/// How long a trigger id stays good for opening a form, less a margin for the way back.
const TRIGGER_LIFE: std::time::Duration = std::time::Duration::from_millis(2800);
/// The latest `views.open` is started after the press was sent: Slack takes a few hundred
/// milliseconds to open a form, so a later call would reach it with the trigger spent.
const LAST_CALL: std::time::Duration = std::time::Duration::from_millis(2000);

/// Opens the comment form on `task` (titled `title`) for a press; tells the person
/// privately when Slack would not, or when the task is no longer known (`None`).
pub async fn open(app: &Services, press: Press, task: Option<(TaskId, String)>) {
    let Some((task, title)) = task else {
        let text = "I no longer have this task's details; comment on it in Tallyfy.";
        app.courier
            .tell_person(&press.user, press.response_url.as_deref(), text)
            .await;
        return;
    };
    let pressed = Pressed {
        task,
        title: mrkdwn::shorten(&title, TITLE_KEPT),
        channel: press.channel,
        ts: press.ts,
    };
    let metadata = serde_json::to_string(&pressed).expect("plain data");
    let input = SlackBlockPlainTextInputElement::new()
        .with_action_id(INPUT.into())
        .with_multiline(true)
        .with_max_length(MAX_CHARS);
    let block = SlackInputBlock::new("Your comment".into(), input.into())
        .with_block_id(BLOCK.into())
        .with_hint(
            "Added to the task in Tallyfy, with your name and a link to this conversation.".into(),
        );
    let view = SlackView::Modal(
        SlackModalView::new("Comment on the task".into(), vec![block.into()])
            .with_submit("Comment".into())
            .with_close("Cancel".into())
            .with_callback_id(CALLBACK_ID.into())
            .with_private_metadata(metadata),
    );
    // Counted from Slack's send, not from after the look-ups above: past the last moment
    // worth a call, none is made; an answer later than the trigger's life is not awaited.
    let left = TRIGGER_LIFE.saturating_sub(press.sent.elapsed());
    let opened = match press.sent.elapsed() < LAST_CALL {
        true => tokio::time::timeout(left, app.slack.open_view(&press.trigger_id, &view))
            .await
            .ok(),
        false => None,
    };
    if !matches!(opened, Some(Ok(_))) {
        app.metrics.slack_request("form", "comment_not_opened");
        let text = "I couldn't open the comment form just now. Please press Comment again.";
        app.courier
            .tell_person(&press.user, press.response_url.as_deref(), text)
            .await;
    }
}

/// A submitted comment form: an empty comment is answered on the field (the errors to
/// show, by block); otherwise the comment is handed off, once however often Slack
/// delivers the submission.
pub async fn submit(state: &AppState, sub: ViewSubmission) -> Result<(), BTreeMap<String, String>> {
    let error = |text: &str| Err([(BLOCK.to_string(), text.to_string())].into());
    let Some(text) = sub.view.state.text(BLOCK) else {
        return error("Write a comment first.");
    };
    let Ok(pressed) = serde_json::from_str::<Pressed>(&sub.view.private_metadata) else {
        return error("This form is out of date; press Comment on the card again.");
    };
    let team = sub.team_id();
    if !crate::modals::claim_submission(state, &team, &sub.view)
        .await
        .first
    {
        return Ok(());
    }
    let (app, user) = (state.clone(), sub.user.id.clone());
    let handed = state.jobs.hand_off(async move {
        let origin = Origin {
            team_id: team.clone(),
            user_id: user.clone(),
            channel_id: pressed.channel.clone(),
            response_url: None,
            thread_ts: None,
            request_id: None,
        };
        let answer = send(&app, &pressed, &team, &user, text.trim()).await;
        let _ = app.courier.tell(&origin, notice(&answer)).await;
    });
    if handed.is_err() {
        return error("I'm handling a lot of requests right now; please try again in a moment.");
    }
    Ok(())
}

/// Sends the comment to Tallyfy; answers what to tell the commenter.
async fn send(
    app: &Services,
    pressed: &Pressed,
    team: &TeamId,
    user: &UserId,
    text: &str,
) -> String {
    let author = match tallyfy_name(app, team, user).await {
        Ok(Some(name)) => name,
        Ok(None) => {
            app.metrics.job("comment", "no_account");
            return "Only people with a Tallyfy account can comment from Slack, and I couldn't find yours (by your Slack email). Ask your Tallyfy admin to invite you, or comment in Tallyfy.".into();
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not look the commenter up");
            return format!(
                "Your comment was not added. {}",
                mrkdwn::escape(&failures::lookup(&e, "your"))
            );
        }
    };
    let link = match (&pressed.channel, &pressed.ts) {
        (Some(channel), Some(ts)) => app.workspace.permalink(channel.as_str(), ts),
        _ => None,
    };
    let content = content(text, &author, link.as_deref());
    let title = mrkdwn::escape(&mrkdwn::shorten(&pressed.title, limits::SHOWN_TITLE));
    let for_guests = for_guests(app, &pressed.task).await;
    match app
        .tallyfy
        .comment(&pressed.task, &content, for_guests)
        .await
    {
        Ok(()) => {
            app.metrics.job("comment", "added");
            format!("Your comment was added to *{title}* in Tallyfy.")
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not add a comment in Tallyfy");
            format!(
                "Your comment was not added to *{title}*. {}",
                mrkdwn::escape(&failures::tallyfy(&e))
            )
        }
    }
}

/// The commenter's name as Tallyfy has it; `None` when they have no Tallyfy account. A
/// cached answer from before names were kept is looked up afresh once.
pub(super) async fn tallyfy_name(
    app: &Services,
    team: &TeamId,
    user: &UserId,
) -> Result<Option<String>, crate::directory::DirectoryError> {
    for fresh in [false, true] {
        if fresh {
            app.directory.forget(team, user).await;
        }
        let resolved = app
            .directory
            .resolve_all(team, std::slice::from_ref(user))
            .await?;
        match resolved.into_iter().next().map(|r| r.assignee) {
            Some(Assignee::Member {
                tallyfy_name: Some(name),
                ..
            }) => return Ok(Some(name)),
            Some(Assignee::Member {
                tallyfy_name: None, ..
            }) => continue,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// The comment as Tallyfy gets it: the text, who wrote it, and where in Slack.
fn content(text: &str, author: &str, link: Option<&str>) -> String {
    match link {
        Some(link) => format!("{text}\n\n\u{2014} {author}, in Slack: {link}"),
        None => format!("{text}\n\n\u{2014} {author}, in Slack"),
    }
}

/// Whether a comment on `task` is sent for its guests to read too: when it has guests.
/// When the task cannot be read, Tallyfy's default (hidden from guests) stands.
pub(super) async fn for_guests(app: &Services, task: &TaskId) -> bool {
    match app.tallyfy.get_task(task).await {
        Ok(task) => task.owners.is_some_and(|o| !o.guests.is_empty()),
        Err(e) => {
            tracing::info!(error = %e, "could not read a task's guests before commenting");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_names_its_author_and_links_the_thread() {
        let c = content(
            "Ten chairs",
            "alice",
            Some("https://acme.slack.com/archives/C1/p1"),
        );
        assert_eq!(
            c,
            "Ten chairs\n\n\u{2014} alice, in Slack: https://acme.slack.com/archives/C1/p1"
        );
        assert!(content("x", "bob", None).ends_with("bob, in Slack"));
    }
}
