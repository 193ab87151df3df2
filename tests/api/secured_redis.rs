//! A Redis that requires a password, and one reached over TLS: the store and the job queue
//! work through them end to end, and a wrong password degrades a replica without stopping it.

use std::time::Duration;

use crate::helpers::*;

const PASSWORD: &str = "correct-horse-battery-staple";

async fn submit(app: &TestApp, title: &str) {
    let view = app.open_task_modal("").await;
    let answer = app
        .submit_task(&view, &TaskValues::new(title, &[ALICE]))
        .await;
    assert_eq!(answer.status(), 200);
}

/// What `redis` holds under the app's prefix, read as an administrator.
async fn keys(redis: &OwnRedis, app: &TestApp) -> Vec<String> {
    let client = redis::Client::open(redis.admin_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg(format!("{}:*", app.prefix))
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_task_runs_end_to_end_through_a_redis_that_requires_a_password() {
    let redis = OwnRedis::start_secured(Security {
        password: Some(PASSWORD.into()),
        tls: None,
    })
    .await;
    let url = redis.url.clone();
    assert!(url.starts_with(&format!("redis://:{PASSWORD}@")), "{url}");
    let app = spawn_app_with(move |env| {
        env.insert("REDIS_URL".into(), url);
    })
    .await;
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    submit(&app, "Through a password").await;
    let message = announced(&app, Duration::from_secs(10)).await;
    assert!(message.body().contains("Through a password"));
    app.idle().await;
    assert_eq!(app.tallyfy.tasks_titled("Through a password"), 1);
    assert!(queued_in_redis(&app).await, "the job went through Redis");
    let stored = keys(&redis, &app).await;
    assert!(
        stored.iter().any(|k| k.contains(":submission:")),
        "the submission was claimed in this Redis: {stored:?}"
    );
}

#[tokio::test]
async fn a_task_runs_end_to_end_through_redis_over_tls() {
    let tls = TlsFiles::make();
    let redis = OwnRedis::start_secured(Security {
        password: Some(PASSWORD.into()),
        tls: Some(tls.clone()),
    })
    .await;
    let url = redis.url.clone();
    assert!(url.starts_with("rediss://"), "{url}");
    // The replica trusts the test's certificate authority the way a deployment trusts a
    // private one: SSL_CERT_FILE, read by the process at start.
    let ca = tls.ca.display().to_string();
    let app = spawn_binary_app_with(move |env| {
        env.insert("REDIS_URL".into(), url);
        env.insert("SSL_CERT_FILE".into(), ca);
    })
    .await;
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    submit(&app, "Through TLS").await;
    let message = announced(&app, Duration::from_secs(15)).await;
    assert!(message.body().contains("Through TLS"));
    assert!(queued_in_redis(&app).await, "the job went through Redis");
    let stored = keys(&redis, &app).await;
    assert!(
        stored.iter().any(|k| k.contains(":submission:")),
        "the submission was claimed in this Redis: {stored:?}"
    );
    assert_eq!(app.tallyfy.tasks_titled("Through TLS"), 1);
    let _ = std::fs::remove_dir_all(&tls.dir);
}

#[tokio::test]
async fn a_wrong_redis_password_degrades_the_replica_and_it_still_serves() {
    let redis = OwnRedis::start_secured(Security {
        password: Some(PASSWORD.into()),
        tls: None,
    })
    .await;
    let url = redis.url.replace(PASSWORD, "not-the-password");
    let app = spawn_app_with(move |env| {
        env.insert("REDIS_URL".into(), url);
    })
    .await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "degraded", "{body}");
    // The work runs in the replica meanwhile.
    submit(&app, "Without Redis").await;
    announced(&app, Duration::from_secs(10)).await;
    assert_eq!(app.tallyfy.tasks_titled("Without Redis"), 1);
    assert!(!body.to_string().contains("not-the-password"), "{body}");
}
