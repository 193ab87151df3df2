//! The one way in for a press on a card: Mark done, Approve, Reject, Reopen or Comment, on
//! a task's card or on one line of a project's. The press is answered at once and carried
//! out in the background: the task it acts on is read from the card's record, then
//! completed ([`super::complete`]), reopened ([`super::turn`]) or commented on
//! ([`super::comment`]); the presser hears privately how it went.

use super::buttons::{self, Act};
use super::comment::{self, Press};
use super::complete::{self, Decision};
use super::store;
use super::turn::{self, Completion, Turn};
use crate::slack::interaction::{Action, BlockActions};
use crate::state::AppState;

/// Takes `action` when it is a press of a card's button or a line's menu, and hands it
/// off; false for any other action.
/// `sent` is when Slack sent the press: a form it opens has until three seconds from then.
pub fn press(
    state: &AppState,
    actions: &BlockActions,
    action: &Action,
    sent: tokio::time::Instant,
) -> bool {
    if !buttons::is_card_action(&action.action_id) {
        return false;
    }
    let Some(pressed) = action
        .chosen()
        .and_then(|chosen| buttons::pressed(&action.action_id, chosen))
    else {
        return true;
    };
    let what = match pressed.act {
        Act::Done => "mark_done",
        Act::Reopen => "reopen",
        Act::Comment => "comment",
        Act::Approve => "approve",
        Act::Reject => "reject",
    };
    state.metrics.slack_request("block_actions", what);
    let container = actions.container.as_ref();
    let press = Press {
        team: actions.team_id(),
        user: actions.user.id.clone(),
        trigger_id: actions.trigger_id.clone().unwrap_or_default(),
        channel: container.and_then(|c| c.channel_id.clone()),
        ts: container.and_then(|c| c.message_ts.clone()),
        response_url: actions.response_url.clone(),
        sent,
    };
    let app = state.clone();
    let handed = state.jobs.hand_off(async move {
        let target = store::of(&app).target(&pressed.job, pressed.line).await;
        let decision = match pressed.act {
            Act::Done => Decision::Done,
            Act::Approve => Decision::Approve,
            Act::Reject => Decision::Reject,
            Act::Reopen => {
                let text = match &target {
                    Some(target) => {
                        let (team, user) = (&press.team, &press.user);
                        let none = Completion::default();
                        turn::turn(&app, target, team, user, Turn::Reopen, none).await
                    }
                    None => turn::GONE.to_string(),
                };
                let url = press.response_url.as_deref();
                return app.courier.answer_press(&press.user, url, &text).await;
            }
            Act::Comment => {
                let task = target.map(|t| (t.created.id, t.title));
                return comment::open(&app, press, task).await;
            }
        };
        let target = target.map(|t| (t, pressed.line));
        complete::press(&app, target, press, decision).await;
    });
    if handed.is_err() {
        tracing::warn!("too much work is running: a button press was not handled");
    }
    true
}
