//! Only the workspace and app the bot token belongs to (learned from `auth.test` and
//! `bots.info` at start) are served: a signed request from any other team or app is
//! refused before any lookup, and no work is done for it.

use serde_json::json;

use crate::fake_slack::TEAM;
use crate::helpers::*;

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn a_command_from_another_team_opens_no_form() {
    let app = spawn_app().await;
    let trigger = app.slack.issue_trigger();
    let body = app
        .command_body("/task", "Review <@UALICE>", CHANNEL, &trigger, "h")
        .replace(&format!("team_id={TEAM}"), "team_id=T0OTHER");
    let response = app.post_signed("/slack/commands", FORM, body).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["response_type"], "ephemeral", "{answer}");
    app.idle().await;
    assert!(app.slack.calls("views.open").is_empty());
    assert!(app.slack.calls("users.info").is_empty());
    assert!(app.slack.responses().is_empty());
}

#[tokio::test]
async fn a_command_for_another_app_opens_no_form() {
    let app = spawn_app().await;
    let trigger = app.slack.issue_trigger();
    let body = app
        .command_body("/task", "Review", CHANNEL, &trigger, "h")
        .replace("api_app_id=A0TEST", "api_app_id=A0OTHER");
    let response = app.post_signed("/slack/commands", FORM, body).await;
    assert_eq!(response.status(), 200);
    app.idle().await;
    assert!(app.slack.calls("views.open").is_empty());
    // The same command from this app's workspace does open the form.
    app.open_task_modal("Review").await;
}

#[tokio::test]
async fn interactions_from_another_team_do_nothing() {
    let app = spawn_app().await;
    let mut press = button_press("job_retry", "task:whatever", &app.slack.response_url("h"));
    press["team"] = json!({"id": "T0OTHER", "domain": "other"});
    press["user"]["team_id"] = json!("T0OTHER");
    assert_eq!(app.interact(&press).await.status(), 200);

    let mut submitted = submission("V1", "h1", "", &TaskValues::new("Review", &[ALICE]));
    submitted["team"] = json!({"id": "T0OTHER", "domain": "other"});
    submitted["user"]["team_id"] = json!("T0OTHER");
    submitted["view"]["team_id"] = json!("T0OTHER");
    assert_eq!(app.interact(&submitted).await.status(), 200);

    app.idle().await;
    assert!(app.slack.responses().is_empty());
    assert!(app.slack.calls("users.info").is_empty());
    assert!(app.tallyfy.requests().is_empty());
}

#[tokio::test]
async fn until_slack_says_whose_the_token_is_requests_are_refused_then_served() {
    let app = spawn_app().await;
    // Down at the start, and at the first retry a second later.
    for _ in 0..2 {
        app.slack.fail_next(
            "auth.test",
            503,
            json!({"ok": false, "error": "service_unavailable"}),
            None,
        );
    }
    let replica = spawn_second_instance(&app).await;
    let (response, _) = replica.command("/task", "Review").await;
    let answer: serde_json::Value = response.json().await.unwrap();
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .contains("starting"),
        "{answer}"
    );
    assert!(app.slack.calls("views.open").is_empty());
    let ready: serde_json::Value = replica.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["degraded"], json!(["slack"]), "{ready}");
    // Asked again in the background, Slack answers, and the replica serves.
    let started = std::time::Instant::now();
    loop {
        let (response, trigger) = replica.command("/task", "Review").await;
        if response.text().await.unwrap().is_empty() {
            eventually("the task modal to open", || app.slack.opened_view(&trigger)).await;
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "never served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
