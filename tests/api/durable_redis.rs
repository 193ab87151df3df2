//! The shipped Redis (`manifests/k8s/redis.yaml`, read by the test) keeps the work it
//! holds across its own restart: jobs waiting in the shared queue are all run, once.

use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn jobs_waiting_when_the_shipped_redis_restarts_are_all_run_once() {
    let mut redis = OwnRedis::start_shipped().await;
    let url = redis.url.clone();
    let mut app = spawn_app_with(move |env| {
        env.insert("REDIS_URL".into(), url);
        // One job at a time, so the others wait in the shared queue.
        env.insert("JOB_CONCURRENCY".into(), "1".into());
        env.insert("JOB_CLAIM_TIMEOUT_SECS".into(), "2".into());
        env.insert("SHUTDOWN_DRAIN_SECS".into(), "1".into());
    })
    .await;
    // Tallyfy is down: the first job keeps retrying, the rest wait for it.
    app.tallyfy.unavailable_for(Duration::from_secs(8));
    let titles = ["Waiting one", "Waiting two", "Waiting three"];
    for title in titles {
        let view = app.open_task_modal("").await;
        let answer = app
            .submit_task(&view, &TaskValues::new(title, &[ALICE]))
            .await;
        assert_eq!(answer.status(), 200);
    }
    eventually("a first attempt at Tallyfy", || {
        (!app.tallyfy.creates().is_empty()).then_some(())
    })
    .await;

    // Every replica stops (the job in flight is handed back), then Redis restarts as
    // Kubernetes restarts its pod.
    app.stop().await;
    assert_eq!(app.tallyfy.tasks_created(), 0, "nothing created yet");
    redis = redis.restart().await;
    let app = app.restart().await;

    for title in titles {
        eventually_within(Duration::from_secs(40), title, || {
            (app.tallyfy.tasks_titled(title) == 1).then_some(())
        })
        .await;
    }
    app.idle().await;
    for title in titles {
        assert_eq!(app.tallyfy.tasks_titled(title), 1, "{title} created once");
    }
    assert_eq!(announcements(&app), titles.len(), "each announced once");
    drop(redis);
}

/// The value of the metric line that starts with `name ` in `/metrics`.
fn metric(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test]
async fn the_metrics_tell_how_full_redis_is() {
    let redis = OwnRedis::start_shipped().await;
    let url = redis.url.clone();
    let app = spawn_app_with(move |env| {
        env.insert("REDIS_URL".into(), url);
    })
    .await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let used = metric(&metrics, "tallyfy_slack_redis_used_memory_bytes");
    assert!(used.is_some_and(|used| used > 0.0), "{metrics}");
    // The shipped manifest's maxmemory, 512mb.
    assert_eq!(
        metric(&metrics, "tallyfy_slack_redis_maxmemory_bytes"),
        Some(512.0 * 1024.0 * 1024.0),
        "{metrics}"
    );

    // Frozen, Redis does not hold the scrape up, and the last reading is not passed off
    // as a current one.
    redis.pause();
    let started = std::time::Instant::now();
    let metrics = app.get("/metrics").await.text().await.unwrap();
    redis.resume();
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert_eq!(
        metric(&metrics, "tallyfy_slack_redis_used_memory_bytes"),
        None,
        "{metrics}"
    );
}
