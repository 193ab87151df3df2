//! The App Home tab: opening it shows the viewer the tasks made from Slack that are theirs
//! and still open, their recent projects, and how to use `/task` and `/project`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::fake_slack;
use crate::helpers::*;
use crate::visibility::{app_with_public_url, replies};

/// `app_home_opened` for `user`, as the Events API sends it, signed.
async fn home_opened(app: &TestApp, user: &str, event_id: &str) -> reqwest::Response {
    let body = json!({
        "token": "verification-token", "team_id": fake_slack::TEAM, "api_app_id": "A0TEST",
        "type": "event_callback", "event_id": event_id, "event_time": now(),
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
                  "event_ts": format!("{}.000100", now())}
    });
    app.post_signed("/slack/events", "application/json", body.to_string())
        .await
}

#[tokio::test]
async fn the_home_tab_lists_the_viewers_open_tasks_only() {
    let app = app_with_public_url().await;
    for (title, who) in [
        ("Sign the lease", BOB),
        ("Buy milk", ALICE),
        ("Old chore", BOB),
    ] {
        let view = app.open_task_modal("").await;
        app.submit_task(&view, &TaskValues::new(title, &[who]))
            .await;
        eventually("the confirmation", || {
            app.slack
                .posted()
                .into_iter()
                .find(|m| m["text"].as_str().unwrap_or_default().contains(title))
        })
        .await;
    }
    let old = app
        .slack
        .posted()
        .into_iter()
        .find(|m| m["text"].as_str().unwrap_or_default().contains("Old chore"))
        .unwrap();
    app.tallyfy.complete_and_tell("Old chore", 1002, true).await;
    eventually_within(Duration::from_secs(5), "the completion told", || {
        (!replies(&app, &old).is_empty()).then_some(())
    })
    .await;

    assert_eq!(home_opened(&app, BOB, "Ev0001").await.status(), 200);
    let home = eventually("Bob's home tab", || app.slack.home_view(BOB)).await;
    let text = home.to_string();
    assert_eq!(home["type"], "home");
    assert!(text.contains("Sign the lease"), "{text}");
    assert!(!text.contains("Buy milk"), "another's task: {text}");
    assert!(!text.contains("Old chore"), "a completed task: {text}");
    let buttons: Vec<&Value> = home["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().into_iter().flatten())
        .filter(|e| e["type"] == "button")
        .collect();
    assert!(buttons.len() >= 2, "how to use /task and /project: {text}");

    // The same event delivered again publishes nothing more.
    assert_eq!(home_opened(&app, BOB, "Ev0001").await.status(), 200);
    app.idle().await;
    assert_eq!(app.slack.calls("views.publish").len(), 1);

    // A different visit by someone else shows theirs.
    assert_eq!(home_opened(&app, ALICE, "Ev0002").await.status(), 200);
    let alice = eventually("Alice's home tab", || app.slack.home_view(ALICE)).await;
    assert!(alice.to_string().contains("Buy milk"));
    assert!(!alice.to_string().contains("Sign the lease"));
}

#[tokio::test]
async fn an_unsigned_home_event_publishes_nothing() {
    let app = app_with_public_url().await;
    let body = json!({"type": "event_callback", "team_id": fake_slack::TEAM, "event_id": "Ev9",
                      "event": {"type": "app_home_opened", "user": BOB, "tab": "home"}});
    let response = reqwest::Client::new()
        .post(app.url("/slack/events"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    app.idle().await;
    assert!(app.slack.home_view(BOB).is_none());
}

#[tokio::test]
async fn over_socket_mode_the_home_tab_is_published_too() {
    let app = spawn_app_with(|env| {
        env.insert("SLACK_APP_TOKEN".into(), fake_slack::APP_TOKEN.into());
    })
    .await;
    eventually("the socket to connect", || {
        app.slack.socket_connected().then_some(())
    })
    .await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Renew the domain", &[ALICE]))
        .await;
    eventually("the confirmation", || app.slack.posted().into_iter().next()).await;
    assert!(app.slack.socket_send(json!({
        "envelope_id": "env-home", "type": "events_api", "accepts_response_payload": false,
        "payload": {
            "team_id": fake_slack::TEAM, "api_app_id": "A0TEST", "type": "event_callback",
            "event_id": "Ev0100", "event_time": now(),
            "event": {"type": "app_home_opened", "user": ALICE, "channel": "D0HOME", "tab": "home"}
        }
    })));
    let home = eventually("Alice's home tab", || app.slack.home_view(ALICE)).await;
    assert!(home.to_string().contains("Renew the domain"), "{home}");
}

#[tokio::test]
async fn the_home_tabs_buttons_open_the_guides_to_task_and_project() {
    let app = app_with_public_url().await;
    assert_eq!(home_opened(&app, BOB, "Ev0200").await.status(), 200);
    let home = eventually("Bob's home tab", || app.slack.home_view(BOB)).await;
    assert!(home.to_string().contains("Nothing open"), "{home}");
    for (action, command) in [
        ("home_help_task", "/task"),
        ("home_help_project", "/project"),
    ] {
        let button = home["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|b| b["elements"].as_array().into_iter().flatten())
            .find(|e| e["action_id"] == action)
            .expect("the guide's button")
            .clone();
        let trigger = app.slack.issue_trigger();
        let mut payload = button_press(action, button["value"].as_str().unwrap(), "");
        payload["user"]["id"] = BOB.into();
        payload["trigger_id"] = trigger.clone().into();
        payload["container"] = json!({"type": "view", "view_id": "VHOME"});
        payload.as_object_mut().unwrap().remove("response_url");
        payload.as_object_mut().unwrap().remove("channel");
        payload.as_object_mut().unwrap().remove("message");
        assert_eq!(app.interact(&payload).await.status(), 200);
        let guide = eventually("the guide", || app.slack.opened_view(&trigger)).await;
        assert!(
            guide.view.to_string().contains(&format!("*{command}*")),
            "{}",
            guide.view
        );
    }
}

#[tokio::test]
async fn a_home_tab_slack_rate_limits_once_is_published_after_the_wait_slack_asks_for() {
    let app = spawn_app().await;
    // views.publish is Tier 4; any method can answer 429 with Retry-After
    // (api.slack.com/apis/rate-limits).
    app.slack.fail_next(
        "views.publish",
        429,
        json!({"ok": false, "error": "ratelimited"}),
        Some(1),
    );
    assert_eq!(home_opened(&app, ALICE, "Ev429").await.status(), 200);
    eventually("the Home tab", || app.slack.home_view(ALICE)).await;
    assert_eq!(
        app.slack.calls("views.publish").len(),
        2,
        "one wait, one call again"
    );
}
