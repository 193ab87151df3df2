//! A submitted request ends in exactly one creation, or a clear message and a way to retry,
//! whatever Slack, Tallyfy, Redis or the replicas do in between.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fake_tallyfy::Fault;
use crate::helpers::*;

/// The application with `redis` as its Redis.
async fn spawn_app_on(redis: &OwnRedis) -> TestApp {
    let url = redis.url.clone();
    spawn_app_with(move |env| {
        env.insert("REDIS_URL".into(), url);
    })
    .await
}

#[tokio::test]
async fn the_same_submission_three_times_creates_one_task() {
    let app = spawn_app().await;
    let view = app.open_task_modal("").await;
    let values = TaskValues::new("Only once", &[ALICE]);
    // A double click and a redelivery, all at once.
    let (a, b, c) = tokio::join!(
        app.submit_task(&view, &values),
        app.submit_task(&view, &values),
        app.submit_task(&view, &values)
    );
    for answer in [a, b, c] {
        assert_eq!(answer.status(), 200);
    }
    announced(&app, Duration::from_secs(10)).await;
    app.idle().await;
    assert_eq!(app.tallyfy.creates().len(), 1);
    assert_eq!(announcements(&app), 1);
}

#[tokio::test]
async fn two_replicas_racing_one_submission_create_one_task() {
    let first = spawn_app().await;
    let second = spawn_second_instance(&first).await;
    let view = first.open_task_modal("").await;
    let values = TaskValues::new("Raced", &[ALICE, BOB]);
    let (a, b) = tokio::join!(
        first.submit_task(&view, &values),
        second.submit_task(&view, &values)
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    announced(&first, Duration::from_secs(10)).await;
    all_idle(&[&first, &second]).await;
    assert_eq!(first.tallyfy.creates().len(), 1);
    assert_eq!(first.tallyfy.tasks_titled("Raced"), 1);
    assert_eq!(announcements(&first), 1);
}

#[tokio::test]
async fn a_create_whose_answer_never_comes_is_found_not_doubled() {
    let app = spawn_app().await;
    // Tallyfy makes the task, then the answer never arrives (3 s client timeout in tests).
    app.tallyfy
        .fault_next_create(Fault::CommitThenHang(Duration::from_secs(60)));
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Lost answer", &[ALICE]))
        .await;
    let message = announced(&app, Duration::from_secs(20)).await;
    assert!(message.text().contains("Lost answer"));
    assert_eq!(app.tallyfy.creates().len(), 1, "looked up, not sent again");
    assert_eq!(app.tallyfy.tasks_titled("Lost answer"), 1);
}

#[tokio::test]
async fn tallyfy_unavailable_for_a_minute_is_waited_out_and_the_delay_told() {
    let app = spawn_app().await;
    app.tallyfy.unavailable_for(Duration::from_secs(60));
    let started = Instant::now();
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Patient", &[ALICE]))
        .await;
    let (_, notice) = eventually_within(Duration::from_secs(30), "the delay notice", || {
        app.slack.responses().into_iter().next()
    })
    .await;
    let text = notice["text"].as_str().unwrap();
    assert!(
        text.contains("not answering") && text.contains("Patient"),
        "{text}"
    );
    assert_eq!(notice["response_type"], "ephemeral");
    assert_eq!(app.tallyfy.tasks_created(), 0);

    announced(&app, Duration::from_secs(90)).await;
    assert!(started.elapsed() >= Duration::from_secs(60));
    assert_eq!(app.tallyfy.tasks_titled("Patient"), 1);
    assert_eq!(
        app.slack.responses().len(),
        1,
        "one delay notice, no failure"
    );
}

#[tokio::test]
async fn a_paused_redis_still_gets_answers_in_time_and_loses_nothing() {
    let redis = OwnRedis::start().await;
    let app = spawn_app_on(&redis).await;
    let during = app.open_task_modal("").await;
    let after = app.open_task_modal("").await;

    redis.pause();
    let started = Instant::now();
    let values = TaskValues::new("While Redis sleeps", &[ALICE]);
    let answer = app
        .submit_task_within_slack_deadline(&during, &values)
        .await;
    assert_eq!(answer.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(3));
    // A double click during the outage is still caught by the replica.
    let again = app
        .submit_task_within_slack_deadline(&during, &values)
        .await;
    assert_eq!(again.status(), 200);
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "degraded");
    announced(&app, Duration::from_secs(15)).await;
    assert_eq!(app.tallyfy.tasks_titled("While Redis sleeps"), 1);

    redis.resume();
    let ready = loop {
        let body: Value = app.get("/readyz").await.json().await.unwrap();
        if body["status"] == "ready" || started.elapsed() > Duration::from_secs(20) {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ready["status"], "ready");
    let answer = app
        .submit_task_within_slack_deadline(&after, &TaskValues::new("Redis is back", &[BOB]))
        .await;
    assert_eq!(answer.status(), 200);
    eventually_within(Duration::from_secs(10), "the second task", || {
        (app.tallyfy.tasks_titled("Redis is back") == 1).then_some(())
    })
    .await;
    app.idle().await;
    assert_eq!(app.tallyfy.tasks_titled("While Redis sleeps"), 1);
    assert_eq!(app.tallyfy.creates().len(), 2);
}

#[tokio::test]
async fn a_replica_killed_mid_job_is_replaced_by_another_without_a_duplicate() {
    let prepared = spawn_app_with(|env| {
        env.insert("JOB_CLAIM_TIMEOUT_SECS".into(), "2".into());
    })
    .await;
    // The in-process application only holds the fakes and settings; it is stopped so that
    // the replica that takes the job is the binary.
    let mut holder = prepared;
    holder.stop().await;
    let mut doomed = spawn_binary_instance(&holder).await;
    // Tallyfy makes the task and is slow to answer; the replica dies before it hears back.
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
async fn shutdown_hands_running_work_back_and_exits_cleanly() {
    let mut first = spawn_app_with(|env| {
        env.insert("SHUTDOWN_DRAIN_SECS".into(), "1".into());
    })
    .await;
    first
        .tallyfy
        .fault_next_create(Fault::CommitThenHang(Duration::from_secs(60)));
    let view = first.open_task_modal("").await;
    first
        .submit_task(&view, &TaskValues::new("Handed back", &[ALICE]))
        .await;
    eventually("the create to be sent", || {
        (first.tallyfy.creates().len() == 1).then_some(())
    })
    .await;
    let stopping = Instant::now();
    first.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "shutdown is bounded"
    );

    // Another replica takes the job at once (the claim timeout is 30 s), and finds the
    // task instead of making it again.
    let second = spawn_second_instance(&first).await;
    announced(&second, Duration::from_secs(15)).await;
    assert!(stopping.elapsed() < Duration::from_secs(25));
    assert_eq!(second.tallyfy.tasks_titled("Handed back"), 1);
    assert_eq!(second.tallyfy.creates().len(), 1);
}

#[tokio::test]
async fn sigterm_stops_the_binary_with_exit_code_zero() {
    let app = spawn_app().await;
    let mut replica = spawn_binary_instance(&app).await;
    let status = replica.terminate().await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_project_resumed_by_another_replica_adds_only_what_is_missing() {
    let mut holder = spawn_app_with(|env| {
        env.insert("JOB_CLAIM_TIMEOUT_SECS".into(), "2".into());
    })
    .await;
    holder.stop().await;
    let mut doomed = spawn_binary_instance(&holder).await;
    holder.tallyfy.fault_create_titled(
        "Sign contract",
        Fault::CommitThenHang(Duration::from_secs(60)),
    );
    let values = ProjectValues::new(
        "Onboard Umbrella",
        &[ALICE],
        "Kickoff call\nSign contract\nSend welcome pack",
    );
    let view = doomed.open_project_modal(&values.name).await;
    assert_eq!(doomed.submit_project(&view, &values).await.status(), 200);
    // The run and all three lines were sent; one answer never came.
    eventually("every create to be sent", || {
        (holder.tallyfy.creates().len() == 4).then_some(())
    })
    .await;
    doomed.kill();

    let survivor = spawn_second_instance(&holder).await;
    let message = announced(&survivor, Duration::from_secs(20)).await;
    let text = message.body();
    assert!(!text.contains(":x:"), "{text}");
    survivor.idle().await;
    assert_eq!(survivor.tallyfy.creates().len(), 4, "nothing sent twice");
    for title in [
        "Onboard Umbrella",
        "Kickoff call",
        "Sign contract",
        "Send welcome pack",
    ] {
        assert_eq!(survivor.tallyfy.tasks_titled(title), 1, "{title}");
    }
    assert_eq!(announcements(&survivor), 1);
}

#[tokio::test]
async fn a_job_that_keeps_dying_is_given_up_with_a_retry_that_works() {
    use std::sync::Arc;
    use tallyfy_slack::jobs::queue::{Queue, RedisQueue};

    let mut holder = spawn_app_with(|env| {
        env.insert("JOB_CLAIM_TIMEOUT_SECS".into(), "1".into());
    })
    .await;
    holder.stop().await;
    let job = serde_json::json!({
        "kind": "task",
        "key": format!("submission:T0TEST:VCURSED:{}", holder.prefix),
        "origin": {"team_id": "T0TEST", "user_id": REQUESTER, "channel_id": CHANNEL,
                   "response_url": holder.slack.response_url("cursed-hook"), "thread_ts": null},
        "draft": {"title": "Cursed", "assignees": [ALICE], "deadline": "2030-01-15T17:00:00Z",
                  "summary": null, "task_type": "task"},
        "owners": {"users": [1001], "guests": [], "groups": []}
    });
    // A replica that takes the job and dies, five times over.
    let crashing = RedisQueue::connect(
        &shared_redis().target(),
        &holder.prefix,
        "crashing",
        Duration::from_secs(1),
        Duration::from_secs(1),
        Arc::new(Default::default()),
        job_mac(),
    )
    .unwrap();
    assert!(crashing
        .next(Duration::from_millis(10))
        .await
        .unwrap()
        .is_none());
    crashing.push(&job.to_string()).await.unwrap();
    for delivery in 1..=5 {
        if delivery > 1 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let taken = crashing
            .next(Duration::from_millis(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken.deliveries, delivery);
    }

    let survivor = spawn_second_instance(&holder).await;
    let (hook, notice) = first_reply(&survivor, "the give-up notice").await;
    assert!(hook.ends_with("cursed-hook"), "{hook}");
    let text = notice.text();
    assert!(
        text.contains("Cursed") && text.contains("was not created"),
        "{text}"
    );
    assert!(text.contains("Press Retry"), "{text}");
    assert_eq!(survivor.tallyfy.creates().len(), 0);

    survivor
        .press("job_retry", notice.retry_key(), "retry-hook")
        .await;
    announced(&survivor, Duration::from_secs(10)).await;
    assert_eq!(survivor.tallyfy.tasks_titled("Cursed"), 1);
}

#[tokio::test]
async fn a_confirmation_slack_could_not_take_is_posted_once_slack_is_back() {
    let app = spawn_app_with(|env| {
        env.insert("JOB_CLAIM_TIMEOUT_SECS".into(), "1".into());
    })
    .await;
    told_once_slack_is_back(&app).await;
}

#[tokio::test]
async fn without_redis_too_a_confirmation_is_posted_once_slack_is_back() {
    let app = spawn_app_with(|env| {
        env.remove("REDIS_URL");
        env.insert("JOB_CLAIM_TIMEOUT_SECS".into(), "1".into());
    })
    .await;
    told_once_slack_is_back(&app).await;
}

async fn told_once_slack_is_back(app: &TestApp) {
    app.slack.posting_down_for(Duration::from_secs(3));
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Told later", &[ALICE]))
        .await;
    let posted = eventually_within(Duration::from_secs(20), "the confirmation", || {
        app.slack.posted().into_iter().next()
    })
    .await;
    assert_eq!(posted["channel"], CHANNEL);
    assert!(posted["text"].as_str().unwrap().contains("Told later"));
    app.idle().await;
    assert_eq!(app.slack.posted().len(), 1, "posted once");
    assert_eq!(
        app.tallyfy.creates().len(),
        1,
        "the task was not made again"
    );
    assert_eq!(app.tallyfy.tasks_titled("Told later"), 1);
}

#[tokio::test]
async fn a_redis_restarted_without_its_data_is_used_again() {
    let redis = OwnRedis::start().await;
    let app = spawn_app_on(&redis).await;
    let before = app.open_task_modal("").await;
    let after = app.open_task_modal("").await;
    app.submit_task(&before, &TaskValues::new("Before the restart", &[ALICE]))
        .await;
    eventually("the first task", || {
        (app.tallyfy.tasks_titled("Before the restart") == 1).then_some(())
    })
    .await;

    // The job queue's consumer group goes with the data; it is made again.
    let _redis = redis.restart().await;
    let started = Instant::now();
    let answer = app
        .submit_task_within_slack_deadline(&after, &TaskValues::new("After the restart", &[BOB]))
        .await;
    assert_eq!(answer.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(3));
    eventually("the second task", || {
        (app.tallyfy.tasks_titled("After the restart") == 1).then_some(())
    })
    .await;
    let ready = loop {
        let body: Value = app.get("/readyz").await.json().await.unwrap();
        if body["status"] == "ready" || started.elapsed() > Duration::from_secs(15) {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ready["status"], "ready");
    // Once Redis answers again, new work goes through the shared queue.
    let third = app.open_task_modal("").await;
    app.submit_task(&third, &TaskValues::new("Through the queue", &[ALICE]))
        .await;
    eventually("the third task", || {
        (app.tallyfy.tasks_titled("Through the queue") == 1).then_some(())
    })
    .await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tallyfy_slack_jobs_total{kind="queue",outcome="shared"} 2"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_job_that_finishes_while_redis_is_frozen_is_not_done_again_after() {
    let redis = OwnRedis::start().await;
    let url = redis.url.clone();
    let app = spawn_app_with(move |env| {
        env.insert("REDIS_URL".into(), url);
        env.insert("JOB_CLAIM_TIMEOUT_SECS".into(), "2".into());
    })
    .await;
    app.tallyfy
        .fault_next_create(Fault::Slow(Duration::from_millis(1500)));
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new("Across the freeze", &[ALICE]))
        .await;
    eventually("the create to be sent", || {
        (app.tallyfy.creates().len() == 1).then_some(())
    })
    .await;
    // Redis freezes while Tallyfy works: the job ends unable to record or acknowledge.
    redis.pause();
    announced(&app, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.resume();
    // Well past the claim timeout: had the job stayed unacknowledged, it would run again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(app.tallyfy.creates().len(), 1);
    assert_eq!(app.tallyfy.tasks_titled("Across the freeze"), 1);
    assert_eq!(announcements(&app), 1, "announced once");
}
