//! `/task`: help, and the modal opening at once, prefilled, inside the trigger's 3 s.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::json;

use crate::helpers::*;

fn deadline_in(view: &crate::fake_slack::OpenView, tz: &str) -> jiff::Zoned {
    let secs = block(view, "deadline")["element"]["initial_date_time"]
        .as_i64()
        .expect("a datetimepicker with an initial value");
    Timestamp::from_second(secs)
        .unwrap()
        .to_zoned(TimeZone::get(tz).unwrap())
}

#[tokio::test]
async fn help_explains_with_examples_and_opens_nothing() {
    let app = spawn_app().await;
    let (response, _) = app.command("/task", "help").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["response_type"], "ephemeral");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("/task Review the Q4 report @alice friday 5pm"),
        "{text}"
    );
    assert!(text.contains("tomorrow 5pm"), "{text}");
    app.idle().await;
    assert!(app.slack.calls("views.open").is_empty());
}

#[tokio::test]
async fn the_modal_opens_prefilled_from_the_command_text() {
    let app = spawn_app().await;
    let view = app
        .open_task_modal("Review the Q4 report <@UALICE> <@UBOB|bob> friday 5pm")
        .await;

    assert_eq!(view.view["callback_id"], "task_create");
    assert_eq!(view.view["title"]["text"], "New task");
    assert_eq!(
        block(&view, "title")["element"]["initial_value"],
        "Review the Q4 report"
    );
    assert_eq!(
        block(&view, "assignees")["element"]["type"],
        "multi_users_select"
    );
    assert_eq!(
        block(&view, "assignees")["element"]["initial_users"],
        json!([ALICE, BOB])
    );
    // The requester is in New York: "friday 5pm" is 17:00 there.
    let due = deadline_in(&view, "America/New_York");
    assert_eq!(
        (due.weekday(), due.hour(), due.minute()),
        (jiff::civil::Weekday::Friday, 17, 0)
    );
    assert!(due.timestamp() > Timestamp::now());
    let kinds: Vec<String> = block(&view, "task_type")["element"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["task", "approval", "expiring", "email", "expiring_email"]
    );
    assert_eq!(block(&view, "summary")["optional"], true);
}

#[tokio::test]
async fn without_a_phrase_the_deadline_is_a_week_ahead_at_five_pm_local() {
    let app = spawn_app().await;
    let view = app.open_task_modal("").await;
    let due = deadline_in(&view, "America/New_York");
    let expected_day = Timestamp::now()
        .to_zoned(TimeZone::get("America/New_York").unwrap())
        .date()
        .saturating_add(jiff::Span::new().days(7));
    assert_eq!(due.date(), expected_day);
    assert_eq!((due.hour(), due.minute()), (17, 0));
    assert!(block(&view, "title")["element"]
        .get("initial_value")
        .is_none());
}

#[tokio::test]
async fn the_modal_opens_inside_the_trigger_lifetime_when_slack_is_slow() {
    let app = spawn_app().await;
    // users.info (the requester's timezone) takes 2.5 s: the modal must not wait for it.
    app.slack.set_users_info_delay(Duration::from_millis(2500));
    let (response, trigger) = app.command("/task", "Ship it tomorrow").await;
    assert_eq!(response.status(), 200);
    // The fake refuses a trigger older than 3 s (expired_trigger_id), so an open view
    // means views.open went out in time.
    let view = eventually("the modal to open", || app.slack.opened_view(&trigger)).await;
    assert_eq!(block(&view, "title")["element"]["initial_value"], "Ship it");

    // Once the timezone arrives, the deadline moves to 17:00 New York time.
    let updated = eventually("the deadline to be corrected", || {
        app.slack.opened_view(&trigger).filter(|v| v.updates > 0)
    })
    .await;
    let due = deadline_in(&updated, "America/New_York");
    assert_eq!((due.hour(), due.minute()), (17, 0));
    let tomorrow = Timestamp::now()
        .to_zoned(TimeZone::get("America/New_York").unwrap())
        .date()
        .tomorrow()
        .unwrap();
    assert_eq!(due.date(), tomorrow);
}

#[tokio::test]
async fn the_timezone_is_looked_up_once_then_cached() {
    let app = spawn_app().await;
    app.open_task_modal("first").await;
    app.open_task_modal("second").await;
    let lookups = app
        .slack
        .calls("users.info")
        .iter()
        .filter(|c| c.body["user"] == REQUESTER)
        .count();
    assert_eq!(lookups, 1);
}

#[tokio::test]
async fn a_modal_that_cannot_open_is_reported_to_the_user() {
    let app = spawn_app().await;
    app.slack.fail_next(
        "views.open",
        200,
        json!({"ok": false, "error": "expired_trigger_id"}),
        None,
    );
    let (response, _) = app.command("/task", "Something").await;
    assert_eq!(response.status(), 200);
    let (hook, message) = first_reply(&app, "a reply through the response URL").await;
    assert_eq!(hook, "cmd-hook");
    assert_eq!(message["response_type"], "ephemeral");
    let text = message.text();
    assert!(
        text.contains("expired_trigger_id") && text.contains("/task"),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_commands_get_a_plain_answer() {
    let app = spawn_app().await;
    let (response, _) = app.command("/tasks", "x").await;
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["response_type"], "ephemeral");
    assert!(body["text"].as_str().unwrap().contains("/task help"));
    app.idle().await;
    assert!(app.slack.calls("views.open").is_empty());
}

#[tokio::test]
async fn a_message_shortcut_turns_the_message_into_a_task_answered_in_its_thread() {
    let app = spawn_app().await;
    let trigger = app.slack.issue_trigger();
    let payload = json!({
        "type": "message_action",
        "callback_id": "task_from_message",
        "trigger_id": trigger,
        "team": {"id": crate::fake_slack::TEAM, "domain": "test"},
        "user": {"id": REQUESTER, "name": "rita"},
        "channel": {"id": CHANNEL, "name": "projects"},
        "message": {"type": "message", "user": ALICE, "ts": "1700000000.000100",
                    "text": "Can someone update the pricing page &amp; FAQ <@UBOB>?\nThe new tiers start Monday."},
        "response_url": app.slack.response_url("shortcut-hook"),
        "message_ts": "1700000000.000100"
    });
    assert_eq!(app.interact(&payload).await.status(), 200);
    let view = eventually("the modal", || app.slack.opened_view(&trigger)).await;
    assert_eq!(
        block(&view, "title")["element"]["initial_value"],
        "Can someone update the pricing page & FAQ?"
    );
    assert_eq!(
        block(&view, "assignees")["element"]["initial_users"],
        json!([BOB])
    );
    let summary = block(&view, "summary")["element"]["initial_value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("The new tiers start Monday."), "{summary}");

    app.submit_task(&view, &TaskValues::new("Update the pricing page", &[BOB]))
        .await;
    let post = announced(&app, Duration::from_secs(10)).await;
    assert_eq!(
        post["thread_ts"], "1700000000.000100",
        "the answer goes in the message's thread"
    );
}

#[tokio::test]
async fn the_global_shortcut_answers_in_a_direct_message() {
    let app = spawn_app().await;
    let trigger = app.slack.issue_trigger();
    let payload = json!({
        "type": "shortcut", "callback_id": "task_anywhere", "trigger_id": trigger,
        "team": {"id": crate::fake_slack::TEAM}, "user": {"id": REQUESTER, "username": "rita"}
    });
    assert_eq!(app.interact(&payload).await.status(), 200);
    let view = eventually("the modal", || app.slack.opened_view(&trigger)).await;
    app.submit_task(&view, &TaskValues::new("From anywhere", &[ALICE]))
        .await;
    let dm = posted_in(&app, REQUESTER, Duration::from_secs(10)).await;
    assert!(dm.body().contains("From anywhere"));
}
