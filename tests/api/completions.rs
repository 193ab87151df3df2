//! No completion is lost, and Tallyfy's webhook is a trigger: a call is kept before it is
//! answered, told once Slack takes it (waiting out an outage, and waiting for a card not
//! yet recorded), answered 5xx when it cannot be kept, and only ever about the task its
//! URL was made for; what is told is read from Tallyfy, not from the call.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::visibility::{app_with_public_url, card, card_now, replies};

/// The top-level messages in the channel (the cards), oldest first.
fn cards(app: &TestApp) -> Vec<Value> {
    app.slack
        .posted()
        .into_iter()
        .filter(|m| m["channel"] == CHANNEL && m["thread_ts"].is_null())
        .collect()
}

#[tokio::test]
async fn a_completion_while_slack_fails_every_post_is_told_once_slack_is_back() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Draft contract", &[BOB]))
        .await;
    let card = card(&app).await;

    app.slack.posting_down_for(Duration::from_secs(5));
    let answer = app
        .tallyfy
        .complete_and_tell("Draft contract", 1002, true)
        .await;
    assert_eq!(answer, Some(200));
    let reply = eventually_within(Duration::from_secs(40), "the thread reply", || {
        replies(&app, &card).into_iter().next()
    })
    .await;
    assert!(
        reply.contains("Bob Example completed *Draft contract*"),
        "{reply}"
    );
    app.idle().await;
    assert_eq!(replies(&app, &card).len(), 1, "told once");
    assert!(card_now(&app, &card).contains("Done"));
}

#[tokio::test]
async fn a_tasks_webhook_url_tells_nothing_about_another_task() {
    let app = app_with_public_url().await;
    for title in ["Task A", "Task B"] {
        let view = app.open_task_modal("").await;
        app.submit_task(&view, &TaskValues::new(title, &[BOB]))
            .await;
    }
    let both = eventually("both cards", || {
        let posted = cards(&app);
        (posted.len() == 2).then_some(posted)
    })
    .await;
    let creates = app.tallyfy.creates();
    let hook_a = creates[0].body["webhook"].as_str().unwrap().to_string();
    let task_b = app.tallyfy.task_id_titled("Task B").unwrap();

    // Task B's payload on task A's URL (B is not even completed in Tallyfy).
    let payload = json!({
        "this_task": {"id": task_b, "title": "Task B", "status": "completed",
                      "completed_at": "2026-11-29T10:00:00Z"},
        "completer": {"full_name": "Mallory Example"}
    });
    let status = reqwest::Client::new()
        .post(&hook_a)
        .header("X-Tallyfy-orgID", crate::fake_tallyfy::ORG)
        .json(&payload)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success() || status.is_client_error(), "{status}");
    app.idle().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    app.idle().await;
    for card in &both {
        assert!(replies(&app, card).is_empty(), "{:?}", replies(&app, card));
        assert!(!card_now(&app, card).contains("Done"));
    }
}

#[tokio::test]
async fn a_completion_that_comes_before_the_cards_record_is_told_once_the_card_exists() {
    let app = app_with_public_url().await;
    // The card's post is slow: Tallyfy has the task (and its completion) before the app
    // has recorded where the card is.
    app.slack
        .answer_slowly("chat.postMessage", Duration::from_secs(3));
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Early bird", &[BOB]))
        .await;
    eventually("the task in Tallyfy", || {
        app.tallyfy.task_id_titled("Early bird")
    })
    .await;
    assert_eq!(
        app.tallyfy
            .complete_and_tell("Early bird", 1002, true)
            .await,
        Some(200)
    );
    let card = card(&app).await;
    let reply = eventually_within(Duration::from_secs(40), "the thread reply", || {
        replies(&app, &card).into_iter().next()
    })
    .await;
    assert!(reply.contains("completed *Early bird*"), "{reply}");
    app.idle().await;
    assert_eq!(replies(&app, &card).len(), 1, "told once");
}

#[tokio::test]
async fn a_webhook_call_the_store_cannot_keep_is_answered_5xx() {
    let redis = OwnRedis::start().await;
    let port = free_port();
    let url = redis.url.clone();
    let app = spawn_app_with(move |env| {
        env.insert("REDIS_URL".into(), url);
        env.insert("PORT".into(), port.to_string());
        env.insert("PUBLIC_URL".into(), format!("http://127.0.0.1:{port}"));
    })
    .await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Stored nowhere", &[BOB]))
        .await;
    card(&app).await;

    redis.pause();
    let answer = app
        .tallyfy
        .complete_and_tell("Stored nowhere", 1002, true)
        .await
        .expect("an answer");
    redis.resume();
    assert!((500..600).contains(&answer), "{answer}");
}

#[tokio::test]
async fn once_a_task_is_done_its_cards_records_are_kept_days_not_months() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Short lived", &[BOB]))
        .await;
    let card = card(&app).await;
    app.tallyfy
        .complete_and_tell("Short lived", 1002, true)
        .await;
    eventually_within(Duration::from_secs(10), "the thread reply", || {
        replies(&app, &card).into_iter().next()
    })
    .await;
    app.idle().await;

    let mut conn = shared_conn().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", app.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    let followed: Vec<&String> = keys
        .iter()
        .filter(|k| {
            [":card:", ":target:", ":news:", ":hook:", ":watch:"]
                .iter()
                .any(|p| k.contains(p))
        })
        .collect();
    assert!(followed.len() >= 5, "{keys:?}");
    for key in followed {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(
            ttl > 0 && ttl <= 8 * 24 * 3600 * 1000,
            "{key} is kept {} days",
            ttl / 86_400_000
        );
    }
}

#[tokio::test]
async fn a_projects_card_counts_its_lines_from_the_run_not_tallyfys_percentage() {
    let app = app_with_public_url().await;
    // Two people: Tallyfy gives each a task of the project's own first line, so the run
    // holds four tasks for the card's three lines.
    let values = ProjectValues::new("Launch", &[ALICE, BOB], "Book venue\nSend invites");
    let view = app.open_project_modal(&values.name).await;
    app.submit_project(&view, &values).await;
    let card = card(&app).await;

    assert_eq!(
        app.tallyfy
            .complete_and_tell("Book venue", 1001, true)
            .await,
        Some(200)
    );
    let sent = app.tallyfy.last_webhook_payload().unwrap();
    assert_eq!(sent["process"]["progress"], 25, "{sent}");
    let reply = eventually_within(Duration::from_secs(10), "the thread reply", || {
        replies(&app, &card).into_iter().next()
    })
    .await;
    assert!(reply.contains("completed *Book venue*"), "{reply}");
    eventually_within(Duration::from_secs(10), "1 of 3 done", || {
        card_now(&app, &card).contains("1 of 3 done").then_some(())
    })
    .await;
    let now = card_now(&app, &card);
    assert!(!now.contains(":white_check_mark: Done"), "{now}");
    assert!(!now.contains("Project complete"), "{now}");
}

#[tokio::test]
async fn a_completion_in_a_big_process_is_told() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Fill the audit", &[BOB]))
        .await;
    let card = card(&app).await;
    // The assignee filled in 300 KB of answers: Tallyfy sends them all, once.
    app.tallyfy
        .capture("Fill the audit", "findings", 300 * 1024);
    assert_eq!(
        app.tallyfy
            .complete_and_tell("Fill the audit", 1002, true)
            .await,
        Some(200)
    );
    let reply = eventually_within(Duration::from_secs(10), "the thread reply", || {
        replies(&app, &card).into_iter().next()
    })
    .await;
    assert!(reply.contains("completed *Fill the audit*"), "{reply}");
    app.idle().await;
    // Nothing of the payload is kept: no value in the store holds the answers.
    let mut conn = shared_conn().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", app.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let dump: Vec<u8> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        assert!(
            dump.len() < 64 * 1024,
            "{key} ({kind}) holds {} bytes",
            dump.len()
        );
    }
}
