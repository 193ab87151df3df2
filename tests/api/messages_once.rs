//! A confirmation is posted once, even when the replica that posted it dies before it
//! could record that it did: the post carries the job's key in its metadata, and the
//! replica that takes the job over looks for it before posting again.

use std::time::Duration;

use crate::helpers::*;

fn in_channel(app: &TestApp) -> usize {
    app.slack
        .posted()
        .iter()
        .filter(|m| m["channel"] == CHANNEL)
        .count()
}

#[tokio::test]
async fn a_replica_killed_between_its_post_and_its_record_is_not_posted_twice() {
    let mut holder = spawn_app_with(|env| {
        env.insert("JOB_CLAIM_TIMEOUT_SECS".into(), "2".into());
    })
    .await;
    holder.stop().await;
    let mut doomed = spawn_binary_instance(&holder).await;
    // Slack takes the post, but its answer never reaches the replica.
    holder.slack.post_then_hang(Duration::from_secs(60));
    let view = doomed.open_task_modal("").await;
    let answer = doomed
        .submit_task(&view, &TaskValues::new("Posted once", &[ALICE]))
        .await;
    assert_eq!(answer.status(), 200);
    eventually("the post", || (in_channel(&holder) == 1).then_some(())).await;
    doomed.kill();

    let survivor = spawn_second_instance(&holder).await;
    eventually_within(
        Duration::from_secs(20),
        "the survivor to look for the post",
        || (!survivor.slack.calls("conversations.history").is_empty()).then_some(()),
    )
    .await;
    survivor.idle().await;
    assert_eq!(in_channel(&survivor), 1, "posted once");
    let posted = &survivor.slack.posted()[0];
    assert_eq!(posted["metadata"]["event_type"], "tallyfy_slack_job");
    assert_eq!(survivor.tallyfy.tasks_titled("Posted once"), 1);
}

#[tokio::test]
async fn a_confirmation_whose_answer_was_lost_reaches_the_channel_once() {
    let app = spawn_app().await;
    // Slack posts the card, then the connection drops before its answer arrives.
    app.slack.post_then_drop();
    let view = app.open_task_modal("").await;
    let answer = app
        .submit_task(&view, &TaskValues::new("Answer lost", &[ALICE]))
        .await;
    assert_eq!(answer.status(), 200);
    eventually("the card", || (in_channel(&app) == 1).then_some(())).await;
    app.idle().await;

    assert_eq!(in_channel(&app), 1, "the card is in the channel once");
    let shown_elsewhere: Vec<_> = app
        .slack
        .responses()
        .into_iter()
        .filter(|(_, body)| body["response_type"] == "in_channel")
        .collect();
    assert!(
        shown_elsewhere.is_empty(),
        "the card was shown a second time through the response URL: {shown_elsewhere:?}"
    );
    assert_eq!(app.tallyfy.tasks_titled("Answer lost"), 1);
}

#[tokio::test]
async fn in_a_public_channel_the_bot_has_not_joined_the_card_is_posted_there_and_can_be_looked_up()
{
    lost_answer_in_a_channel_not_joined(true).await;
}

#[tokio::test]
async fn without_chat_write_public_the_bot_joins_a_public_channel_and_its_card_is_posted_once() {
    lost_answer_in_a_channel_not_joined(false).await;
}

/// A card posted in a public channel the bot is not in, its answer lost; with or without
/// the `chat:write.public` scope.
async fn lost_answer_in_a_channel_not_joined(write_public: bool) {
    let app = spawn_app().await;
    if !write_public {
        app.slack.without_write_public();
    }
    let channel = "CNOTJOINED";
    let (response, trigger) = app.command_in("/task", "Join first", channel).await;
    assert_eq!(response.status(), 200);
    let view = eventually("the modal", || app.slack.opened_view(&trigger)).await;
    app.slack.post_then_drop();
    app.submit_task(&view, &TaskValues::new("Join first", &[ALICE]))
        .await;
    eventually("the card in the channel", || {
        app.slack
            .posted()
            .iter()
            .any(|m| m["channel"] == channel)
            .then_some(())
    })
    .await;
    app.idle().await;

    let cards = app
        .slack
        .posted()
        .iter()
        .filter(|m| m["channel"] == channel)
        .count();
    assert_eq!(cards, 1, "the card is in the channel once");
    // Posted without joining (`chat:write.public`), its answer lost: the card is found in
    // the channel, not shown a second time to anyone.
    assert!(
        app.slack.responses().is_empty() && app.slack.ephemerals().is_empty(),
        "the card was shown again: {:?} {:?}",
        app.slack.responses(),
        app.slack.ephemerals()
    );
}
