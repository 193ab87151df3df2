//! Who may do what: Slack guests are refused unless `SLACK_ALLOW_GUESTS=true`; `/task whois`
//! shows an email only to the person it is about; `/task forget` is for oneself only; a
//! Retry button runs only for the person who made the request.

use serde_json::{json, Value};

use crate::fake_slack::Person;
use crate::helpers::*;

const FORM: &str = "application/x-www-form-urlencoded";
const GUEST: &str = "UGUEST";
const SINGLE_CHANNEL_GUEST: &str = "UONECHANNEL";

fn add_guests(app: &TestApp) {
    app.slack.add_person(Person {
        id: GUEST.into(),
        name: "gus".into(),
        email: Some("gus@partner.example".into()),
        tz: "UTC".into(),
        is_restricted: true,
        ..Person::default()
    });
    app.slack.add_person(Person {
        id: SINGLE_CHANNEL_GUEST.into(),
        name: "una".into(),
        email: Some("una@partner.example".into()),
        tz: "UTC".into(),
        is_ultra_restricted: true,
        ..Person::default()
    });
}

/// `/task text` as `user`; the answer's body, and the trigger id.
async fn command_as(app: &TestApp, user: &str, text: &str) -> (Value, String) {
    let trigger = app.slack.issue_trigger();
    let body = app
        .command_body("/task", text, CHANNEL, &trigger, "as-hook")
        .replace(&format!("user_id={REQUESTER}"), &format!("user_id={user}"));
    let response = app.post_signed("/slack/commands", FORM, body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let answer = serde_json::from_str(&text).unwrap_or(Value::Null);
    (answer, trigger)
}

#[tokio::test]
async fn guests_are_refused_and_open_no_form() {
    let app = spawn_app().await;
    add_guests(&app);
    for guest in [GUEST, SINGLE_CHANNEL_GUEST] {
        command_as(&app, guest, "Review the contract").await;
    }
    app.idle().await;
    let told = app.slack.responses();
    assert_eq!(told.len(), 2, "{told:?}");
    for (_, message) in &told {
        let text = message["text"].as_str().unwrap_or_default();
        assert!(text.contains("guest"), "{text}");
    }
    assert!(app.slack.calls("views.open").is_empty());
    assert!(app.tallyfy.creates().is_empty());
}

#[tokio::test]
async fn guests_may_use_it_when_allowed() {
    let app = spawn_app_with(|env| {
        env.insert("SLACK_ALLOW_GUESTS".into(), "true".into());
    })
    .await;
    add_guests(&app);
    let (_, trigger) = command_as(&app, GUEST, "Review the contract").await;
    eventually("the guest's form to open", || {
        app.slack.opened_view(&trigger)
    })
    .await;
}

#[tokio::test]
async fn a_guest_cannot_submit_a_form_opened_before_the_check() {
    let app = spawn_app().await;
    add_guests(&app);
    let view = app.open_task_modal("Review").await;
    let metadata = view.view["private_metadata"].as_str().unwrap_or_default();
    let mut payload = submission(
        &view.id,
        &view.hash,
        metadata,
        &TaskValues::new("Review", &[ALICE]),
    );
    payload["user"]["id"] = json!(GUEST);
    let response = app.interact(&payload).await;
    assert_eq!(response.status(), 200);
    let told = posted_in(&app, GUEST, std::time::Duration::from_secs(10)).await;
    assert!(told.text().contains("guest"), "{}", told.text());
    app.idle().await;
    assert!(app.tallyfy.creates().is_empty());
}

/// The guest check runs beside a project form's lookups; a guest is refused all the same,
/// and so is one whose form also has a mistake (they are told why, not shown the field).
#[tokio::test]
async fn a_guest_cannot_submit_a_project_form_opened_before_the_check() {
    let app = spawn_app().await;
    add_guests(&app);
    for (i, deadline_in_past) in [false, true].into_iter().enumerate() {
        let view = app.open_project_modal("Launch").await;
        let metadata = view.view["private_metadata"].as_str().unwrap_or_default();
        let mut values = ProjectValues::new("Launch", &[ALICE], "Draft the plan\nShip it");
        if deadline_in_past {
            values.deadline = now() - 3600;
        }
        let mut payload = project_submission(&view.id, &view.hash, metadata, &values);
        payload["user"]["id"] = json!(GUEST);
        let response = app.interact(&payload).await;
        assert_eq!(response.status(), 200);
        let body = response.text().await.unwrap();
        assert!(!body.contains("errors"), "{body}");
        let told = eventually("the guest told why", || {
            let to_guest: Vec<_> = app
                .slack
                .calls("chat.postMessage")
                .into_iter()
                .filter(|c| c.body["channel"] == GUEST)
                .map(|c| Message::new(c.body))
                .collect();
            (to_guest.len() == i + 1).then_some(to_guest)
        })
        .await;
        assert!(told[i].text().contains("guest"), "{}", told[i].text());
    }
    app.idle().await;
    assert!(app.tallyfy.requests().iter().all(|r| r.method != "POST"));
}

#[tokio::test]
async fn whois_shows_an_email_only_to_the_person_it_is_about() {
    let app = spawn_app().await;
    let (about_alice, _) = command_as(&app, REQUESTER, "whois <@UALICE|alice>").await;
    let text = about_alice["text"].as_str().unwrap();
    assert!(text.contains("Tallyfy member 1001"), "{text}");
    assert!(!text.to_lowercase().contains("alice@example.com"), "{text}");
    let (about_carol, _) = command_as(&app, REQUESTER, "whois <@UCAROL>").await;
    let text = about_carol["text"].as_str().unwrap();
    assert!(!text.contains("carol@example.com"), "{text}");

    let (about_me, _) = command_as(&app, REQUESTER, &format!("whois <@{REQUESTER}>")).await;
    let text = about_me["text"].as_str().unwrap();
    assert!(text.contains("rita@example.com"), "{text}");
}

#[tokio::test]
async fn forget_is_for_oneself_only() {
    let app = spawn_app().await;
    // Alice's mapping is cached by a lookup.
    command_as(&app, REQUESTER, "whois <@UALICE>").await;
    let (refused, _) = command_as(&app, REQUESTER, "forget <@UALICE>").await;
    let text = refused["text"].as_str().unwrap();
    assert!(text.contains("only"), "{text}");
    let (still, _) = command_as(&app, BOB, "whois <@UALICE>").await;
    let text = still["text"].as_str().unwrap();
    assert!(
        text.contains("from the cache"),
        "alice was forgotten: {text}"
    );

    let (forgot, _) = command_as(&app, ALICE, "forget <@UALICE>").await;
    let text = forgot["text"].as_str().unwrap();
    assert!(text.contains("forgot"), "{text}");
    let (again, _) = command_as(&app, BOB, "whois <@UALICE>").await;
    let text = again["text"].as_str().unwrap();
    assert!(text.contains("just looked up"), "{text}");
}

#[tokio::test]
async fn only_the_person_who_asked_can_retry() {
    let app = spawn_app().await;
    app.tallyfy
        .fault_next_create(crate::fake_tallyfy::Fault::Status {
            status: 403,
            body: json!({"error": true, "message": "Forbidden"}),
            retry_after: None,
        });
    let view = app.open_task_modal("Not allowed").await;
    app.submit_task(&view, &TaskValues::new("Not allowed", &[ALICE]))
        .await;
    let (_, notice) = first_reply(&app, "the failure notice").await;
    let key = notice.retry_key().to_string();
    assert_eq!(app.tallyfy.creates().len(), 1);

    let mut press = button_press("job_retry", &key, &app.slack.response_url("bob-press"));
    press["user"]["id"] = json!(BOB);
    assert_eq!(app.interact(&press).await.status(), 200);
    let answer = reply_through(&app, "bob-press").await;
    assert!(
        answer.text().contains("Only the person who asked"),
        "{}",
        answer.text()
    );
    app.idle().await;
    assert_eq!(app.tallyfy.creates().len(), 1, "bob's press ran the retry");

    app.press("job_retry", &key, "rita-press").await;
    eventually("the requester's retry to run", || {
        (app.tallyfy.creates().len() == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_guest_check_keeps_whois_inside_slacks_three_seconds_when_slack_is_slow() {
    let app = spawn_app().await;
    app.slack
        .set_users_info_delay(std::time::Duration::from_secs(5));
    let started = std::time::Instant::now();
    let (answer, _) = command_as(&app, REQUESTER, "whois <@UALICE>").await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "answered after {:?}",
        started.elapsed()
    );
    let text = answer["text"].as_str().unwrap_or_default();
    assert!(text.contains("slow"), "{text}");
}
