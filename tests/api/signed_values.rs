//! What the service reads back from Redis is acted on only when it wrote it: a value put
//! there by anyone without the key (unsigned, or signed with another key, or moved from
//! another key) is treated as absent. Values an earlier release left unsigned are read
//! for a day after the upgrade, and signed meanwhile.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tallyfy_slack::seal::{Key, ValueSigner};

use crate::fake_slack;
use crate::helpers::*;
use crate::visibility::{answer_on, card, mark_done_key, press_as};

/// Signs values as the test replicas do (their `JOB_SIGNING_KEY`, for the store's values).
fn signer() -> ValueSigner {
    ValueSigner::new(
        &Key::parse(JOB_SIGNING_KEY)
            .unwrap()
            .derive_for("store values"),
    )
}

/// Sends `cmd` to the shared Redis, from synchronous code too.
fn query<T: redis::FromRedisValue + Send + 'static>(cmd: redis::Cmd) -> T {
    blocking(async move { cmd.query_async(&mut shared_conn().await).await.unwrap() })
}

fn raw_get(prefix: &str, key: &str) -> Option<String> {
    query(redis::cmd("GET").arg(format!("{prefix}:{key}")).clone())
}

fn raw_set(prefix: &str, key: &str, value: &str) {
    let _: () = query(
        redis::cmd("SET")
            .arg(format!("{prefix}:{key}"))
            .arg(value)
            .arg("EX")
            .arg(3600)
            .clone(),
    );
}

/// A store that began signing two days ago: unsigned values are no longer read.
fn signing_for_two_days(env: &mut HashMap<String, String>) {
    let since = (jiff::Timestamp::now().as_second() - 2 * 24 * 3600).to_string();
    raw_set(
        &env["REDIS_KEY_PREFIX"],
        "signing-since",
        &signer().sign("signing-since", &since),
    );
}

/// A task for Bob, and its card's Mark done value (the job's key).
async fn task_for_bob(app: &TestApp, title: &str) -> String {
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new(title, &[BOB]))
        .await;
    let card: Value = card(app).await;
    mark_done_key(&card)
}

#[tokio::test]
async fn a_button_acts_on_nothing_that_someone_without_the_key_wrote_into_redis() {
    let app = spawn_app_with(|env| {
        signing_for_two_days(env);
        env.insert(
            "PUBLIC_URL".into(),
            "https://tallyfy-slack.example.com".into(),
        );
    })
    .await;
    let key = task_for_bob(&app, "Sign the lease").await;
    let kept = raw_get(&app.prefix, &format!("target:{key}")).expect("the card's target");
    assert!(kept.starts_with("s1."), "kept signed: {kept}");
    let opened = signer()
        .open(&format!("target:{key}"), &kept)
        .map(str::to_string);
    let target: Value =
        serde_json::from_str(&opened.expect("signed with the store's key")).unwrap();
    // Someone with Redis but without the key points the card at another of Bob's tasks.
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Pay the deposit", &[BOB]))
        .await;
    let other = eventually("Bob's other task", || {
        app.tallyfy.task_id_titled("Pay the deposit")
    })
    .await;
    let mut forged = target.clone();
    forged["created"]["id"] = other.clone().into();
    forged["title"] = "Pay the deposit".into();
    let forged = forged.to_string();
    for (n, stored) in [
        forged.clone(),
        ValueSigner::new(&Key::from_bytes([9; 32])).sign(&format!("target:{key}"), &forged),
        signer().sign("target:someone-else", &forged),
    ]
    .into_iter()
    .enumerate()
    {
        raw_set(&app.prefix, &format!("target:{key}"), &stored);
        let hook = format!("bob-press-{n}");
        press_as(&app, BOB, "task_done", &key, &hook).await;
        assert!(
            answer_on(&app, &hook)
                .await
                .contains("no longer have this task"),
            "forgery {n} was not acted on"
        );
    }
    app.idle().await;
    assert!(
        app.tallyfy.completions().is_empty(),
        "nothing was completed"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("tallyfy_slack_store_values_refused_total 3"),
        "{metrics}"
    );

    // What the service itself wrote still works.
    raw_set(&app.prefix, &format!("target:{key}"), &kept);
    press_as(&app, BOB, "task_done", &key, "bob-press").await;
    assert_eq!(
        answer_on(&app, "bob-press").await,
        "Marked done in Tallyfy."
    );
}

#[tokio::test]
async fn what_an_earlier_release_kept_unsigned_is_still_read_and_gets_signed() {
    let member = format!("member:{}:{ALICE}", fake_slack::TEAM);
    let app = spawn_app_with(|env| {
        // Alice's Tallyfy member id, cached by an earlier release: unsigned.
        let cached = serde_json::json!({"name": "alice", "kind": "member", "id": 1001, "email": "alice@example.com"});
        raw_set(&env["REDIS_KEY_PREFIX"], &member, &cached.to_string());
    })
    .await;
    let signed = eventually("the cached member signed", || {
        raw_get(&app.prefix, &member).filter(|v| v.starts_with("s1."))
    })
    .await;
    assert!(signer().open(&member, &signed).is_some());
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("From the cache", &[ALICE]))
        .await;
    announced(&app, Duration::from_secs(10)).await;
    assert!(
        app.tallyfy.member_searches().is_empty(),
        "the cached answer was used"
    );
}
