//! A card shows the work as Tallyfy last has it, however its news races: a completion's
//! webhook and a reopening from the card, or many lines of a project completed together
//! while Slack paces the app's calls.

use std::time::Duration;

use crate::helpers::*;
use crate::visibility::{
    answer_on, app_with_public_url, card, card_now, mark_done_key, press_as, replies,
};

#[tokio::test]
async fn a_reopening_racing_a_completions_news_leaves_the_card_open_as_tallyfy_has_it() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Sign the lease", &[BOB]))
        .await;
    let card = card(&app).await;
    let key = mark_done_key(&card);

    // The completion's card update is slow to reach Slack...
    app.slack.hold_next("chat.update", Duration::from_secs(4));
    press_as(&app, BOB, "task_done", &key, "bob-done").await;
    assert_eq!(answer_on(&app, "bob-done").await, "Marked done in Tallyfy.");
    eventually("the completion's card update on its way", || {
        (!app.slack.calls("chat.update").is_empty()).then_some(())
    })
    .await;
    // ...and Bob reopens the task meanwhile.
    press_as(&app, BOB, "task_reopen", &key, "bob-reopen").await;
    eventually_within(Duration::from_secs(20), "the reopening's answer", || {
        app.slack
            .responses()
            .into_iter()
            .any(|(id, _)| id == "bob-reopen")
            .then_some(())
    })
    .await;
    assert_eq!(answer_on(&app, "bob-reopen").await, "Reopened in Tallyfy.");
    app.idle().await;

    // Tallyfy has the task open: so does the card, after both were told in order.
    let told = replies(&app, &card);
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(told[0].contains("completed *Sign the lease*"), "{told:?}");
    assert!(told[1].contains("reopened *Sign the lease*"), "{told:?}");
    let now = card_now(&app, &card);
    assert!(now.contains("\"action_id\":\"task_done\""), "{now}");
    assert!(!now.contains("\"action_id\":\"task_reopen\""), "{now}");
    assert!(!now.contains(":white_check_mark: Done"), "{now}");
}
