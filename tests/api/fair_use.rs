//! One person cannot spend the budgets everyone shares: a request names at most 50
//! people, people are looked up a few at a time, and `/project list` reuses progress it
//! read in the last minute instead of asking Tallyfy again for every project.

use std::time::Duration;

use serde_json::Value;

use crate::fake_slack::Person;
use crate::helpers::*;

fn many(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("UMANY{i:03}")).collect()
}

fn add_people(app: &TestApp, ids: &[String]) {
    for id in ids {
        app.slack.add_person(Person {
            id: id.clone(),
            name: id.to_lowercase(),
            email: Some(format!("{}@example.com", id.to_lowercase())),
            tz: "UTC".into(),
            deleted: false,
            is_bot: false,
            is_restricted: false,
            is_ultra_restricted: false,
            team: None,
        });
    }
}

#[tokio::test]
async fn a_task_for_more_than_fifty_people_is_refused_on_the_form_without_lookups() {
    let app = spawn_app().await;
    let people = many(51);
    add_people(&app, &people);
    let ids: Vec<&str> = people.iter().map(String::as_str).collect();
    let view = app.open_task_modal("").await;
    let answer: Value = app
        .submit_task(&view, &TaskValues::new("Everyone", &ids))
        .await
        .json()
        .await
        .unwrap();
    let error = answer["errors"]["assignees"].as_str().unwrap_or_default();
    assert!(
        error.contains("At most 50 people") && error.contains("51"),
        "{answer}"
    );
    assert_eq!(lookups_of(&app, &people), 0, "nobody was looked up");
}

/// `users.info` calls about any of `people`.
fn lookups_of(app: &TestApp, people: &[String]) -> usize {
    app.slack
        .calls("users.info")
        .iter()
        .filter(|c| people.iter().any(|p| c.body["user"] == p.as_str()))
        .count()
}

#[tokio::test]
async fn a_project_whose_lines_name_more_than_fifty_people_is_refused_on_the_form() {
    let app = spawn_app().await;
    let people = many(60);
    add_people(&app, &people);
    let lines: Vec<String> = people
        .chunks(2)
        .map(|pair| format!("Say hello <@{}> <@{}>", pair[0], pair[1]))
        .collect();
    let values = ProjectValues::new("Town hall", &[ALICE], &lines.join("\n"));
    let view = app.open_project_modal(&values.name).await;
    let answer: Value = app
        .submit_project(&view, &values)
        .await
        .json()
        .await
        .unwrap();
    let error = answer["errors"]["tasks"].as_str().unwrap_or_default();
    assert!(
        error.contains("At most 50 people") && error.contains("61"),
        "{answer}"
    );
    assert_eq!(lookups_of(&app, &people), 0, "nobody was looked up");
}

#[tokio::test]
async fn people_are_looked_up_a_few_at_a_time() {
    let app = spawn_app().await;
    let people = many(30);
    add_people(&app, &people);
    app.slack.set_users_info_delay(Duration::from_millis(100));
    let ids: Vec<&str> = people.iter().map(String::as_str).collect();
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Big team", &ids))
        .await;
    app.idle().await;
    assert!(app.slack.calls("users.info").len() >= 30);
    let most = app.slack.users_info_at_once();
    assert!((2..=8).contains(&most), "{most} lookups at once");
}

#[tokio::test]
async fn the_project_list_reuses_progress_read_in_the_last_minute() {
    let app = spawn_app().await;
    let values = ProjectValues::new("Quarter close", &[ALICE], "Reconcile\nReport");
    let view = app.open_project_modal(&values.name).await;
    app.submit_project(&view, &values).await;
    announced(&app, Duration::from_secs(10)).await;
    for _ in 0..3 {
        let (response, _) = app.command("/project", "list").await;
        let body: Value = response.json().await.unwrap();
        assert!(
            body["text"].as_str().unwrap().contains("0 of 3 tasks done"),
            "{body}"
        );
    }
    let reads = app
        .tallyfy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/runs/") && !r.path.ends_with("/tasks"))
        .count();
    assert_eq!(reads, 1, "progress read once a minute");
}
