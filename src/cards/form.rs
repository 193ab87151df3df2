//! The form a press of "Mark done", "Approve" or "Reject" opens when Tallyfy needs more
//! than the press to complete the task (see [`super::complete`]): a rejection's reason, an
//! approval's decision (pressed as "Mark done" on a project's line), and the required form
//! fields still empty, each asked the way Slack can (a line or a paragraph of text, an
//! email address, a date, one of the field's choices). On submit, once however often Slack
//! delivers it, the task is completed with them ([`super::turn`]), and the assignee hears
//! privately how it went.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use slack_morphism::prelude::*;

use super::store;
use super::turn::{self, Completion, Turn};
use crate::courier::{notice, Origin};
use crate::slack::ids::ChannelId;
use crate::slack::interaction::ViewSubmission;
use crate::slack::{limits, mrkdwn};
use crate::state::{AppState, Services};
use crate::tallyfy::fields::{Asked, TaskField};

/// The form's callback id.
pub const CALLBACK_ID: &str = "task_complete";
const DECISION: &str = "decision";
const REASON: &str = "reason";
/// A field's block id is this and the field's id.
const FIELD: &str = "field:";
const INPUT: &str = "value";
/// Characters of the task's title the form's metadata carries.
const TITLE_KEPT: usize = 200;
/// Slack's limits: a label, an option's text, a text input, a select's options, a view's
/// blocks (with room for the others).
const LABEL: usize = 2000;
const OPTION_TEXT: usize = 75;
const TEXT_INPUT: u64 = 3000;
const OPTIONS: usize = 100;
const FIELDS: usize = 90;
/// Tallyfy's limit on a short text field's answer.
const SHORT_TEXT: u64 = 200;

/// What the form asks, and what it carries through Slack to its submission.
#[derive(Debug, Serialize, Deserialize)]
pub struct Asking {
    /// The job whose card was pressed, and the project line.
    pub key: String,
    pub line: Option<u32>,
    pub title: String,
    /// The required fields still empty (read again from Tallyfy on submit).
    #[serde(skip)]
    pub fields: Vec<TaskField>,
    /// The decision pressed, for an approval.
    pub is_approved: Option<bool>,
    pub ask_decision: bool,
    pub ask_reason: bool,
    pub channel: Option<ChannelId>,
}

fn input(id: &str, label: &str, element: SlackInputBlockElement) -> SlackBlock {
    SlackInputBlock::new(mrkdwn::shorten(label, LABEL).as_str().into(), element)
        .with_block_id(id.into())
        .into()
}

fn text_input(max: u64, multiline: bool) -> SlackInputBlockElement {
    SlackBlockPlainTextInputElement::new()
        .with_action_id(INPUT.into())
        .with_multiline(multiline)
        .with_max_length(max)
        .into()
}

/// The input that asks for `field`, as Slack can ask for it.
fn field_input(field: &TaskField, asked: Asked) -> SlackBlock {
    let element: SlackInputBlockElement = match asked {
        Asked::ShortText => text_input(SHORT_TEXT, false),
        Asked::LongText => text_input(TEXT_INPUT, true),
        Asked::Email => SlackBlockEmailInputElement::new()
            .with_action_id(INPUT.into())
            .into(),
        Asked::Date => SlackBlockDatePickerElement::new()
            .with_action_id(INPUT.into())
            .into(),
        Asked::Choice => {
            let options = field
                .options
                .iter()
                .take(OPTIONS)
                .enumerate()
                .map(|(i, c)| {
                    let text = mrkdwn::shorten(&c.text, OPTION_TEXT);
                    SlackBlockChoiceItem::new(text.as_str().into(), i.to_string())
                })
                .collect();
            SlackBlockStaticSelectElement::new()
                .with_action_id(INPUT.into())
                .with_options(options)
                .into()
        }
    };
    input(&format!("{FIELD}{}", field.id), &field.label, element)
}

/// Opens the form for `asking` with the press's trigger id; `Err` when Slack would not.
pub async fn open(app: &Services, trigger_id: &str, mut asking: Asking) -> Result<(), ()> {
    asking.title = mrkdwn::shorten(&asking.title, TITLE_KEPT);
    let title = mrkdwn::escape(&mrkdwn::shorten(&asking.title, limits::SHOWN_TITLE));
    let intro = match (asking.ask_reason, asking.fields.is_empty()) {
        (true, true) => format!("You are rejecting *{title}*."),
        _ => format!("Tallyfy needs these before *{title}* can be done."),
    };
    let mut blocks = vec![SlackSectionBlock::new()
        .with_text(SlackBlockMarkDownText::new(intro).into())
        .into()];
    if asking.ask_decision {
        let choice = |text: &str, value: &str| {
            SlackBlockChoiceItem::new(SlackBlockText::Plain(text.into()), value.into())
        };
        let radio = SlackBlockRadioButtonsElement::new(vec![
            choice("Approve", "approve"),
            choice("Reject", "reject"),
        ])
        .with_action_id(INPUT.into());
        blocks.push(input(DECISION, "Your decision", radio.into()));
    }
    for field in asking.fields.iter().take(FIELDS) {
        if let Some(asked) = field.asked() {
            blocks.push(field_input(field, asked));
        }
    }
    if asking.ask_reason || asking.ask_decision {
        let label = match asking.ask_reason {
            true => "Why is it rejected?",
            false => "Why, if you reject it",
        };
        let mut reason = SlackInputBlock::new(label.into(), text_input(TEXT_INPUT, true))
            .with_block_id(REASON.into())
            .with_hint("Added to the task in Tallyfy as a comment.".into());
        if !asking.ask_reason {
            reason = reason.with_optional(true);
        }
        blocks.push(reason.into());
    }
    let (heading, submit) = match asking.ask_reason {
        true => ("Reject the task", "Reject"),
        false => ("Complete the task", "Done"),
    };
    let view = SlackView::Modal(
        SlackModalView::new(heading.into(), blocks)
            .with_submit(submit.into())
            .with_close("Cancel".into())
            .with_callback_id(CALLBACK_ID.into())
            .with_private_metadata(serde_json::to_string(&asking).expect("plain data")),
    );
    let opened = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        app.slack.open_view(trigger_id, &view),
    )
    .await;
    if matches!(opened, Ok(Ok(_))) {
        return Ok(());
    }
    app.metrics.slack_request("form", "complete_not_opened");
    Err(())
}

/// What an input of the submitted form holds: the text typed, the date or the choice's
/// value picked.
fn given(element: &serde_json::Value) -> Option<String> {
    let value = element
        .get("value")
        .or_else(|| element.get("selected_date"))
        .or_else(|| element.get("selected_option").and_then(|o| o.get("value")))?;
    value
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A submitted form: what is missing is answered on the field (the errors, by block);
/// otherwise the completion is handed off, once however often Slack delivers it.
pub async fn submit(state: &AppState, sub: ViewSubmission) -> Result<(), BTreeMap<String, String>> {
    let values = &sub.view.state.values;
    let value = |block: &str| {
        values
            .get(block)
            .and_then(|a| a.values().next())
            .and_then(given)
    };
    let Ok(asking) = serde_json::from_str::<Asking>(&sub.view.private_metadata) else {
        return Ok(());
    };
    let mut errors = BTreeMap::new();
    let is_approved = match (asking.ask_decision, value(DECISION).as_deref()) {
        (false, _) => asking.is_approved,
        (true, Some("approve")) => Some(true),
        (true, Some("reject")) => Some(false),
        (true, _) => {
            errors.insert(DECISION.into(), "Choose Approve or Reject.".into());
            None
        }
    };
    let reason = value(REASON);
    if is_approved == Some(false) && reason.is_none() {
        errors.insert(REASON.into(), "Say why it is rejected.".into());
    }
    let answers: Vec<(String, String)> = values
        .keys()
        .filter_map(|block| {
            let id = block.strip_prefix(FIELD)?;
            Some((id.to_string(), value(block)?))
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let team = sub.team_id();
    if !crate::modals::claim_submission(state, &team, &sub.view)
        .await
        .first
    {
        return Ok(());
    }
    let (app, user) = (state.clone(), sub.user.id.clone());
    let completion = Completion {
        is_approved,
        reason: reason.filter(|_| is_approved == Some(false)),
        answers,
    };
    let handed = state.jobs.hand_off(async move {
        let origin = Origin {
            team_id: team.clone(),
            user_id: user.clone(),
            channel_id: asking.channel.clone(),
            response_url: None,
            thread_ts: None,
            request_id: None,
        };
        let text = match store::of(&app).target(&asking.key, asking.line).await {
            Some(target) => turn::turn(&app, &target, &team, &user, Turn::Done, completion).await,
            None => turn::GONE.to_string(),
        };
        let _ = app.courier.tell(&origin, notice(&text)).await;
    });
    if handed.is_err() {
        let busy = "I'm handling a lot of requests right now; please try again in a moment.";
        let block = values
            .keys()
            .next()
            .cloned()
            .unwrap_or_else(|| REASON.into());
        return Err([(block, busy.to_string())].into());
    }
    Ok(())
}
