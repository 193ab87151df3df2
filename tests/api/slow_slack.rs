//! A slow Slack cannot hold work after the acknowledgement for ever: a form Slack does not
//! open within its trigger's three seconds is given up, and the person is told, once.

use std::time::Duration;

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
