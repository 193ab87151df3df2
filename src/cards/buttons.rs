//! Every button and menu on a card, and their action ids: a task's card carries "Mark
//! done" while the task is open and "Reopen" once it is done (the one swapped for the other
//! when the card is updated in place), and "Comment"; a project's card carries three menus
//! that do the same for one of its lines. Each carries the job's key (a line's option, its
//! position too), which [`pressed`] reads back. Only the task's assignees may mark it done
//! or reopen it (see [`super::turn`]). An approval's card carries "Approve" and "Reject"
//! in place of "Mark done" (its actions block is marked [`APPROVAL_BLOCK`], so a reopened
//! approval offers them again).

use slack_morphism::prelude::*;

use crate::slack::mrkdwn;

/// "Mark done": completes the task in Tallyfy.
pub const DONE_ACTION: &str = "task_done";
/// "Reopen": the task is open again in Tallyfy.
pub const REOPEN_ACTION: &str = "task_reopen";
/// "Approve" and "Reject": an approval's decision (Reject asks for a reason first).
pub const APPROVE_ACTION: &str = "task_approve";
pub const REJECT_ACTION: &str = "task_reject";
/// The block id of an approval card's buttons.
pub const APPROVAL_BLOCK: &str = "approval";
/// "Comment": opens a small form whose text becomes a comment on the task in Tallyfy.
pub const COMMENT_ACTION: &str = "task_comment";
/// The menus that act on one line of a project (its task). Each option's value is
/// `{position}:{job key}`.
pub const LINE_DONE_ACTION: &str = "line_done";
pub const LINE_REOPEN_ACTION: &str = "line_reopen";
pub const LINE_COMMENT_ACTION: &str = "line_comment";
/// Characters of a line's title its menu option shows (Slack allows fewer than 76).
const OPTION_TITLE: usize = 70;
/// Options a static select may hold, and the characters of an option's value.
const MENU_OPTIONS: usize = 100;
const OPTION_VALUE: usize = 150;

/// What a press asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Done,
    Reopen,
    Comment,
    Approve,
    Reject,
}

/// A press of a card's button or a line's menu, read back from its action id and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pressed {
    pub act: Act,
    /// The job whose card it is.
    pub job: String,
    /// The project line's position, for a line's menu.
    pub line: Option<u32>,
}

/// The press an action id and its value (a button's value, or the option chosen) stand
/// for; `None` for an action that is not a card's.
pub fn pressed(action_id: &str, chosen: &str) -> Option<Pressed> {
    let (act, line) = match action_id {
        DONE_ACTION => (Act::Done, false),
        REOPEN_ACTION => (Act::Reopen, false),
        COMMENT_ACTION => (Act::Comment, false),
        APPROVE_ACTION => (Act::Approve, false),
        REJECT_ACTION => (Act::Reject, false),
        LINE_DONE_ACTION => (Act::Done, true),
        LINE_REOPEN_ACTION => (Act::Reopen, true),
        LINE_COMMENT_ACTION => (Act::Comment, true),
        _ => return None,
    };
    if !line {
        return Some(Pressed {
            act,
            job: chosen.to_string(),
            line: None,
        });
    }
    let (position, job) = chosen.split_once(':')?;
    Some(Pressed {
        act,
        job: job.to_string(),
        line: Some(position.parse().ok()?),
    })
}

/// Whether `action_id` is one of a card's buttons or menus.
pub fn is_card_action(action_id: &str) -> bool {
    pressed(action_id, "0:").is_some()
}

fn button(text: &str, action: &str, key: &str) -> SlackActionBlockElement {
    SlackBlockButtonElement::new(text.into())
        .with_action_id(action.into())
        .with_value(key.to_string())
        .into()
}

/// The buttons that change whether the task is done: "Reopen" once it is done; while it
/// is open, "Approve" and "Reject" for an approval, else "Mark done".
fn turn_buttons(key: &str, done: bool, approval: bool) -> Vec<SlackActionBlockElement> {
    match (done, approval) {
        (true, _) => vec![button("Reopen", REOPEN_ACTION, key)],
        (false, true) => vec![
            button("Approve", APPROVE_ACTION, key),
            button("Reject", REJECT_ACTION, key),
        ],
        (false, false) => vec![button("Mark done", DONE_ACTION, key)],
    }
}

/// The assignees' buttons for job `key`'s task, which is `done` or open (an `approval`
/// or not); the actions block holding them takes [`actions_block_id`].
pub fn task_buttons(key: &str, done: bool, approval: bool) -> Vec<SlackActionBlockElement> {
    let mut buttons = turn_buttons(key, done, approval);
    buttons.push(button("Comment", COMMENT_ACTION, key));
    buttons
}

/// The block id of a task card's actions block.
pub fn actions_block_id(approval: bool) -> Option<SlackBlockId> {
    approval.then(|| APPROVAL_BLOCK.into())
}

/// The assignees' menus for the lines of job `key`'s project that were made (position and
/// title): one actions block of three static selects, whatever the number of lines (a
/// select holds up to 100 options; a project up to 50 lines).
pub fn line_menus<'a>(
    lines: impl Iterator<Item = (u32, &'a str)>,
    key: &str,
) -> Option<SlackBlock> {
    let options: Vec<SlackBlockChoiceItem<SlackBlockPlainTextOnly>> = lines
        .take(MENU_OPTIONS)
        .map(|(position, title)| {
            let title = mrkdwn::shorten(title, OPTION_TITLE);
            SlackBlockChoiceItem::new(title.as_str().into(), line_value(position, key))
        })
        .collect();
    // A job key too long for an option's value would make Slack refuse the whole card.
    if options.is_empty() || line_value(u32::MAX, key).len() > OPTION_VALUE {
        return None;
    }
    let menu = |action: &str, placeholder: &str| -> SlackActionBlockElement {
        SlackBlockStaticSelectElement::new()
            .with_action_id(action.into())
            .with_placeholder(placeholder.into())
            .with_options(options.clone())
            .into()
    };
    let menus = vec![
        menu(LINE_DONE_ACTION, "Mark a task done"),
        menu(LINE_REOPEN_ACTION, "Reopen a task"),
        menu(LINE_COMMENT_ACTION, "Comment on a task"),
    ];
    Some(
        SlackActionsBlock::new(menus)
            .with_block_id("lines".into())
            .into(),
    )
}

/// A line menu's option value: the line's position and the job's key.
fn line_value(position: u32, key: &str) -> String {
    format!("{position}:{key}")
}

/// The card with its "Mark done" (or "Approve" and "Reject") or "Reopen" buttons showing
/// whether the task is `done`; every other block and button stays as it was.
pub fn with_turn(mut content: SlackMessageContent, done: bool) -> SlackMessageContent {
    for block in content.blocks.iter_mut().flatten() {
        let SlackBlock::Actions(actions) = block else {
            continue;
        };
        let approval = actions
            .block_id
            .as_ref()
            .is_some_and(|b| b.0 == APPROVAL_BLOCK);
        let mut elements = Vec::with_capacity(actions.elements.len() + 1);
        for element in actions.elements.drain(..) {
            let SlackActionBlockElement::Button(pressed) = &element else {
                elements.push(element);
                continue;
            };
            match pressed.action_id.as_ref().map(|id| id.0.as_str()) {
                Some(DONE_ACTION | APPROVE_ACTION | REOPEN_ACTION) => {
                    let key = pressed.value.clone().unwrap_or_default();
                    elements.extend(turn_buttons(&key, done, approval));
                }
                Some(REJECT_ACTION) => {}
                _ => elements.push(element),
            }
        }
        actions.elements = elements;
    }
    content
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_done_card_offers_reopen_and_an_open_one_mark_done() {
        let mut elements = vec![SlackBlockButtonElement::new("Open in Tallyfy".into())
            .with_action_id("open_in_tallyfy".into())
            .into()];
        elements.extend(task_buttons("k1", false, false));
        let card =
            SlackMessageContent::new().with_blocks(vec![SlackActionsBlock::new(elements).into()]);
        let done = serde_json::to_value(with_turn(card, true)).unwrap();
        let ids: Vec<&str> = done["blocks"][0]["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["open_in_tallyfy", REOPEN_ACTION, COMMENT_ACTION]);
        assert_eq!(done["blocks"][0]["elements"][1]["value"], "k1");
        let card: SlackMessageContent = serde_json::from_value(done).unwrap();
        let open = serde_json::to_value(with_turn(card, false)).unwrap();
        assert_eq!(open["blocks"][0]["elements"][1]["action_id"], DONE_ACTION);
        assert_eq!(
            open["blocks"][0]["elements"][1]["text"]["text"],
            "Mark done"
        );
    }

    #[test]
    fn every_button_and_menu_reads_back_as_the_press_it_stands_for() {
        let task = |act| Pressed {
            act,
            job: "submission:T:V:h".into(),
            line: None,
        };
        assert_eq!(
            pressed(DONE_ACTION, "submission:T:V:h"),
            Some(task(Act::Done))
        );
        assert_eq!(
            pressed(REOPEN_ACTION, "submission:T:V:h"),
            Some(task(Act::Reopen))
        );
        assert_eq!(
            pressed(COMMENT_ACTION, "submission:T:V:h"),
            Some(task(Act::Comment))
        );
        let menus = line_menus([(2, "Draft"), (3, "Sign")].into_iter(), "submission:T:V:h");
        let json = serde_json::to_value(menus.unwrap()).unwrap();
        for (menu, act) in
            json["elements"]
                .as_array()
                .unwrap()
                .iter()
                .zip([Act::Done, Act::Reopen, Act::Comment])
        {
            let id = menu["action_id"].as_str().unwrap();
            let value = menu["options"][1]["value"].as_str().unwrap();
            let line = Pressed {
                act,
                job: "submission:T:V:h".into(),
                line: Some(3),
            };
            assert_eq!(pressed(id, value), Some(line));
            assert!(is_card_action(id));
        }
        assert_eq!(pressed(LINE_DONE_ACTION, "two:k"), None);
        assert!(!is_card_action("job_retry"));
    }
}
