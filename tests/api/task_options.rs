//! A task's options (flags, start, most assignees, tags, fields to fill in): the fake
//! Tallyfy holds every one to the documented rules, the "New task" form sends each with
//! its JSON type, and mistakes come back on the form.

use serde_json::{json, Value};

use crate::fake_tallyfy::{FakeTallyfy, ORG, TOKEN};

pub const TAG_URGENT: &str = "5a0000000000000000000000000000a1";
pub const TAG_FINANCE: &str = "5a0000000000000000000000000000b2";

/// Posts `body` to the fake's create endpoint as the app would; returns status and answer.
async fn create_directly(tallyfy: &FakeTallyfy, body: Value) -> (u16, Value) {
    tallyfy_slack::tls::init();
    let response = reqwest::Client::new()
        .post(format!("{}/organizations/{ORG}/tasks", tallyfy.api_url()))
        .bearer_auth(TOKEN)
        .header("X-Tallyfy-Client", "APIClient")
        .header("Accept", "application/json")
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn base_task() -> Value {
    let deadline = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48))
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string();
    json!({"title": "Options", "task_type": "task", "owners": {"users": [1001]}, "deadline": deadline})
}

#[tokio::test]
async fn the_fake_accepts_every_option_as_documented() {
    let tallyfy = FakeTallyfy::start().await;
    tallyfy.add_member(1001, "alice@example.com", "Alice", "active");
    tallyfy.add_tag(TAG_URGENT, "urgent");
    let mut task = base_task();
    let extra = json!({
        "everyone_must_complete": true, "can_complete_only_assignees": false,
        "is_soft_start_date": true, "started_at": "2030-01-02 09:00:00",
        "prevent_guest_comment": true, "top_secret": true, "max_assignable": 0,
        "tags": [TAG_URGENT],
        "form_fields": [
            {"label": "Invoice number", "field_type": "text", "required": true, "guidance": "As printed", "position": 1},
            {"label": "Region", "field_type": "dropdown", "required": false, "options": ["EMEA", "APAC"], "position": 2}
        ]
    });
    task.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, answer) = create_directly(&tallyfy, task).await;
    assert_eq!(status, 201, "{answer}");
}

#[tokio::test]
async fn the_fake_refuses_options_that_break_the_documented_rules() {
    let tallyfy = FakeTallyfy::start().await;
    tallyfy.add_member(1001, "alice@example.com", "Alice", "active");
    tallyfy.add_tag(TAG_URGENT, "urgent");
    let cases = [
        ("top_secret", json!("yes"), "top_secret"),
        ("everyone_must_complete", json!(1), "everyone_must_complete"),
        ("started_at", json!("2030-01-02T09:00:00Z"), "started_at"),
        ("max_assignable", json!(-1), "max_assignable"),
        ("max_assignable", json!("3"), "max_assignable"),
        ("tags", json!(["short"]), "tags.0"),
        ("tags", json!([TAG_FINANCE]), "tags.0"),
        (
            "form_fields",
            json!([{"label": "X", "field_type": "money", "required": true}]),
            "form_fields.0.field_type",
        ),
        (
            "form_fields",
            json!([{"label": "X", "field_type": "radio", "required": true}]),
            "form_fields.0.options",
        ),
        (
            "form_fields",
            json!([{"label": "X", "field_type": "text"}]),
            "form_fields.0.required",
        ),
        (
            "form_fields",
            json!([{"label": "", "field_type": "text", "required": false}]),
            "form_fields.0.label",
        ),
        (
            "form_fields",
            json!([{"label": "X", "field_type": "text", "required": false, "position": "1"}]),
            "form_fields.0.position",
        ),
    ];
    for (field, value, error) in cases {
        let mut task = base_task();
        task[field] = value.clone();
        let (status, answer) = create_directly(&tallyfy, task).await;
        assert_eq!(status, 422, "{field} = {value}: {answer}");
        assert_eq!(answer["error"], true);
        assert!(
            answer["errors"][error].is_array(),
            "{field} = {value}: {answer}"
        );
    }
}
