//! Hearing about your own work in Slack: a task assigned to someone in Tallyfy (not from
//! Slack) reaches them in a direct message once, when they turned alerts on from the
//! Home tab, and never when they did not; the morning digest at 9:00 their time lists
//! what is due that day or overdue, once a day; the Home tab lists their open tasks from
//! all of Tallyfy, each with its buttons.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use crate::fake_slack;
use crate::fake_tallyfy;
use crate::helpers::*;

/// The application reading for alerts every second.
async fn app_with_alerts() -> TestApp {
    spawn_app_with(|env| {
        env.insert("ALERTS_POLL_SECS".into(), "1".into());
    })
    .await
}

/// `user` opens their Home tab (as the Events API sends it, signed).
pub(crate) async fn open_home(app: &TestApp, user: &str, event_id: &str) -> Value {
    let body = json!({
        "token": "verification-token", "team_id": fake_slack::TEAM, "api_app_id": "A0TEST",
        "type": "event_callback", "event_id": event_id, "event_time": now(),
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"}
    });
    let sent = app
        .post_signed("/slack/events", "application/json", body.to_string())
        .await;
    assert_eq!(sent.status(), 200);
    eventually("the Home tab", || app.slack.home_view(user)).await
}

/// The Home tab's element whose action id is `action`.
fn element(home: &Value, action: &str) -> Value {
    home["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().into_iter().flatten())
        .find(|e| e["action_id"] == action)
        .unwrap_or_else(|| panic!("no {action} in {home}"))
        .clone()
}

/// `user` presses a Home tab button, as Slack sends it: the view is the container and
/// there is no response URL.
async fn press_on_home(app: &TestApp, user: &str, action: &str, value: &str) {
    let mut payload = button_press(action, value, "");
    payload["user"]["id"] = user.into();
    payload["container"] = json!({"type": "view", "view_id": "VHOME"});
    for gone in ["response_url", "channel", "message"] {
        payload.as_object_mut().unwrap().remove(gone);
    }
    assert_eq!(app.interact(&payload).await.status(), 200);
}

/// `user` turns on `action`'s alert from their Home tab, and sees it on.
async fn turn_on(app: &TestApp, user: &str, action: &str, shown: &str) {
    let publishes = app.slack.calls("views.publish").len();
    let home = open_home(app, user, &format!("Ev-{user}-{action}")).await;
    assert_eq!(element(&home, action)["value"], "on", "{home}");
    press_on_home(app, user, action, "on").await;
    eventually(
        &format!("the Home tab published again, showing {shown}"),
        || {
            let home = app.slack.home_view(user)?.to_string();
            let again = app.slack.calls("views.publish").len() > publishes + 1;
            (again && home.contains(shown)).then_some(())
        },
    )
    .await;
}

/// Direct messages posted to `user` whose text has `has`.
fn dms(app: &TestApp, user: &str, has: &str) -> Vec<Value> {
    app.slack
        .posted()
        .into_iter()
        .filter(|m| m["channel"] == user && m.to_string().contains(has))
        .collect()
}

/// Waits until the task list has been read for `member` `rounds` more times.
async fn rounds_pass(app: &TestApp, member: u64, rounds: usize) {
    let reads = |app: &TestApp| {
        app.tallyfy
            .requests()
            .into_iter()
            .filter(|r| {
                r.path.ends_with("/tasks") && r.query.get("owners") == Some(&member.to_string())
            })
            .count()
    };
    let from = reads(app);
    eventually("rounds of reading for alerts", || {
        (reads(app) >= from + rounds).then_some(())
    })
    .await;
}

fn in_days(days: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * days)).to_string()
}

#[tokio::test]
async fn a_task_assigned_in_tallyfy_reaches_bob_once_and_not_alice_who_did_not_ask() {
    let app = app_with_alerts().await;
    let before = app
        .tallyfy
        .assign_in_tallyfy("Already Bob's", &[1002], &in_days(3));
    turn_on(&app, BOB, "home_alert_assigned", "Task alerts: *on*").await;
    // Slack refuses the first direct message: it is sent on a later round, once.
    app.slack.fail_next(
        "chat.postMessage",
        200,
        json!({"ok": false, "error": "fatal_error"}),
        None,
    );
    let task = app
        .tallyfy
        .assign_in_tallyfy("Renew <the> insurance", &[1002, 1001], &in_days(2));
    let dm = eventually("Bob's alert", || {
        dms(&app, BOB, "Renew &lt;the&gt; insurance")
            .into_iter()
            .next()
    })
    .await;
    let text = dm.to_string();
    assert!(text.contains("assigned to you"), "{text}");
    assert!(
        text.contains("task_done") && text.contains("task_comment"),
        "{text}"
    );
    assert!(text.contains("Open in Tallyfy"), "{text}");
    rounds_pass(&app, 1002, 3).await;
    assert_eq!(dms(&app, BOB, "Renew").len(), 1, "told once");
    assert!(
        dms(&app, BOB, "Already Bob").is_empty(),
        "{before} was Bob's before"
    );
    assert!(dms(&app, ALICE, "Renew").is_empty(), "Alice did not ask");
    assert!(
        !app.tallyfy
            .requests()
            .iter()
            .any(|r| r.query.get("owners").is_some_and(|o| o == "1001")),
        "Alice's work is never read for alerts"
    );

    // Mark done from the alert completes the task in Tallyfy.
    let value = dm.to_string();
    assert!(value.contains(&format!("mine-{task}")), "{value}");
    let mut press = button_press(
        "task_done",
        &format!("mine-{task}"),
        &app.slack.response_url("alert"),
    );
    press["user"]["id"] = BOB.into();
    assert_eq!(app.interact(&press).await.status(), 200);
    eventually("the completion in Tallyfy", || {
        app.tallyfy.completions().contains(&task).then_some(())
    })
    .await;

    // Another replica, and a restart, tell nothing again.
    let second = spawn_second_instance(&app).await;
    let app = app.restart().await;
    rounds_pass(&app, 1002, 3).await;
    assert_eq!(
        dms(&app, BOB, "Renew").len(),
        1,
        "told once across replicas"
    );
    drop(second);
}

#[tokio::test]
async fn the_digest_lists_what_is_due_at_nine_in_bobs_time_once_a_day() {
    let app = app_with_alerts().await;
    let clock = app.clock.clone().unwrap();
    let at = |t: &str| t.parse::<jiff::Timestamp>().unwrap();
    clock.set(at("2030-01-15T08:59:00Z"));
    app.tallyfy
        .assign_in_tallyfy("Due this afternoon", &[1002], "2030-01-15T17:00:00Z");
    app.tallyfy
        .assign_in_tallyfy("Late already", &[1002], "2030-01-14T12:00:00Z");
    app.tallyfy
        .assign_in_tallyfy("Next week's", &[1002], "2030-01-22T12:00:00Z");
    turn_on(&app, BOB, "home_alert_digest", "Morning digest: *on*").await;
    rounds_pass(&app, 1002, 2).await;
    assert!(dms(&app, BOB, "Good morning").is_empty(), "not before 9:00");

    clock.set(at("2030-01-15T09:00:00Z"));
    let digest = eventually("Bob's digest", || {
        dms(&app, BOB, "Good morning").into_iter().next()
    })
    .await
    .to_string();
    assert!(digest.contains("Due this afternoon"), "{digest}");
    assert!(
        digest.contains("Late already") && digest.contains("overdue"),
        "{digest}"
    );
    assert!(!digest.contains("Next week"), "{digest}");
    assert!(
        digest.contains("task_done"),
        "each with its actions: {digest}"
    );
    rounds_pass(&app, 1002, 3).await;
    assert_eq!(dms(&app, BOB, "Good morning").len(), 1, "once a day");
    assert!(
        dms(&app, BOB, "assigned to you").is_empty(),
        "no task alerts asked for"
    );

    clock.set(at("2030-01-16T09:05:00Z"));
    eventually("the next day's digest", || {
        (dms(&app, BOB, "Good morning").len() == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_home_tab_lists_bobs_open_tasks_from_all_of_tallyfy_with_their_actions() {
    let app = spawn_app().await;
    let task = app
        .tallyfy
        .assign_in_tallyfy("Quarterly report", &[1002], &in_days(4));
    app.tallyfy
        .assign_in_tallyfy("Alice's own", &[1001], &in_days(4));
    let home = open_home(&app, BOB, "EvTallyfy1").await;
    let text = home.to_string();
    assert!(text.contains("Quarterly report"), "{text}");
    assert!(!text.contains("Alice's own"), "{text}");
    assert_eq!(element(&home, "task_done")["value"], format!("mine-{task}"));
    // Pressed on the Home tab (no response URL), the answer comes as a direct message.
    press_on_home(&app, BOB, "task_done", &format!("mine-{task}")).await;
    eventually("the completion in Tallyfy", || {
        app.tallyfy.completions().contains(&task).then_some(())
    })
    .await;
    eventually("Bob told", || {
        dms(&app, BOB, "Marked done in Tallyfy").into_iter().next()
    })
    .await;
}

#[tokio::test]
async fn the_stand_ins_task_list_has_the_documented_shape_and_filters() {
    // Its own HTTP client needs the TLS provider, whichever test runs first.
    tallyfy_slack::tls::init();
    let tallyfy = fake_tallyfy::FakeTallyfy::start().await;
    tallyfy.add_member(1001, "alice@example.com", "Alice", "active");
    tallyfy.add_member(1002, "bob@example.com", "Bob", "active");
    let bobs = tallyfy.assign_in_tallyfy("Bob's", &[1002], &in_days(1));
    tallyfy.assign_in_tallyfy("Alice's", &[1001], &in_days(1));
    let late = tallyfy.assign_in_tallyfy("Late", &[1002], "2020-01-01T00:00:00Z");
    let base = format!(
        "{}/organizations/{}/tasks",
        tallyfy.api_url(),
        fake_tallyfy::ORG
    );
    let list = |query: HashMap<&'static str, &'static str>| {
        reqwest::Client::new()
            .get(&base)
            .query(&query)
            .bearer_auth(fake_tallyfy::TOKEN)
            .header("X-Tallyfy-Client", "APIClient")
            .header("Accept", "application/json")
            .send()
    };
    let documented: Value = serde_json::from_str(include_str!(
        "../fixtures/tallyfy/documentation/list-org-tasks.json"
    ))
    .unwrap();
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    let answer: Value = list(HashMap::from([("owners", "1002"), ("status", "active")]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: BTreeSet<&str> = answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([bobs.as_str(), late.as_str()]));
    let missing: Vec<String> = keys(&documented["data"][0])
        .difference(&keys(&answer["data"][0]))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "a listed task lacks {missing:?}");
    assert_eq!(
        keys(&documented["meta"]["pagination"])
            .difference(&keys(&answer["meta"]["pagination"]))
            .count(),
        0
    );
    let overdue: Value = list(HashMap::from([("owners", "1002"), ("status", "overdue")]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(overdue["data"].as_array().unwrap().len(), 1);
    assert_eq!(overdue["data"][0]["id"], late.as_str());
}
