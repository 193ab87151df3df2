//! A Tallyfy access token that stops working is renewed with the refresh token, once for
//! every replica, and the work goes on; without a way to renew it, the requester is told.

use std::time::Duration;

use crate::fake_tallyfy::{CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN};
use crate::helpers::*;

/// The app, with token refresh configured against the fake's token endpoint.
async fn spawn_app_renewing(refresh_token: &str) -> TestApp {
    let refresh_token = refresh_token.to_string();
    spawn_app_with(move |env| {
        let base = env["TALLYFY_API_URL"].trim_end_matches("/api").to_string();
        env.insert("TALLYFY_TOKEN_URL".into(), format!("{base}/oauth/token"));
        env.insert("TALLYFY_CLIENT_ID".into(), CLIENT_ID.into());
        env.insert("TALLYFY_CLIENT_SECRET".into(), CLIENT_SECRET.into());
        env.insert("TALLYFY_REFRESH_TOKEN".into(), refresh_token);
    })
    .await
}

async fn submit(app: &TestApp, title: &str) {
    let view = app.open_task_modal("").await;
    let answer = app
        .submit_task(&view, &TaskValues::new(title, &[ALICE]))
        .await;
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn an_expired_token_is_renewed_and_the_task_created_once() {
    let app = spawn_app_renewing(REFRESH_TOKEN).await;
    app.tallyfy.expire_access_token();
    submit(&app, "After renewal").await;
    let message = announced(&app, Duration::from_secs(10)).await;
    assert!(message.text().contains("After renewal"));
    assert_eq!(app.tallyfy.refreshes(), 1);
    assert_eq!(app.tallyfy.tasks_titled("After renewal"), 1);
    assert!(
        app.tallyfy.unauthorized() >= 1,
        "the old token was refused first"
    );
}

#[tokio::test]
async fn replicas_share_one_renewal_and_a_restart_keeps_the_new_tokens() {
    let first = spawn_app_renewing(REFRESH_TOKEN).await;
    let second = spawn_second_instance(&first).await;
    first.tallyfy.slow_refreshes(Duration::from_millis(300));
    first.tallyfy.expire_access_token();
    let (a, b) = tokio::join!(submit(&first, "From one"), submit(&second, "From two"));
    let _ = (a, b);
    eventually("both tasks", || {
        (first.tallyfy.tasks_titled("From one") == 1 && first.tallyfy.tasks_titled("From two") == 1)
            .then_some(())
    })
    .await;
    assert_eq!(
        first.tallyfy.refreshes(),
        1,
        "one refresh for every replica"
    );

    // The refresh token in the configuration was used up; a restarted replica goes on
    // with the tokens the renewal kept in Redis.
    drop(second);
    let app = first.restart().await;
    app.tallyfy.expire_access_token();
    submit(&app, "After a restart").await;
    eventually("the task after a restart", || {
        (app.tallyfy.tasks_titled("After a restart") == 1).then_some(())
    })
    .await;
    assert_eq!(app.tallyfy.refreshes(), 2);
}

#[tokio::test]
async fn without_a_refresh_token_the_requester_is_told_the_credentials_need_attention() {
    let app = spawn_app().await;
    app.tallyfy.expire_access_token();
    submit(&app, "Refused").await;
    let (_, notice) = first_reply(&app, "the notice").await;
    let text = notice.text();
    assert!(
        text.contains("Refused") && text.contains("was not created"),
        "{text}"
    );
    assert!(text.contains("credentials need attention"), "{text}");
    assert_eq!(app.tallyfy.tasks_created(), 0);
    assert_eq!(app.tallyfy.refreshes(), 0);
}

#[tokio::test]
async fn a_refused_refresh_token_is_told_the_same_way() {
    let app = spawn_app_renewing("not-the-refresh-token").await;
    app.tallyfy.expire_access_token();
    submit(&app, "Still refused").await;
    let (_, notice) = first_reply(&app, "the notice").await;
    let text = notice.text();
    assert!(text.contains("credentials need attention"), "{text}");
    assert_eq!(app.tallyfy.refreshes(), 0);
    assert_eq!(app.tallyfy.tasks_created(), 0);
    // The app still serves.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

/// The raw value the app keeps its tokens under.
async fn raw_tokens(app: &TestApp) -> Option<String> {
    let mut conn = shared_conn().await;
    redis::cmd("GET")
        .arg(format!("{}:tallyfy:tokens", app.prefix))
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn renewed_tokens_are_kept_in_redis_encrypted() {
    let app = spawn_app_renewing(REFRESH_TOKEN).await;
    app.tallyfy.expire_access_token();
    submit(&app, "Sealed tokens").await;
    announced(&app, Duration::from_secs(10)).await;
    assert_eq!(app.tallyfy.refreshes(), 1);
    let raw = raw_tokens(&app).await.expect("the renewed tokens are kept");
    for token in ["tallyfy-access-1", "tallyfy-refresh-1", "access_token"] {
        assert!(!raw.contains(token), "{token} is readable in {raw}");
    }
    // Another replica opens them: it uses the renewed token without renewing again.
    let second = spawn_second_instance(&app).await;
    submit(&second, "Opened by another replica").await;
    eventually("the second task", || {
        (app.tallyfy.tasks_titled("Opened by another replica") == 1).then_some(())
    })
    .await;
    assert_eq!(app.tallyfy.refreshes(), 1);
}

#[tokio::test]
async fn stored_tokens_that_do_not_open_under_the_key_are_treated_as_absent() {
    let other_key = tallyfy_slack::seal::Key::from_bytes([9; 32]);
    let planted = r#"{"access_token":"planted-access","refresh_token":"planted-refresh"}"#;
    let values = [
        // Sealed under another key, as a replica with another STORE_ENCRYPTION_KEY would.
        tallyfy_slack::seal::Sealer::new(&other_key).seal("tallyfy:tokens", planted),
        // In the clear, as someone with access to Redis could write them.
        planted.to_string(),
    ];
    for value in values {
        let app = spawn_app_renewing(REFRESH_TOKEN).await;
        let mut conn = shared_conn().await;
        let _: () = redis::cmd("SET")
            .arg(format!("{}:tallyfy:tokens", app.prefix))
            .arg(&value)
            .query_async(&mut conn)
            .await
            .unwrap();
        submit(&app, "With the configured token").await;
        announced(&app, Duration::from_secs(10)).await;
        assert_eq!(app.tallyfy.tasks_titled("With the configured token"), 1);
        assert_eq!(
            app.tallyfy.unauthorized(),
            0,
            "the stored value was not used: {value}"
        );
        assert_eq!(app.tallyfy.refreshes(), 0);
    }
}
