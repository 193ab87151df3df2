//! With client credentials (and no access or refresh token), Tallyfy sees each person, not
//! one integration account: what someone asks for is created with a token minted for
//! them, a press is sent with the presser's token, and Tallyfy decides who may do what.

use std::time::Duration;

use serde_json::Value;

use crate::fake_tallyfy::{Acting, CLIENT_ID, CLIENT_SECRET};
use crate::helpers::*;
use crate::visibility::{answer_on, app_with_public_url_and, card, mark_done_key, press_as};

/// The app configured with client credentials only, its webhooks reaching it.
async fn app_acting_as_people() -> TestApp {
    app_with_public_url_and(|env| {
        env.remove("TALLYFY_ACCESS_TOKEN");
        env.insert("TALLYFY_CLIENT_ID".into(), CLIENT_ID.into());
        env.insert("TALLYFY_CLIENT_SECRET".into(), CLIENT_SECRET.into());
    })
    .await
}

/// The one task titled `title` in the stand-in, as Tallyfy holds it.
fn task_titled(app: &TestApp, title: &str) -> Value {
    app.tallyfy
        .all_runs()
        .into_iter()
        .flat_map(|(_, tasks)| tasks)
        .find(|t| t["title"] == title)
        .unwrap_or_else(|| panic!("no task {title:?}"))
}

/// Who the creation of `title` was sent as.
fn created_as(app: &TestApp, title: &str) -> Acting {
    app.tallyfy
        .creates()
        .into_iter()
        .find(|r| r.body["title"] == title)
        .map(|r| r.acting)
        .expect("a create")
}

async fn create_task(app: &TestApp, values: TaskValues) -> Value {
    let view = app.open_task_modal("").await;
    assert_eq!(app.submit_task(&view, &values).await.status(), 200);
    card(app).await
}

#[tokio::test]
async fn a_task_is_owned_by_who_asked_and_completed_by_who_pressed() {
    let app = app_acting_as_people().await;
    let card = create_task(&app, TaskValues::new("Order the chairs", &[BOB])).await;
    assert_eq!(
        created_as(&app, "Order the chairs"),
        Acting::Member(1000),
        "made with a token minted for the requester"
    );
    assert_eq!(task_titled(&app, "Order the chairs")["starter_id"], 1000);

    press_as(&app, BOB, "task_done", &mark_done_key(&card), "bob-done").await;
    assert_eq!(answer_on(&app, "bob-done").await, "Marked done in Tallyfy.");
    let done = task_titled(&app, "Order the chairs");
    assert_eq!(done["status"], "completed");
    assert_eq!(
        done["completer_id"], 1002,
        "Tallyfy records Bob as its completer"
    );
    let completion = app
        .tallyfy
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/completed-tasks"))
        .expect("a completion");
    assert_eq!(completion.acting, Acting::Member(1002));
    // The service's own calls (reading a task before acting on it aside) carry the
    // application's token: it was granted once.
    assert_eq!(app.tallyfy.app_grants(), 1);
    assert!(
        app.tallyfy
            .requests()
            .iter()
            .all(|r| r.acting != Acting::Integration && r.acting != Acting::Unknown),
        "no call went without a token the stand-in gave out"
    );
}

#[tokio::test]
async fn only_the_assignees_complete_a_task_that_says_so_and_others_are_told_why() {
    let app = app_acting_as_people().await;
    let mut values = TaskValues::new("Sign the lease", &[BOB]);
    values.options.flags = vec!["can_complete_only_assignees"];
    let card = create_task(&app, values).await;
    let key = mark_done_key(&card);

    press_as(&app, ALICE, "task_done", &key, "alice-done").await;
    let told = answer_on(&app, "alice-done").await;
    assert!(
        told.contains("Only this task's assignees can complete it"),
        "{told}"
    );
    assert_ne!(task_titled(&app, "Sign the lease")["status"], "completed");

    press_as(&app, BOB, "task_done", &key, "bob-done").await;
    assert_eq!(answer_on(&app, "bob-done").await, "Marked done in Tallyfy.");
    assert_eq!(task_titled(&app, "Sign the lease")["completer_id"], 1002);
}

#[tokio::test]
async fn each_persons_token_is_minted_once_kept_encrypted_and_minted_again_after_a_401() {
    let app = app_acting_as_people().await;
    for i in 0..20 {
        let view = app.open_task_modal("").await;
        let values = TaskValues::new(&format!("Chore {i}"), &[ALICE]);
        assert_eq!(app.submit_task(&view, &values).await.status(), 200);
    }
    eventually_within(Duration::from_secs(30), "twenty tasks", || {
        (app.tallyfy.tasks_created() == 20).then_some(())
    })
    .await;
    assert_eq!(
        app.tallyfy.mints_for("rita@example.com"),
        1,
        "one mint for 20 tasks"
    );

    // Kept in Redis, sealed: the token is not there in the clear.
    let mut redis = shared_conn().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:tallyfy:person:*", app.prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    let kept: Vec<String> = keys
        .iter()
        .filter(|k| !k.ends_with(":lock"))
        .cloned()
        .collect();
    assert_eq!(kept.len(), 1, "{keys:?}");
    let raw: String = redis::cmd("GET")
        .arg(&kept[0])
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        !raw.contains("tallyfy-member-"),
        "stored in the clear: {raw}"
    );
    assert!(
        !kept[0].contains("rita"),
        "the key names the person: {}",
        kept[0]
    );

    // A restarted replica reuses it.
    let app = app.restart().await;
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("After a restart", &[ALICE]))
        .await;
    eventually("the task after a restart", || {
        (app.tallyfy.tasks_titled("After a restart") == 1).then_some(())
    })
    .await;
    assert_eq!(app.tallyfy.mints_for("rita@example.com"), 1);

    // Tallyfy stops taking it: a new one is minted and the work goes on.
    app.tallyfy.revoke_member_tokens();
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("After a 401", &[ALICE]))
        .await;
    eventually("the task after a 401", || {
        (app.tallyfy.tasks_titled("After a 401") == 1).then_some(())
    })
    .await;
    assert_eq!(app.tallyfy.mints_for("rita@example.com"), 2);
    assert_eq!(created_as(&app, "After a 401"), Acting::Member(1000));
}

#[tokio::test]
async fn someone_tallyfy_has_no_member_for_is_told_plainly_and_nothing_is_made() {
    let app = app_acting_as_people().await;
    let view = app.open_task_modal("").await;
    let metadata = view.view["private_metadata"].as_str().unwrap_or_default();
    let mut payload = submission(
        &view.id,
        &view.hash,
        metadata,
        &TaskValues::new("From Carol", &[ALICE]),
    );
    payload["user"]["id"] = CAROL.into();
    assert_eq!(app.interact(&payload).await.status(), 200);
    let (_, notice) = first_reply(&app, "the notice").await;
    assert!(
        notice
            .text()
            .contains("You don't have a Tallyfy account in this organization"),
        "{}",
        notice.text()
    );
    app.idle().await;
    assert_eq!(app.tallyfy.tasks_titled("From Carol"), 0);
}

#[tokio::test]
async fn a_project_is_owned_by_who_asked_and_a_comment_is_its_writers_own() {
    let app = app_acting_as_people().await;
    let values = ProjectValues::new("Move offices", &[ALICE], "Book the van\nPack the desks");
    let view = app.open_project_modal(&values.name).await;
    assert_eq!(app.submit_project(&view, &values).await.status(), 200);
    let card = card(&app).await;
    eventually("the project's lines", || {
        (app.tallyfy.tasks_titled("Pack the desks") == 1).then_some(())
    })
    .await;
    let creates = app.tallyfy.creates();
    assert!(creates.len() >= 3, "{}", creates.len());
    assert!(
        creates.iter().all(|r| r.acting == Acting::Member(1000)),
        "the run and its lines are made as the requester: {:?}",
        creates.iter().map(|r| &r.acting).collect::<Vec<_>>()
    );
    let book = task_titled(&app, "Book the van");
    assert_eq!(book["starter_id"], 1000);

    // A comment made from a one-off task's card is Bob's own in Tallyfy, unsigned.
    let task_card = {
        let view = app.open_task_modal("").await;
        app.submit_task(&view, &TaskValues::new("Label the boxes", &[BOB]))
            .await;
        eventually("the task's card", || {
            app.slack.posted().into_iter().find(|m| {
                m["ts"] != card["ts"]
                    && m["thread_ts"].is_null()
                    && m["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("Label the boxes"))
            })
        })
        .await
    };
    let key = mark_done_key(&task_card);
    let form = crate::card_actions::open_comment(&app, &task_card, &key, BOB).await;
    let sent = crate::card_actions::comment_submission(&form, BOB, "Twenty boxes are labelled");
    assert_eq!(app.interact(&sent).await.status(), 200);
    let task = task_titled(&app, "Label the boxes");
    let id = task["id"].as_str().unwrap().to_string();
    let comment = eventually("the comment in Tallyfy", || {
        app.tallyfy.comments(&id).into_iter().next()
    })
    .await;
    assert_eq!(comment["author"]["id"], 1002, "{comment}");
    let content = comment["content"].as_str().unwrap();
    assert!(
        content.starts_with("Twenty boxes are labelled"),
        "{content}"
    );
    assert!(
        !content.contains("bob,"),
        "no signature typed in: {content}"
    );
}

#[tokio::test]
async fn the_home_tab_reads_a_persons_tasks_from_tallyfy_with_their_own_token() {
    let app = app_acting_as_people().await;
    let deadline = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(30)).to_string();
    app.tallyfy
        .assign_in_tallyfy("Renew the insurance", &[1002], &deadline);
    let home = crate::alerts::open_home(&app, BOB, "Ev-home-bob").await;
    let home = eventually("Bob's task on his Home tab", || {
        let now = app.slack.home_view(BOB).unwrap_or(home.clone());
        now.to_string()
            .contains("Renew the insurance")
            .then_some(now)
    })
    .await;
    assert!(home.to_string().contains("Renew the insurance"));
    let read = app
        .tallyfy
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "GET" && r.path.ends_with("/tasks") && r.query.contains_key("owners")
        })
        .map(|r| r.acting)
        .collect::<Vec<_>>();
    assert_eq!(read, vec![Acting::Member(1002)], "read as Bob");
}

/// A documented sample, from `tests/fixtures/tallyfy/documentation/`.
fn documented(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/tallyfy/documentation/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The same keys, and the same `token_type` and `expires_in`, as the documented answer.
fn answers_as_documented(got: &Value, documented: &Value) {
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(got), keys(documented), "{got}");
    assert_eq!(got["token_type"], documented["token_type"]);
    assert_eq!(got["expires_in"], documented["expires_in"]);
}

#[tokio::test]
async fn the_stand_ins_token_endpoints_answer_as_tallyfy_documents_them() {
    let tallyfy = crate::fake_tallyfy::FakeTallyfy::start().await;
    tallyfy.add_member(1001, "alice@example.com", "Alice", "active");
    tallyfy_slack::tls::init();
    let http = reqwest::Client::new();
    let granted: Value = http
        .post(format!("{}/oauth/token", tallyfy.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", "*"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answers_as_documented(&granted, &documented("client-credentials-token.json"));
    let app_token = granted["access_token"].as_str().unwrap();

    let mint = |email: &str, token: &str| {
        http.post(format!(
            "{}/applications/{}/users/{email}/token",
            tallyfy.api_url(),
            crate::fake_tallyfy::ORG
        ))
        .bearer_auth(token)
        .header("X-Tallyfy-Client", "APIClient")
        .header("Accept", "application/json")
        .send()
    };
    let minted = mint("alice@example.com", app_token).await.unwrap();
    assert_eq!(minted.status(), 200);
    let minted: Value = minted.json().await.unwrap();
    answers_as_documented(&minted, &documented("member-token.json"));
    // "The user must already exist in your organization"; only the application's token mints.
    assert_eq!(
        mint("nobody@example.com", app_token)
            .await
            .unwrap()
            .status(),
        404
    );
    let member_token = minted["access_token"].as_str().unwrap();
    assert_eq!(
        mint("alice@example.com", member_token)
            .await
            .unwrap()
            .status(),
        403
    );
}
