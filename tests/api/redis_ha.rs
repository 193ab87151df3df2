//! The service on the Redis people run in production: a Redis Cluster of three primaries
//! (`REDIS_CLUSTER_NODES`), and a primary with a replica behind three sentinels
//! (`REDIS_SENTINELS`, `REDIS_SENTINEL_MASTER`) whose primary is killed while work is in
//! flight. Each test starts its own servers.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use crate::fake_tallyfy::Fault;
use crate::helpers::*;

/// The application with `cluster` as its Redis, and no `REDIS_URL`.
async fn spawn_app_on_cluster(cluster: &OwnCluster) -> TestApp {
    let nodes = cluster.nodes();
    spawn_app_with(move |env| {
        env.remove("REDIS_URL");
        env.insert("REDIS_CLUSTER_NODES".into(), nodes);
        env.insert("JOB_CLAIM_TIMEOUT_SECS".into(), "2".into());
    })
    .await
}

/// The keys the app wrote are spread over the cluster's primaries, not kept in one place.
async fn spread_over_the_cluster(cluster: &OwnCluster, app: &TestApp) {
    let per_node = cluster.keys_per_node(&app.prefix).await;
    assert!(
        per_node.iter().filter(|n| **n > 0).count() >= 2,
        "the app's keys are on several primaries: {per_node:?}"
    );
}

#[tokio::test]
async fn against_a_cluster_a_submission_creates_one_task_and_tells_the_channel() {
    let cluster = OwnCluster::start().await;
    let app = spawn_app_on_cluster(&cluster).await;
    let view = app.open_task_modal("").await;
    let values = TaskValues::new("Review the Q4 report", &[ALICE, BOB, REQUESTER]);
    assert_eq!(app.submit_task(&view, &values).await.status(), 200);
    let message = posted_in(&app, CHANNEL, Duration::from_secs(10)).await;
    assert!(message.body().contains("Review the Q4 report"));
    assert_eq!(
        app.tallyfy.creates()[0].body["owners"]["users"],
        json!([1001, 1002, 1000])
    );
    app.idle().await;
    assert!(
        queued_in_redis(&app).await,
        "the job went through the cluster"
    );
    assert_eq!(app.slack.calls("chat.postMessage").len(), 1, "posted once");

    // The three people are read back from the cache in one call, whatever slots they are in.
    let searches = app.tallyfy.member_searches().len();
    let view = app.open_task_modal("").await;
    let again = TaskValues::new("And the Q1 report", &[ALICE, BOB, REQUESTER]);
    assert_eq!(app.submit_task(&view, &again).await.status(), 200);
    eventually("the second task", || {
        (app.tallyfy.creates().len() == 2).then_some(())
    })
    .await;
    app.idle().await;
    assert_eq!(
        app.tallyfy.member_searches().len(),
        searches,
        "no new lookups"
    );
    assert_eq!(
        app.tallyfy.creates()[1].body["owners"]["users"],
        json!([1001, 1002, 1000])
    );
    spread_over_the_cluster(&cluster, &app).await;
}

#[tokio::test]
async fn against_a_cluster_a_project_is_a_run_with_its_tasks_in_order() {
    let cluster = OwnCluster::start().await;
    let app = spawn_app_on_cluster(&cluster).await;
    let values = ProjectValues::new(
        "Onboard Globex",
        &[ALICE],
        "Kickoff call\n- Send welcome pack @bob friday\nCollect contract",
    );
    let view = app.open_project_modal(&values.name).await;
    assert_eq!(app.submit_project(&view, &values).await.status(), 200);
    let message = announced(&app, Duration::from_secs(10)).await;
    app.idle().await;
    let creates = app.tallyfy.creates();
    assert_eq!(creates.len(), 4, "the run, then one append per line");
    let positions: BTreeSet<u64> = creates[1..]
        .iter()
        .map(|c| c.body["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, BTreeSet::from([2, 3, 4]));
    for line in [
        "• Kickoff call - <@UALICE>",
        "• Send welcome pack - <@UBOB>",
        "• Collect contract - <@UALICE>",
    ] {
        assert!(message.body().contains(line), "{line}");
    }
    assert_eq!(announcements(&app), 1);
    // The channel remembers it: `/project list` reads it back from the cluster.
    let (response, _) = app.command("/project", "list").await;
    let listed: serde_json::Value = response.json().await.unwrap();
    assert!(
        listed["text"].as_str().unwrap().contains("Onboard Globex"),
        "{listed}"
    );
    spread_over_the_cluster(&cluster, &app).await;
}

#[tokio::test]
async fn against_a_cluster_the_same_submission_twice_creates_one_task() {
    let cluster = OwnCluster::start().await;
    let app = spawn_app_on_cluster(&cluster).await;
    let view = app.open_task_modal("").await;
    let values = TaskValues::new("Double click", &[ALICE]);
    let (a, b) = tokio::join!(
        app.submit_task(&view, &values),
        app.submit_task(&view, &values)
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    app.submit_task(&view, &values).await;
    posted_in(&app, CHANNEL, Duration::from_secs(10)).await;
    app.idle().await;
    assert!(
        queued_in_redis(&app).await,
        "the job went through the cluster"
    );
    assert_eq!(app.tallyfy.creates().len(), 1);
    assert_eq!(app.slack.calls("chat.postMessage").len(), 1);
}

#[tokio::test]
async fn against_a_cluster_a_replica_killed_mid_job_is_replaced_without_a_duplicate() {
    let cluster = OwnCluster::start().await;
    let mut holder = spawn_app_on_cluster(&cluster).await;
    holder.stop().await;
    let mut doomed = spawn_binary_instance(&holder).await;
    holder
        .tallyfy
        .fault_next_create(Fault::CommitThenHang(Duration::from_secs(60)));
    let view = doomed.open_task_modal("").await;
    let answer = doomed
        .submit_task(&view, &TaskValues::new("Survives a crash", &[ALICE]))
        .await;
    assert_eq!(answer.status(), 200);
    eventually("the replica to send the create", || {
        (holder.tallyfy.creates().len() == 1).then_some(())
    })
    .await;
    doomed.kill();

    let survivor = spawn_second_instance(&holder).await;
    announced(&survivor, Duration::from_secs(20)).await;
    survivor.idle().await;
    assert_eq!(survivor.tallyfy.tasks_titled("Survives a crash"), 1);
    assert_eq!(survivor.tallyfy.creates().len(), 1, "found, not sent again");
    assert_eq!(announcements(&survivor), 1);
}

#[tokio::test]
async fn against_a_cluster_what_an_earlier_release_kept_unsigned_is_signed_on_every_primary() {
    let cluster = OwnCluster::start().await;
    // People cached unsigned by an earlier release, their keys on different primaries (the
    // prefix decides where: one that puts all four on one primary is tried again).
    let people = [REQUESTER, ALICE, BOB, CAROL];
    let key = |user: &str| format!("member:{}:{user}", crate::fake_slack::TEAM);
    let mut conn = cluster.client().await;
    let mut prefix = unique_prefix();
    for _ in 0..20 {
        for user in people {
            let cached = json!({"name": user, "kind": "none"});
            redis::cmd("SET")
                .arg(format!("{prefix}:{}", key(user)))
                .arg(cached.to_string())
                .arg("EX")
                .arg(600)
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
        }
        let spread = cluster.keys_per_node(&prefix).await;
        if spread.iter().filter(|n| **n > 0).count() >= 2 {
            break;
        }
        prefix = unique_prefix();
    }
    let spread = cluster.keys_per_node(&prefix).await;
    assert!(spread.iter().filter(|n| **n > 0).count() >= 2, "{spread:?}");
    let (nodes, kept) = (cluster.nodes(), prefix.clone());
    let _app = spawn_app_with(move |env| {
        env.remove("REDIS_URL");
        env.insert("REDIS_CLUSTER_NODES".into(), nodes);
        env.insert("REDIS_KEY_PREFIX".into(), kept);
    })
    .await;
    for user in people {
        let full = format!("{prefix}:{}", key(user));
        let mut signed = false;
        for _ in 0..100 {
            let value: Option<String> = redis::cmd("GET")
                .arg(&full)
                .query_async(&mut conn)
                .await
                .unwrap();
            if value.is_some_and(|v| v.starts_with("s1.")) {
                signed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(signed, "{full} signed");
    }
}

#[tokio::test]
async fn against_a_cluster_with_replicas_a_primary_killed_mid_run_loses_nothing_and_doubles_nothing(
) {
    let mut cluster = OwnCluster::start_with_replicas().await;
    let app = spawn_app_on_cluster(&cluster).await;
    // Tallyfy is slow enough that work is in flight when the primary dies.
    app.tallyfy.set_create_latency(Duration::from_millis(300));
    let titles: Vec<String> = (1..=9)
        .map(|n| format!("Cluster failover task {n}"))
        .collect();
    for title in &titles[..4] {
        submit(&app, title).await;
    }
    eventually("work in flight", || {
        (!app.tallyfy.creates().is_empty()).then_some(())
    })
    .await;
    // Each write the service was told is done waited for a replica of its primary.
    assert!(cluster.waits().await > 0, "writes waited for a replica");
    // The primary of the job stream dies; its replica takes over its slots.
    let stream = format!("{}:jobs", app.prefix);
    let primary = cluster.primary_of(&stream).await.expect("the job stream");
    cluster.kill(primary);
    for title in &titles[4..7] {
        submit(&app, title).await;
    }
    cluster.serves(&stream).await;
    for title in &titles[7..] {
        submit(&app, title).await;
    }
    each_created_and_confirmed_once(&app, &titles).await;
}

/// The application with the sentinels' primary as its Redis, and no `REDIS_URL`.
async fn spawn_app_on_sentinels(sentinels: &OwnSentinels) -> TestApp {
    let addresses = sentinels.sentinels();
    spawn_app_with(move |env| {
        env.remove("REDIS_URL");
        env.insert("REDIS_SENTINELS".into(), addresses);
        env.insert("REDIS_SENTINEL_MASTER".into(), SENTINEL_MASTER.into());
        env.insert("JOB_CLAIM_TIMEOUT_SECS".into(), "2".into());
    })
    .await
}

/// Submits a task titled `title`; Slack must get its answer.
async fn submit(app: &TestApp, title: &str) {
    let view = app.open_task_modal("").await;
    let answer = app
        .submit_task(&view, &TaskValues::new(title, &[ALICE]))
        .await;
    assert_eq!(answer.status(), 200, "{title}");
}

/// The cards posted to the channel, by the title they carry.
fn cards_titled(app: &TestApp, title: &str) -> usize {
    app.slack
        .calls("chat.postMessage")
        .iter()
        .filter(|call| {
            call.body["channel"] == CHANNEL
                && Message::new(call.body.clone()).body().contains(title)
        })
        .count()
}

#[tokio::test]
async fn with_sentinel_the_primary_killed_mid_run_loses_nothing_and_doubles_nothing() {
    let mut sentinels = OwnSentinels::start().await;
    let app = spawn_app_on_sentinels(&sentinels).await;
    // Tallyfy is slow enough that work is in flight when the primary dies.
    app.tallyfy.set_create_latency(Duration::from_millis(300));
    let titles: Vec<String> = (1..=9).map(|n| format!("Failover task {n}")).collect();
    for title in &titles[..4] {
        submit(&app, title).await;
    }
    eventually("work in flight", || {
        (!app.tallyfy.creates().is_empty()).then_some(())
    })
    .await;
    sentinels.kill_primary();
    // Submissions go on while the sentinels have not chosen a new primary yet.
    for title in &titles[4..7] {
        submit(&app, title).await;
    }
    sentinels.promoted().await;
    // And after: they reach the new primary.
    for title in &titles[7..] {
        submit(&app, title).await;
    }
    each_created_and_confirmed_once(&app, &titles).await;
    // The last jobs went through the stream on the promoted replica.
    let promoted =
        redis::Client::open(format!("redis://127.0.0.1:{}", sentinels.replica_port)).unwrap();
    let mut conn = promoted.get_multiplexed_async_connection().await.unwrap();
    let stream: u8 = redis::cmd("EXISTS")
        .arg(format!("{}:jobs", app.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(stream, 1, "the job stream is on the new primary");
}

#[tokio::test]
async fn sentinels_that_know_the_service_as_an_acl_user_are_reached_as_that_user() {
    let sentinels = OwnSentinels::start_with_user(Some(("tallyfy", "sentinel-secret"))).await;
    let addresses = sentinels.sentinels();
    let app = spawn_app_with(move |env| {
        env.remove("REDIS_URL");
        env.insert("REDIS_SENTINELS".into(), addresses);
        env.insert("REDIS_SENTINEL_MASTER".into(), SENTINEL_MASTER.into());
        env.insert("REDIS_SENTINEL_USERNAME".into(), "tallyfy".into());
        env.insert("REDIS_SENTINEL_PASSWORD".into(), "sentinel-secret".into());
    })
    .await;
    submit(&app, "Through an ACL user").await;
    eventually("the card", || {
        (cards_titled(&app, "Through an ACL user") == 1).then_some(())
    })
    .await;
    // What it did went through the primary the sentinels named, not a store in process.
    let primary = sentinels.primary_now().await.expect("a primary");
    let mut redis = redis::Client::open(format!("redis://127.0.0.1:{primary}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", app.prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "nothing was kept in the primary");
}

/// Every one of `titles` is confirmed in the channel, then each was created once in
/// Tallyfy and confirmed once.
async fn each_created_and_confirmed_once(app: &TestApp, titles: &[String]) {
    for title in titles {
        eventually_within(
            Duration::from_secs(30),
            &format!("{title} confirmed"),
            || (cards_titled(app, title) >= 1).then_some(()),
        )
        .await;
    }
    app.idle().await;
    for title in titles {
        assert_eq!(app.tallyfy.tasks_titled(title), 1, "{title} created once");
        assert_eq!(cards_titled(app, title), 1, "{title} confirmed once");
    }
}
