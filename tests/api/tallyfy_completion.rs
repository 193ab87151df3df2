//! The stand-in Tallyfy completes and fills tasks as Tallyfy documents it (the rules and
//! their sources are in `stand-ins/src/tallyfy/completion.rs`): an approval only with
//! `is_approved`, a task with required form fields only once they are filled through
//! `PUT .../tasks/{task}` with `taskdata`, read back as the documentation's get-task sample
//! shows them.

use serde_json::{json, Value};

use crate::fake_tallyfy::{FakeTallyfy, ORG, TOKEN};

fn client() -> reqwest::Client {
    tallyfy_slack::tls::init();
    reqwest::Client::new()
}

async fn call(
    fake: &FakeTallyfy,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}/organizations/{}/{path}", fake.api_url(), ORG);
    let mut req = client()
        .request(method, url)
        .bearer_auth(TOKEN)
        .header("X-Tallyfy-Client", "APIClient")
        .header("Accept", "application/json");
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn task_of_type(fake: &FakeTallyfy, task_type: &str) -> String {
    fake.add_member(1001, "alice@example.com", "Alice", "active");
    let body = json!({"title": "Sign", "task_type": task_type, "owners": {"users": [1001]},
                      "deadline": "2099-01-01 10:00:00"});
    let (status, made) = call(fake, reqwest::Method::POST, "tasks", Some(body)).await;
    assert_eq!(status, 201, "{made}");
    made["data"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_approval_is_completed_only_with_a_decision() {
    let fake = FakeTallyfy::start().await;
    let id = task_of_type(&fake, "approval").await;
    let (status, body) = call(
        &fake,
        reqwest::Method::POST,
        "completed-tasks",
        Some(json!({"task_id": id})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"]["is_approved"][0],
        "The is approved field is required."
    );
    let decided = json!({"task_id": id, "is_approved": true});
    let (status, _) = call(
        &fake,
        reqwest::Method::POST,
        "completed-tasks",
        Some(decided),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(fake.task(&id).unwrap()["status"], "completed");
}

#[tokio::test]
async fn a_required_field_is_filled_as_documented_before_the_task_completes() {
    let fake = FakeTallyfy::start().await;
    let id = task_of_type(&fake, "task").await;
    let region = fake.add_form_field(
        &id,
        json!({"label": "Region", "field_type": "dropdown", "required": true,
               "options": ["EMEA", "APAC"]}),
    );
    let complete = json!({"task_id": id});
    let (status, body) = call(
        &fake,
        reqwest::Method::POST,
        "completed-tasks",
        Some(complete.clone()),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["errors"][format!("taskdata.{region}")].is_array(),
        "{body}"
    );

    // Read as the documentation's sample shows it.
    let sample: Value = serde_json::from_str(include_str!(
        "../fixtures/tallyfy/get-task-with-form-fields.json"
    ))
    .unwrap();
    let (_, read) = call(
        &fake,
        reqwest::Method::GET,
        &format!("tasks/{id}?with=form_fields"),
        None,
    )
    .await;
    for key in sample["data"]["form_fields"]["data"][0]
        .as_object()
        .unwrap()
        .keys()
    {
        assert!(
            read["data"]["form_fields"]["data"][0].get(key).is_some(),
            "{key} in {read}"
        );
    }
    assert_eq!(
        read["data"]["form_fields"]["data"][0]["options"][1],
        json!({"id": 2, "text": "APAC"})
    );
    let (_, plain) = call(&fake, reqwest::Method::GET, &format!("tasks/{id}"), None).await;
    assert!(plain["data"].get("form_fields").is_none());

    // A one-off task's update carries its title, deadline and owners.
    let path = format!("tasks/{id}");
    let bare = json!({"taskdata": {region.clone(): {"id": 2, "text": "APAC"}}});
    let (status, _) = call(&fake, reqwest::Method::PUT, &path, Some(bare)).await;
    assert_eq!(status, 422);
    let wrong = json!({"title": "Sign", "deadline": "2099-01-01T10:00:00Z",
                       "owners": {"users": [1001], "guests": [], "groups": []},
                       "taskdata": {region.clone(): "APAC"}});
    let (status, body) = call(&fake, reqwest::Method::PUT, &path, Some(wrong)).await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"][format!("taskdata.{region}")][0],
        "Invalid dropdown choice selected."
    );
    let right = json!({"title": "Sign", "deadline": "2099-01-01T10:00:00Z",
                       "owners": {"users": [1001], "guests": [], "groups": []},
                       "taskdata": {region.clone(): {"id": 2, "text": "APAC"}}});
    let (status, _) = call(&fake, reqwest::Method::PUT, &path, Some(right)).await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &fake,
        reqwest::Method::POST,
        "completed-tasks",
        Some(complete),
    )
    .await;
    assert_eq!(status, 201);
}
