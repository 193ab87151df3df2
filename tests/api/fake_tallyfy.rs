//! The stand-in for Tallyfy's API: `stand_ins::tallyfy`.
pub use stand_ins::tallyfy::*;

use std::collections::BTreeSet;

use serde_json::Value;

/// The documented task-level webhook payload (`tests/fixtures/tallyfy/`).
pub fn documented_task_payload() -> Value {
    serde_json::from_str(include_str!(
        "../fixtures/tallyfy/webhook-task-completed.json"
    ))
    .unwrap()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Every key the documented sample has at the top, in `this_task` and in `process`, the
/// stand-in's webhook call has too, and `process.progress` is a whole number of percent.
pub fn assert_documented_shape(sent: &Value) {
    let doc = documented_task_payload();
    for (path, documented, given) in [
        ("", &doc, sent),
        ("this_task", &doc["this_task"], &sent["this_task"]),
        ("process", &doc["process"], &sent["process"]),
    ] {
        let missing: Vec<String> = keys(documented).difference(&keys(given)).cloned().collect();
        assert!(missing.is_empty(), "{path} lacks {missing:?}: {sent}");
    }
    assert!(doc["process"]["progress"].is_u64());
    let progress = sent["process"]["progress"].as_u64().expect("a percentage");
    assert!(progress <= 100, "{progress}");
}

#[tokio::test]
async fn the_stand_ins_webhook_call_has_the_documented_shape() {
    use crate::helpers::*;
    let app = crate::visibility::app_with_public_url().await;
    let values = ProjectValues::new("Launch", &[ALICE], "Book venue\nSend invites");
    let view = app.open_project_modal(&values.name).await;
    app.submit_project(&view, &values).await;
    crate::visibility::card(&app).await;
    app.tallyfy
        .complete_and_tell("Book venue", 1001, true)
        .await;
    let sent = app.tallyfy.last_webhook_payload().expect("a webhook call");
    assert_documented_shape(&sent);
    assert_eq!(sent["process"]["progress"], 33, "1 of 3 tasks: {sent}");
    assert_eq!(sent["this_task"]["completed_by"]["id"], 1001);
}
