//! The logs carry no one's data: no emails, no titles, no message text, no tokens and no
//! response URLs, at any level of the app's own logging, even when everything fails.
//! The real binary runs with `RUST_LOG=tallyfy_slack=trace`, and the test drives the
//! failures whose messages would carry such data, then reads every line it wrote.

use std::time::Duration;

use serde_json::json;

use crate::fake_tallyfy::Fault;
use crate::helpers::*;

const TITLE: &str = "Quarterly merger plan for Globex";

/// What must never be in the logs.
fn secrets(app: &TestApp) -> Vec<String> {
    let mut secrets: Vec<String> = [
        "alice@example.com",
        "alice%40example.com",
        "Alice@Example.com",
        "Alice%40Example.com",
        "carol@example.com",
        "carol%40example.com",
        "rita@example.com",
        TITLE,
        "merger",
        "/hooks/",
        crate::fake_slack::BOT_TOKEN,
        crate::fake_tallyfy::TOKEN,
        SIGNING_SECRET,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    secrets.push(app.slack.response_url("x").replace("/hooks/x", "/hooks"));
    secrets
}

async fn logging_binary(
    adjust: impl FnOnce(&mut std::collections::HashMap<String, String>),
) -> (TestApp, TestApp, tempfile_path::Path) {
    let mut holder = spawn_app_with(|env| {
        env.insert("RUST_LOG".into(), "tallyfy_slack=trace,info".into());
        env.insert("TALLYFY_RETRY_FOR_SECS".into(), "2".into());
        adjust(env);
    })
    .await;
    holder.stop().await;
    let path = tempfile_path::Path::new();
    let binary = spawn_binary_instance_logging_to(&holder, path.as_ref()).await;
    (holder, binary, path)
}

/// A file under the temporary folder, removed when dropped.
mod tempfile_path {
    pub struct Path(std::path::PathBuf);

    impl Path {
        pub fn new() -> Self {
            Self(std::env::temp_dir().join(format!("{}.log", crate::helpers::unique_prefix())))
        }
    }

    impl AsRef<std::path::Path> for Path {
        fn as_ref(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn assert_clean(app: &TestApp, logs: &tempfile_path::Path) {
    // The job's last word is that the work was not created: wait until it is written.
    let read = || std::fs::read_to_string(logs.as_ref()).unwrap_or_default();
    for _ in 0..100 {
        if read().contains("not created") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = read();
    assert!(text.lines().count() >= 3, "the app logged: {text}");
    for secret in secrets(app) {
        let hit = text.lines().find(|l| l.contains(&secret));
        assert!(
            hit.is_none(),
            "{secret:?} is in the logs: {}",
            hit.unwrap_or_default()
        );
    }
}

#[tokio::test]
async fn failing_requests_leave_no_ones_data_in_the_logs() {
    let (holder, app, logs) = logging_binary(|_| {}).await;
    // Slack answers a profile in a shape the app cannot read, with the email in it.
    holder.slack.fail_next(
        "users.info",
        200,
        json!({"ok": true, "user": {"id": ALICE, "tz": 7, "profile": {"email": "alice@example.com"}}}),
        None,
    );
    // Tallyfy refuses the task with a message that repeats someone's email.
    holder.tallyfy.fault_next_create(Fault::Status {
        status: 422,
        body: json!({"message": "The given data was invalid.", "errors": {"owners.guests.0": ["carol@example.com is not a valid guest."]}}),
        retry_after: None,
    });
    // And the requester's response URL no longer works.
    holder.slack.break_response_urls();
    let view = app.open_task_modal(TITLE).await;
    app.submit_task(&view, &TaskValues::new(TITLE, &[ALICE]))
        .await;
    // Someone without a Tallyfy account, named on the form with their email.
    let view = app.open_task_modal(TITLE).await;
    app.submit_task(&view, &TaskValues::new(TITLE, &[CAROL]))
        .await;
    // A Tallyfy that is down for the whole retry window.
    holder.tallyfy.unavailable_for(Duration::from_secs(60));
    let view = app.open_task_modal(TITLE).await;
    app.submit_task(&view, &TaskValues::new(TITLE, &[BOB]))
        .await;
    eventually_within(Duration::from_secs(20), "the failures to be told", || {
        let told = app
            .slack
            .calls("chat.postEphemeral")
            .into_iter()
            .chain(app.slack.calls("chat.postMessage"))
            .filter(|c| {
                c.body["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("was not created")
            })
            .count();
        (told >= 2).then_some(())
    })
    .await;
    assert_clean(&app, &logs);
}

#[tokio::test]
async fn a_request_id_sent_by_a_client_is_neither_kept_nor_logged() {
    let (_holder, app, logs) = logging_binary(|_| {}).await;
    let chosen = "alice@example.com-was-here";
    let refused = reqwest::Client::new()
        .post(app.url("/slack/commands"))
        .header("x-request-id", chosen)
        .body("command=/task")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let id = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(id, chosen, "the service makes its own request ids");
    let text = std::fs::read_to_string(logs.as_ref()).unwrap_or_default();
    assert!(
        text.contains(&id),
        "the refusal is logged with the service's id: {text}"
    );
    assert!(!text.contains(chosen), "{text}");
}

#[tokio::test]
async fn an_unreachable_tallyfy_leaves_no_emails_in_the_logs() {
    let (_holder, app, logs) = logging_binary(|env| {
        env.insert("TALLYFY_API_URL".into(), "http://127.0.0.1:1/api".into());
    })
    .await;
    let view = app.open_task_modal(TITLE).await;
    app.submit_task(&view, &TaskValues::new(TITLE, &[ALICE]))
        .await;
    eventually_within(Duration::from_secs(20), "the failure to be told", || {
        app.slack.responses().into_iter().find(|(_, m)| {
            m["text"]
                .as_str()
                .unwrap_or_default()
                .contains("was not created")
        })
    })
    .await;
    assert_clean(&app, &logs);
}

#[tokio::test]
async fn a_tallyfy_refusal_quoting_the_request_leaves_nothing_of_it_in_the_logs() {
    let (holder, app, logs) = logging_binary(|_| {}).await;
    // Tallyfy's free-text message repeats what it was sent: the title and an email.
    holder.tallyfy.fault_next_create(Fault::Status {
        status: 422,
        body: json!({"message": format!("The title \"{TITLE}\" for alice@example.com is not allowed."), "errors": {}}),
        retry_after: None,
    });
    let view = app.open_task_modal(TITLE).await;
    app.submit_task(&view, &TaskValues::new(TITLE, &[ALICE]))
        .await;
    eventually_within(Duration::from_secs(20), "the refusal to be told", || {
        app.slack.responses().into_iter().find(|(_, m)| {
            m["text"]
                .as_str()
                .unwrap_or_default()
                .contains("was not created")
        })
    })
    .await;
    assert_clean(&app, &logs);
}

#[tokio::test]
async fn a_signed_body_that_does_not_parse_leaves_nothing_of_itself_in_the_logs() {
    let (_holder, app, logs) = logging_binary(|_| {}).await;
    // A view submission whose user is a string where an object goes: the parse error
    // would quote it.
    let payload = json!({
        "type": "view_submission",
        "team": {"id": crate::fake_slack::TEAM},
        "user": "alice@example.com",
        "view": {"id": "V1", "callback_id": "task_create", "state": {"values": {}}}
    });
    let answer = app.interact(&payload).await;
    assert_eq!(answer.status(), 400);
    // The 400 is answered after the line about it is written.
    assert_clean(&app, &logs);
}
