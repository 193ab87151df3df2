//! Every `/slack/*` request is verified before anything else happens.

use serde_json::json;

use crate::helpers::*;

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn unsigned_requests_get_401_and_cause_nothing() {
    let app = spawn_app().await;
    let trigger = app.slack.issue_trigger();
    let body = app.command_body("/task", "Review <@UALICE>", CHANNEL, &trigger, "h");
    for path in ["/slack/commands", "/slack/interactions", "/slack/events"] {
        let response = reqwest::Client::new()
            .post(app.url(path))
            .header("content-type", FORM)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
    app.idle().await;
    assert!(app.slack.calls("views.open").is_empty());
    assert!(app.slack.calls("users.info").is_empty());
    assert!(app.tallyfy.requests().is_empty());
}

#[tokio::test]
async fn wrongly_signed_stale_and_future_requests_get_401() {
    let app = spawn_app().await;
    let trigger = app.slack.issue_trigger();
    let body = app.command_body("/task", "Review", CHANNEL, &trigger, "h");

    let forged = reqwest::Client::new()
        .post(app.url("/slack/commands"))
        .header("content-type", FORM)
        .header("X-Slack-Request-Timestamp", now().to_string())
        .header(
            "X-Slack-Signature",
            "v0=0000000000000000000000000000000000000000000000000000000000000000",
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    let stale = app
        .post_signed_at("/slack/commands", FORM, body.clone(), now() - 301)
        .await;
    assert_eq!(stale.status(), 401);
    let future = app
        .post_signed_at("/slack/commands", FORM, body.clone(), now() + 301)
        .await;
    assert_eq!(future.status(), 401);

    app.idle().await;
    assert!(
        app.slack.calls("views.open").is_empty(),
        "a refused request opened a modal"
    );

    // The same body, properly signed and fresh, is accepted: the refusals were the signature's doing.
    let fresh = app.post_signed("/slack/commands", FORM, body).await;
    assert_eq!(fresh.status(), 200);
}

#[tokio::test]
async fn a_signature_over_a_different_body_is_refused() {
    let app = spawn_app().await;
    let trigger = app.slack.issue_trigger();
    let signed_body = app.command_body("/task", "harmless", CHANNEL, &trigger, "h");
    let sent_body = app.command_body("/task", "tampered", CHANNEL, &trigger, "h");
    let ts = now().to_string();
    let signature = tallyfy_slack::slack::signature::Verifier::new(
        tallyfy_slack::config::Secret::new(SIGNING_SECRET),
    )
    .sign(&ts, signed_body.as_bytes());
    let response = reqwest::Client::new()
        .post(app.url("/slack/commands"))
        .header("content-type", FORM)
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", signature)
        .body(sent_body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn malformed_signed_bodies_get_400() {
    let app = spawn_app().await;
    let missing_fields = app
        .post_signed("/slack/commands", FORM, "command=%2Ftask&text=hi".into())
        .await;
    assert_eq!(missing_fields.status(), 400);
    let no_payload = app
        .post_signed("/slack/interactions", FORM, "nothing=here".into())
        .await;
    assert_eq!(no_payload.status(), 400);
    let bad_json = app
        .post_signed("/slack/interactions", FORM, "payload=%7Bnot-json".into())
        .await;
    assert_eq!(bad_json.status(), 400);
    let bad_event = app
        .post_signed("/slack/events", "application/json", "{".into())
        .await;
    assert_eq!(bad_event.status(), 400);
}

#[tokio::test]
async fn ssl_checks_and_url_verification_are_answered() {
    let app = spawn_app().await;
    let ssl = app
        .post_signed("/slack/commands", FORM, "ssl_check=1&token=abc".into())
        .await;
    assert_eq!(ssl.status(), 200);

    let challenge = json!({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"});
    let response = app
        .post_signed("/slack/events", "application/json", challenge.to_string())
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
}
