//! The app against Tallyfy as its owners document it (see the fake's sources): split
//! project creates, invited members, refusals in Tallyfy's own shapes, both forms of
//! `Retry-After`, array answers, and a groups endpoint that refuses non-admins.

use std::time::Duration;

use serde_json::json;

use crate::fake_slack::Person;
use crate::fake_tallyfy::Fault;
use crate::helpers::*;

async fn submit(app: &TestApp, values: &TaskValues) {
    let view = app
        .open_task_modal(values.title.as_deref().unwrap_or(""))
        .await;
    let response = app.submit_task(&view, values).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "", "the form closes");
}

/// The first private answer the requester got through the command's response URL.
async fn private_answer(app: &TestApp) -> String {
    let (_, message) = eventually("the private answer", || {
        app.slack.responses().into_iter().next()
    })
    .await;
    message["text"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_lost_answer_on_a_two_person_project_leaves_one_project_each_line_once() {
    let app = spawn_app().await;
    // Tallyfy makes the run (one task for each of the two people), but its answer is lost.
    app.tallyfy
        .fault_create_titled("Launch", Fault::CommitThenHang(Duration::from_secs(60)));
    let values = ProjectValues::new("Launch", &[ALICE, BOB], "Book the venue\nSend invites");
    let view = app.open_project_modal(&values.name).await;
    assert_eq!(app.submit_project(&view, &values).await.status(), 200);
    let message = announced(&app, Duration::from_secs(30)).await;
    let text = message["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(text.contains("Launch") && !text.contains(":x:"), "{text}");
    assert_eq!(app.tallyfy.runs_titled("Launch"), 1, "one project");
    assert_eq!(
        app.tallyfy.tasks_titled("Launch"),
        2,
        "one task for each person"
    );
    assert_eq!(app.tallyfy.tasks_titled("Book the venue"), 1);
    assert_eq!(app.tallyfy.tasks_titled("Send invites"), 1);
}

#[tokio::test]
async fn an_invited_tallyfy_member_can_be_assigned() {
    let app = spawn_app().await;
    app.slack.add_person(Person {
        id: "UDORA".into(),
        name: "dora".into(),
        email: Some("dora@example.com".into()),
        tz: "UTC".into(),
        ..Person::default()
    });
    app.tallyfy
        .add_member(1004, "dora@example.com", "Dora", "invited");
    submit(&app, &TaskValues::new("Welcome pack", &["UDORA"])).await;
    announced(&app, Duration::from_secs(10)).await;
    let creates = app.tallyfy.creates();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].body["owners"]["users"], json!([1004]));
}

#[tokio::test]
async fn a_conflict_is_told_at_once_in_tallyfys_words_and_not_retried() {
    let app = spawn_app().await;
    app.tallyfy.fault_next_create(Fault::Status {
        status: 409,
        body: json!({"error": {"code": "SEAT_POOL_EXHAUSTED", "message": "No seats are left on your plan.", "details": {}}}),
        retry_after: None,
    });
    submit(&app, &TaskValues::new("Hire a designer", &[ALICE])).await;
    let text = private_answer(&app).await;
    assert!(
        text.contains("Hire a designer") && text.contains("was not created"),
        "{text}"
    );
    assert!(text.contains("No seats are left on your plan."), "{text}");
    app.idle().await;
    assert_eq!(
        app.tallyfy.creates().len(),
        1,
        "a refusal is not sent again"
    );
}

#[tokio::test]
async fn a_retry_after_given_as_a_date_is_waited_out() {
    let app = spawn_app().await;
    app.tallyfy
        .fault_next_create(Fault::RateLimitedUntil(Duration::from_secs(8)));
    submit(&app, &TaskValues::new("Patient", &[ALICE])).await;
    announced(&app, Duration::from_secs(20)).await;
    let arrivals: Vec<_> = app
        .tallyfy
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.at)
        .collect();
    assert_eq!(arrivals.len(), 2);
    let gap = arrivals[1] - arrivals[0];
    // HTTP dates have whole seconds: the wait may be up to a second shorter.
    assert!(gap >= Duration::from_secs(7), "waited only {gap:?}");
}

#[tokio::test]
async fn an_answer_whose_data_is_an_array_is_read_as_the_created_task() {
    let app = spawn_app().await;
    app.tallyfy.fault_next_create(Fault::AnswerWithArray);
    submit(&app, &TaskValues::new("Array answer", &[ALICE])).await;
    announced(&app, Duration::from_secs(10)).await;
    app.idle().await;
    assert_eq!(app.tallyfy.creates().len(), 1);
    let lookups = app
        .tallyfy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/tasks"))
        .count();
    assert_eq!(lookups, 0, "the answer was read, not looked up");
}

#[tokio::test]
async fn groups_tallyfy_refuses_are_not_asked_for_at_every_form() {
    let app = spawn_app().await;
    app.tallyfy.refuse_groups();
    for _ in 0..3 {
        let view = app.open_task_modal("Plan").await;
        assert!(
            view.view["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["block_id"] != "groups"),
            "no groups to offer"
        );
    }
    app.idle().await;
    assert_eq!(app.tallyfy.group_lists(), 1);
}
