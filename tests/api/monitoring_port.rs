//! Metrics stay off the public port unless asked for; the monitoring port answers probes
//! too, so nothing an operator needs is on the port Slack's requests come in through.

use crate::helpers::*;

#[tokio::test]
async fn without_metrics_addr_metrics_are_not_on_the_public_port() {
    let app = spawn_app_with(|env| {
        env.remove("METRICS_ADDR");
    })
    .await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    // The previous release's probes keep working.
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn metrics_on_the_public_port_when_asked_for() {
    let app = spawn_app_with(|env| {
        env.insert("METRICS_ADDR".into(), "public".into());
    })
    .await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("tallyfy_slack_"));
}

#[tokio::test]
async fn the_monitoring_port_answers_probes_and_metrics_and_nothing_else() {
    let port = free_port();
    let _app = spawn_app_with(|env| {
        env.insert("METRICS_ADDR".into(), format!("127.0.0.1:{port}"));
    })
    .await;
    let get = |path: &'static str| reqwest::get(format!("http://127.0.0.1:{port}{path}"));
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let ready: serde_json::Value = get("/readyz").await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(get("/metrics").await.unwrap().status(), 200);
    assert_eq!(get("/slack/commands").await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_monitoring_port_already_taken_by_default_does_not_stop_the_service() {
    // The default address, 127.0.0.1:9100, held by something else.
    let _taken = std::net::TcpListener::bind("127.0.0.1:9100");
    let app = spawn_app_with(|env| {
        env.remove("METRICS_ADDR");
    })
    .await;
    assert_eq!(app.get("/healthz").await.status(), 200);
}
