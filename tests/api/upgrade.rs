//! An installation configured for the previous release keeps working after an upgrade:
//! with Redis and Tallyfy token refresh, and neither `JOB_SIGNING_KEY` nor
//! `STORE_ENCRYPTION_KEY` set, the binary starts, signs the jobs on the shared queue and
//! keeps renewed tokens encrypted with keys derived from the secrets it already has, and
//! every replica with the same settings derives the same keys.

use std::time::Duration;

use crate::fake_tallyfy::{CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN};
use crate::helpers::*;

/// The settings the previous release needed for several replicas with token refresh.
fn previous_release(env: &mut std::collections::HashMap<String, String>) {
    env.remove("JOB_SIGNING_KEY");
    env.remove("STORE_ENCRYPTION_KEY");
    let base = env["TALLYFY_API_URL"].trim_end_matches("/api").to_string();
    env.insert("TALLYFY_TOKEN_URL".into(), format!("{base}/oauth/token"));
    env.insert("TALLYFY_CLIENT_ID".into(), CLIENT_ID.into());
    env.insert("TALLYFY_CLIENT_SECRET".into(), CLIENT_SECRET.into());
    env.insert("TALLYFY_REFRESH_TOKEN".into(), REFRESH_TOKEN.into());
}

#[tokio::test]
async fn the_previous_releases_settings_start_and_a_task_goes_end_to_end() {
    let app = spawn_binary_app_with(previous_release).await;
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    app.tallyfy.expire_access_token();
    let view = app.open_task_modal("").await;
    let answer = app
        .submit_task(&view, &TaskValues::new("After the upgrade", &[ALICE]))
        .await;
    assert_eq!(answer.status(), 200);
    let message = announced(&app, Duration::from_secs(10)).await;
    assert!(message.text().contains("After the upgrade"), "{message:?}");
    assert_eq!(app.tallyfy.tasks_titled("After the upgrade"), 1);
    assert_eq!(app.tallyfy.refreshes(), 1);
    assert!(
        queued_in_redis(&app).await,
        "the job went through Redis, signed"
    );

    // Another replica with the same settings reads the renewed tokens the first kept
    // (encrypted with the same derived key), so it does not renew them again.
    let second = spawn_second_instance(&app).await;
    let view = second.open_task_modal("").await;
    let answer = second
        .submit_task(&view, &TaskValues::new("On the second replica", &[ALICE]))
        .await;
    assert_eq!(answer.status(), 200);
    eventually("the second task", || {
        (app.tallyfy.tasks_titled("On the second replica") == 1).then_some(())
    })
    .await;
    assert_eq!(
        app.tallyfy.refreshes(),
        1,
        "the second replica used the tokens the first renewed"
    );
}
