use super::*;

fn template() -> Template {
    let options = |texts: &[&str]| -> Value {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"id": i + 1, "text": t}))
            .collect()
    };
    serde_json::from_value(json!({
        "id": "c15bf2be31c3a7fbded5d13fce7aaab9", "title": "Employee onboarding",
        "prerun": [
            {"id": "f1", "alias": "name", "label": "New hire", "field_type": "text", "required": true},
            {"id": "f2", "alias": "start", "label": "Start", "field_type": "date", "required": true},
            {"id": "f3", "alias": "office", "label": "Office", "field_type": "radio", "required": false,
             "options": options(&["London", "Remote"])},
            {"id": "f4", "alias": "dept", "label": "Department", "field_type": "dropdown", "required": false,
             "options": options(&["Engineering", "Sales"])},
            {"id": "f5", "alias": "kit", "label": "Kit", "field_type": "multiselect", "required": false,
             "options": options(&["Laptop", "Phone", "Badge"])},
            {"id": "f6", "alias": "desk", "label": "Desk", "field_type": "table", "required": false,
             "columns": [{"id": 1, "label": "Building"}, {"id": 2, "label": "Floor"}]},
            {"id": "f7", "alias": "buddy", "label": "Buddy", "field_type": "assignees_form", "required": false},
            {"id": "f8", "alias": "contract", "label": "Contract", "field_type": "file", "required": false}
        ]
    }))
    .unwrap()
}

fn now() -> Zoned {
    "2026-11-25T10:00:00-05:00[America/New_York]"
        .parse()
        .unwrap()
}

#[test]
fn each_field_type_gets_the_element_that_fits_it() {
    let view = serde_json::to_value(view(&template(), &Metadata::default(), &now())).unwrap();
    let blocks = view["blocks"].as_array().unwrap();
    let of = |id: &str| blocks.iter().find(|b| b["block_id"] == id).unwrap().clone();
    assert_eq!(
        of(NAME)["element"]["initial_value"],
        "Employee onboarding - 2026-11-25"
    );
    assert_eq!(of("kf.f1")["element"]["type"], "plain_text_input");
    assert_eq!(of("kf.f1")["optional"], false);
    assert_eq!(of("kf.f2")["element"]["type"], "datepicker");
    assert_eq!(of("kf.f3")["element"]["type"], "radio_buttons");
    assert_eq!(of("kf.f3")["optional"], true);
    assert_eq!(of("kf.f4")["element"]["type"], "static_select");
    assert_eq!(of("kf.f5")["element"]["type"], "checkboxes");
    assert_eq!(
        of("kf.f6")["hint"]["text"],
        "One line per column: Building, Floor."
    );
    assert_eq!(of("kf.f7")["element"]["type"], "multi_users_select");
    assert_eq!(of("kf.f8")["type"], "section");
    let metadata = FormMetadata::decode(view["private_metadata"].as_str().unwrap());
    assert_eq!(metadata.template, "c15bf2be31c3a7fbded5d13fce7aaab9");
}

#[test]
fn answers_take_the_shapes_tallyfy_documents_keyed_by_field_id() {
    let state: ViewState = serde_json::from_value(json!({"values": {
        "run_name": {"value": {"type": "plain_text_input", "value": " Onboard Ada "}},
        "kf.f1": {"value": {"type": "plain_text_input", "value": "Ada"}},
        "kf.f2": {"value": {"type": "datepicker", "selected_date": "2026-12-01"}},
        "kf.f3": {"value": {"type": "radio_buttons", "selected_option": {"value": "2", "text": {"type": "plain_text", "text": "Remote"}}}},
        "kf.f4": {"value": {"type": "static_select", "selected_option": {"value": "1", "text": {"type": "plain_text", "text": "Engineering"}}}},
        "kf.f5": {"value": {"type": "checkboxes", "selected_options": [{"value": "1"}, {"value": "3"}]}},
        "kf.f6": {"value": {"type": "plain_text_input", "value": "North\n3"}},
        "kf.f7": {"value": {"type": "multi_users_select", "selected_users": ["UBOB"]}}
    }}))
    .unwrap();
    let answers = read(&state, &template()).unwrap();
    assert_eq!(answers.name, "Onboard Ada");
    assert_eq!(
        Value::Object(answers.prerun),
        json!({
            "f1": "Ada",
            "f2": "2026-12-01T00:00:00.000Z",
            "f3": "Remote",
            "f4": {"id": 1, "text": "Engineering", "value": null},
            "f5": [{"id": 1, "text": "Laptop", "value": null, "selected": true},
                   {"id": 3, "text": "Badge", "value": null, "selected": true}],
            "f6": ["North", "3"],
        })
    );
    assert_eq!(
        answers.people,
        vec![("f7".to_string(), vec![UserId::from("UBOB")])]
    );
}

#[test]
fn required_fields_and_table_columns_are_checked_on_the_form() {
    let state: ViewState = serde_json::from_value(json!({"values": {
        "run_name": {"value": {"type": "plain_text_input", "value": "Onboard Ada"}},
        "kf.f6": {"value": {"type": "plain_text_input", "value": "North"}}
    }}))
    .unwrap();
    let errors = read(&state, &template()).unwrap_err();
    assert!(errors["kf.f1"].contains("New hire"), "{errors:?}");
    assert!(errors["kf.f2"].contains("Start"), "{errors:?}");
    assert!(errors["kf.f6"].contains("2 columns"), "{errors:?}");
    assert!(!errors.contains_key("kf.f3"));
}
