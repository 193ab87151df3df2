//! People picked in a form are looked up while the form is filled in: each pick in the
//! Assignees picker (an input block with `dispatch_action: true`) reaches the app as a
//! `block_actions` payload, answered at once, and the person is looked up in the
//! background, so that the submission finds them known.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

/// The member searches Tallyfy has seen for `email`.
fn searches_for(app: &TestApp, email: &str) -> usize {
    app.tallyfy
        .member_searches()
        .iter()
        .filter(|s| {
            s.query
                .get("q")
                .is_some_and(|q| q.eq_ignore_ascii_case(email))
        })
        .count()
}

/// Waits until Tallyfy has been asked about `email`.
async fn searched(app: &TestApp, email: &str) {
    eventually(&format!("a member search for {email}"), || {
        (searches_for(app, email) > 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_forms_assignee_pickers_send_each_pick() {
    let app = spawn_app().await;
    // The stand-in Slack checks `dispatch_action` as Slack does: the forms opened.
    let project = app.open_project_modal("Launch").await;
    assert_eq!(block(&project, "assignees")["dispatch_action"], true);
    let task = app.open_task_modal("Review").await;
    assert_eq!(block(&task, "assignees")["dispatch_action"], true);
    for other in ["name", "deadline", "tasks"] {
        assert!(
            block(&project, other).get("dispatch_action").is_none(),
            "{other} sends nothing until submitted"
        );
    }
}

#[tokio::test]
async fn a_person_picked_in_the_project_form_is_looked_up_before_the_submission() {
    let app = spawn_app().await;
    let view = app.open_project_modal("Launch").await;
    assert_eq!(searches_for(&app, "alice@example.com"), 0);

    let picked = app.pick_assignees(&view, &[ALICE]).await;
    assert_eq!(picked.status(), 200);
    assert_eq!(picked.text().await.unwrap(), "", "nothing to say to Slack");
    searched(&app, "alice@example.com").await;
    app.idle().await;
    let searches = app.tallyfy.member_searches().len();

    let values = ProjectValues::new("Launch", &[ALICE], "Draft\nReview");
    let response = app.submit_project(&view, &values).await;
    assert_eq!(response.text().await.unwrap(), "");
    announced(&app, Duration::from_secs(10)).await;
    assert_eq!(
        app.tallyfy.member_searches().len(),
        searches,
        "the submission found her known"
    );
    assert_eq!(
        app.tallyfy.creates()[0].body["owners"]["users"],
        json!([1001])
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"tallyfy_slack_slack_requests_total{kind="block_actions",outcome="people_picked"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_submission_while_the_picks_lookup_runs_asks_tallyfy_once() {
    let app = spawn_app().await;
    let view = app.open_project_modal("Launch").await;
    // Tallyfy takes a while to answer the search for the person picked.
    app.tallyfy.set_list_delay(Duration::from_millis(800));
    app.pick_assignees(&view, &[ALICE]).await;
    searched(&app, "alice@example.com").await;

    // Submitted while Tallyfy is still answering the pick's search.
    let values = ProjectValues::new("Launch", &[ALICE], "Draft\nReview");
    let response = app.submit_project(&view, &values).await;
    assert_eq!(response.text().await.unwrap(), "");
    announced(&app, Duration::from_secs(10)).await;
    assert_eq!(
        searches_for(&app, "alice@example.com"),
        1,
        "the submission waited for the search already running"
    );
    assert_eq!(
        app.tallyfy.creates()[0].body["owners"]["users"],
        json!([1001])
    );
}

#[tokio::test]
async fn a_pick_is_answered_at_once_when_tallyfy_is_slow() {
    let app = spawn_app().await;
    let view = app.open_project_modal("Launch").await;
    app.tallyfy.set_list_delay(Duration::from_secs(3));
    let started = Instant::now();
    let picked = app.pick_assignees(&view, &[ALICE, BOB]).await;
    let took = started.elapsed();
    assert_eq!(picked.status(), 200);
    assert!(
        took < Duration::from_millis(1000),
        "answered in {took:?}, while Tallyfy takes 3 s"
    );
    // The lookups went ahead in the background.
    searched(&app, "alice@example.com").await;
    searched(&app, "bob@example.com").await;
}

#[tokio::test]
async fn a_person_picked_in_the_task_form_is_looked_up_before_the_submission() {
    let app = spawn_app().await;
    let view = app.open_task_modal("Review the report").await;
    app.pick_assignees(&view, &[BOB]).await;
    searched(&app, "bob@example.com").await;
    app.idle().await;
    let searches = app.tallyfy.member_searches().len();

    let response = app
        .submit_task(&view, &TaskValues::new("Review the report", &[BOB]))
        .await;
    assert_eq!(response.text().await.unwrap(), "");
    announced(&app, Duration::from_secs(10)).await;
    assert_eq!(app.tallyfy.member_searches().len(), searches);
    assert_eq!(
        app.tallyfy.creates()[0].body["owners"]["users"],
        json!([1002])
    );
}

#[tokio::test]
async fn people_named_in_the_command_are_looked_up_as_the_form_opens() {
    let app = spawn_app().await;
    app.open_task_modal("Review the report <@UALICE|alice>")
        .await;
    searched(&app, "alice@example.com").await;
}

#[tokio::test]
async fn picks_in_other_forms_look_nobody_up() {
    let app = spawn_app().await;
    let view = app.open_project_modal("Launch").await;
    let mut payload = people_picked(&view.id, &view.hash, &view.view, "assignees", &[ALICE]);
    payload["view"]["callback_id"] = json!("someone_elses_form");
    assert_eq!(app.interact(&payload).await.status(), 200);
    let mut payload = people_picked(&view.id, &view.hash, &view.view, "reviewers", &[BOB]);
    payload["view"]["callback_id"] = json!("project_create");
    assert_eq!(app.interact(&payload).await.status(), 200);
    app.idle().await;
    assert!(app.tallyfy.member_searches().is_empty());
}
