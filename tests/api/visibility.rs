//! The channel sees the work get done: when Tallyfy completes a task the app created, it
//! calls the task's webhook (or, without a public URL, the app reads the task), and the
//! confirmation's thread hears who completed what while the confirmation shows how far the
//! work is. Each completion is told once; a made-up token or another organization's call
//! tells nothing.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

/// An app whose PUBLIC_URL is its own address, so Tallyfy's webhooks reach it.
pub(crate) async fn app_with_public_url() -> TestApp {
    app_with_public_url_and(|_| {}).await
}

/// As [`app_with_public_url`], with more settings changed by `adjust`.
pub(crate) async fn app_with_public_url_and(
    adjust: impl FnOnce(&mut std::collections::HashMap<String, String>),
) -> TestApp {
    let port = free_port();
    spawn_app_with(|env| {
        env.insert("PORT".into(), port.to_string());
        env.insert("PUBLIC_URL".into(), format!("http://127.0.0.1:{port}"));
        adjust(env);
    })
    .await
}

/// The confirmation in the channel (the first top-level message there).
pub(crate) async fn card(app: &TestApp) -> Value {
    eventually("the confirmation", || {
        app.slack
            .posted()
            .into_iter()
            .find(|m| m["channel"] == CHANNEL && m["thread_ts"].is_null())
    })
    .await
}

/// Replies in the card's thread.
pub(crate) fn replies(app: &TestApp, card: &Value) -> Vec<String> {
    app.slack
        .posted()
        .into_iter()
        .filter(|m| m["thread_ts"] == card["ts"])
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Messages posted in the channel itself (not in a thread) whose text holds `what`.
pub(crate) fn said_in_channel(app: &TestApp, what: &str) -> Vec<Value> {
    app.slack
        .posted()
        .into_iter()
        .filter(|m| m["channel"] == CHANNEL && m["thread_ts"].is_null())
        .filter(|m| m["text"].as_str().unwrap_or_default().contains(what))
        .collect()
}

/// The card's blocks as they now read.
pub(crate) fn card_now(app: &TestApp, card: &Value) -> String {
    app.slack
        .posted()
        .into_iter()
        .find(|m| m["ts"] == card["ts"])
        .map(|m| m["blocks"].to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_completed_task_is_told_in_its_thread_once_and_its_card_updated() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Draft contract", &[BOB]))
        .await;
    let card = card(&app).await;
    let create = app.tallyfy.creates()[0].body.clone();
    let hook = create["webhook"].as_str().unwrap().to_string();
    assert!(hook.starts_with(&app.url("/tallyfy/webhook/")), "{hook}");

    assert_eq!(
        app.tallyfy
            .complete_and_tell("Draft contract", 1002, true)
            .await,
        Some(200)
    );
    let reply = eventually_within(Duration::from_secs(5), "the thread reply", || {
        replies(&app, &card).into_iter().next()
    })
    .await;
    assert!(
        reply.contains("Bob Example completed *Draft contract*"),
        "{reply}"
    );
    eventually_within(Duration::from_secs(5), "the card to say it is done", || {
        card_now(&app, &card).contains("Done").then_some(())
    })
    .await;

    // The first call's job ends (it updates the card before it is done telling), then the
    // same call again, a made-up token and another organization: nothing more.
    app.idle().await;
    assert_eq!(app.tallyfy.repeat_last_webhook().await, Some(200));
    let made_up = format!("{}{}", app.url("/tallyfy/webhook/"), "0".repeat(32));
    assert_eq!(
        app.tallyfy
            .send_last_webhook_to(&made_up, crate::fake_tallyfy::ORG)
            .await,
        Some(404)
    );
    assert_eq!(
        app.tallyfy
            .send_last_webhook_to(&hook, "ffffffffffffffffffffffffffffffff")
            .await,
        Some(403)
    );
    app.idle().await;
    assert_eq!(replies(&app, &card).len(), 1, "told once");

    // Reopened in Tallyfy (which calls no webhook for that) and completed again: the new
    // completion is news.
    app.tallyfy
        .complete_and_tell("Draft contract", 1002, false)
        .await;
    app.idle().await;
    assert_eq!(
        replies(&app, &card).len(),
        1,
        "a reopening calls no webhook"
    );
    assert_eq!(
        app.tallyfy
            .complete_and_tell("Draft contract", 1002, true)
            .await,
        Some(200)
    );
    eventually_within(Duration::from_secs(5), "the second completion", || {
        (replies(&app, &card).len() == 2).then_some(())
    })
    .await;
    assert!(replies(&app, &card)[1].contains("completed"));
}

#[tokio::test]
async fn a_projects_card_counts_its_tasks_and_the_channel_hears_when_it_is_complete() {
    let app = app_with_public_url().await;
    let values = ProjectValues::new("Launch", &[ALICE], "Book venue\nSend invites");
    let view = app.open_project_modal(&values.name).await;
    app.submit_project(&view, &values).await;
    let card = card(&app).await;
    assert!(app
        .tallyfy
        .creates()
        .iter()
        .all(|c| c.body["webhook"].is_string()));

    app.tallyfy
        .complete_and_tell("Book venue", 1001, true)
        .await;
    eventually_within(Duration::from_secs(5), "1 of 3 done", || {
        card_now(&app, &card).contains("1 of 3 done").then_some(())
    })
    .await;
    app.tallyfy
        .complete_and_tell("Send invites", 1001, true)
        .await;
    app.tallyfy.complete_and_tell("Launch", 1001, true).await;
    eventually_within(Duration::from_secs(5), "the project to be complete", || {
        card_now(&app, &card)
            .contains("Project complete")
            .then_some(())
    })
    .await;
    app.idle().await;
    let news = said_in_channel(&app, "is complete");
    assert_eq!(news.len(), 1, "the channel hears it once");
    let thread = replies(&app, &card);
    assert_eq!(
        thread.iter().filter(|r| r.contains("completed")).count(),
        3,
        "{thread:?}"
    );
}

/// An app with no public URL, reading its work every second.
pub(crate) async fn polling_app() -> TestApp {
    spawn_app_with(|env| {
        env.insert("TALLYFY_POLL_SECS".into(), "1".into());
    })
    .await
}

#[tokio::test]
async fn without_a_public_url_completions_are_read_and_told_once() {
    let app = polling_app().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("File the report", &[BOB]))
        .await;
    let card = card(&app).await;
    assert!(app.tallyfy.creates()[0].body.get("webhook").is_none());
    app.tallyfy
        .complete_and_tell("File the report", 1002, true)
        .await;
    let reply = eventually_within(Duration::from_secs(5), "the thread reply", || {
        replies(&app, &card).into_iter().next()
    })
    .await;
    assert!(
        reply.contains("Bob Example completed *File the report*"),
        "{reply}"
    );
    eventually_within(Duration::from_secs(5), "the card to say it is done", || {
        card_now(&app, &card).contains("Done").then_some(())
    })
    .await;
    // Later rounds read it again, and tell nothing more.
    let reads = |app: &TestApp| {
        app.tallyfy
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains("/tasks/"))
            .count()
    };
    let seen = reads(&app);
    eventually_within(Duration::from_secs(10), "two more rounds", || {
        (reads(&app) >= seen + 2).then_some(())
    })
    .await;
    assert_eq!(replies(&app, &card).len(), 1, "told once");
}

#[tokio::test]
async fn without_a_public_url_a_projects_card_counts_its_tasks() {
    let app = polling_app().await;
    let values = ProjectValues::new("Audit", &[ALICE], "Gather receipts\nFile return");
    let view = app.open_project_modal(&values.name).await;
    app.submit_project(&view, &values).await;
    let card = card(&app).await;
    app.tallyfy
        .complete_and_tell("Gather receipts", 1001, true)
        .await;
    // The card is updated, then the thread told: wait for both.
    let thread = eventually_within(Duration::from_secs(5), "1 of 3 done, and told", || {
        let thread = replies(&app, &card);
        (card_now(&app, &card).contains("1 of 3 done") && !thread.is_empty()).then_some(thread)
    })
    .await;
    // Two more rounds of reading tell nothing new.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(replies(&app, &card), thread, "told once");
    assert_eq!(thread.len(), 1, "{thread:?}");
    assert!(
        thread[0].contains("Alice Example completed *Gather receipts*"),
        "{thread:?}"
    );
}

/// The value of a card's Mark done button: the job's key.
pub(crate) fn mark_done_key(card: &Value) -> String {
    card["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_id"] == "task_done")
        .and_then(|e| e["value"].as_str().map(str::to_string))
        .expect("a Mark done button")
}

/// A press of a card's button by `user`; the private answer goes to hook `hook`.
pub(crate) async fn press_as(app: &TestApp, user: &str, action_id: &str, value: &str, hook: &str) {
    let mut payload = button_press(action_id, value, &app.slack.response_url(hook));
    payload["user"]["id"] = user.into();
    assert_eq!(app.interact(&payload).await.status(), 200);
}

/// The card of a task `title` assigned to Bob, and its Mark done button's value.
pub(crate) async fn bobs_card(app: &TestApp, title: &str) -> (Value, String) {
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new(title, &[BOB]))
        .await;
    let card = card(app).await;
    let key = mark_done_key(&card);
    (card, key)
}

/// The private answer given through hook `hook`.
pub(crate) async fn answer_on(app: &TestApp, hook: &str) -> String {
    let hook = hook.to_string();
    let (_, message) = eventually("the private answer", || {
        app.slack
            .responses()
            .into_iter()
            .find(|(id, _)| *id == hook)
    })
    .await;
    message["text"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_assignee_marks_a_task_done_from_its_card_once_and_nobody_else_can() {
    let app = app_with_public_url().await;
    let (card, key) = bobs_card(&app, "Sign the lease").await;

    press_as(&app, ALICE, "task_done", &key, "alice-press").await;
    assert!(answer_on(&app, "alice-press")
        .await
        .contains("Only the task's assignees"));
    assert!(
        app.tallyfy.completions().is_empty(),
        "nothing completed for a non-assignee"
    );

    press_as(&app, BOB, "task_done", &key, "bob-press").await;
    assert_eq!(
        answer_on(&app, "bob-press").await,
        "Marked done in Tallyfy."
    );
    let reply = eventually_within(Duration::from_secs(5), "the thread reply", || {
        replies(&app, &card).into_iter().next()
    })
    .await;
    assert!(
        reply.contains(&format!("<@{BOB}> completed *Sign the lease*")),
        "the reply names who pressed, not the service's own Tallyfy user: {reply}"
    );

    press_as(&app, BOB, "task_done", &key, "bob-again").await;
    assert!(answer_on(&app, "bob-again")
        .await
        .contains("already marked done"));
    app.idle().await;
    assert_eq!(app.tallyfy.completions().len(), 1, "completed once");
    assert_eq!(replies(&app, &card).len(), 1);
}

#[tokio::test]
async fn without_a_public_url_a_task_reopened_in_tallyfy_is_told_and_open_again() {
    let app = polling_app().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Fix the gate", &[BOB]))
        .await;
    let card = card(&app).await;
    app.tallyfy
        .complete_and_tell("Fix the gate", 1002, true)
        .await;
    eventually_within(Duration::from_secs(5), "the completion", || {
        card_now(&app, &card).contains("task_reopen").then_some(())
    })
    .await;
    // Reopened in Tallyfy itself: no webhook, but the next reading sees it.
    app.tallyfy
        .complete_and_tell("Fix the gate", 1002, false)
        .await;
    let reopened = eventually_within(Duration::from_secs(5), "the reopening", || {
        replies(&app, &card)
            .into_iter()
            .find(|r| r.contains("was reopened"))
    })
    .await;
    assert!(
        reopened.contains("*Fix the gate* was reopened"),
        "{reopened}"
    );
    eventually_within(
        Duration::from_secs(5),
        "the card to offer Mark done",
        || card_now(&app, &card).contains("task_done").then_some(()),
    )
    .await;
    // Later rounds tell nothing more; completed again, it is news again.
    app.tallyfy
        .complete_and_tell("Fix the gate", 1002, true)
        .await;
    eventually_within(Duration::from_secs(5), "the second completion", || {
        (replies(&app, &card)
            .iter()
            .filter(|r| r.contains("completed *Fix the gate*"))
            .count()
            == 2)
            .then_some(())
    })
    .await;
    assert_eq!(replies(&app, &card).len(), 3, "{:?}", replies(&app, &card));
}
