//! Slack's largest requests are read in full. A message can hold 40,000 characters, and a
//! message shortcut's payload carries it twice (as `text` and as its rich_text copy in
//! `blocks`): far more than 64 KiB. Bodies up to 1 MiB are read; anything larger gets 413.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;

const FORM: &str = "application/x-www-form-urlencoded";
const ONE_MIB: usize = 1024 * 1024;

/// The longest message Slack allows: 40,000 characters, a mention and a few non-ASCII ones.
fn longest_message() -> String {
    let mut text = String::from("Review the pricing page &amp; FAQ before launch <@UBOB>\n");
    let line = "Die Überprüfung der Preise ist fällig, bitte bis Montag ✓. ";
    while text.chars().count() + line.chars().count() <= 40_000 {
        text.push_str(line);
    }
    while text.chars().count() < 40_000 {
        text.push('.');
    }
    text
}

/// A `message_action` payload as Slack sends it, with the message's blocks (a rich_text
/// copy of its text).
fn message_shortcut(app: &TestApp, trigger: &str, callback_id: &str, text: &str) -> Value {
    json!({
        "type": "message_action",
        "token": "deprecated",
        "action_ts": "1700000100.000200",
        "callback_id": callback_id,
        "trigger_id": trigger,
        "team": {"id": crate::fake_slack::TEAM, "domain": "test"},
        "user": {"id": REQUESTER, "username": "rita", "team_id": crate::fake_slack::TEAM, "name": "rita"},
        "channel": {"id": CHANNEL, "name": "projects"},
        "is_enterprise_install": false,
        "enterprise": null,
        "response_url": app.slack.response_url("shortcut-hook"),
        "message_ts": "1700000000.000100",
        "message": {
            "client_msg_id": "3f6c2a52-8a5e-4a0e-9d1b-0d6a1c8b2f10",
            "type": "message",
            "text": text,
            "user": ALICE,
            "ts": "1700000000.000100",
            "team": crate::fake_slack::TEAM,
            "blocks": [{
                "type": "rich_text",
                "block_id": "Xq9",
                "elements": [{
                    "type": "rich_text_section",
                    "elements": [{"type": "text", "text": text}]
                }]
            }]
        }
    })
}

fn form(payload: &Value) -> String {
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

#[tokio::test]
async fn a_message_shortcut_on_the_longest_message_opens_the_form_within_3_seconds() {
    let app = spawn_app().await;
    let trigger = app.slack.issue_trigger();
    let text = longest_message();
    assert_eq!(text.chars().count(), 40_000);
    let body = form(&message_shortcut(
        &app,
        &trigger,
        "task_from_message",
        &text,
    ));
    assert!(body.len() > 64 * 1024, "{} bytes", body.len());

    let sent = Instant::now();
    let response = app.post_signed("/slack/interactions", FORM, body).await;
    assert_eq!(response.status(), 200);
    let left = Duration::from_secs(3).saturating_sub(sent.elapsed());
    let view = eventually_within(left, "the New task form", || {
        app.slack.opened_view(&trigger)
    })
    .await;
    assert_eq!(view.view["title"]["text"], "New task");
    assert_eq!(
        block(&view, "title")["element"]["initial_value"],
        "Review the pricing page & FAQ before launch"
    );
    assert_eq!(
        block(&view, "assignees")["element"]["initial_users"],
        json!([BOB])
    );
}

#[tokio::test]
async fn bodies_up_to_1_mib_are_read_and_larger_ones_get_413() {
    let app = spawn_app().await;
    // A shortcut the app does not know, its message padded to make the body exactly 1 MiB:
    // read, and quietly ignored. One byte more is refused.
    let trigger = app.slack.issue_trigger();
    let mut payload = message_shortcut(&app, &trigger, "someone_elses_shortcut", "");
    let bare = form(&payload).len();
    payload["message"]["text"] = json!("a".repeat(ONE_MIB - bare));
    let at_limit = form(&payload);
    assert_eq!(at_limit.len(), ONE_MIB);
    let response = app.post_signed("/slack/interactions", FORM, at_limit).await;
    assert_eq!(response.status(), 200);

    payload["message"]["text"] = json!("a".repeat(ONE_MIB - bare + 1));
    let over = form(&payload);
    assert_eq!(over.len(), ONE_MIB + 1);
    for path in ["/slack/interactions", "/slack/commands", "/slack/events"] {
        let response = app.post_signed(path, FORM, over.clone()).await;
        assert_eq!(response.status(), 413, "{path}");
    }
    assert!(app.slack.calls("views.open").is_empty());
}
