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
