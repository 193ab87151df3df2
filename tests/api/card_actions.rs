//! What the assignees can do from a task's card besides "Mark done": reopen it (and the
//! thread hears who did), and comment on it from a small form; the comment reaches
//! Tallyfy with its author and a link back to the conversation.

use std::time::Duration;

use serde_json::{json, Value};

use crate::fake_slack;
use crate::fake_tallyfy::Fault;
use crate::helpers::*;
use crate::visibility::{answer_on, app_with_public_url, card, card_now, press_as, replies};

/// The value of the card's button `action_id` (the job's key), when the card shows it.
fn button_value(blocks: &Value, action_id: &str) -> Option<String> {
    blocks
        .as_array()?
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_id"] == action_id)
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

/// The card's buttons as they now read.
fn shows(app: &TestApp, card: &Value, action_id: &str) -> bool {
    card_now(app, card).contains(&format!("\"action_id\":\"{action_id}\""))
}

#[tokio::test]
async fn an_assignee_reopens_a_done_task_once_and_the_thread_hears_who_did() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Sign the lease", &[BOB]))
        .await;
    let card = card(&app).await;
    let key = button_value(&card["blocks"], "task_done").expect("a Mark done button");
    assert!(
        button_value(&card["blocks"], "task_reopen").is_none(),
        "an open task shows no Reopen"
    );

    press_as(&app, BOB, "task_done", &key, "bob-done").await;
    assert_eq!(answer_on(&app, "bob-done").await, "Marked done in Tallyfy.");
    eventually_within(Duration::from_secs(5), "the card to offer Reopen", || {
        (shows(&app, &card, "task_reopen") && !shows(&app, &card, "task_done")).then_some(())
    })
    .await;

    // Someone who is not an assignee: nothing changes, and they are told privately.
    press_as(&app, ALICE, "task_reopen", &key, "alice-reopen").await;
    assert!(answer_on(&app, "alice-reopen")
        .await
        .contains("Only the task's assignees"));
    app.idle().await;
    assert!(app.tallyfy.reopenings().is_empty());

    press_as(&app, BOB, "task_reopen", &key, "bob-reopen").await;
    assert_eq!(answer_on(&app, "bob-reopen").await, "Reopened in Tallyfy.");
    let reopened = eventually_within(
        Duration::from_secs(5),
        "the reopening in the thread",
        || {
            replies(&app, &card)
                .into_iter()
                .find(|r| r.contains("reopened"))
        },
    )
    .await;
    assert!(
        reopened.contains(&format!("<@{BOB}> reopened *Sign the lease*")),
        "{reopened}"
    );
    eventually_within(Duration::from_secs(5), "the card to show it open", || {
        (shows(&app, &card, "task_done") && !shows(&app, &card, "task_reopen")).then_some(())
    })
    .await;
    assert!(!card_now(&app, &card).contains(":white_check_mark: Done"));

    press_as(&app, BOB, "task_reopen", &key, "bob-again").await;
    assert!(
        answer_on(&app, "bob-again").await.contains("already open"),
        "a second press changes nothing"
    );
    app.idle().await;
    assert_eq!(app.tallyfy.reopenings().len(), 1, "reopened once");

    // Done again: Tallyfy calls the webhook again, and the thread hears it.
    press_as(&app, BOB, "task_done", &key, "bob-done-again").await;
    assert_eq!(
        answer_on(&app, "bob-done-again").await,
        "Marked done in Tallyfy."
    );
    eventually_within(Duration::from_secs(5), "the second completion", || {
        (replies(&app, &card)
            .iter()
            .filter(|r| r.contains("completed *Sign the lease*"))
            .count()
            == 2)
            .then_some(())
    })
    .await;
    assert_eq!(replies(&app, &card).len(), 3, "{:?}", replies(&app, &card));
}

/// A press of the card's "Comment" button by `user`, with a fresh trigger id; answers the
/// modal Slack opened for it.
pub(crate) async fn open_comment(
    app: &TestApp,
    card: &Value,
    key: &str,
    user: &str,
) -> fake_slack::OpenView {
    let trigger = app.slack.issue_trigger();
    let mut payload = button_press("task_comment", key, &app.slack.response_url("comment"));
    payload["user"]["id"] = user.into();
    payload["trigger_id"] = trigger.clone().into();
    payload["container"]["message_ts"] = card["ts"].clone();
    payload["message"]["ts"] = card["ts"].clone();
    assert_eq!(app.interact(&payload).await.status(), 200);
    eventually("the comment form", || app.slack.opened_view(&trigger)).await
}

/// The comment form submitted by `user` with `text`.
pub(crate) fn comment_submission(view: &fake_slack::OpenView, user: &str, text: &str) -> Value {
    let block = view.view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "input")
        .expect("an input")
        .clone();
    let (block_id, action_id) = (
        block["block_id"].as_str().unwrap().to_string(),
        block["element"]["action_id"].as_str().unwrap().to_string(),
    );
    json!({
        "type": "view_submission",
        "team": {"id": fake_slack::TEAM, "domain": "test"},
        "user": {"id": user, "username": "someone", "team_id": fake_slack::TEAM},
        "api_app_id": "A0TEST",
        "view": {
            "id": view.id, "hash": view.hash, "type": "modal",
            "callback_id": view.view["callback_id"],
            "private_metadata": view.view["private_metadata"],
            "state": {"values": {block_id: {action_id: {"type": "plain_text_input", "value": text}}}}
        }
    })
}

#[tokio::test]
async fn a_comment_reaches_tallyfy_once_with_its_author_and_a_link_to_the_thread() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Order chairs", &[BOB]))
        .await;
    let card = card(&app).await;
    let key = button_value(&card["blocks"], "task_comment").expect("a Comment button");
    let task = app.tallyfy.task_id_titled("Order chairs").unwrap();

    let form = open_comment(&app, &card, &key, ALICE).await;
    assert_eq!(form.view["type"], "modal");

    // Nothing written: the form says so where the comment goes, and nothing is sent.
    let empty = app
        .interact(&comment_submission(&form, ALICE, "   "))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(empty["response_action"], "errors", "{empty}");
    assert!(app.tallyfy.comments(&task).is_empty());

    let text = "Ten <chairs> & one table, please";
    let sent = comment_submission(&form, ALICE, text);
    assert_eq!(app.interact(&sent).await.status(), 200);
    // Slack delivers the same submission again: still one comment.
    assert_eq!(app.interact(&sent).await.status(), 200);
    let comments = eventually_within(Duration::from_secs(5), "the comment in Tallyfy", || {
        let c = app.tallyfy.comments(&task);
        (!c.is_empty()).then_some(c)
    })
    .await;
    app.idle().await;
    assert_eq!(app.tallyfy.comments(&task).len(), 1, "one comment");
    // No guest on the task: Tallyfy's default visibility is left as it is.
    assert_eq!(comments[0]["state"], "hide-for-guests");
    let content = comments[0]["content"].as_str().unwrap();
    assert!(content.contains(text), "{content}");
    // Signed with the name Tallyfy has for Alice, not a Slack name anyone may choose.
    assert!(
        content.contains("\u{2014} Alice Example, in Slack"),
        "the author: {content}"
    );
    let ts = card["ts"].as_str().unwrap().replace('.', "");
    assert!(
        content.contains(&format!("https://test.slack.com/archives/{CHANNEL}/p{ts}")),
        "a link to the thread: {content}"
    );

    // The commenter is told, privately.
    let told = eventually("the private confirmation", || {
        app.slack
            .calls("chat.postEphemeral")
            .into_iter()
            .find(|c| c.body["user"] == ALICE)
    })
    .await;
    assert!(
        told.body.to_string().contains("Your comment was added"),
        "{:?}",
        told.body
    );
}

#[tokio::test]
async fn someone_without_a_tallyfy_account_cannot_comment_and_is_told_why() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Order desks", &[BOB]))
        .await;
    let card = card(&app).await;
    let key = button_value(&card["blocks"], "task_comment").expect("a Comment button");
    let task = app.tallyfy.task_id_titled("Order desks").unwrap();

    // Carol has no Tallyfy account.
    let form = open_comment(&app, &card, &key, CAROL).await;
    let sent = comment_submission(&form, CAROL, "I approve, signed: the CEO");
    assert_eq!(app.interact(&sent).await.status(), 200);
    let told = eventually("the private answer", || {
        app.slack
            .calls("chat.postEphemeral")
            .into_iter()
            .find(|c| c.body["user"] == CAROL)
    })
    .await;
    assert!(
        told.body
            .to_string()
            .contains("Only people with a Tallyfy account"),
        "{:?}",
        told.body
    );
    app.idle().await;
    assert!(
        app.tallyfy.comments(&task).is_empty(),
        "nothing reached Tallyfy"
    );
}

#[tokio::test]
async fn a_comment_tallyfy_refuses_is_told_to_its_author_in_words_they_can_act_on() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Water the plants", &[BOB]))
        .await;
    let card = card(&app).await;
    let key = button_value(&card["blocks"], "task_comment").expect("a Comment button");
    let task = app.tallyfy.task_id_titled("Water the plants").unwrap();
    // Someone deletes the task in Tallyfy meanwhile.
    app.tallyfy.delete_run(&format!("oneoff-{task}"));

    let form = open_comment(&app, &card, &key, BOB).await;
    let sent = comment_submission(&form, BOB, "Done <soon>");
    assert_eq!(app.interact(&sent).await.status(), 200);
    let told = eventually("the private answer", || {
        app.slack
            .calls("chat.postEphemeral")
            .into_iter()
            .find(|c| c.body["user"] == BOB)
    })
    .await;
    let text = told.body["text"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("was not added"), "{text}");
    assert!(!text.contains("<soon>"), "{text}");
    assert!(app.tallyfy.all_comments().is_empty());
}

/// A member of another organization in a Slack Connect channel, with a Tallyfy account
/// (an outside collaborator the organization invited).
const EXTERNAL: &str = "UEXTERNAL";

#[tokio::test]
async fn a_slack_connect_members_comment_from_another_organization_reaches_tallyfy() {
    let app = app_with_public_url().await;
    app.slack.add_person(fake_slack::Person {
        id: EXTERNAL.into(),
        name: "erin".into(),
        email: Some("erin@partner.example".into()),
        tz: "UTC".into(),
        team: Some("T0PARTNER".into()),
        ..fake_slack::Person::default()
    });
    app.tallyfy
        .add_member(1010, "erin@partner.example", "Erin", "active");
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Sign the contract", &[BOB]))
        .await;
    let card = card(&app).await;
    let key = button_value(&card["blocks"], "task_comment").expect("a Comment button");
    let task = app.tallyfy.task_id_titled("Sign the contract").unwrap();

    // A press on a message in a shared channel carries the host team; the person's own
    // team is theirs.
    let trigger = app.slack.issue_trigger();
    let mut press = button_press("task_comment", &key, &app.slack.response_url("ext"));
    press["user"]["id"] = EXTERNAL.into();
    press["user"]["team_id"] = "T0PARTNER".into();
    press["trigger_id"] = trigger.clone().into();
    press["container"]["message_ts"] = card["ts"].clone();
    assert_eq!(app.interact(&press).await.status(), 200);
    let form = eventually("the comment form", || app.slack.opened_view(&trigger)).await;

    // Slack sends the submission with the partner's team in `team.id`.
    let written = comment_submission(&form, EXTERNAL, "Signed on our side");
    let values = written["view"]["state"]["values"].clone();
    let sent = app.slack.view_submission(&form, EXTERNAL, values);
    assert_eq!(sent["team"]["id"], "T0PARTNER");
    assert_eq!(app.interact(&sent).await.status(), 200);
    let comments = eventually_within(Duration::from_secs(5), "the comment in Tallyfy", || {
        let c = app.tallyfy.comments(&task);
        (!c.is_empty()).then_some(c)
    })
    .await;
    let content = comments[0]["content"].as_str().unwrap();
    assert!(content.contains("Signed on our side"), "{content}");
    assert!(
        content.contains("Erin"),
        "signed with their Tallyfy name: {content}"
    );
    let told = eventually("the private confirmation", || {
        app.slack
            .calls("chat.postEphemeral")
            .into_iter()
            .find(|c| c.body["user"] == EXTERNAL)
    })
    .await;
    assert!(
        told.body.to_string().contains("Your comment was added"),
        "{:?}",
        told.body
    );
}

/// A choice of `value` in the project card's line menu `action_id` by `user`; the
/// private answer goes to hook `hook`, and a form opens with the returned trigger id.
pub(crate) async fn choose_as(
    app: &TestApp,
    card: &Value,
    user: &str,
    action_id: &str,
    value: &str,
    hook: &str,
) -> String {
    let trigger = app.slack.issue_trigger();
    let mut payload = button_press(action_id, "", &app.slack.response_url(hook));
    payload["user"]["id"] = user.into();
    payload["trigger_id"] = trigger.clone().into();
    payload["container"]["message_ts"] = card["ts"].clone();
    payload["actions"] = json!([{"type": "static_select", "action_id": action_id, "block_id": "lines",
        "selected_option": {"text": {"type": "plain_text", "text": "a line"}, "value": value},
        "action_ts": "1700000001.000002"}]);
    assert_eq!(app.interact(&payload).await.status(), 200);
    trigger
}

/// The value of the line menu option for the line titled `title`.
pub(crate) fn line_option(card: &Value, title: &str) -> String {
    card["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["block_id"] == "lines")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .flat_map(|e| e["options"].as_array().cloned().unwrap_or_default())
        .find(|o| o["text"]["text"] == title)
        .and_then(|o| o["value"].as_str().map(str::to_string))
        .expect("a line menu option")
}

#[tokio::test]
async fn each_line_of_a_projects_card_can_be_marked_done_reopened_and_commented_on() {
    let app = app_with_public_url().await;
    let values = ProjectValues::new("Launch", &[ALICE], "Book venue\nSend invites");
    let view = app.open_project_modal(&values.name).await;
    app.submit_project(&view, &values).await;
    let card = card(&app).await;
    let venue = line_option(&card, "Book venue");
    let task = app.tallyfy.task_id_titled("Book venue").unwrap();

    // Not an assignee of that line: nothing changes.
    choose_as(&app, &card, BOB, "line_done", &venue, "bob-line").await;
    assert!(answer_on(&app, "bob-line")
        .await
        .contains("Only the task's assignees"));
    app.idle().await;
    assert!(app.tallyfy.completions().is_empty());

    choose_as(&app, &card, ALICE, "line_done", &venue, "alice-line").await;
    assert_eq!(
        answer_on(&app, "alice-line").await,
        "Marked done in Tallyfy."
    );
    assert_eq!(app.tallyfy.completions(), std::slice::from_ref(&task));
    eventually_within(Duration::from_secs(5), "1 of 3 done", || {
        card_now(&app, &card).contains("1 of 3 done").then_some(())
    })
    .await;

    choose_as(&app, &card, ALICE, "line_reopen", &venue, "alice-reopen").await;
    assert_eq!(
        answer_on(&app, "alice-reopen").await,
        "Reopened in Tallyfy."
    );
    let reopened = eventually_within(Duration::from_secs(5), "the reopening", || {
        replies(&app, &card)
            .into_iter()
            .find(|r| r.contains("reopened"))
    })
    .await;
    assert!(
        reopened.contains(&format!("<@{ALICE}> reopened *Book venue*")),
        "{reopened}"
    );
    assert_eq!(app.tallyfy.reopenings(), std::slice::from_ref(&task));

    let trigger = choose_as(&app, &card, BOB, "line_comment", &venue, "bob-comment").await;
    let form = eventually("the comment form", || app.slack.opened_view(&trigger)).await;
    let sent = comment_submission(&form, BOB, "The venue has a piano");
    assert_eq!(app.interact(&sent).await.status(), 200);
    let comments = eventually_within(Duration::from_secs(5), "the comment", || {
        let c = app.tallyfy.comments(&task);
        (!c.is_empty()).then_some(c)
    })
    .await;
    assert!(comments[0]["content"]
        .as_str()
        .unwrap()
        .contains("The venue has a piano"));
}

#[tokio::test]
async fn the_buttons_still_work_once_the_requests_own_details_have_expired() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Renew the lease", &[BOB]))
        .await;
    let card = card(&app).await;
    let key = button_value(&card["blocks"], "task_done").expect("a Mark done button");
    // A day later the job and its progress are gone (they are kept for the Retry button).
    let mut conn = shared_conn().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", app.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    let expired: Vec<&String> = keys
        .iter()
        .filter(|k| k.contains(":job:") || k.contains(":progress:"))
        .collect();
    assert!(!expired.is_empty(), "{keys:?}");
    for k in expired {
        let _: () = redis::cmd("DEL")
            .arg(k)
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    press_as(&app, BOB, "task_done", &key, "bob-later").await;
    assert_eq!(
        answer_on(&app, "bob-later").await,
        "Marked done in Tallyfy."
    );
    assert_eq!(app.tallyfy.completions().len(), 1);
}

#[tokio::test]
async fn after_a_retry_a_completion_updates_the_card_the_retry_made() {
    let app = app_with_public_url().await;
    app.tallyfy.fault_create_titled(
        "Collect contract",
        Fault::Status {
            status: 422,
            body: json!({"error": true, "errors": {"owners": ["The owners are locked for this process."]}}),
            retry_after: None,
        },
    );
    let values = ProjectValues::new(
        "Onboard Initech",
        &[ALICE],
        "Kickoff call\nSend welcome pack\nCollect contract",
    );
    let view = app.open_project_modal(&values.name).await;
    assert_eq!(app.submit_project(&view, &values).await.status(), 200);
    let card = card(&app).await;
    let first = Message::new(card.clone());
    assert!(
        first.body().contains(":x: Collect contract"),
        "{}",
        first.body()
    );
    let key = first.retry_key().to_string();
    app.idle().await;

    // Retry, pressed on the card: Slack's response URL for it replaces the card.
    let ts = card["ts"].as_str().unwrap();
    let mut press = button_press(
        "project_retry",
        &key,
        &app.slack.message_response_url(CHANNEL, ts),
    );
    press["container"]["message_ts"] = ts.into();
    press["message"]["ts"] = ts.into();
    assert_eq!(app.interact(&press).await.status(), 200);
    eventually("the card replaced", || {
        (!shows(&app, &card, "project_retry")).then_some(())
    })
    .await;
    app.idle().await;

    // A line completed in Tallyfy: the thread hears it, and the card keeps what the retry
    // made of it (every line there, no Retry), with the progress.
    let answer = app
        .tallyfy
        .complete_and_tell("Kickoff call", 1001, true)
        .await;
    assert_eq!(answer, Some(200));
    eventually_within(Duration::from_secs(10), "the thread reply", || {
        replies(&app, &card)
            .into_iter()
            .find(|r| r.contains("Kickoff call"))
    })
    .await;
    app.idle().await;
    let now = card_now(&app, &card);
    assert!(
        !now.contains("project_retry"),
        "the old card came back: {now}"
    );
    assert!(
        !now.contains(":x: Collect contract"),
        "the old card came back: {now}"
    );
    assert!(now.contains("Collect contract"), "{now}");
}

#[tokio::test]
async fn a_project_made_by_retry_from_a_private_notice_gets_a_card_that_completions_update() {
    let app = app_with_public_url().await;
    // Tallyfy turns the project's run down once: the requester gets a private notice.
    app.tallyfy.fault_create_titled(
        "Onboard Hooli",
        Fault::Status {
            status: 422,
            body: json!({"error": true, "errors": {"owners": ["The owners are locked for this process."]}}),
            retry_after: None,
        },
    );
    let values = ProjectValues::new("Onboard Hooli", &[ALICE], "Kickoff call\nSend welcome pack");
    let view = app.open_project_modal(&values.name).await;
    assert_eq!(app.submit_project(&view, &values).await.status(), 200);
    let (_, notice) = first_reply(&app, "the private notice").await;
    assert!(
        notice.text().contains("was not created"),
        "{}",
        notice.text()
    );
    let key = notice.retry_key().to_string();
    app.idle().await;

    // Retry, pressed on that ephemeral notice.
    let mut press = button_press(
        "project_retry",
        &key,
        &app.slack.response_url("notice-retry"),
    );
    press["container"]["is_ephemeral"] = true.into();
    assert_eq!(app.interact(&press).await.status(), 200);
    let card = card(&app).await;
    app.idle().await;
    assert!(shows(&app, &card, "line_done") || card_now(&app, &card).contains("Kickoff call"));

    let answer = app
        .tallyfy
        .complete_and_tell("Kickoff call", 1001, true)
        .await;
    assert_eq!(answer, Some(200));
    eventually_within(Duration::from_secs(10), "the thread reply", || {
        replies(&app, &card)
            .into_iter()
            .find(|r| r.contains("Kickoff call"))
    })
    .await;
    // The card itself is updated with the news (its progress), where it was posted.
    eventually("the card updated", || {
        app.slack
            .calls("chat.update")
            .into_iter()
            .find(|c| c.body["ts"] == card["ts"])
    })
    .await;
}

#[tokio::test]
async fn a_comment_press_that_arrives_late_is_counted_from_slacks_send() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Paint the fence", &[BOB]))
        .await;
    let card = card(&app).await;
    let key = button_value(&card["blocks"], "task_comment").expect("a Comment button");

    // Slack sent the press 4 s ago (its X-Slack-Request-Timestamp): its trigger id is
    // spent. The person is told to press again at once; no call is spent on a dead trigger.
    let trigger = app.slack.issue_trigger_ago(Duration::from_secs(4));
    let mut press = button_press("task_comment", &key, &app.slack.response_url("late"));
    press["user"]["id"] = ALICE.into();
    press["trigger_id"] = trigger.clone().into();
    press["container"]["message_ts"] = card["ts"].clone();
    let body = serde_urlencoded::to_string([("payload", press.to_string())]).unwrap();
    let sent = app
        .post_signed_at(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            body,
            now() - 4,
        )
        .await;
    assert_eq!(sent.status(), 200);
    let told = reply_through(&app, "late").await;
    assert!(
        told.text().contains("press Comment again"),
        "{}",
        told.text()
    );
    app.idle().await;
    assert!(
        app.slack
            .calls("views.open")
            .iter()
            .all(|c| c.body["trigger_id"] != trigger.as_str()),
        "a form was sent with a trigger id Slack had let expire"
    );
}

#[tokio::test]
async fn a_comment_on_a_task_with_guests_is_shown_to_them() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    let mut payload = submission(
        &view.id,
        &view.hash,
        view.view["private_metadata"].as_str().unwrap(),
        &TaskValues::new("Sign the lease", &[ALICE, CAROL]),
    );
    payload["view"]["state"]["values"]["guests"] = json!({"value": {"type": "checkboxes", "selected_options": [
        {"text": {"type": "plain_text", "text": "Assign as guests"}, "value": "guests_ok"}]}});
    assert_eq!(app.interact(&payload).await.status(), 200);
    let card = card(&app).await;
    assert_eq!(
        app.tallyfy.creates()[0].body["owners"]["guests"],
        json!(["carol@example.com"])
    );
    let key = button_value(&card["blocks"], "task_comment").expect("a Comment button");
    let task = app.tallyfy.task_id_titled("Sign the lease").unwrap();
    let form = open_comment(&app, &card, &key, ALICE).await;
    app.interact(&comment_submission(
        &form,
        ALICE,
        "Carol, please sign page 4",
    ))
    .await;
    let comments = eventually_within(Duration::from_secs(5), "the comment in Tallyfy", || {
        let c = app.tallyfy.comments(&task);
        (!c.is_empty()).then_some(c)
    })
    .await;
    assert_eq!(comments[0]["state"], "open", "{:?}", comments[0]);
}
