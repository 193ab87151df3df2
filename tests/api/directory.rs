//! Mapping Slack people to Tallyfy members: cached, batched, deduplicated, self-healing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use tallyfy_slack::config::Config;
use tallyfy_slack::directory::{Assignee, Directory};
use tallyfy_slack::slack::api::SlackApi;
use tallyfy_slack::slack::ids::{TeamId, UserId};
use tallyfy_slack::store::{RedisStore, Reservation, Store, StoreError};
use tallyfy_slack::tallyfy::model::MemberId;
use tallyfy_slack::tallyfy::TallyfyClient;
use tallyfy_slack::telemetry::Metrics;

use crate::fake_slack::{self, FakeSlack, Person};
use crate::fake_tallyfy::{self, FakeTallyfy};
use crate::helpers::*;

/// A store that counts the calls made to it.
struct CountingStore {
    inner: Arc<dyn Store>,
    calls: Mutex<HashMap<&'static str, usize>>,
}

impl CountingStore {
    fn count(&self, what: &'static str) {
        *self.calls.lock().unwrap().entry(what).or_default() += 1;
    }
    fn take(&self) -> HashMap<&'static str, usize> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.count("get");
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        self.count("get_many");
        self.inner.get_many(keys).await
    }
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        self.count("set");
        self.inner.set(key, value, ttl).await
    }
    async fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.count("set_if_absent");
        self.inner.set_if_absent(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.count("delete");
        self.inner.delete(key).await
    }
    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.count("expire");
        self.inner.expire(key, ttl).await
    }
    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, StoreError> {
        self.count("incr");
        self.inner.incr(key, ttl).await
    }
    async fn push_recent(
        &self,
        key: &str,
        value: &str,
        keep: usize,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.count("push_recent");
        self.inner.push_recent(key, value, keep, ttl).await
    }
    async fn recent(&self, key: &str) -> Result<Vec<String>, StoreError> {
        self.count("recent");
        self.inner.recent(key).await
    }
    async fn reserve(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        within: Duration,
    ) -> Result<Reservation, StoreError> {
        self.count("reserve");
        self.inner.reserve(key, limit, window, within).await
    }
    async fn unbook(&self, key: &str, id: &str) -> Result<(), StoreError> {
        self.inner.unbook(key, id).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    fn kind(&self) -> &'static str {
        "counting"
    }
}

/// A directory over fakes and a real Redis, with its store calls counted.
async fn directory() -> (Directory, Arc<CountingStore>, FakeSlack, FakeTallyfy) {
    let slack = FakeSlack::start().await;
    let tallyfy = FakeTallyfy::start().await;
    for i in 1..=10u64 {
        slack.add_person(Person {
            id: format!("U{i:02}"),
            name: format!("person{i}"),
            email: Some(format!("person{i}@example.com")),
            tz: "UTC".into(),
            deleted: false,
            is_bot: false,
            ..Person::default()
        });
        tallyfy.add_member(
            2000 + i,
            &format!("person{i}@example.com"),
            &format!("Person{i}"),
            "active",
        );
    }
    let env: HashMap<&str, String> = [
        ("SLACK_SIGNING_SECRET", "s".to_string()),
        ("SLACK_BOT_TOKEN", fake_slack::BOT_TOKEN.to_string()),
        ("SLACK_API_URL", slack.api_url()),
        ("TALLYFY_ORG_ID", fake_tallyfy::ORG.to_string()),
        ("TALLYFY_ACCESS_TOKEN", fake_tallyfy::TOKEN.to_string()),
        ("TALLYFY_API_URL", tallyfy.api_url()),
    ]
    .into_iter()
    .collect();
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let metrics = Metrics::default();
    let redis: Arc<dyn Store> = Arc::new(
        RedisStore::connect(
            &shared_redis().target(),
            &unique_prefix(),
            metrics.clone(),
            Default::default(),
        )
        .unwrap(),
    );
    let store = Arc::new(CountingStore {
        inner: redis.clone(),
        calls: Mutex::default(),
    });
    let directory = Directory::new(
        SlackApi::new(&config.slack, metrics.clone()).unwrap(),
        // The rate budget's bookings are not what these tests count.
        TallyfyClient::new(&config.tallyfy, metrics.clone(), redis),
        store.clone(),
        config.directory.clone(),
        metrics,
    );
    (directory, store, slack, tallyfy)
}

fn ten() -> Vec<UserId> {
    (1..=10).map(|i| UserId::new(format!("U{i:02}"))).collect()
}

#[tokio::test]
async fn ten_cached_people_cost_one_store_round_trip_and_no_lookups() {
    let (directory, store, slack, tallyfy) = directory().await;
    let cold = directory
        .resolve_all(&TeamId::from(fake_slack::TEAM), &ten())
        .await
        .unwrap();
    assert_eq!(cold.len(), 10);
    assert_eq!(
        cold[3].assignee,
        Assignee::Member {
            id: MemberId(2004),
            email: "person4@example.com".into(),
            tallyfy_name: Some("Person4 Example".into()),
        }
    );
    assert_eq!(slack.calls("users.info").len(), 10);
    assert_eq!(tallyfy.member_searches().len(), 10);
    store.take();

    let warm = directory
        .resolve_all(&TeamId::from(fake_slack::TEAM), &ten())
        .await
        .unwrap();
    assert_eq!(warm, cold, "the same answer from the cache");
    assert_eq!(
        store.take(),
        HashMap::from([("get_many", 1)]),
        "one MGET for all ten"
    );
    assert_eq!(
        slack.calls("users.info").len(),
        10,
        "no Slack lookups when warm"
    );
    assert_eq!(
        tallyfy.member_searches().len(),
        10,
        "no Tallyfy lookups when warm"
    );
}

#[tokio::test]
async fn concurrent_resolution_of_one_person_makes_one_lookup() {
    let (directory, _, slack, tallyfy) = directory().await;
    slack.set_users_info_delay(Duration::from_millis(300));
    let team = &TeamId::from(fake_slack::TEAM);
    let one = vec![UserId::from("U01")];
    let (a, b, c) = tokio::join!(
        directory.resolve_all(team, &one),
        directory.resolve_all(team, &one),
        directory.whois(team, "U01"),
    );
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(
        c.unwrap().0.assignee,
        Assignee::Member {
            id: MemberId(2001),
            email: "person1@example.com".into(),
            tallyfy_name: Some("Person1 Example".into()),
        }
    );
    assert_eq!(slack.calls("users.info").len(), 1);
    assert_eq!(tallyfy.member_searches().len(), 1);
}

/// Adds people for the directory's edge cases to a running app's fakes.
fn add_edge_people(app: &TestApp) {
    let person = |id: &str, name: &str, email: &str, deleted: bool, is_bot: bool| Person {
        id: id.into(),
        name: name.into(),
        email: Some(email.into()),
        tz: "UTC".into(),
        deleted,
        is_bot,
        ..Person::default()
    };
    app.slack
        .add_person(person("UDAVE", "dave", "dave@example.com", false, false));
    app.tallyfy
        .add_member(1004, "dave@example.com", "Dave", "disabled");
    app.slack
        .add_person(person("UGONE", "gone", "gone@example.com", true, false));
    app.slack
        .add_person(person("UROBOT", "robot", "robot@example.com", false, true));
}

async fn submit(app: &TestApp, values: &TaskValues, adjust: impl FnOnce(&mut Value)) -> Value {
    let view = app.open_task_modal("").await;
    let mut payload = submission(
        &view.id,
        &view.hash,
        view.view["private_metadata"].as_str().unwrap(),
        values,
    );
    adjust(&mut payload);
    let text = app.interact(&payload).await.text().await.unwrap();
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

async fn confirmation(app: &TestApp) -> String {
    announced(app, Duration::from_secs(10))
        .await
        .body()
        .to_string()
}

#[tokio::test]
async fn deactivated_members_bots_and_departed_people_are_named() {
    let app = spawn_app().await;
    add_edge_people(&app);
    for (user, words) in [
        ("UDAVE", "their Tallyfy account is deactivated"),
        ("UGONE", "their Slack account is deactivated"),
        ("UROBOT", "it is a bot"),
    ] {
        let answer = submit(&app, &TaskValues::new("Edge", &[user]), |_| {}).await;
        let text = answer["errors"]["assignees"].as_str().unwrap_or_default();
        assert!(text.contains(words), "{user}: {answer}");
    }
    app.idle().await;
    assert!(app.tallyfy.creates().is_empty());
}

#[tokio::test]
async fn no_account_is_remembered_briefly() {
    let app = spawn_app_with(|env| {
        env.insert("DIRECTORY_MISS_TTL_SECS".into(), "1".into());
    })
    .await;
    submit(&app, &TaskValues::new("First try", &[CAROL]), |_| {}).await;
    let searches = app.tallyfy.member_searches().len();
    let answer = submit(&app, &TaskValues::new("Second try", &[CAROL]), |_| {}).await;
    assert!(answer["errors"]["assignees"]
        .as_str()
        .unwrap()
        .contains("has no Tallyfy account"));
    assert_eq!(
        app.tallyfy.member_searches().len(),
        searches,
        "the miss was cached"
    );

    tokio::time::sleep(Duration::from_millis(1200)).await;
    submit(&app, &TaskValues::new("Third try", &[CAROL]), |_| {}).await;
    assert_eq!(
        app.tallyfy.member_searches().len(),
        searches + 1,
        "looked up again once the short TTL ran out"
    );
}

#[tokio::test]
async fn a_stale_cached_member_id_is_dropped_and_the_task_still_created() {
    let app = spawn_app().await;
    // The cache says Alice is member 9999, an id Tallyfy does not know (say, a re-created account).
    let mut conn = shared_conn().await;
    let stale =
        json!({"name": "alice", "kind": "member", "id": 9999, "email": "alice@example.com"})
            .to_string();
    let _: () = redis::cmd("SET")
        .arg(format!(
            "{}:member:{}:{ALICE}",
            app.prefix,
            fake_slack::TEAM
        ))
        .arg(stale)
        .query_async(&mut conn)
        .await
        .unwrap();

    assert_eq!(
        submit(&app, &TaskValues::new("Heal the cache", &[ALICE]), |_| {}).await,
        Value::Null
    );
    confirmation(&app).await;
    let creates = app.tallyfy.creates();
    assert_eq!(creates.len(), 2, "refused once, then retried once");
    assert_eq!(creates[0].body["owners"]["users"], json!([9999]));
    assert_eq!(creates[1].body["owners"]["users"], json!([1001]));
    assert_eq!(app.tallyfy.tasks_created(), 1);
}

#[tokio::test]
async fn people_without_accounts_can_be_assigned_as_guests() {
    let app = spawn_app().await;
    let view = app.open_task_modal("").await;
    let guests_block = block(&view, "guests");
    assert_eq!(guests_block["element"]["type"], "checkboxes");

    let answer = submit(&app, &TaskValues::new("Guest work", &[ALICE, CAROL]), |p| {
        p["view"]["state"]["values"]["guests"] = json!({"value": {"type": "checkboxes", "selected_options": [
            {"text": {"type": "plain_text", "text": "Assign as guests"}, "value": "guests_ok"}]}});
    })
    .await;
    assert_eq!(answer, Value::Null);
    let text = confirmation(&app).await;
    let owners = app.tallyfy.creates()[0].body["owners"].clone();
    assert_eq!(owners["users"], json!([1001]));
    assert_eq!(owners["guests"], json!(["carol@example.com"]));
    assert!(text.contains("Tallyfy guest"), "{text}");
}

#[tokio::test]
async fn a_guests_email_never_appears_in_a_channel_message() {
    let app = spawn_app().await;
    let _ = app.open_task_modal("").await;
    submit(&app, &TaskValues::new("Guest work", &[ALICE, CAROL]), |p| {
        p["view"]["state"]["values"]["guests"] = json!({"value": {"type": "checkboxes", "selected_options": [
            {"text": {"type": "plain_text", "text": "Assign as guests"}, "value": "guests_ok"}]}});
    })
    .await;
    confirmation(&app).await;
    app.idle().await;
    assert_eq!(
        app.tallyfy.creates()[0].body["owners"]["guests"],
        json!(["carol@example.com"])
    );
    for message in app.slack.posted() {
        assert!(
            !message.to_string().contains("carol@example.com"),
            "a guest's email in the channel: {message}"
        );
    }
}

#[tokio::test]
async fn a_form_error_about_a_picked_person_shows_no_email() {
    let app = spawn_app().await;
    let answer = submit(&app, &TaskValues::new("No account", &[CAROL]), |_| {}).await;
    let text = answer["errors"]["assignees"].as_str().unwrap_or_default();
    assert!(text.contains("has no Tallyfy account"), "{answer}");
    assert!(
        !answer.to_string().contains("carol@example.com"),
        "the form shows a picked person's email: {answer}"
    );
}

#[tokio::test]
async fn tallyfy_groups_can_be_assigned() {
    let app = spawn_app().await;
    app.tallyfy
        .add_group("9f8e7d6c5b4a39281706f5e4d3c2b1a0", "Design");
    let view = app.open_task_modal("").await;
    let groups = block(&view, "groups");
    assert_eq!(
        groups["element"]["options"][0]["value"],
        "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    );
    assert_eq!(
        block(&view, "assignees")["optional"],
        true,
        "a group alone is enough"
    );

    let answer = submit(&app, &TaskValues::new("Design review", &[]), |p| {
        p["view"]["state"]["values"]["groups"] = json!({"value": {"type": "multi_static_select", "selected_options": [
            {"text": {"type": "plain_text", "text": "Design"}, "value": "9f8e7d6c5b4a39281706f5e4d3c2b1a0"}]}});
    })
    .await;
    assert_eq!(answer, Value::Null);
    let text = confirmation(&app).await;
    let owners = app.tallyfy.creates()[0].body["owners"].clone();
    assert_eq!(
        owners["groups"],
        json!(["9f8e7d6c5b4a39281706f5e4d3c2b1a0"])
    );
    assert_eq!(owners["users"], json!([]));
    assert!(text.contains("the _Design_ group"), "{text}");
}

#[tokio::test]
async fn whois_and_forget_show_and_reset_a_mapping() {
    let app = spawn_app().await;
    let ask = |text: &'static str| {
        let app = &app;
        async move {
            let (response, _) = app.command("/task", text).await;
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["response_type"], "ephemeral");
            body["text"].as_str().unwrap().to_string()
        }
    };
    // The requester asks about themselves, so the email is shown.
    let first = ask("whois <@UREQUESTER|rita>").await;
    assert!(
        first.contains("Tallyfy member 1000 (rita@example.com), just looked up"),
        "{first}"
    );
    let second = ask("whois <@UREQUESTER|rita>").await;
    assert!(second.contains("from the cache"), "{second}");
    let alice = ask("whois <@UALICE>").await;
    assert!(
        alice.contains("Tallyfy member 1001, just looked up"),
        "{alice}"
    );
    let carol = ask("whois <@UCAROL>").await;
    assert!(
        carol.contains("no Tallyfy account for their Slack email"),
        "{carol}"
    );

    let forgot = ask("forget <@UREQUESTER|rita>").await;
    assert!(forgot.contains("<@UREQUESTER>"), "{forgot}");
    let again = ask("whois <@UREQUESTER>").await;
    assert!(again.contains("just looked up"), "{again}");
    app.idle().await;
    assert!(
        app.slack.calls("views.open").is_empty(),
        "admin commands open no modal"
    );
}

/// An app whose workspace has Eve (@eve), a Tallyfy member (1020).
async fn app_with_eve() -> TestApp {
    let app = spawn_app().await;
    app.slack.add_person(Person {
        id: "UZEVE".into(),
        name: "eve".into(),
        email: Some("eve@example.com".into()),
        tz: "UTC".into(),
        ..Person::default()
    });
    app.tallyfy
        .add_member(1020, "eve@example.com", "Eve", "active");
    app
}

/// The line "Book venue @eve" reached Tallyfy with Eve among its owners.
fn assert_eve_owns_the_venue(app: &TestApp) {
    let venue = app
        .tallyfy
        .creates()
        .into_iter()
        .find(|c| c.body["title"] == "Book venue")
        .expect("the line");
    assert!(
        venue.body["owners"]["users"].to_string().contains("1020"),
        "{:?}",
        venue.body
    );
}

#[tokio::test]
async fn a_handle_sweep_slack_fails_midway_resumes_from_its_cursor_not_page_one() {
    let app = app_with_eve().await;
    // One person a page (Slack may return fewer than asked); the third page fails once.
    app.slack.cap_users_list_page(1);
    app.slack.fail_users_list_call(3);
    let values = ProjectValues::new("Sweep", &[ALICE], "Book venue @eve\nSend invites");
    let view = app.open_project_modal(&values.name).await;
    assert_eq!(app.submit_project(&view, &values).await.status(), 200);
    posted_in(&app, CHANNEL, Duration::from_secs(20)).await;
    assert_eve_owns_the_venue(&app);
    // The sweep went on from where it failed: page one was asked for once.
    let from_the_start = app
        .slack
        .calls("users.list")
        .iter()
        .filter(|c| c.body["cursor"].as_str().unwrap_or_default().is_empty())
        .count();
    assert_eq!(from_the_start, 1, "{:?}", app.slack.calls("users.list"));
}

#[tokio::test]
async fn a_handle_sweep_past_slacks_tier_2_waits_its_turn_and_the_project_is_made() {
    let app = app_with_eve().await;
    app.slack.cap_users_list_page(2);
    // Another replica swept this minute: Slack's 20 calls are nearly spent.
    app.slack.spend_tier("users.list", 18);
    let values = ProjectValues::new("Paced", &[ALICE], "Book venue @eve\nSend invites");
    let view = app.open_project_modal(&values.name).await;
    assert_eq!(app.submit_project(&view, &values).await.status(), 200);
    let card = posted_in(&app, CHANNEL, Duration::from_secs(120)).await;
    assert!(card.text().contains("Paced"), "{}", card.text());
    assert_eve_owns_the_venue(&app);
    assert!(
        app.slack.responses().is_empty() && app.slack.ephemerals().is_empty(),
        "no failure notice: {:?}",
        app.slack.responses()
    );
}
