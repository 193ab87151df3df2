//! Messages sized to Slack's Block Kit limits, which the fake Slack enforces on every
//! surface: long lists are split across blocks, long titles are shortened, and what is
//! counted is the escaped text Slack receives.

use std::time::Duration;

use serde_json::{json, Value};

use crate::fake_tallyfy::Fault;
use crate::helpers::*;

/// Every text of a message's blocks, joined.
fn block_text(message: &Value) -> String {
    let mut out = String::new();
    for block in message["blocks"].as_array().into_iter().flatten() {
        if let Some(t) = block["text"]["text"].as_str() {
            out.push_str(t);
            out.push('\n');
        }
    }
    out
}

/// The first message Slack took (not only was sent) in the channel.
async fn taken_in_channel(app: &TestApp) -> Value {
    eventually_within(
        Duration::from_secs(30),
        "a message posted in the channel",
        || {
            app.slack
                .posted()
                .into_iter()
                .find(|m| m["channel"] == CHANNEL)
        },
    )
    .await
}

fn failures(app: &TestApp) -> Vec<String> {
    app.slack
        .responses()
        .into_iter()
        .chain(
            app.slack
                .calls("chat.postEphemeral")
                .into_iter()
                .map(|c| (String::new(), c.body)),
        )
        .filter_map(|(_, m)| m["text"].as_str().map(str::to_string))
        .filter(|t| t.contains("was not created") || t.contains(":warning:"))
        .collect()
}

#[tokio::test]
async fn a_forty_line_project_with_long_titles_is_confirmed_in_the_channel() {
    let app = spawn_app().await;
    let titles: Vec<String> = (1..=40)
        .map(|i| {
            let title = format!(
                "Line {i:02}: check <terms> & <prices> for R&D with the client & legal team"
            );
            assert_eq!(title.chars().count(), 70, "{title}");
            title
        })
        .collect();
    let values = ProjectValues::new("Big launch & <review>", &[ALICE], &titles.join("\n"));
    let view = app.open_project_modal(&values.name).await;
    assert_eq!(app.submit_project(&view, &values).await.status(), 200);
    let message = taken_in_channel(&app).await;
    app.idle().await;
    let text = block_text(&message);
    for title in &titles {
        let escaped = title
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(text.contains(&escaped), "{title} is not listed");
        assert_eq!(app.tallyfy.tasks_titled(title), 1, "{title}");
    }
    assert!(text.contains("Big launch &amp; &lt;review&gt;"), "{text}");
    assert!(failures(&app).is_empty(), "{:?}", failures(&app));
}

#[tokio::test]
async fn a_task_whose_title_escapes_to_more_than_a_section_holds_is_confirmed() {
    let app = spawn_app().await;
    let title = "&".repeat(600);
    let view = app.open_task_modal("").await;
    let response = app
        .submit_task(&view, &TaskValues::new(&title, &[ALICE]))
        .await;
    assert_eq!(response.text().await.unwrap(), "");
    let message = taken_in_channel(&app).await;
    let text = block_text(&message);
    assert!(text.contains("&amp;&amp;&amp;"), "{text}");
    assert_eq!(app.tallyfy.tasks_titled(&title), 1);
    assert!(failures(&app).is_empty(), "{:?}", failures(&app));
}

#[tokio::test]
async fn a_failure_notice_with_a_long_title_and_reason_still_reaches_the_requester() {
    let app = spawn_app().await;
    let reason = "The deadline must be a weekday, and the owners must be members. ".repeat(60);
    app.tallyfy.fault_next_create(Fault::Status {
        status: 422,
        body: json!({"message": "The given data was invalid.", "errors": {"deadline": [reason]}}),
        retry_after: None,
    });
    let title = "<&>".repeat(200);
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new(&title, &[ALICE]))
        .await;
    let (_, notice) = eventually("the failure notice", || {
        app.slack.responses().into_iter().next()
    })
    .await;
    assert!(block_text(&notice).contains("was not created"), "{notice}");
}
