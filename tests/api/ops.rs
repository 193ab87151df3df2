//! Health, readiness and metrics.

use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness_with_redis() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["store"], "redis");
}

#[tokio::test]
async fn an_unreachable_redis_degrades_a_replica_without_taking_it_out_of_rotation() {
    let app = spawn_app_with(|env| {
        env.insert("REDIS_URL".into(), "redis://127.0.0.1:1".into());
    })
    .await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tallyfy_slack_store_up") && l.ends_with(" 0")),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_in_process_store_is_always_ready() {
    let app = spawn_app_in_memory().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["store"], "memory");
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let app = spawn_app().await;
    let (response, _) = app.command("/task", "help").await;
    assert_eq!(response.status(), 200);
    let unsigned = reqwest::Client::new()
        .post(app.url("/slack/commands"))
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"tallyfy_slack_slack_requests_total{kind="command",outcome="task"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"tallyfy_slack_slack_requests_total{kind="unsigned",outcome="rejected"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with("# EOF"),
        "not Prometheus/OpenMetrics text"
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = spawn_app().await;
    let a = app.get("/healthz").await;
    let b = app.get("/healthz").await;
    let id = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(id(&a).len(), 36, "a UUID");
    assert_ne!(id(&a), id(&b));
}

#[tokio::test]
async fn the_request_id_follows_a_submission_into_its_job_logs() {
    // Only the binary replica may take the job: the in-process one holds the fakes.
    let mut app = spawn_app().await;
    app.stop().await;
    let logs = std::env::temp_dir().join(format!("{}.log", app.prefix));
    let mut replica = spawn_binary_instance_logging_to(&app, &logs).await;
    let view = replica.open_task_modal("").await;
    let answer = replica
        .submit_task(&view, &TaskValues::new("Traced", &[ALICE]))
        .await;
    let request_id = answer.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    eventually("the task", || {
        (app.tallyfy.tasks_titled("Traced") == 1).then_some(())
    })
    .await;
    // The replica runs as the binary, so it cannot be asked whether it is idle: wait for
    // the job's own log line instead.
    let created_lines = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l["message"] == "task created")
            .collect()
    };
    eventually("the job to log the task it created", || {
        let text = std::fs::read_to_string(&logs).ok()?;
        (!created_lines(&text).is_empty()).then_some(())
    })
    .await;
    replica.kill();
    let text = std::fs::read_to_string(&logs).unwrap();
    let _ = std::fs::remove_file(&logs);
    let created = created_lines(&text);
    assert_eq!(created.len(), 1, "{text}");
    assert_eq!(
        created[0]["span"]["request_id"],
        request_id.as_str(),
        "{}",
        created[0]
    );
    assert!(
        !text.contains(crate::fake_tallyfy::TOKEN),
        "no secrets in logs"
    );
    assert!(
        !text.contains(crate::fake_slack::BOT_TOKEN),
        "no secrets in logs"
    );
}

#[tokio::test]
async fn metrics_show_the_shared_queue_s_depth() {
    // Behind Sentinel a failover while the jobs are queued sends them to the replica's own
    // queue (the shared one is out of reach), or keeps the depth from being read: then it
    // is measured once more, with a new app.
    let failing_over = matches!(shared_redis(), SharedRedis::Sentinel { .. });
    for attempt in 1..=2 {
        let app = spawn_app_with(|env| {
            env.insert("JOB_CONCURRENCY".into(), "1".into());
        })
        .await;
        // The first job holds the replica's only slot while Tallyfy is slow.
        app.tallyfy
            .fault_next_create(crate::fake_tallyfy::Fault::Slow(
                std::time::Duration::from_secs(2),
            ));
        for title in ["Slow one", "Second", "Third", "Fourth"] {
            let view = app.open_task_modal("").await;
            app.submit_task(&view, &TaskValues::new(title, &[ALICE]))
                .await;
        }
        eventually("the first create", || {
            (!app.tallyfy.creates().is_empty()).then_some(())
        })
        .await;
        // The depth is read from Redis as /metrics is served; a read that failed (Redis
        // failing over) leaves the last one, so it is read again for a moment.
        let expected = |text: &str| {
            text.contains("tallyfy_slack_queue_waiting 3\n")
                && text.contains("tallyfy_slack_queue_pending 1\n")
        };
        let mut text = String::new();
        for _ in 0..10 {
            text = app.get("/metrics").await.text().await.unwrap();
            if expected(&text) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if failing_over && !expected(&text) && attempt == 1 {
            println!("Redis failed over while the jobs were queued: measuring again");
            continue;
        }
        assert!(text.contains("tallyfy_slack_queue_waiting 3\n"), "{text}");
        assert!(text.contains("tallyfy_slack_queue_pending 1\n"), "{text}");
        eventually("every task", || {
            (app.tallyfy.creates().len() == 4).then_some(())
        })
        .await;
        return;
    }
}

#[tokio::test]
async fn with_metrics_addr_metrics_are_served_there_and_not_on_the_public_port() {
    let port = free_port();
    let app = spawn_app_with(|env| {
        env.insert("METRICS_ADDR".into(), format!("127.0.0.1:{port}"));
    })
    .await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    assert_eq!(app.get("/healthz").await.status(), 200);
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("tallyfy_slack_"));
    let elsewhere = reqwest::get(format!("http://127.0.0.1:{port}/slack/commands"))
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
}

#[tokio::test]
async fn readiness_says_what_is_degraded_without_any_error_text() {
    let app = spawn_app_with(|env| {
        env.insert("REDIS_URL".into(), "redis://:hunter2@127.0.0.1:1".into());
    })
    .await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["degraded"], serde_json::json!(["store"]), "{body}");
    assert!(body.get("error").is_none(), "{body}");
    let text = body.to_string().to_lowercase();
    for leak in ["127.0.0.1", "refused", "hunter2", "error"] {
        assert!(!text.contains(leak), "{leak} in {body}");
    }
}

/// `INFO commandstats`'s count of PING calls.
async fn pings(admin_url: &str) -> u64 {
    let mut conn = redis::Client::open(admin_url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_ping:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn anyone_asking_for_readiness_over_and_over_does_not_reach_redis_each_time() {
    let redis = OwnRedis::start().await;
    let url = redis.url.clone();
    let app = spawn_app_with(move |env| {
        env.insert("REDIS_URL".into(), url);
    })
    .await;
    let before = pings(&redis.admin_url).await;
    let asks = futures::future::join_all((0..400).map(|_| app.get("/readyz"))).await;
    assert!(asks.iter().all(|r| r.status() == 200));
    let after = pings(&redis.admin_url).await;
    assert!(
        after - before < 40,
        "400 readiness checks sent {} PINGs to Redis",
        after - before
    );
    let body: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}
