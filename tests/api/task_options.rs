//! A task's options (flags, start, most assignees, tags, fields to fill in): the fake
//! Tallyfy holds every one to the documented rules, the "New task" form sends each with
//! its JSON type, and mistakes come back on the form.

use serde_json::{json, Value};

use crate::fake_tallyfy::{FakeTallyfy, ORG, TOKEN};
use crate::helpers::*;

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
            {"label": "Region", "field_type": "dropdown", "required": false, "options": [{"id": 1, "text": "EMEA"}, {"id": 2, "text": "APAC"}], "position": 2},
            {"label": "Approve", "field_type": "radio", "required": true, "options": [{"id": 1, "text": "Yes"}, {"id": 2, "text": "No"}], "position": 3},
            {"label": "Contract", "field_type": "file", "required": false, "position": 4}
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
        // Choices are `{id, text}` objects; a plain string is refused.
        (
            "form_fields",
            json!([{"label": "X", "field_type": "dropdown", "required": true, "options": ["EMEA", "APAC"]}]),
            "form_fields.0.options.0.text",
        ),
        // A radio needs two choices or more.
        (
            "form_fields",
            json!([{"label": "X", "field_type": "radio", "required": true, "options": [{"id": 1, "text": "Yes"}]}]),
            "form_fields.0.options",
        ),
        // Types Tallyfy does not have.
        (
            "form_fields",
            json!([{"label": "X", "field_type": "number", "required": true}]),
            "form_fields.0.field_type",
        ),
        (
            "form_fields",
            json!([{"label": "X", "field_type": "checkbox", "required": true}]),
            "form_fields.0.field_type",
        ),
        // More people than `max_assignable` allows (members and guests together).
        ("max_assignable", json!(1), "owners"),
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
    tallyfy.add_member(1002, "bob@example.com", "Bob", "active");
    for (field, value, error) in cases {
        let mut task = base_task();
        task["owners"] = json!({"users": [1001], "guests": ["carol@example.com"]});
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

/// Waits for the confirmation in the channel; returns the body Tallyfy received, and
/// the confirmation's text.
async fn created(app: &TestApp) -> (Value, String) {
    let message = posted_in(app, CHANNEL, std::time::Duration::from_secs(10)).await;
    let creates = app.tallyfy.creates();
    assert_eq!(creates.len(), 1);
    (creates[0].body.clone(), message.body().to_string())
}

fn every_option(deadline: i64) -> OptionValues {
    OptionValues {
        flags: vec![
            "everyone_must_complete",
            "can_complete_only_assignees",
            "top_secret",
            "prevent_guest_comment",
            "is_soft_start_date",
        ],
        start: Some(deadline - 24 * 3600),
        max_assignees: Some(" 3 ".into()),
        tags: vec![
            (TAG_URGENT.into(), "urgent".into()),
            (TAG_FINANCE.into(), "finance".into()),
        ],
        fields: Some(
            "Invoice number: text, required -- as printed on the invoice\nSigned contract: file\nRegion: dropdown (EMEA | APAC | Americas)"
                .into(),
        ),
    }
}

#[tokio::test]
async fn every_option_on_the_form_reaches_tallyfy_with_its_json_type() {
    let app = spawn_app().await;
    app.tallyfy.add_tag(TAG_URGENT, "urgent");
    app.tallyfy.add_tag(TAG_FINANCE, "finance");
    let view = app.open_task_modal("Pay the invoice").await;
    let tags = block(&view, "opt_tags");
    assert_eq!(tags["optional"], true);
    assert_eq!(tags["element"]["options"][1]["value"], TAG_FINANCE);
    assert_eq!(tags["element"]["options"][1]["text"]["text"], "finance");
    for id in ["opt_flags", "opt_start", "opt_max_assignees", "opt_fields"] {
        assert_eq!(block(&view, id)["optional"], true, "{id}");
    }
    assert!(view.view["blocks"].as_array().unwrap().len() <= 100);

    let mut values = TaskValues::new("Pay the invoice", &[ALICE, BOB]);
    let deadline = values.deadline.unwrap();
    values.task_type = "approval";
    values.options = every_option(deadline);
    let response = app.submit_task(&view, &values).await;
    assert_eq!(response.text().await.unwrap(), "", "the form closes");
    let (body, confirmation) = created(&app).await;
    let special = confirmation
        .lines()
        .find(|l| l.starts_with("An approval"))
        .unwrap_or_else(|| panic!("no line on what is special: {confirmation}"));
    assert_eq!(
        special,
        "An approval \u{b7} confidential \u{b7} everyone must complete it \u{b7} only assignees can complete it \u{b7} guests can't comment \u{b7} at most 3 assignees \u{b7} asks for \u{201c}Invoice number\u{201d}, \u{201c}Signed contract\u{201d} and \u{201c}Region\u{201d}"
    );

    for flag in [
        "everyone_must_complete",
        "can_complete_only_assignees",
        "top_secret",
        "prevent_guest_comment",
        "is_soft_start_date",
    ] {
        assert_eq!(body[flag], json!(true), "{flag} is a JSON boolean");
    }
    let start = jiff::Timestamp::from_second(deadline - 24 * 3600)
        .unwrap()
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string();
    assert_eq!(body["started_at"], json!(start));
    assert_eq!(body["max_assignable"], json!(3), "a JSON integer");
    assert_eq!(body["tags"], json!([TAG_URGENT, TAG_FINANCE]));
    assert_eq!(
        body["form_fields"],
        json!([
            {"label": "Invoice number", "field_type": "text", "required": true,
             "guidance": "as printed on the invoice", "position": 1},
            {"label": "Signed contract", "field_type": "file", "required": false, "position": 2},
            {"label": "Region", "field_type": "dropdown", "required": false,
             "options": [{"id": 1, "text": "EMEA"}, {"id": 2, "text": "APAC"}, {"id": 3, "text": "Americas"}],
             "position": 3}
        ])
    );
}

#[tokio::test]
async fn a_task_without_options_sends_none_of_them() {
    let app = spawn_app().await;
    let view = app.open_task_modal("Plain").await;
    assert!(
        view.view["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["block_id"] != "opt_tags"),
        "no tags block when the organization has none"
    );
    app.submit_task(&view, &TaskValues::new("Plain", &[ALICE]))
        .await;
    let (body, confirmation) = created(&app).await;
    assert_eq!(
        confirmation.lines().count(),
        2,
        "no line on options: {confirmation}"
    );
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["deadline", "owners", "task_type", "title"]);
}

#[tokio::test]
async fn option_mistakes_come_back_on_their_fields() {
    let app = spawn_app().await;
    let view = app.open_task_modal("Pay").await;
    let mut values = TaskValues::new("Pay", &[ALICE]);
    let deadline = values.deadline.unwrap();
    values.options = OptionValues {
        start: Some(deadline + 3600),
        max_assignees: Some("a few".into()),
        fields: Some("Invoice number: text, required\nAmount: money\nRegion: dropdown".into()),
        ..OptionValues::default()
    };
    let body: Value = app.submit_task(&view, &values).await.json().await.unwrap();
    assert_eq!(body["response_action"], "errors");
    let errors = &body["errors"];
    assert!(
        errors["opt_start"]
            .as_str()
            .unwrap()
            .contains("before the deadline"),
        "{errors}"
    );
    assert!(
        errors["opt_max_assignees"]
            .as_str()
            .unwrap()
            .contains("whole number"),
        "{errors}"
    );
    let fields = errors["opt_fields"].as_str().unwrap();
    assert!(
        fields.contains("Line 2: \u{201c}money\u{201d} is not a field type"),
        "{fields}"
    );
    assert!(
        fields.contains("Line 3: a dropdown field needs its choices"),
        "{fields}"
    );
    assert!(!fields.contains("Line 1"), "{fields}");
    app.idle().await;
    assert!(app.tallyfy.creates().is_empty(), "nothing is created");
}

#[tokio::test]
async fn tags_tallyfy_refuses_to_list_are_left_out_and_not_asked_for_again_at_once() {
    let app = spawn_app().await;
    app.tallyfy.add_tag(TAG_URGENT, "urgent");
    app.tallyfy.refuse_tags();
    for _ in 0..2 {
        let view = app.open_task_modal("Pay").await;
        assert!(view.view["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["block_id"] != "opt_tags"));
    }
    assert_eq!(app.tallyfy.tag_lists(), 1);
}

#[tokio::test]
async fn tags_are_listed_once_for_many_forms() {
    let app = spawn_app().await;
    app.tallyfy.add_tag(TAG_URGENT, "urgent");
    for _ in 0..3 {
        let view = app.open_task_modal("Pay").await;
        block(&view, "opt_tags");
    }
    assert_eq!(app.tallyfy.tag_lists(), 1);
}

#[tokio::test]
async fn quick_text_marks_open_the_form_with_tags_and_type_set() {
    let app = spawn_app().await;
    app.tallyfy.add_tag(TAG_URGENT, "urgent");
    app.tallyfy.add_tag(TAG_FINANCE, "Finance team");
    let view = app
        .open_task_modal(&format!(
            "Pay the invoice #urgent !approval <@{ALICE}> #finance-team #unknown tomorrow"
        ))
        .await;
    assert_eq!(
        block(&view, "title")["element"]["initial_value"],
        "Pay the invoice #unknown"
    );
    assert_eq!(
        block(&view, "task_type")["element"]["initial_option"]["value"],
        "approval"
    );
    let chosen: Vec<Value> = block(&view, "opt_tags")["element"]["initial_options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].clone())
        .collect();
    assert_eq!(chosen, vec![json!(TAG_URGENT), json!(TAG_FINANCE)]);
    assert_eq!(
        block(&view, "assignees")["element"]["initial_users"],
        json!([ALICE])
    );
}

#[tokio::test]
async fn project_options_apply_to_every_line_and_a_line_adds_its_own_tags() {
    let app = spawn_app().await;
    app.tallyfy.add_tag(TAG_URGENT, "urgent");
    app.tallyfy.add_tag(TAG_FINANCE, "finance");
    let mut values = ProjectValues::new(
        "Close the quarter",
        &[ALICE],
        "Draft the report #finance\nSign it off",
    );
    let view = app.open_project_modal(&values.name).await;
    block(&view, "opt_tags");
    block(&view, "opt_fields");
    values.options = OptionValues {
        flags: vec!["top_secret", "everyone_must_complete"],
        max_assignees: Some("2".into()),
        tags: vec![(TAG_URGENT.into(), "urgent".into())],
        fields: Some("Approved amount: text, required".into()),
        ..OptionValues::default()
    };
    let response = app.submit_project(&view, &values).await;
    assert_eq!(response.text().await.unwrap(), "", "the form closes");
    announced(&app, std::time::Duration::from_secs(30)).await;

    let creates = app.tallyfy.creates();
    let titled = |title: &str| {
        creates
            .iter()
            .find(|c| c.body["title"] == title)
            .unwrap_or_else(|| panic!("no create of {title}"))
            .body
            .clone()
    };
    // The project's first create carries the chosen options too.
    let field = json!([{"label": "Approved amount", "field_type": "text", "required": true, "position": 1}]);
    let project = titled("Close the quarter");
    assert_eq!(project["top_secret"], json!(true), "{project}");
    assert_eq!(project["everyone_must_complete"], json!(true), "{project}");
    assert_eq!(project["max_assignable"], json!(2), "{project}");
    assert_eq!(project["tags"], json!([TAG_URGENT]), "{project}");
    assert_eq!(project["form_fields"], field, "{project}");
    for (title, tags) in [
        ("Draft the report", json!([TAG_URGENT, TAG_FINANCE])),
        ("Sign it off", json!([TAG_URGENT])),
    ] {
        let line = titled(title);
        assert_eq!(line["top_secret"], json!(true), "{line}");
        assert_eq!(line["everyone_must_complete"], json!(true), "{line}");
        assert_eq!(line["max_assignable"], json!(2), "{line}");
        assert_eq!(line["tags"], tags, "{line}");
        assert_eq!(line["form_fields"], field, "{line}");
    }
}

#[tokio::test]
async fn fields_tallyfy_cannot_hold_are_named_on_the_form() {
    let app = spawn_app().await;
    let view = app.open_task_modal("Pay").await;
    let hint = block(&view, "opt_fields")["hint"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    for missing in ["number", "url", "time", "datetime", "checkbox"] {
        assert!(!hint.contains(missing), "{missing} is offered: {hint}");
    }
    let mut values = TaskValues::new("Pay", &[ALICE]);
    values.options = OptionValues {
        fields: Some("Approved amount: number\nApprove: radio (Yes)\nPaid on: datetime".into()),
        ..OptionValues::default()
    };
    let body: Value = app.submit_task(&view, &values).await.json().await.unwrap();
    assert_eq!(body["response_action"], "errors", "{body}");
    let fields = body["errors"]["opt_fields"].as_str().unwrap();
    assert!(
        fields.contains("Line 1: \u{201c}number\u{201d} is not a field type"),
        "{fields}"
    );
    assert!(
        fields.contains("Line 2: a radio field needs at least two choices"),
        "{fields}"
    );
    assert!(
        fields.contains("Line 3: \u{201c}datetime\u{201d} is not a field type"),
        "{fields}"
    );
    app.idle().await;
    assert!(app.tallyfy.creates().is_empty(), "nothing is created");
}

#[tokio::test]
async fn more_people_than_the_most_assignees_is_named_on_the_form() {
    let app = spawn_app().await;
    let view = app.open_task_modal("Pay").await;
    let mut values = TaskValues::new("Pay", &[ALICE, BOB]);
    values.options = OptionValues {
        max_assignees: Some("1".into()),
        ..OptionValues::default()
    };
    let body: Value = app.submit_task(&view, &values).await.json().await.unwrap();
    assert_eq!(body["response_action"], "errors", "{body}");
    let error = body["errors"]["opt_max_assignees"].as_str().unwrap();
    assert!(error.contains("2 people"), "{error}");
    app.idle().await;
    assert!(app.tallyfy.creates().is_empty(), "nothing is created");

    // Within the limit, it is created.
    values.options.max_assignees = Some("2".into());
    assert_eq!(
        app.submit_task(&view, &values).await.text().await.unwrap(),
        ""
    );
    let (body, _) = created(&app).await;
    assert_eq!(body["max_assignable"], json!(2));
}

#[tokio::test]
async fn a_lines_people_beyond_the_most_assignees_are_named_on_the_project_form() {
    let app = spawn_app().await;
    let mut values = ProjectValues::new("Close", &[ALICE], "Count cash @alice @bob\nSign");
    let view = app.open_project_modal(&values.name).await;
    values.options = OptionValues {
        max_assignees: Some("1".into()),
        ..OptionValues::default()
    };
    let body: Value = app
        .submit_project(&view, &values)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["response_action"], "errors", "{body}");
    let error = body["errors"]["opt_max_assignees"].as_str().unwrap();
    assert!(error.contains("Count cash"), "{error}");
    app.idle().await;
    assert!(app.tallyfy.creates().is_empty(), "nothing is created");
}
