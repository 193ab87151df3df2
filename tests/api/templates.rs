//! Launching the organization's templates: `/project from <name>` shows the template's
//! kick-off form (a picker when several match, a word when none does), the New project
//! form searches templates as one types, and a submitted form launches the template once
//! (`POST /runs`, values keyed by field id in Tallyfy's documented shapes), its card in
//! the channel. Also the stand-in Tallyfy against the samples Tallyfy publishes.

use std::time::Duration;

use serde_json::{json, Value};

use crate::fake_slack::{OpenView, TEAM};
use crate::fake_tallyfy::{employee_onboarding, plain_template, ONBOARDING, ORG, TOKEN};
use crate::helpers::*;

/// The id of the `n`th kick-off field of "Employee onboarding".
fn field(n: usize) -> String {
    employee_onboarding()["prerun"][n - 1]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn block_of(view: &OpenView, id: &str) -> Value {
    view.view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no block {id} in {}", view.view))
}

/// Runs `/project text` and waits for the modal it opens.
async fn open(app: &TestApp, text: &str) -> OpenView {
    app.open_project_modal(text).await
}

/// A `view_submission` of the kick-off form `view` with these block values.
fn submission(view: &OpenView, values: Value) -> Value {
    json!({
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "test"},
        "user": {"id": REQUESTER, "username": "rita", "team_id": TEAM},
        "api_app_id": "A0TEST",
        "view": {
            "id": view.id, "team_id": TEAM, "type": "modal", "callback_id": view.view["callback_id"],
            "private_metadata": view.view["private_metadata"], "hash": view.hash, "blocks": [],
            "state": {"values": values}
        },
        "response_urls": []
    })
}

/// Every kick-off field of "Employee onboarding" filled in, as Slack reports the form.
fn filled_in() -> Value {
    let option = |value: &str, text: &str| json!({"value": value, "text": {"type": "plain_text", "text": text}});
    let mut values = json!({
        "run_name": {"value": {"type": "plain_text_input", "value": "Onboarding Ada"}},
    });
    let set = |values: &mut Value, n: usize, element: Value| {
        values[format!("kf.{}", field(n))] = json!({ "value": element });
    };
    set(
        &mut values,
        1,
        json!({"type": "plain_text_input", "value": "Ada Lovelace"}),
    );
    set(
        &mut values,
        2,
        json!({"type": "plain_text_input", "value": "Likes engines."}),
    );
    set(
        &mut values,
        3,
        json!({"type": "datepicker", "selected_date": "2026-12-01"}),
    );
    set(
        &mut values,
        4,
        json!({"type": "radio_buttons", "selected_option": option("3", "Remote")}),
    );
    set(
        &mut values,
        5,
        json!({"type": "static_select", "selected_option": option("1", "Engineering")}),
    );
    set(
        &mut values,
        6,
        json!({"type": "checkboxes", "selected_options": [option("1", "Laptop"), option("3", "Badge")]}),
    );
    set(
        &mut values,
        7,
        json!({"type": "multi_users_select", "selected_users": [BOB]}),
    );
    set(
        &mut values,
        8,
        json!({"type": "email_text_input", "value": "ada@example.org"}),
    );
    set(
        &mut values,
        9,
        json!({"type": "plain_text_input", "value": "North\n3"}),
    );
    values
}

#[tokio::test]
async fn project_from_a_template_shows_its_kick_off_fields_and_launches_it_once() {
    let app = spawn_app().await;
    app.tallyfy.add_template(employee_onboarding());
    app.tallyfy.add_template(plain_template(
        "0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d",
        "Customer onboarding",
    ));
    let view = open(&app, "from Employee onboarding").await;

    assert_eq!(view.view["callback_id"], "template_launch");
    let name = block_of(&view, "run_name")["element"]["initial_value"].clone();
    assert!(
        name.as_str().unwrap().starts_with("Employee onboarding - "),
        "the name takes Tallyfy's format: {name}"
    );
    let element = |n: usize| block_of(&view, &format!("kf.{}", field(n)));
    assert_eq!(element(1)["label"]["text"], "New hire's name");
    assert_eq!(
        element(1)["optional"],
        false,
        "required where Tallyfy requires it"
    );
    assert_eq!(element(2)["element"]["multiline"], true);
    assert_eq!(element(2)["optional"], true);
    assert_eq!(element(3)["element"]["type"], "datepicker");
    assert_eq!(element(4)["element"]["type"], "radio_buttons");
    assert_eq!(
        element(4)["element"]["options"][2]["text"]["text"],
        "Remote"
    );
    assert_eq!(element(5)["element"]["type"], "static_select");
    assert_eq!(element(6)["element"]["type"], "checkboxes");
    assert_eq!(element(7)["element"]["type"], "multi_users_select");
    assert_eq!(element(8)["element"]["type"], "email_text_input");
    assert!(element(9)["hint"]["text"]
        .as_str()
        .unwrap()
        .contains("Building, Floor"));
    assert_eq!(element(10)["type"], "section", "a file is added in Tallyfy");

    let response = app.interact(&submission(&view, filled_in())).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "", "the form closes");
    let card = announced(&app, Duration::from_secs(10)).await;

    let launches = app.tallyfy.launches();
    assert_eq!(launches.len(), 1, "one launch");
    let body = &launches[0].body;
    assert_eq!(body["checklist_id"], ONBOARDING);
    assert_eq!(body["name"], "Onboarding Ada");
    let prerun = &body["prerun"];
    assert_eq!(prerun[field(1)], "Ada Lovelace");
    assert_eq!(prerun[field(2)], "Likes engines.");
    assert_eq!(prerun[field(3)], "2026-12-01T00:00:00.000Z");
    assert_eq!(prerun[field(4)], "Remote");
    assert_eq!(
        prerun[field(5)],
        json!({"id": 1, "text": "Engineering", "value": null})
    );
    assert_eq!(
        prerun[field(6)],
        json!([{"id": 1, "text": "Laptop", "value": null, "selected": true},
               {"id": 3, "text": "Badge", "value": null, "selected": true}])
    );
    assert_eq!(prerun[field(7)]["users"], json!([1002]));
    assert_eq!(prerun[field(8)], "ada@example.org");
    assert_eq!(prerun[field(9)], json!(["North", "3"]));
    assert!(
        prerun.get("new_hire_name").is_none(),
        "keyed by id, never by alias"
    );

    let run = app
        .tallyfy
        .all_runs()
        .into_iter()
        .map(|(id, _)| id)
        .next()
        .unwrap();
    let kept = app.tallyfy.kept_prerun(&run).unwrap();
    assert_eq!(
        kept.as_object().unwrap().len(),
        9,
        "Tallyfy kept every value: {kept}"
    );
    let link = format!("https://go.tallyfy.test/{ORG}/processes/{run}");
    assert!(card.body().contains(&link), "{}", card.body());
    assert!(
        card.body().contains("Employee onboarding"),
        "{}",
        card.body()
    );
    assert_eq!(announcements(&app), 1);
}

#[tokio::test]
async fn several_matching_templates_offer_a_picker_and_the_one_chosen_shows_its_form() {
    let app = spawn_app().await;
    app.tallyfy.add_template(employee_onboarding());
    app.tallyfy.add_template(plain_template(
        "0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e",
        "Employee offboarding",
    ));
    let view = open(&app, "from employee").await;
    assert_eq!(view.view["callback_id"], "template_pick");
    let menu = block_of(&view, "template")["elements"][0].clone();
    let titles: Vec<&str> = menu["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles.contains(&"Employee onboarding") && titles.contains(&"Employee offboarding"));

    let response = app.interact(&chosen(&view, ONBOARDING)).await;
    assert_eq!(response.status(), 200);
    let updated = eventually("the picker to become the kick-off form", || {
        app.slack
            .opened_view(&view.trigger_id)
            .filter(|v| v.updates == 1)
    })
    .await;
    assert_eq!(updated.view["callback_id"], "template_launch");
    assert_eq!(
        block_of(&updated, &format!("kf.{}", field(1)))["optional"],
        false
    );
}

/// A `block_actions` payload: the template `id` chosen in the menu of the open `view`.
fn chosen(view: &OpenView, id: &str) -> Value {
    let mut sent = view.view.clone();
    sent["id"] = json!(view.id);
    sent["hash"] = json!(view.hash);
    sent["team_id"] = json!(TEAM);
    sent["state"] = json!({"values": {}});
    json!({
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "test"},
        "user": {"id": REQUESTER, "username": "rita", "team_id": TEAM},
        "api_app_id": "A0TEST",
        "container": {"type": "view", "view_id": view.id},
        "trigger_id": "1.2.3",
        "view": sent,
        "actions": [{"type": "static_select", "action_id": "template_pick", "block_id": "template",
                      "selected_option": {"text": {"type": "plain_text", "text": "Employee onboarding"}, "value": id},
                      "action_ts": "1700000001.000001"}]
    })
}

#[tokio::test]
async fn a_name_no_template_matches_is_said_plainly() {
    let app = spawn_app().await;
    app.tallyfy.add_template(employee_onboarding());
    let (response, trigger) = app.command("/project", "from Quarterly audit").await;
    assert_eq!(response.status(), 200);
    let (_, answer) = first_reply(&app, "the answer that no template matched").await;
    assert!(
        answer.text().contains("No template") && answer.text().contains("Quarterly audit"),
        "{}",
        answer.text()
    );
    assert!(app.slack.opened_view(&trigger).is_none(), "no form opened");
}

#[tokio::test]
async fn the_new_project_form_searches_templates_as_one_types_and_becomes_the_chosen_ones() {
    let app = spawn_app().await;
    app.tallyfy.add_template(employee_onboarding());
    app.tallyfy.add_template(plain_template(
        "0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d",
        "Customer onboarding",
    ));
    app.tallyfy.add_template(plain_template(
        "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
        "Vendor review",
    ));
    let view = open(&app, "Onboard Globex").await;
    let menu = block_of(&view, "template")["elements"][0].clone();
    assert_eq!(menu["type"], "external_select");
    assert_eq!(menu["action_id"], "template_pick");

    // Slack asks for the options as the person types (block_suggestion).
    let asked = json!({
        "type": "block_suggestion", "team": {"id": TEAM, "domain": "test"},
        "user": {"id": REQUESTER, "name": "rita", "team_id": TEAM}, "api_app_id": "A0TEST",
        "container": {"type": "view", "view_id": view.id}, "action_id": "template_pick",
        "block_id": "template", "value": "onbo", "view": view.view
    });
    let response = app.interact(&asked).await;
    assert_eq!(response.status(), 200);
    let options: Value = response.json().await.unwrap();
    let offered: Vec<(&str, &str)> = options["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["text"]["text"].as_str().unwrap(),
                o["value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(offered.len(), 2, "{offered:?}");
    assert!(offered.contains(&("Employee onboarding", ONBOARDING)));

    app.interact(&chosen(&view, ONBOARDING)).await;
    let updated = eventually("the form to become the template's", || {
        app.slack
            .opened_view(&view.trigger_id)
            .filter(|v| v.updates == 1)
    })
    .await;
    assert_eq!(updated.view["callback_id"], "template_launch");
    let response = app.interact(&submission(&updated, filled_in())).await;
    assert_eq!(response.text().await.unwrap(), "");
    announced(&app, Duration::from_secs(10)).await;
    assert_eq!(app.tallyfy.launches().len(), 1);
}

#[tokio::test]
async fn a_required_kick_off_field_left_empty_is_named_on_the_form_and_nothing_launches() {
    let app = spawn_app().await;
    app.tallyfy.add_template(employee_onboarding());
    let view = open(&app, "from Employee onboarding").await;
    let mut values = filled_in();
    values
        .as_object_mut()
        .unwrap()
        .remove(&format!("kf.{}", field(1)));
    values[format!("kf.{}", field(9))]["value"]["value"] = json!("North");
    let response = app.interact(&submission(&view, values)).await;
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["response_action"], "errors");
    let errors = &answer["errors"];
    assert!(
        errors[format!("kf.{}", field(1))]
            .as_str()
            .unwrap()
            .contains("New hire's name"),
        "{errors}"
    );
    assert!(
        errors[format!("kf.{}", field(9))]
            .as_str()
            .unwrap()
            .contains("2 columns"),
        "{errors}"
    );
    assert!(app.tallyfy.launches().is_empty());
}

// The stand-in against what Tallyfy documents.

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(
            method,
            format!("{}/organizations/{ORG}/{path}", app.tallyfy.api_url()),
        )
        .bearer_auth(TOKEN)
        .header("X-Tallyfy-Client", "APIClient")
        .header("Accept", "application/json");
    if let Some(body) = body {
        req = req.json(body);
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/tallyfy/documentation/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn the_stand_in_lists_and_reads_templates_in_the_documented_shapes() {
    let app = spawn_app().await;
    app.tallyfy.add_template(employee_onboarding());
    let (status, listed) = call(&app, reqwest::Method::GET, "checklists?q=EMPLOYEE", None).await;
    assert_eq!(status, 200);
    let documented = fixture("list-templates.json");
    assert_eq!(
        keys(&listed["meta"]["pagination"]),
        keys(&documented["meta"]["pagination"])
    );
    assert_eq!(listed["data"][0]["title"], "Employee onboarding");
    assert!(
        listed["data"][0].get("prerun").is_none(),
        "a list leaves out kick-off fields"
    );

    let (status, got) = call(
        &app,
        reqwest::Method::GET,
        &format!("checklists/{ONBOARDING}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let documented = fixture("get-template.json");
    let field_keys = keys(&documented["data"]["prerun"][0]);
    for field in got["data"]["prerun"].as_array().unwrap() {
        for key in &field_keys {
            assert!(field.get(key).is_some(), "{key} missing from {field}");
        }
        assert_eq!(field["id"].as_str().unwrap().len(), 32, "a timeline id");
    }
    assert!(
        got["data"].get("steps").is_none(),
        "steps only with with=steps"
    );
    let (status, _) = call(
        &app,
        reqwest::Method::GET,
        "checklists/ffffffffffffffffffffffffffffffff",
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_stand_in_launches_the_documented_body_and_refuses_what_tallyfy_refuses() {
    let app = spawn_app().await;
    // A template whose kick-off fields carry the ids the documentation's sample uses.
    let body = fixture("launch-process-prerun.json");
    let option = |id: u64, text: &str| json!({"id": id, "text": text});
    let kick_off = |id: &str, field_type: &str, options: Value| {
        json!({"id": id, "alias": format!("alias_{id}"), "label": id, "field_type": field_type,
               "required": id == "field_id_abc", "options": options})
    };
    let mut table = kick_off("field_id_stu", "table", json!([]));
    table["columns"] = json!([{"id": 1, "label": "Item"}, {"id": 2, "label": "Qty"}]);
    app.tallyfy.add_template(json!({
        "id": "TEMPLATE_ID_TO_LAUNCH", "title": "Documented", "steps": [],
        "prerun": [
            kick_off("field_id_abc", "text", json!([])),
            kick_off("field_id_def", "date", json!([])),
            kick_off("field_id_ghi", "radio", json!([option(1, "Selected Option Value")])),
            kick_off("field_id_jkl", "dropdown", json!([option(2, "Option Text")])),
            kick_off("field_id_mno", "multiselect", json!([option(1, "Option 1")])),
            table,
            kick_off("field_id_vwx", "assignees_form", json!([])),
        ]
    }));
    let (status, launched) = call(&app, reqwest::Method::POST, "runs", Some(&body)).await;
    assert_eq!(status, 201, "{launched}");
    let run = launched["data"]["id"].as_str().unwrap();
    assert_eq!(launched["data"]["name"], "Process Launched via JS");
    assert_eq!(app.tallyfy.kept_prerun(run).unwrap(), body["prerun"]);

    // An alias matches nothing and is dropped; a required field left out is refused.
    let mut by_alias = body.clone();
    by_alias["prerun"] = json!({"alias_field_id_abc": "Your text value"});
    let (status, refused) = call(&app, reqwest::Method::POST, "runs", Some(&by_alias)).await;
    assert_eq!(status, 422);
    assert_eq!(refused["message"], "field_id_abc is required");
    // A dropdown sent as bare text, a table with the wrong number of cells.
    for (field, wrong) in [
        ("field_id_jkl", json!("Option Text")),
        ("field_id_stu", json!(["Widget"])),
    ] {
        let mut bad = body.clone();
        bad["prerun"][field] = wrong;
        let (status, _) = call(&app, reqwest::Method::POST, "runs", Some(&bad)).await;
        assert_eq!(status, 422, "{field}");
    }
    let (status, _) = call(
        &app,
        reqwest::Method::POST,
        "runs",
        Some(&json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, 422, "checklist_id is required");
}

/// Launches "Employee onboarding" through `/project from`, and waits for its card.
async fn launch_onboarding(app: &TestApp) -> Value {
    app.tallyfy.add_template(employee_onboarding());
    let view = open(app, "from Employee onboarding").await;
    let response = app.interact(&submission(&view, filled_in())).await;
    assert_eq!(response.text().await.unwrap(), "", "the form closes");
    crate::visibility::card(app).await
}

/// An app with a public URL (Tallyfy's webhooks reach it) that reads what no webhook
/// tells of every second.
async fn reading_app() -> TestApp {
    crate::visibility::app_with_public_url_and(|env| {
        env.insert("TALLYFY_POLL_SECS".into(), "1".into());
    })
    .await
}

#[tokio::test]
async fn a_launched_runs_progress_is_told_in_its_thread_even_where_webhooks_are_used() {
    // Tallyfy's webhooks reach the app, but a template's own steps carry none of the
    // app's, so the run is read instead.
    let app = reading_app().await;
    let card = launch_onboarding(&app).await;
    app.tallyfy
        .complete_and_tell("Prepare the desk", 1001, true)
        .await;
    let thread = eventually_within(Duration::from_secs(10), "1 of 3 done, and told", || {
        let thread = crate::visibility::replies(&app, &card);
        let now = crate::visibility::card_now(&app, &card);
        (now.contains("1 of 3 done") && !thread.is_empty()).then_some(thread)
    })
    .await;
    assert!(
        thread[0].contains("Alice Example completed *Prepare the desk*"),
        "{thread:?}"
    );
}

#[tokio::test]
async fn a_launch_whose_answer_was_lost_is_found_in_tallyfy_not_launched_again() {
    let app = spawn_app().await;
    // Tallyfy launches the run, but its answer is lost on the way (a proxy's 502).
    app.tallyfy
        .fault_next_launch(crate::fake_tallyfy::Fault::CommitThenFail(502));
    let card = launch_onboarding(&app).await;
    let runs = app.tallyfy.all_runs();
    assert_eq!(runs.len(), 1, "one run in Tallyfy");
    assert_eq!(
        app.tallyfy.launches().len(),
        1,
        "launched once, then looked for"
    );
    let looked = app
        .tallyfy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/runs"))
        .count();
    assert!(looked >= 1, "the lost launch was looked for by its name");
    let link = format!("https://go.tallyfy.test/{ORG}/processes/{}", runs[0].0);
    assert!(card.to_string().contains(&link), "{card}");
    assert_eq!(announcements(&app), 1);
}

#[tokio::test]
async fn a_launched_runs_tasks_can_be_marked_done_from_its_card_by_their_assignees() {
    let app = reading_app().await;
    let card = launch_onboarding(&app).await;
    let desk = crate::card_actions::line_option(&card, "Prepare the desk");
    crate::card_actions::line_option(&card, "First-day welcome");
    let task = app.tallyfy.task_id_titled("Prepare the desk").unwrap();
    // In Tallyfy the step is Alice's.
    app.tallyfy.set_owners(&task, &[1001], &[]);

    let choose = crate::card_actions::choose_as;
    choose(&app, &card, BOB, "line_done", &desk, "bob-line").await;
    let answer = crate::visibility::answer_on(&app, "bob-line").await;
    assert!(answer.contains("Only the task's assignees"), "{answer}");
    assert!(app.tallyfy.completions().is_empty());

    choose(&app, &card, ALICE, "line_done", &desk, "alice-line").await;
    let answer = crate::visibility::answer_on(&app, "alice-line").await;
    assert_eq!(answer, "Marked done in Tallyfy.");
    assert_eq!(app.tallyfy.completions(), vec![task]);
    // The completion is read from Tallyfy on the next round, and shown on the card.
    eventually_within(Duration::from_secs(5), "1 of 3 done", || {
        crate::visibility::card_now(&app, &card)
            .contains("1 of 3 done")
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn someone_without_a_tallyfy_account_in_an_assignee_field_is_named_on_the_form() {
    let app = spawn_app().await;
    app.tallyfy.add_template(employee_onboarding());
    let view = open(&app, "from Employee onboarding").await;
    let mut values = filled_in();
    values[format!("kf.{}", field(7))]["value"]["selected_users"] = json!([CAROL]);
    let response = app.interact(&submission(&view, values)).await;
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["response_action"], "errors", "{answer}");
    let error = answer["errors"][format!("kf.{}", field(7))]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("Tallyfy"), "{answer}");
    assert!(app.tallyfy.launches().is_empty(), "nothing launched");
}
