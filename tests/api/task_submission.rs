//! Submitting the "New task" modal: validation inline, exactly one Tallyfy task, and the
//! confirmation in the channel (or wherever it can still reach the user).

use serde_json::{json, Value};

use crate::fake_slack::OpenView;
use crate::fake_tallyfy::{Fault, ORG, TOKEN};
use crate::helpers::*;

/// Opens a modal and submits `values`; returns the modal and Slack's answer body.
async fn create(app: &TestApp, values: &TaskValues) -> (OpenView, Value) {
    let view = app
        .open_task_modal(values.title.as_deref().unwrap_or(""))
        .await;
    let response = app.submit_task(&view, values).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (view, body)
}

/// Waits for the message posted to `channel`.
async fn posted_to(app: &TestApp, channel: &str) -> Message {
    posted_in(app, channel, std::time::Duration::from_secs(10)).await
}

#[tokio::test]
async fn a_submission_creates_one_task_and_tells_the_channel() {
    let app = spawn_app().await;
    let mut values = TaskValues::new("Review the Q4 report", &[ALICE, BOB]);
    values.task_type = "approval";
    values.summary = Some("Numbers in the shared drive".into());
    let deadline = values.deadline.unwrap();
    let (_, answer) = create(&app, &values).await;
    assert_eq!(answer, Value::Null, "an empty 200 closes the modal");

    let message = posted_to(&app, CHANNEL).await;
    let creates = app.tallyfy.creates();
    assert_eq!(creates.len(), 1);
    let request = &creates[0];
    assert_eq!(request.path, format!("/organizations/{ORG}/tasks"));
    assert_eq!(request.headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(request.headers["x-tallyfy-client"], "APIClient");
    assert_eq!(request.headers["accept"], "application/json");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.body["title"], "Review the Q4 report");
    assert_eq!(request.body["summary"], "Numbers in the shared drive");
    assert_eq!(request.body["task_type"], "approval");
    assert_eq!(request.body["owners"]["users"], json!([1001, 1002]));
    let expected = jiff::Timestamp::from_second(deadline)
        .unwrap()
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string();
    assert_eq!(request.body["deadline"], expected.as_str());
    assert!(
        request
            .body
            .get("separate_task_for_each_assignee")
            .is_none(),
        "a one-off task, not a process"
    );

    let text = message.body();
    assert!(text.contains("Review the Q4 report"), "{text}");
    assert!(
        text.contains(&format!("<@{REQUESTER}> asked <@{ALICE}> and <@{BOB}>")),
        "{text}"
    );
    assert!(text.contains(&format!("<!date^{deadline}^")), "{text}");
    let link = message.link();
    assert!(
        link.starts_with(&format!("https://go.tallyfy.test/{ORG}/")),
        "{link}"
    );
    assert!(text.contains(&format!("<{link}|")), "{text}");

    app.idle().await;
    assert_eq!(app.slack.calls("chat.postMessage").len(), 1, "posted once");
    assert!(
        app.slack.responses().is_empty(),
        "no second copy through the response URL"
    );
}

#[tokio::test]
async fn the_link_points_at_the_run_when_tallyfy_gives_one() {
    let app = spawn_app().await;
    app.tallyfy.give_oneoff_tasks_a_run();
    create(&app, &TaskValues::new("Ship", &[ALICE])).await;
    let message = posted_to(&app, CHANNEL).await;
    let link = message.link();
    assert!(
        link.starts_with(&format!("https://go.tallyfy.test/{ORG}/processes/9c")),
        "{link}"
    );
}

#[tokio::test]
async fn without_a_run_the_link_names_the_task() {
    let app = spawn_app().await;
    create(&app, &TaskValues::new("Ship", &[ALICE])).await;
    let message = posted_to(&app, CHANNEL).await;
    let link = message.link();
    assert!(
        link.starts_with(&format!("https://go.tallyfy.test/{ORG}/tasks/7a")),
        "{link}"
    );
}

#[tokio::test]
async fn members_are_searched_by_email() {
    let app = spawn_app().await;
    create(&app, &TaskValues::new("Lookup", &[BOB])).await;
    posted_to(&app, CHANNEL).await;
    let searches = app.tallyfy.member_searches();
    assert_eq!(searches.len(), 1);
    assert_eq!(searches[0].query["q"], "bob@example.com");
    assert_eq!(searches[0].query["per_page"], "100");
    assert_eq!(searches[0].headers["x-tallyfy-client"], "APIClient");
}

#[tokio::test]
async fn a_create_answered_too_late_is_looked_up_not_sent_again() {
    let app = spawn_app().await;
    // Tallyfy takes the task but answers after the client has given up (3 s in tests).
    app.tallyfy
        .fault_next_create(Fault::Slow(std::time::Duration::from_secs(4)));
    create(&app, &TaskValues::new("Maybe created", &[ALICE])).await;
    let message = posted_to(&app, CHANNEL).await;
    assert!(message.text().contains("Maybe created"));
    assert_eq!(app.tallyfy.creates().len(), 1, "found, so not sent again");
    assert_eq!(app.tallyfy.tasks_titled("Maybe created"), 1);
    let lookups: Vec<_> = app
        .tallyfy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/tasks"))
        .collect();
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].query["q"], "Maybe created");
}

#[tokio::test]
async fn mistakes_come_back_inline_and_create_nothing() {
    let app = spawn_app().await;
    let view = app.open_task_modal("").await;

    let mut values = TaskValues::new("   ", &[]);
    values.deadline = Some(now() - 3600);
    let body: Value = app.submit_task(&view, &values).await.json().await.unwrap();
    assert_eq!(body["response_action"], "errors");
    assert!(body["errors"]["title"].as_str().unwrap().contains("title"));
    assert!(body["errors"]["assignees"]
        .as_str()
        .unwrap()
        .contains("at least one"));
    assert!(body["errors"]["deadline"]
        .as_str()
        .unwrap()
        .contains("past"));

    let long = TaskValues::new(&"x".repeat(601), &[ALICE]);
    let body: Value = app.submit_task(&view, &long).await.json().await.unwrap();
    assert!(
        body["errors"]["title"].as_str().unwrap().contains("600"),
        "{body}"
    );
    assert!(body["errors"].get("assignees").is_none());

    app.idle().await;
    assert!(app.tallyfy.creates().is_empty());
    assert!(app.slack.calls("chat.postMessage").is_empty());

    // Corrected, the same modal goes through.
    let fixed = TaskValues::new(&"x".repeat(600), &[ALICE]);
    let response = app.submit_task(&view, &fixed).await;
    assert_eq!(response.text().await.unwrap(), "");
    posted_to(&app, CHANNEL).await;
    assert_eq!(app.tallyfy.creates().len(), 1);
}

#[tokio::test]
async fn people_without_a_tallyfy_account_are_named_on_the_field() {
    let app = spawn_app().await;
    let (_, body) = create(&app, &TaskValues::new("Plan the offsite", &[ALICE, CAROL])).await;
    assert_eq!(body["response_action"], "errors");
    let message = body["errors"]["assignees"].as_str().unwrap();
    assert!(
        message.contains("@carol has no Tallyfy account"),
        "{message}"
    );
    assert!(!message.contains("carol@example.com"), "{message}");
    assert!(!message.contains("alice"), "{message}");
    app.idle().await;
    assert!(app.tallyfy.creates().is_empty());
}

#[tokio::test]
async fn emails_match_whatever_their_case() {
    let app = spawn_app().await;
    // Alice's Slack email is Alice@Example.com; Tallyfy has alice@example.com.
    create(&app, &TaskValues::new("Case test", &[ALICE])).await;
    posted_to(&app, CHANNEL).await;
    assert_eq!(
        app.tallyfy.creates()[0].body["owners"]["users"],
        json!([1001])
    );
}

#[tokio::test]
async fn a_second_use_costs_no_lookups_even_after_a_restart() {
    let app = spawn_app().await;
    create(&app, &TaskValues::new("First", &[ALICE, BOB])).await;
    posted_to(&app, CHANNEL).await;
    let slack_lookups = app.slack.calls("users.info").len();
    let tallyfy_lookups = app.tallyfy.member_searches().len();
    assert_eq!(tallyfy_lookups, 2, "one search per assignee the first time");

    create(&app, &TaskValues::new("Second", &[ALICE, BOB])).await;
    eventually("the second task", || {
        (app.tallyfy.creates().len() == 2).then_some(())
    })
    .await;
    assert_eq!(app.slack.calls("users.info").len(), slack_lookups);
    assert_eq!(app.tallyfy.member_searches().len(), tallyfy_lookups);

    let app = app.restart().await;
    create(&app, &TaskValues::new("Third", &[ALICE, BOB])).await;
    eventually("the third task", || {
        (app.tallyfy.creates().len() == 3).then_some(())
    })
    .await;
    assert_eq!(
        app.slack.calls("users.info").len(),
        slack_lookups,
        "the cache survived the restart"
    );
    assert_eq!(app.tallyfy.member_searches().len(), tallyfy_lookups);
    assert_eq!(
        app.tallyfy.creates()[2].body["owners"]["users"],
        json!([1001, 1002])
    );
}

#[tokio::test]
async fn user_text_is_posted_literally() {
    let app = spawn_app().await;
    let title = "<!channel> & <https://evil.example|click me>";
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new(title, &[ALICE]))
        .await;
    let message = posted_to(&app, CHANNEL).await;
    assert_eq!(
        app.tallyfy.creates()[0].body["title"],
        title,
        "Tallyfy gets the title as typed"
    );
    let text = message.body();
    assert!(
        text.contains("&lt;!channel&gt; &amp; &lt;https://evil.example|click me&gt;"),
        "{text}"
    );
    for forbidden in ["<!channel>", "<https://evil.example"] {
        assert!(!text.contains(forbidden), "{forbidden} in {text}");
        assert!(
            !message.text().contains(forbidden),
            "{forbidden} in the fallback text"
        );
    }
}

#[tokio::test]
async fn where_the_bot_cannot_post_the_response_url_carries_the_confirmation() {
    let app = spawn_app().await;
    let (response, trigger) = app.command_in("/task", "Private work", "GPRIVATE1").await;
    assert_eq!(response.status(), 200);
    let view = eventually("the modal", || app.slack.opened_view(&trigger)).await;
    app.submit_task(&view, &TaskValues::new("Private work", &[ALICE]))
        .await;

    let (hook, message) = first_reply(&app, "the response_url post").await;
    assert_eq!(hook, "cmd-hook");
    assert_eq!(message["response_type"], "in_channel");
    assert!(message.body().contains("Private work"));
    let attempts = app.slack.calls("chat.postMessage");
    assert_eq!(
        attempts.len(),
        1,
        "one refused channel post, no direct message"
    );
    assert_eq!(attempts[0].body["channel"], "GPRIVATE1");
}

#[tokio::test]
async fn when_the_response_url_fails_too_the_requester_gets_a_direct_message() {
    let app = spawn_app().await;
    app.slack.break_response_urls();
    let (_, trigger) = app.command_in("/task", "x", "GPRIVATE1").await;
    let view = eventually("the modal", || app.slack.opened_view(&trigger)).await;
    app.submit_task(&view, &TaskValues::new("Secret plan", &[ALICE]))
        .await;
    let dm = posted_to(&app, REQUESTER).await;
    assert!(dm.body().contains("Secret plan"));
}

#[tokio::test]
async fn tallyfy_refusals_reach_the_user_in_tallyfys_words() {
    let app = spawn_app().await;
    app.tallyfy.fault_next_create(Fault::Status {
        status: 422,
        body: json!({"message": "The given data was invalid.", "errors": {"deadline": ["The deadline must be a weekday."]}}),
        retry_after: None,
    });
    create(&app, &TaskValues::new("Weekend work", &[ALICE])).await;
    let (_, message) = first_reply(&app, "the failure notice").await;
    assert_eq!(message["response_type"], "ephemeral");
    let text = message.text();
    assert!(
        text.contains("Weekend work") && text.contains("was not created"),
        "{text}"
    );
    assert!(text.contains("The deadline must be a weekday."), "{text}");
    app.idle().await;
    assert_eq!(app.tallyfy.creates().len(), 1, "a 422 is not retried");
    assert!(
        app.slack.calls("chat.postMessage").is_empty(),
        "no confirmation for work that does not exist"
    );
}

#[tokio::test]
async fn a_server_error_after_the_task_was_made_does_not_double_it() {
    let app = spawn_app().await;
    // A proxy fails after Tallyfy made the task: the outcome is unknown, so it is looked
    // up before anything is sent again.
    app.tallyfy.fault_next_create(Fault::CommitThenFail(502));
    create(&app, &TaskValues::new("Behind the proxy", &[ALICE])).await;
    posted_to(&app, CHANNEL).await;
    assert_eq!(app.tallyfy.creates().len(), 1);
    assert_eq!(app.tallyfy.tasks_titled("Behind the proxy"), 1);
}

#[tokio::test]
async fn an_error_that_is_not_transient_is_told_at_once_with_a_retry() {
    let app = spawn_app().await;
    app.tallyfy.fault_next_create(Fault::Status {
        status: 403,
        body: json!({"error": true, "message": "Forbidden"}),
        retry_after: None,
    });
    create(&app, &TaskValues::new("Not allowed", &[ALICE])).await;
    let (_, message) = first_reply(&app, "the failure notice").await;
    let text = message.text();
    assert!(
        text.contains("Not allowed") && text.contains("was not created"),
        "{text}"
    );
    assert!(text.contains("Tallyfy admin"), "{text}");
    assert_eq!(message["response_type"], "ephemeral");
    assert_eq!(message.retry_button()["action_id"], "job_retry");
    assert_eq!(app.tallyfy.creates().len(), 1);
}

#[tokio::test]
async fn a_brief_unavailability_is_retried_with_backoff() {
    let app = spawn_app().await;
    for _ in 0..2 {
        app.tallyfy.fault_next_create(Fault::Status {
            status: 503,
            body: json!({"error": true, "message": "Service Unavailable"}),
            retry_after: None,
        });
    }
    create(&app, &TaskValues::new("Through the blip", &[ALICE])).await;
    let message = posted_to(&app, CHANNEL).await;
    assert!(message.body().contains("Through the blip"));
    assert_eq!(
        app.tallyfy.creates().len(),
        3,
        "two refusals, then the task"
    );
    assert_eq!(app.tallyfy.tasks_created(), 1);
    assert!(app.slack.responses().is_empty(), "no failure notice");
}

#[tokio::test]
async fn a_long_unavailability_is_told_and_the_retry_button_finishes_the_job() {
    let app = spawn_app_with(|env| {
        env.insert("TALLYFY_RETRY_FOR_SECS".into(), "2".into());
    })
    .await;
    app.tallyfy
        .unavailable_for(std::time::Duration::from_secs(600));
    create(&app, &TaskValues::new("Long outage", &[ALICE])).await;
    let (_, message) = first_reply(&app, "the failure notice").await;
    let text = message.text();
    assert!(text.contains("was not created"), "{text}");
    assert!(text.contains("Press Retry"), "{text}");
    let tries = app.tallyfy.creates().len();
    assert!((2..=6).contains(&tries), "bounded retries, not {tries}");
    assert_eq!(app.tallyfy.tasks_created(), 0);

    // Tallyfy is back; the requester presses Retry, twice.
    app.tallyfy.unavailable_for(std::time::Duration::ZERO);
    let key = message.retry_key();
    assert_eq!(app.press("job_retry", key, "retry-1").await.status(), 200);
    posted_to(&app, CHANNEL).await;
    // The first retry has finished (a press while it runs is told to wait instead).
    app.idle().await;
    assert_eq!(app.press("job_retry", key, "retry-2").await.status(), 200);
    let answer = reply_through(&app, "retry-2").await;
    assert_eq!(answer["response_type"], "ephemeral");
    assert_eq!(
        answer["replace_original"], false,
        "the failure notice stays as it is"
    );
    let text = answer.text();
    assert!(text.contains("already created"), "{text}");
    app.idle().await;
    assert_eq!(app.tallyfy.tasks_titled("Long outage"), 1);
    assert_eq!(app.tallyfy.tasks_created(), 1);
    assert_eq!(
        app.slack.calls("chat.postMessage").len(),
        1,
        "announced once"
    );
}

#[tokio::test]
async fn a_rate_limit_is_waited_out() {
    let app = spawn_app().await;
    app.tallyfy.fault_next_create(Fault::Status {
        status: 429,
        body: json!({"message": "Too Many Attempts.", "code": "RATE_LIMIT_EXCEEDED"}),
        retry_after: Some(1),
    });
    create(&app, &TaskValues::new("Busy day", &[ALICE])).await;
    posted_to(&app, CHANNEL).await;
    let creates = app.tallyfy.creates();
    assert_eq!(creates.len(), 2, "the refused request and its retry");
    assert_eq!(app.tallyfy.tasks_created(), 1);
}

#[tokio::test]
async fn a_slack_rate_limit_on_the_confirmation_is_retried_once_without_doubling() {
    let app = spawn_app().await;
    app.slack.fail_next(
        "chat.postMessage",
        429,
        json!({"ok": false, "error": "ratelimited"}),
        Some(1),
    );
    create(&app, &TaskValues::new("Popular channel", &[ALICE])).await;
    eventually("the retried post", || {
        (app.slack.calls("chat.postMessage").len() == 2).then_some(())
    })
    .await;
    app.idle().await;
    let posts = app.slack.calls("chat.postMessage");
    assert_eq!(posts.len(), 2);
    assert!(posts.iter().all(|p| p.body["channel"] == CHANNEL));
    assert!(app.slack.responses().is_empty(), "no fallback post as well");
}

#[tokio::test]
async fn the_same_submission_twice_creates_one_task() {
    let app = spawn_app().await;
    let view = app.open_task_modal("").await;
    let values = TaskValues::new("Double click", &[ALICE]);
    let (a, b) = tokio::join!(
        app.submit_task(&view, &values),
        app.submit_task(&view, &values)
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    app.submit_task(&view, &values).await;
    posted_to(&app, CHANNEL).await;
    app.idle().await;
    assert_eq!(app.tallyfy.creates().len(), 1);
    assert_eq!(app.slack.calls("chat.postMessage").len(), 1);
}

#[tokio::test]
async fn the_in_process_store_runs_the_same_flow() {
    let app = spawn_app_in_memory().await;
    create(&app, &TaskValues::new("No Redis here", &[BOB])).await;
    let message = posted_to(&app, CHANNEL).await;
    assert!(message.body().contains("No Redis here"));
    assert_eq!(
        app.tallyfy.creates()[0].body["owners"]["users"],
        json!([1002])
    );
    // The cache works in-process too.
    create(&app, &TaskValues::new("Again", &[BOB])).await;
    eventually("the second task", || {
        (app.tallyfy.creates().len() == 2).then_some(())
    })
    .await;
    assert_eq!(app.tallyfy.member_searches().len(), 1);
}

#[tokio::test]
async fn a_submission_answers_in_time_when_lookups_are_slow_and_still_creates() {
    let app = spawn_app().await;
    app.tallyfy
        .set_list_delay(std::time::Duration::from_millis(2500));
    let view = app.open_task_modal("").await;
    // Slack gives up on a view_submission after 3 s; so does this request.
    let response = app
        .submit_task_within_slack_deadline(&view, &TaskValues::new("Slow directory", &[ALICE]))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "", "the modal closes");
    posted_to(&app, CHANNEL).await;
    assert_eq!(
        app.tallyfy.creates()[0].body["owners"]["users"],
        json!([1001])
    );
}
