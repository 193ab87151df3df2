//! The HTTP server on the open internet: stalled clients are dropped, bodies are read
//! only for requests that carry a plausible signature, and there is a ceiling on
//! connections and on requests in flight.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const FORM: &str = "application/x-www-form-urlencoded";

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the peer closes the connection (or it breaks); what was read.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&seen).into_owned(),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads until the status line and headers of an answer have arrived.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn stalled_clients_are_dropped_while_health_still_answers() {
    let app = spawn_app().await;
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = connect(&app).await;
        stream
            .write_all(b"POST /slack/commands HTTP/1.1\r\n")
            .await
            .unwrap();
        stalled.push(stream);
    }
    let started = Instant::now();
    let health = tokio::time::timeout(Duration::from_secs(2), app.get("/healthz"))
        .await
        .expect("/healthz answers while 200 clients stall");
    assert_eq!(health.status(), 200);

    let all_closed = futures::future::join_all(
        stalled
            .iter_mut()
            .map(|stream| async move { read_to_close(stream).await }),
    );
    tokio::time::timeout(Duration::from_secs(20), all_closed)
        .await
        .expect("every stalled connection is closed within 20 s");
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "closed too early"
    );
    // A new connection: the first one, idle since, was closed with the stalled ones.
    let health = reqwest::Client::new().get(app.url("/healthz")).send();
    let health = tokio::time::timeout(Duration::from_secs(2), health)
        .await
        .expect("/healthz still answers")
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_request_without_signature_headers_is_refused_before_its_body_is_read() {
    let app = spawn_app().await;
    let mut stream = connect(&app).await;
    stream
        .write_all(
            format!(
                "POST /slack/commands HTTP/1.1\r\nhost: x\r\ncontent-type: {FORM}\r\ncontent-length: 500000\r\n\r\ncommand=%2Ftask"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let head = tokio::time::timeout(Duration::from_secs(3), read_head(&mut stream))
        .await
        .expect("answered without waiting for the body");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

#[tokio::test]
async fn a_stale_timestamp_is_refused_before_the_body_is_read() {
    let app = spawn_app().await;
    let mut stream = connect(&app).await;
    let stale = now() - 3600;
    stream
        .write_all(
            format!(
                "POST /slack/commands HTTP/1.1\r\nhost: x\r\ncontent-type: {FORM}\r\ncontent-length: 500000\r\nx-slack-request-timestamp: {stale}\r\nx-slack-signature: v0=00\r\n\r\ncommand=%2Ftask"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let head = tokio::time::timeout(Duration::from_secs(3), read_head(&mut stream))
        .await
        .expect("answered without waiting for the body");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

#[tokio::test]
async fn a_signed_request_with_a_timestamp_near_the_smallest_number_is_refused() {
    let app = spawn_app().await;
    let trigger = app.slack.issue_trigger();
    let body = app.command_body("/task", "Review", CHANNEL, &trigger, "h");
    for ts in [i64::MIN, i64::MIN + 1, i64::MAX] {
        let response = app
            .post_signed_at("/slack/commands", FORM, body.clone(), ts)
            .await;
        assert_eq!(response.status(), 401, "timestamp {ts}");
    }
    app.idle().await;
    assert!(app.slack.calls("views.open").is_empty());
}

/// Signed headers, then a body that never finishes: the request holds its place.
async fn stalled_body(app: &TestApp) -> TcpStream {
    let mut stream = connect(app).await;
    let ts = now();
    stream
        .write_all(
            format!(
                "POST /slack/commands HTTP/1.1\r\nhost: x\r\ncontent-type: {FORM}\r\ncontent-length: 5000\r\nx-slack-request-timestamp: {ts}\r\nx-slack-signature: v0={}\r\n\r\ncommand=%2Ftask",
                "0".repeat(64)
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408() {
    let app = spawn_app_with(|env| {
        env.insert("HTTP_BODY_TIMEOUT_SECS".into(), "1".into());
    })
    .await;
    let mut stream = stalled_body(&app).await;
    let head = tokio::time::timeout(Duration::from_secs(5), read_head(&mut stream))
        .await
        .expect("the slow body is given up on");
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
}

#[tokio::test]
async fn requests_past_the_ceiling_in_flight_get_503_at_once() {
    let app = spawn_app_with(|env| {
        env.insert("HTTP_MAX_IN_FLIGHT".into(), "1".into());
    })
    .await;
    // A signed request that takes a while to answer (Slack is slow to say who someone is)
    // holds the one place.
    app.slack.set_users_info_delay(Duration::from_secs(2));
    let held = app.command("/task", "whois <@UALICE>");
    let next = async {
        // Once the held request has reached the server, the next one is refused at once.
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let trigger = app.slack.issue_trigger();
            let body = app.command_body("/task", "help", CHANNEL, &trigger, "h");
            let answer = tokio::time::timeout(
                Duration::from_secs(2),
                app.post_signed("/slack/commands", FORM, body),
            )
            .await
            .expect("answered at once rather than queued");
            if answer.status() == 503 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "never refused");
        }
    };
    let ((held, _), ()) = tokio::join!(held, next);
    assert_eq!(held.status(), 200);
    // The operator's routes are not counted.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_body_with_a_wrong_signature_holds_no_place_in_flight() {
    let app = spawn_app_with(|env| {
        env.insert("HTTP_MAX_IN_FLIGHT".into(), "1".into());
    })
    .await;
    let _held = stalled_body(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (answer, _) = app.command("/task", "help").await;
    assert_eq!(answer.status(), 200);
}

/// Opens a connection and sends a signed `/task help` on it, kept alive: a connection that
/// has proved itself.
async fn proven(app: &TestApp) -> TcpStream {
    let mut stream = connect(app).await;
    let trigger = app.slack.issue_trigger();
    let body = app.command_body("/task", "help", CHANNEL, &trigger, "h");
    let ts = now().to_string();
    let signature = tallyfy_slack::slack::signature::Verifier::new(
        tallyfy_slack::config::Secret::new(SIGNING_SECRET),
    )
    .sign(&ts, body.as_bytes());
    stream
        .write_all(
            format!(
                "POST /slack/commands HTTP/1.1\r\nhost: x\r\ncontent-type: {FORM}\r\ncontent-length: {}\r\nx-slack-request-timestamp: {ts}\r\nx-slack-signature: {signature}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    stream
}

#[tokio::test]
async fn connections_past_the_ceiling_are_closed_at_once() {
    let app = spawn_app_with(|env| {
        env.insert("HTTP_MAX_CONNECTIONS".into(), "2".into());
    })
    .await;
    let _first = proven(&app).await;
    let _second = proven(&app).await;
    let mut third = connect(&app).await;
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let seen = tokio::time::timeout(Duration::from_secs(3), read_to_close(&mut third))
        .await
        .expect("the connection past the ceiling is closed");
    assert!(seen.is_empty(), "{seen}");
    drop(_first);
    drop(_second);
    // Their places free up once the server has seen them go.
    let started = Instant::now();
    loop {
        let health = reqwest::Client::new().get(app.url("/healthz")).send().await;
        if health.is_ok_and(|h| h.status() == 200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "places never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn strangers_filling_every_place_make_room_for_a_new_connection() {
    let app = spawn_app_with(|env| {
        env.insert("HTTP_MAX_CONNECTIONS".into(), "2".into());
    })
    .await;
    // Two connections that prove nothing take every place...
    let mut oldest = connect(&app).await;
    let _second = connect(&app).await;
    // ...and send nothing for longer than a new connection is given to be heard from...
    tokio::time::sleep(Duration::from_millis(600)).await;
    // ...yet Slack's signed command on a new one is answered: the oldest stranger goes.
    let (answer, _) = app.command("/task", "help").await;
    assert_eq!(answer.status(), 200);
    let seen = tokio::time::timeout(Duration::from_secs(3), read_to_close(&mut oldest))
        .await
        .expect("the oldest stranger is closed");
    assert!(seen.is_empty(), "{seen}");
}
