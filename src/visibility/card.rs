//! The buttons on a task's card: "Mark done" while the task is open and "Reopen" once it
//! is done (the one swapped for the other when the card is updated in place), and
//! "Comment". Each carries the job's key; only the task's assignees may mark it done or
//! reopen it (see `crate::task::done`).

use slack_morphism::prelude::*;

/// "Mark done": completes the task in Tallyfy.
pub const DONE_ACTION: &str = "task_done";
/// "Reopen": the task is open again in Tallyfy.
pub const REOPEN_ACTION: &str = "task_reopen";
/// "Comment": opens a small form whose text becomes a comment on the task in Tallyfy.
pub const COMMENT_ACTION: &str = "task_comment";

/// The button that changes whether the task is done: "Mark done" while it is open,
/// "Reopen" once it is done.
fn turn_button(key: &str, done: bool) -> SlackActionBlockElement {
    let (text, action) = if done {
        ("Reopen", REOPEN_ACTION)
    } else {
        ("Mark done", DONE_ACTION)
    };
    SlackBlockButtonElement::new(text.into())
        .with_action_id(action.into())
        .with_value(key.to_string())
        .into()
}

/// The assignees' buttons for job `key`'s task, which is `done` or open.
pub fn task_buttons(key: &str, done: bool) -> Vec<SlackActionBlockElement> {
    let comment = SlackBlockButtonElement::new("Comment".into())
        .with_action_id(COMMENT_ACTION.into())
        .with_value(key.to_string());
    vec![turn_button(key, done), comment.into()]
}

/// The card with its "Mark done" or "Reopen" button showing whether the task is `done`;
/// every other block and button stays as it was.
pub(super) fn with_turn(mut content: SlackMessageContent, done: bool) -> SlackMessageContent {
    for block in content.blocks.iter_mut().flatten() {
        let SlackBlock::Actions(actions) = block else {
            continue;
        };
        for element in actions.elements.iter_mut() {
            let SlackActionBlockElement::Button(button) = element else {
                continue;
            };
            let id = button.action_id.as_ref().map(|id| id.0.as_str());
            if id == Some(DONE_ACTION) || id == Some(REOPEN_ACTION) {
                let key = button.value.clone().unwrap_or_default();
                *element = turn_button(&key, done);
            }
        }
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
        elements.extend(task_buttons("k1", false));
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
}
