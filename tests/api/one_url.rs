//! One request URL for everything, as Bolt apps have it: `/slack/events` also takes slash
//! commands and interactions, told apart by what the body holds, and answers them exactly
//! as their own routes do.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

const FORM: &str = "application/x-www-form-urlencoded";

/// What an answer was: its status and its body (JSON when it has one).
async fn answer(response: reqwest::Response) -> (u16, Option<Value>) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    // Plain text stays as a string, so a refusal shows in the comparison.
    let body =
        (!text.is_empty()).then(|| serde_json::from_str(&text).unwrap_or(Value::String(text)));
    (status, body)
}

async fn command_to(
    app: &TestApp,
    path: &str,
    command: &str,
    text: &str,
) -> (u16, Option<Value>, String) {
    let trigger = app.slack.issue_trigger();
    let body = app.command_body(command, text, CHANNEL, &trigger, "cmd-hook");
    let (status, body) = answer(app.post_signed(path, FORM, body).await).await;
    (status, body, trigger)
}

async fn submit_to(app: &TestApp, path: &str, values: &TaskValues) -> (u16, Option<Value>) {
    let view = app.open_task_modal("").await;
    let metadata = view.view["private_metadata"].as_str().unwrap_or_default();
    let payload = submission(&view.id, &view.hash, metadata, values);
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    answer(app.post_signed(path, FORM, body).await).await
}

#[tokio::test]
async fn a_command_sent_to_the_events_url_is_answered_as_on_the_commands_url() {
    let app = spawn_app().await;
    for (command, text) in [("/task", "help"), ("/project", "help"), ("/tasks", "x")] {
        let own = command_to(&app, "/slack/commands", command, text).await;
        let one = command_to(&app, "/slack/events", command, text).await;
        assert_eq!((own.0, &own.1), (one.0, &one.1), "{command} {text}");
        assert_eq!(one.0, 200);
        assert!(
            one.1.is_some(),
            "{command} {text} is answered with a message"
        );
    }

    let (status, body, trigger) = command_to(
        &app,
        "/slack/events",
        "/task",
        "Review the Q4 report <@UALICE> friday",
    )
    .await;
    assert_eq!((status, body), (200, None));
    let view = eventually("the New task form", || app.slack.opened_view(&trigger)).await;
    assert_eq!(
        block(&view, "title")["element"]["initial_value"],
        "Review the Q4 report"
    );
    assert_eq!(
        block(&view, "assignees")["element"]["initial_users"],
        serde_json::json!([ALICE])
    );
}

#[tokio::test]
async fn a_view_submission_sent_to_the_events_url_is_answered_as_on_the_interactions_url() {
    let app = spawn_app().await;
    // A mistake comes back on the form, the same from either URL.
    let mut untitled = TaskValues::new("", &[ALICE]);
    untitled.title = None;
    let own = submit_to(&app, "/slack/interactions", &untitled).await;
    let one = submit_to(&app, "/slack/events", &untitled).await;
    assert_eq!(own, one);
    assert_eq!(one.1.as_ref().unwrap()["response_action"], "errors");

    // A good one closes the form, creates the task once and tells the channel.
    let one = submit_to(
        &app,
        "/slack/events",
        &TaskValues::new("Ship the release notes", &[ALICE]),
    )
    .await;
    assert_eq!(one, (200, None));
    let posted = announced(&app, Duration::from_secs(10)).await;
    assert!(
        posted.to_string().contains("Ship the release notes"),
        "{posted}"
    );
    assert_eq!(app.tallyfy.tasks_titled("Ship the release notes"), 1);
}

#[tokio::test]
async fn ssl_checks_and_url_verification_are_answered_on_the_events_url() {
    let app = spawn_app().await;
    let ssl = app
        .post_signed("/slack/events", FORM, "ssl_check=1&token=abc".into())
        .await;
    assert_eq!(answer(ssl).await, (200, None));

    let challenge =
        serde_json::json!({"token": "x", "challenge": "c-123", "type": "url_verification"});
    let response = app
        .post_signed("/slack/events", "application/json", challenge.to_string())
        .await;
    assert_eq!(
        answer(response).await,
        (200, Some(serde_json::json!({"challenge": "c-123"})))
    );
}

#[tokio::test]
async fn a_form_that_is_neither_a_command_nor_an_interaction_gets_400() {
    let app = spawn_app().await;
    for path in ["/slack/events", "/slack/commands", "/slack/interactions"] {
        let response = app.post_signed(path, FORM, "nothing=here".into()).await;
        assert_eq!(response.status(), 400, "{path}");
    }
}
