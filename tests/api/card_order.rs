//! A card shows the work as Tallyfy last has it, however its news races: a completion's
//! webhook and a reopening from the card, or many lines of a project completed together
//! while Slack paces the app's calls.

use std::time::Duration;

use crate::helpers::*;
use crate::visibility::{
    answer_on, app_with_public_url, bobs_card, card, card_now, polling_app, press_as, replies,
    said_in_channel,
};

#[tokio::test]
async fn a_reopening_racing_a_completions_news_leaves_the_card_open_as_tallyfy_has_it() {
    let app = app_with_public_url().await;
    let (card, key) = bobs_card(&app, "Sign the lease").await;

    // The completion's card update is slow to reach Slack...
    app.slack.hold_next("chat.update", Duration::from_secs(4));
    press_as(&app, BOB, "task_done", &key, "bob-done").await;
    assert_eq!(answer_on(&app, "bob-done").await, "Marked done in Tallyfy.");
    // ...and Bob reopens the task meanwhile.
    reopen_meanwhile(&app, &key).await;
    app.idle().await;

    // Tallyfy has the task open: so does the card, after both were told in order.
    told_in_order_and_open(&app, &card, "Sign the lease");
}

#[tokio::test]
async fn a_reopening_racing_the_pollers_news_leaves_the_card_open_as_tallyfy_has_it() {
    let app = polling_app().await;
    let (card, key) = bobs_card(&app, "File the report").await;

    // Completed in Tallyfy: the poller reads it, and its card update is slow to reach
    // Slack...
    app.slack.hold_next("chat.update", Duration::from_secs(4));
    app.tallyfy
        .complete_and_tell("File the report", 1002, true)
        .await;
    // ...and Bob reopens the task from the card meanwhile.
    reopen_meanwhile(&app, &key).await;
    eventually("both told", || {
        (replies(&app, &card).len() >= 2).then_some(())
    })
    .await;
    app.idle().await;
    told_in_order_and_open(&app, &card, "File the report");
}

/// Once the card update on its way (held by Slack) was sent, Bob presses Reopen on the
/// card with `key`; answers once he was told how it went.
async fn reopen_meanwhile(app: &TestApp, key: &str) {
    eventually("the card update on its way", || {
        (!app.slack.calls("chat.update").is_empty()).then_some(())
    })
    .await;
    press_as(app, BOB, "task_reopen", key, "bob-reopen").await;
    eventually_within(Duration::from_secs(20), "the reopening's answer", || {
        app.slack
            .responses()
            .into_iter()
            .any(|(id, _)| id == "bob-reopen")
            .then_some(())
    })
    .await;
    assert_eq!(answer_on(app, "bob-reopen").await, "Reopened in Tallyfy.");
}

/// The thread heard `title` completed, then reopened, once each; the card shows the task
/// open, as Tallyfy has it.
fn told_in_order_and_open(app: &TestApp, card: &serde_json::Value, title: &str) {
    let told = replies(app, card);
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(
        told[0].contains(&format!("completed *{title}*")),
        "{told:?}"
    );
    assert!(told[1].contains(&format!("reopened *{title}*")), "{told:?}");
    let now = card_now(app, card);
    assert!(now.contains("\"action_id\":\"task_done\""), "{now}");
    assert!(!now.contains("\"action_id\":\"task_reopen\""), "{now}");
    assert!(!now.contains(":white_check_mark: Done"), "{now}");
}

#[tokio::test]
async fn thirty_lines_completed_within_a_second_are_each_told_once_and_the_card_ends_complete() {
    let app = app_with_public_url().await;
    let lines: Vec<String> = (1..=29).map(|i| format!("Step {i}")).collect();
    let values = ProjectValues::new("Big launch", &[BOB], &lines.join("\n"));
    let view = app.open_project_modal(&values.name).await;
    app.submit_project(&view, &values).await;
    let card = card(&app).await;
    let (_, tasks) = app.tallyfy.all_runs().pop().expect("the project's run");
    let ids: Vec<String> = tasks
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 30, "the project and its 29 lines");

    // Every line completed in Tallyfy at once: thirty webhook calls together, while Slack
    // holds the channel to a post a second and chat.update to its tier.
    let calls = ids
        .iter()
        .map(|id| app.tallyfy.complete_id_and_tell(id, 1002, true));
    let answered = futures::future::join_all(calls).await;
    assert!(answered.iter().all(|a| *a == Some(200)), "{answered:?}");

    eventually_within(Duration::from_secs(180), "every completion told", || {
        (replies(&app, &card).len() >= ids.len()).then_some(())
    })
    .await;
    app.idle().await;
    let told = replies(&app, &card);
    assert_eq!(told.len(), ids.len(), "each told once: {told:?}");
    for task in &tasks {
        let title = task["title"].as_str().unwrap();
        let line = format!("completed *{title}*");
        assert_eq!(
            told.iter().filter(|r| r.ends_with(&line)).count(),
            1,
            "{title}: {told:?}"
        );
    }
    assert!(
        !app.slack.calls("chat.update").is_empty(),
        "the card was updated"
    );
    let now = card_now(&app, &card);
    assert!(now.contains("Project complete"), "{now}");
    let said = said_in_channel(&app, "is complete");
    assert_eq!(said.len(), 1, "{said:?}");
}
