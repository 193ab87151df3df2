//! A slow Slack cannot hold work after the acknowledgement for ever: a form Slack does not
//! open within its trigger's three seconds is given up, and the person is told, once.

use std::time::Duration;

use tallyfy_slack::slack::api::OPENING_AT_ONCE;

use crate::helpers::*;

#[tokio::test]
async fn a_form_slack_is_slow_to_open_is_given_up_and_the_person_told_once() {
    let app = spawn_app().await;
    app.slack
        .answer_slowly("views.open", Duration::from_secs(4));
    let (response, _) = app.command("/task", "Review the Q4 report").await;
    assert_eq!(response.status(), 200);
    let (_, told) = eventually("the person to be told", || {
        app.slack.responses().into_iter().next()
    })
    .await;
    let text = told["text"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("too slow to open the form"), "{text}");
    assert!(text.contains("/task"), "{text}");
    app.idle().await;
    assert_eq!(app.slack.responses().len(), 1, "told once");
    assert_eq!(app.slack.calls("views.open").len(), 1, "not tried again");
}

#[tokio::test]
async fn a_form_whose_turn_to_be_sent_comes_too_late_is_not_sent_and_its_person_is_told() {
    let app = spawn_app().await;
    app.slack
        .answer_slowly("views.open", Duration::from_secs(4));
    // Every `views.open` call the service makes at once is taken by a form Slack will not
    // open in time...
    let texts: Vec<String> = (0..OPENING_AT_ONCE).map(|i| format!("First {i}")).collect();
    let first = texts.iter().map(|text| app.command("/task", text));
    for (response, _) in futures::future::join_all(first).await {
        assert_eq!(response.status(), 200);
    }
    // ...and a few more come just after: their turn comes only when the first give up,
    // when their own triggers are nearly spent.
    let texts: Vec<String> = (0..6).map(|i| format!("Late {i}")).collect();
    let late = texts.iter().map(|text| app.command("/task", text));
    for (response, _) in futures::future::join_all(late).await {
        assert_eq!(response.status(), 200);
    }
    let everyone = OPENING_AT_ONCE + 6;
    eventually_within(Duration::from_secs(15), "everyone to be told", || {
        (app.slack.responses().len() >= everyone).then_some(())
    })
    .await;
    app.idle().await;
    let told = app.slack.responses();
    assert_eq!(told.len(), everyone, "each person told once");
    assert!(told.iter().all(|(_, m)| m["text"]
        .as_str()
        .unwrap_or_default()
        .contains("too slow to open the form")));
    assert_eq!(
        app.slack.calls("views.open").len(),
        OPENING_AT_ONCE,
        "no call is made for a form whose trigger is all but spent"
    );
}

/// Slack gives up on a `view_submission` 3 s after it sent it
/// (api.slack.com/surfaces/modals#submission_responses). This one was sent `late` before
/// it arrived (its X-Slack-Request-Timestamp says so); the request gives up when Slack
/// would.
async fn submit_project_sent_late(
    app: &TestApp,
    view: &crate::fake_slack::OpenView,
    values: &ProjectValues,
    late: Duration,
) -> reqwest::Response {
    let metadata = view.view["private_metadata"].as_str().unwrap_or_default();
    let payload = project_submission(&view.id, &view.hash, metadata, values);
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let sent = now() - late.as_secs() as i64 - 1;
    let answer = tokio::time::timeout(
        Duration::from_secs(3).saturating_sub(late),
        app.post_signed_at(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            body,
            sent,
        ),
    )
    .await;
    answer.expect("answered before Slack gave up")
}

#[tokio::test]
async fn a_project_submission_with_everything_cold_is_answered_before_slack_gives_up() {
    let app = spawn_app().await;
    let values = ProjectValues::new("Cold start", &[ALICE, BOB], "Book venue @bob\nSend invites");
    let view = app.open_project_modal(&values.name).await;
    // Everything the submission could look up is slow: the people, the tags, the members.
    app.slack.set_users_info_delay(Duration::from_secs(3));
    app.tallyfy.set_list_delay(Duration::from_secs(3));
    let answer = submit_project_sent_late(&app, &view, &values, Duration::from_secs(2)).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "", "the modal closes");
    // What could not be checked in time is done after the form closed.
    app.slack.set_users_info_delay(Duration::ZERO);
    app.tallyfy.set_list_delay(Duration::ZERO);
    posted_in(&app, CHANNEL, Duration::from_secs(20)).await;
}
