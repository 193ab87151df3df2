//! Completing a task from its card the way Tallyfy completes it: an approval is approved or
//! rejected (with a reason), never just "done"; a task with required form fields is done
//! once they are filled, which the card asks for, or sends the assignee to Tallyfy when a
//! field cannot be asked for in Slack.

use std::time::Duration;

use serde_json::{json, Value};

use crate::fake_slack;
use crate::helpers::*;
use crate::visibility::{answer_on, app_with_public_url, card, card_now, replies};

/// The value of the card's button `action_id` (the job's key), when the card shows it.
fn button_value(blocks: &Value, action_id: &str) -> Option<String> {
    blocks
        .as_array()?
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_id"] == action_id)
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

/// `user` presses the card's `action_id` with a fresh trigger id; answers the trigger.
async fn press(
    app: &TestApp,
    card: &Value,
    user: &str,
    action_id: &str,
    key: &str,
    hook: &str,
) -> String {
    let trigger = app.slack.issue_trigger();
    let mut payload = button_press(action_id, key, &app.slack.response_url(hook));
    payload["user"]["id"] = user.into();
    payload["trigger_id"] = trigger.clone().into();
    payload["container"]["message_ts"] = card["ts"].clone();
    payload["message"]["ts"] = card["ts"].clone();
    assert_eq!(app.interact(&payload).await.status(), 200);
    trigger
}

/// The form opened for `trigger`, submitted by `user` with `answers` by input label: a text
/// typed, or a choice's label picked.
fn submitted(view: &fake_slack::OpenView, user: &str, answers: &[(&str, &str)]) -> Value {
    let mut values = serde_json::Map::new();
    for block in view.view["blocks"].as_array().unwrap() {
        if block["type"] != "input" {
            continue;
        }
        let label = block["label"]["text"].as_str().unwrap_or_default();
        let Some((_, answer)) = answers.iter().find(|(l, _)| *l == label) else {
            continue;
        };
        let element = &block["element"];
        let kind = element["type"].as_str().unwrap().to_string();
        let state = match kind.as_str() {
            "static_select" | "radio_buttons" => {
                let option = element["options"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|o| o["text"]["text"] == *answer)
                    .unwrap_or_else(|| panic!("no choice {answer} in {element}"))
                    .clone();
                json!({"type": kind, "selected_option": option})
            }
            "datepicker" => json!({"type": kind, "selected_date": answer}),
            _ => json!({"type": kind, "value": answer}),
        };
        let action = element["action_id"].as_str().unwrap().to_string();
        values.insert(
            block["block_id"].as_str().unwrap().to_string(),
            json!({ action: state }),
        );
    }
    json!({
        "type": "view_submission",
        "team": {"id": fake_slack::TEAM, "domain": "test"},
        "user": {"id": user, "username": "someone", "team_id": fake_slack::TEAM},
        "api_app_id": "A0TEST",
        "view": {
            "id": view.id, "hash": view.hash, "type": "modal",
            "callback_id": view.view["callback_id"],
            "private_metadata": view.view["private_metadata"],
            "state": {"values": values}
        }
    })
}

/// The labels of the form's inputs.
fn labels(view: &fake_slack::OpenView) -> Vec<String> {
    view.view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "input")
        .map(|b| b["label"]["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// What `user` was told privately outside a response URL, last first.
fn told(app: &TestApp, user: &str) -> Vec<String> {
    let mut told: Vec<String> = app
        .slack
        .calls("chat.postEphemeral")
        .into_iter()
        .filter(|c| c.body["user"] == user)
        .map(|c| c.body.to_string())
        .collect();
    told.reverse();
    told
}

async fn approval_card(app: &TestApp, title: &str) -> Value {
    let view = app.open_task_modal("").await;
    let mut values = TaskValues::new(title, &[BOB]);
    values.task_type = "approval";
    app.submit_task(&view, &values).await;
    card(app).await
}

#[tokio::test]
async fn an_approval_card_offers_approve_and_reject_and_approve_sends_is_approved_true() {
    let app = app_with_public_url().await;
    let card = approval_card(&app, "Approve the budget").await;
    let key = button_value(&card["blocks"], "task_approve").expect("an Approve button");
    assert!(
        button_value(&card["blocks"], "task_reject").is_some(),
        "a Reject button"
    );
    assert!(
        button_value(&card["blocks"], "task_done").is_none(),
        "an approval is not just marked done"
    );

    press(&app, &card, BOB, "task_approve", &key, "bob-approves").await;
    assert_eq!(
        answer_on(&app, "bob-approves").await,
        "Approved in Tallyfy."
    );
    let bodies = app.tallyfy.completion_bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["is_approved"], json!(true));
    let task = app.tallyfy.task_id_titled("Approve the budget").unwrap();
    assert_eq!(app.tallyfy.task(&task).unwrap()["status"], "completed");
    let reply = eventually_within(Duration::from_secs(5), "the approval in the thread", || {
        replies(&app, &card)
            .into_iter()
            .find(|r| r.contains("approved"))
    })
    .await;
    assert!(
        reply.contains(&format!("<@{BOB}> approved *Approve the budget*")),
        "{reply}"
    );
    eventually_within(Duration::from_secs(5), "the card to offer Reopen", || {
        let now = card_now(&app, &card);
        (now.contains("task_reopen") && !now.contains("task_reject")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_rejection_asks_for_a_reason_and_tallyfy_gets_the_decision_and_the_reason() {
    let app = app_with_public_url().await;
    let card = approval_card(&app, "Approve the trip").await;
    let key = button_value(&card["blocks"], "task_reject").expect("a Reject button");

    let trigger = press(&app, &card, BOB, "task_reject", &key, "bob-rejects").await;
    let form = eventually("the reason form", || app.slack.opened_view(&trigger)).await;
    assert_eq!(labels(&form), ["Why is it rejected?"]);
    assert!(
        app.tallyfy.completion_bodies().is_empty(),
        "nothing sent yet"
    );

    let reason = "Over <budget> & too late";
    let sent = submitted(&form, BOB, &[("Why is it rejected?", reason)]);
    assert_eq!(app.interact(&sent).await.status(), 200);
    let bodies = eventually_within(Duration::from_secs(5), "the rejection in Tallyfy", || {
        let b = app.tallyfy.completion_bodies();
        (!b.is_empty()).then_some(b)
    })
    .await;
    assert_eq!(bodies[0]["is_approved"], json!(false));
    let task = app.tallyfy.task_id_titled("Approve the trip").unwrap();
    let comments = eventually_within(Duration::from_secs(5), "the reason in Tallyfy", || {
        let c = app.tallyfy.comments(&task);
        (!c.is_empty()).then_some(c)
    })
    .await;
    assert!(
        comments[0]["content"].as_str().unwrap().contains(reason),
        "{comments:?}"
    );
    let reply = eventually_within(
        Duration::from_secs(5),
        "the rejection in the thread",
        || {
            replies(&app, &card)
                .into_iter()
                .find(|r| r.contains("rejected"))
        },
    )
    .await;
    assert!(
        reply.contains(&format!("<@{BOB}> rejected *Approve the trip*")),
        "{reply}"
    );
}

#[tokio::test]
async fn mark_done_asks_for_the_required_fields_fills_them_and_completes_the_task() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Pay the invoice", &[BOB]))
        .await;
    let card = card(&app).await;
    let key = button_value(&card["blocks"], "task_done").expect("a Mark done button");
    let task = app.tallyfy.task_id_titled("Pay the invoice").unwrap();
    // Someone adds form fields to the task in Tallyfy.
    let number = app.tallyfy.add_form_field(
        &task,
        json!({"label": "Invoice number", "field_type": "text", "required": true}),
    );
    let region = app.tallyfy.add_form_field(
        &task,
        json!({"label": "Region", "field_type": "dropdown", "required": true,
               "options": ["EMEA", "APAC", "Americas"]}),
    );
    app.tallyfy.add_form_field(
        &task,
        json!({"label": "Notes", "field_type": "textarea", "required": false}),
    );

    let trigger = press(&app, &card, BOB, "task_done", &key, "bob-done").await;
    let form = eventually("the form asking for the fields", || {
        app.slack.opened_view(&trigger)
    })
    .await;
    assert_eq!(
        labels(&form),
        ["Invoice number", "Region"],
        "only what is required"
    );
    assert!(
        app.tallyfy.completion_bodies().is_empty(),
        "not completed yet"
    );

    let sent = submitted(
        &form,
        BOB,
        &[("Invoice number", "INV-7"), ("Region", "APAC")],
    );
    assert_eq!(app.interact(&sent).await.status(), 200);
    eventually_within(Duration::from_secs(5), "the task completed", || {
        (app.tallyfy.task(&task).unwrap()["status"] == "completed").then_some(())
    })
    .await;
    let fields = app.tallyfy.form_fields(&task);
    let value = |id: &str| fields.iter().find(|f| f["id"] == id).unwrap()["value"].clone();
    assert_eq!(value(&number), json!("INV-7"));
    // As the update-task page shows a dropdown's answer.
    assert_eq!(
        value(&region),
        json!({"id": 2, "text": "APAC", "value": null})
    );
    let reply = eventually_within(
        Duration::from_secs(5),
        "the completion in the thread",
        || {
            replies(&app, &card)
                .into_iter()
                .find(|r| r.contains("completed"))
        },
    )
    .await;
    assert!(
        reply.contains(&format!("<@{BOB}> completed *Pay the invoice*")),
        "{reply}"
    );
    eventually("the private word", || {
        told(&app, BOB)
            .into_iter()
            .find(|t| t.contains("Marked done in Tallyfy"))
    })
    .await;
}

#[tokio::test]
async fn a_required_field_slack_cannot_ask_for_sends_the_assignee_to_tallyfy() {
    let app = app_with_public_url().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Send the scan", &[BOB]))
        .await;
    let card = card(&app).await;
    let key = button_value(&card["blocks"], "task_done").expect("a Mark done button");
    let task = app.tallyfy.task_id_titled("Send the scan").unwrap();
    app.tallyfy.add_form_field(
        &task,
        json!({"label": "Signed scan", "field_type": "file", "required": true}),
    );

    let trigger = press(&app, &card, BOB, "task_done", &key, "bob-done").await;
    let answer = answer_on(&app, "bob-done").await;
    assert!(answer.contains("Signed scan"), "{answer}");
    assert!(answer.contains("fill it in Tallyfy"), "{answer}");
    assert!(answer.contains(&task), "the task's link: {answer}");
    app.idle().await;
    assert!(app.tallyfy.completion_bodies().is_empty());
    assert!(app.slack.opened_view(&trigger).is_none(), "no form");
}

#[tokio::test]
async fn an_approval_decided_in_tallyfy_is_told_as_approved_or_rejected() {
    let app = app_with_public_url().await;
    let card = approval_card(&app, "Approve the budget").await;
    let task = app.tallyfy.task_id_titled("Approve the budget").unwrap();
    assert_eq!(
        app.tallyfy.decide_and_tell(&task, 1002, false).await,
        Some(200)
    );
    let reply = eventually_within(
        Duration::from_secs(30),
        "the decision in the thread",
        || replies(&app, &card).into_iter().next(),
    )
    .await;
    assert_eq!(reply, ":x: Bob Example rejected *Approve the budget*");

    // Reopened and approved this time, in Tallyfy again.
    app.tallyfy.complete_id_and_tell(&task, 1002, false).await;
    assert_eq!(
        app.tallyfy.decide_and_tell(&task, 1002, true).await,
        Some(200)
    );
    let approved = eventually_within(
        Duration::from_secs(30),
        "the approval in the thread",
        || {
            replies(&app, &card)
                .into_iter()
                .find(|r| r.contains("approved"))
        },
    )
    .await;
    assert_eq!(
        approved,
        ":white_check_mark: Bob Example approved *Approve the budget*"
    );
}
