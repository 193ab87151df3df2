//! A press of "Mark done", "Approve" or "Reject": what Tallyfy says of the task at that
//! moment decides what comes next. Only its assignees get further (as in [`super::turn`]).
//! Then:
//! - a task Tallyfy would complete as it is (no required form field left empty, and for
//!   an approval the decision pressed) is completed at once;
//! - a rejection, a "Mark done" on an approval (a project's line has no Approve button),
//!   or required fields Slack can ask for open a form ([`super::form`]) asking for the
//!   reason, the decision and the answers; the task is completed when it is submitted;
//! - a required field Slack cannot ask for (a file, a table...) sends the assignee to fill
//!   it in Tallyfy, with the task's link.

use super::comment::Press;
use super::form::{self, Asking};
use super::store::Target;
use super::turn::{self, Completion, Turn};
use crate::state::Services;
use crate::tallyfy::fields::TaskField;

/// What a press asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// "Mark done".
    Done,
    Approve,
    Reject,
}

/// What a press leads to.
enum Next {
    Say(String),
    Complete(Completion),
    Ask(Asking),
}

/// Carries out `press` of `decision` on `target` (`None` when its details are gone); the
/// presser hears privately how it went, unless a form opened for them.
pub async fn press(
    app: &Services,
    target: Option<(Target, Option<u32>)>,
    press: Press,
    decision: Decision,
) {
    // A press on the Home tab comes without a response URL: the answer is then a direct
    // message.
    let (url, user) = (press.response_url.clone(), press.user.clone());
    let text = match &target {
        None => turn::GONE.to_string(),
        Some((target, line)) => match next(app, target, *line, &press, decision).await {
            Next::Say(text) => text,
            Next::Complete(completion) => {
                let (team, user) = (&press.team, &press.user);
                turn::turn(app, target, team, user, Turn::Done, completion).await
            }
            Next::Ask(asking) => match form::open(app, &press.trigger_id, asking).await {
                Ok(()) => return,
                Err(()) => {
                    "I couldn't open the form just now. Please press the button again.".into()
                }
            },
        },
    };
    app.courier.answer_press(&user, url.as_deref(), &text).await;
}

/// What comes of `decision` on `target`, from what Tallyfy says of the task now.
async fn next(
    app: &Services,
    target: &Target,
    line: Option<u32>,
    press: &Press,
    decision: Decision,
) -> Next {
    const NOT_ASSIGNEE: &str = "Only the task's assignees can mark it done.";
    let presser = match turn::Presser::of(app, &press.team, &press.user, NOT_ASSIGNEE).await {
        Ok(presser) => presser,
        Err(text) => return Next::Say(text),
    };
    let now = match presser.read(app, &target.created.id, NOT_ASSIGNEE).await {
        Ok(now) => now,
        Err(text) => return Next::Say(text),
    };
    if now.status.as_deref() == Some("completed") {
        return Next::Say("This task is already marked done.".into());
    }
    let missing: Vec<&TaskField> = now.form_fields.iter().filter(|f| f.is_missing()).collect();
    let unaskable: Vec<&str> = missing
        .iter()
        .filter(|f| f.asked().is_none())
        .map(|f| f.label.as_str())
        .collect();
    if !unaskable.is_empty() {
        return Next::Say(turn::needs(app, target, &unaskable));
    }
    let approval = now.task_type.as_deref() == Some("approval");
    let is_approved = match (approval, decision) {
        (false, _) => None,
        (true, Decision::Approve) => Some(true),
        (true, Decision::Reject) => Some(false),
        // A line's "Mark done" on an approval: the form asks which.
        (true, Decision::Done) => None,
    };
    let ask_decision = approval && decision == Decision::Done;
    let ask_reason = approval && decision == Decision::Reject;
    if missing.is_empty() && !ask_decision && !ask_reason {
        return Next::Complete(Completion {
            is_approved,
            ..Completion::default()
        });
    }
    Next::Ask(Asking {
        key: target.key.clone(),
        line,
        title: target.title.clone(),
        fields: missing.into_iter().cloned().collect(),
        is_approved,
        ask_decision,
        ask_reason,
        channel: press.channel.clone(),
    })
}
