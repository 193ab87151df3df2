//! Socket Mode: commands and interactions over a WebSocket, through the same code as HTTP,
//! acknowledged with their answers, and a connection that comes back after disconnects.

use serde_json::{json, Value};

use crate::fake_slack::{self, APP_TOKEN};
use crate::helpers::*;

/// The app over Socket Mode only: an app-level token and no signing secret.
async fn spawn_socket_app() -> TestApp {
    let app = spawn_app_with(|env| {
        env.insert("SLACK_APP_TOKEN".into(), APP_TOKEN.into());
        env.remove("SLACK_SIGNING_SECRET");
    })
    .await;
    eventually("the socket to connect", || {
        app.slack.socket_connected().then_some(())
    })
    .await;
    app
}

fn command_envelope(app: &TestApp, id: &str, text: &str, trigger: &str) -> Value {
    json!({
        "envelope_id": id,
        "type": "slash_commands",
        "accepts_response_payload": true,
        "payload": {
            "token": "x", "team_id": fake_slack::TEAM, "team_domain": "test", "channel_id": CHANNEL,
            "channel_name": "projects", "user_id": REQUESTER, "user_name": "rita", "command": "/task",
            "text": text, "api_app_id": "A0TEST", "is_enterprise_install": "false",
            "response_url": app.slack.response_url("socket-hook"), "trigger_id": trigger
        }
    })
}

async fn ack_for(app: &TestApp, id: &str) -> Value {
    eventually("the acknowledgement", || {
        app.slack
            .acks()
            .into_iter()
            .find(|a| a["envelope_id"] == id)
    })
    .await
}

#[tokio::test]
async fn a_task_is_created_end_to_end_over_the_socket() {
    let app = spawn_socket_app().await;
    let trigger = app.slack.issue_trigger();
    assert!(app.slack.socket_send(command_envelope(
        &app,
        "env-1",
        "Ship the release <@UALICE> tomorrow",
        &trigger
    )));
    let ack = ack_for(&app, "env-1").await;
    assert!(
        ack.get("payload").is_none(),
        "a modal-opening command is acknowledged empty: {ack}"
    );
    let view = eventually("the modal", || app.slack.opened_view(&trigger)).await;
    assert_eq!(
        block(&view, "title")["element"]["initial_value"],
        "Ship the release"
    );

    let mut values = TaskValues::new("Ship the release", &[ALICE]);
    values.title = Some(String::new());
    let invalid = submission(
        &view.id,
        &view.hash,
        view.view["private_metadata"].as_str().unwrap(),
        &values,
    );
    app.slack.socket_send(json!({"envelope_id": "env-2", "type": "interactive", "accepts_response_payload": true, "payload": invalid}));
    let ack = ack_for(&app, "env-2").await;
    assert_eq!(
        ack["payload"]["response_action"], "errors",
        "inline errors travel in the acknowledgement"
    );
    assert!(ack["payload"]["errors"]["title"].is_string());

    let valid = submission(
        &view.id,
        &view.hash,
        view.view["private_metadata"].as_str().unwrap(),
        &TaskValues::new("Ship the release", &[ALICE]),
    );
    app.slack.socket_send(json!({"envelope_id": "env-3", "type": "interactive", "accepts_response_payload": true, "payload": valid}));
    ack_for(&app, "env-3").await;
    eventually("the confirmation", || {
        app.slack
            .calls("chat.postMessage")
            .into_iter()
            .find(|c| c.body["channel"] == CHANNEL)
    })
    .await;
    assert_eq!(app.tallyfy.creates().len(), 1);
    assert_eq!(
        app.tallyfy.creates()[0].body["owners"]["users"],
        json!([1001])
    );
}

#[tokio::test]
async fn help_is_answered_in_the_acknowledgement() {
    let app = spawn_socket_app().await;
    app.slack
        .socket_send(command_envelope(&app, "env-help", "help", "unused"));
    let ack = ack_for(&app, "env-help").await;
    assert_eq!(ack["payload"]["response_type"], "ephemeral");
    assert!(ack["payload"]["text"].as_str().unwrap().contains("/task"));
}

#[tokio::test]
async fn the_socket_reconnects_after_a_disconnect_message_and_a_dropped_connection() {
    let app = spawn_socket_app().await;
    assert_eq!(app.slack.connections_opened(), 1);
    app.slack.socket_send(json!({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake"}}));
    eventually("a second connection", || {
        (app.slack.connections_opened() == 2 && app.slack.socket_connected()).then_some(())
    })
    .await;

    app.slack.socket_drop();
    eventually("a third connection", || {
        (app.slack.connections_opened() == 3 && app.slack.socket_connected()).then_some(())
    })
    .await;

    // And it still works.
    app.slack
        .socket_send(command_envelope(&app, "env-after", "help", "unused"));
    ack_for(&app, "env-after").await;
}

#[tokio::test]
async fn http_is_refused_when_only_socket_mode_is_configured() {
    let app = spawn_socket_app().await;
    let trigger = app.slack.issue_trigger();
    let body = app.command_body("/task", "x", CHANNEL, &trigger, "h");
    let response = app
        .post_signed("/slack/commands", "application/x-www-form-urlencoded", body)
        .await;
    assert_eq!(response.status(), 401);
}

/// The app over Socket Mode only, with `idle` seconds of silence before it reconnects.
async fn spawn_socket_app_idling(idle: &str) -> TestApp {
    let app = spawn_app_with(|env| {
        env.insert("SLACK_APP_TOKEN".into(), APP_TOKEN.into());
        env.insert("SLACK_SOCKET_IDLE_TIMEOUT_SECS".into(), idle.into());
        env.remove("SLACK_SIGNING_SECRET");
    })
    .await;
    eventually("the socket to connect", || {
        app.slack.socket_connected().then_some(())
    })
    .await;
    app
}

#[tokio::test]
async fn a_half_open_connection_is_noticed_and_replaced() {
    let app = spawn_socket_app_idling("2").await;
    app.slack.socket_freeze();
    eventually_within(
        std::time::Duration::from_secs(10),
        "a new connection after the old one went silent",
        || (app.slack.connections_opened() >= 2 && app.slack.socket_connected()).then_some(()),
    )
    .await;
    app.slack.socket_send(command_envelope(
        &app,
        "env-after-silence",
        "help",
        "unused",
    ));
    ack_for(&app, "env-after-silence").await;
}

#[tokio::test]
async fn a_disconnect_warning_keeps_the_old_connection_until_its_acknowledgements_are_sent() {
    let app = spawn_socket_app().await;
    // The answer to whois takes a moment: it is in flight when Slack warns.
    app.slack
        .set_users_info_delay(std::time::Duration::from_millis(700));
    app.slack.socket_send(command_envelope(
        &app,
        "env-in-flight",
        "whois <@UALICE>",
        "unused",
    ));
    app.slack.socket_send(
        json!({"type": "disconnect", "reason": "warning", "debug_info": {"host": "fake"}}),
    );
    let ack = ack_for(&app, "env-in-flight").await;
    assert!(
        ack["payload"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("UALICE"),
        "{ack}"
    );
    assert_eq!(app.slack.connections_opened(), 2);
}

#[tokio::test]
async fn a_socket_url_that_is_not_wss_is_refused_unless_on_loopback() {
    let app = spawn_socket_app().await;
    // A plain ws:// address that is not loopback (0.0.0.0 reaches this host all the same).
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = reached.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    app.slack
        .hand_out_socket_url(&format!("ws://0.0.0.0:{port}/socket"));
    app.slack.socket_drop();
    eventually("another connection attempt", || {
        (app.slack.connections_opened() >= 2).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        reached.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "connected to a ws:// address off loopback"
    );
}

#[tokio::test]
async fn a_command_from_another_team_over_the_socket_opens_no_form() {
    let app = spawn_socket_app().await;
    let trigger = app.slack.issue_trigger();
    let mut envelope = command_envelope(&app, "env-other", "Review", &trigger);
    envelope["payload"]["team_id"] = json!("T0OTHER");
    app.slack.socket_send(envelope);
    let ack = ack_for(&app, "env-other").await;
    assert_eq!(ack["payload"]["response_type"], "ephemeral", "{ack}");
    app.idle().await;
    assert!(app.slack.calls("views.open").is_empty());
}

#[tokio::test]
async fn a_connection_that_never_completes_is_given_up_and_tried_again() {
    let app = spawn_socket_app().await;
    // Accepts the TCP connection and never answers the WebSocket handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    app.slack
        .hand_out_socket_url(&format!("ws://127.0.0.1:{port}/socket"));
    app.slack.socket_drop();
    eventually_within(
        std::time::Duration::from_secs(20),
        "a new attempt after the stuck one was given up",
        || (app.slack.connections_opened() >= 3).then_some(()),
    )
    .await;
}
