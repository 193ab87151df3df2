//! Strangers cannot starve Slack: a crowd of connections that prove nothing (a wrong
//! Slack signature, a made-up webhook token) and trickle large bodies does not keep
//! Slack's own signed commands from being answered, nor swell the service's memory.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::*;

const FORM: &str = "application/x-www-form-urlencoded";
const STRANGERS: usize = 1_100;
const MEMORY_CEILING_KIB: u64 = 160 * 1024;

/// Raises this process's soft limit on open files to its hard limit: the crowd needs more
/// sockets than a default soft limit of 1024 allows.
fn raise_open_file_limit() {
    // SAFETY: getrlimit and setrlimit are given a valid rlimit to read and write.
    unsafe {
        let mut limit = std::mem::zeroed::<libc::rlimit>();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// A stranger's opening: headers announcing a large body, then its first few bytes.
fn opening(i: usize) -> String {
    if i.is_multiple_of(2) {
        let ts = now();
        format!(
            "POST /slack/commands HTTP/1.1\r\nhost: x\r\ncontent-type: {FORM}\r\ncontent-length: 1000000\r\nx-slack-request-timestamp: {ts}\r\nx-slack-signature: v0={:064x}\r\n\r\ncommand=",
            i
        )
    } else {
        format!(
            "POST /tallyfy/webhook/{:032x} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-tallyfy-orgid: org\r\ncontent-length: 60000\r\n\r\n{{",
            i * 7919 + 1
        )
    }
}

/// Opens a stranger's connection and trickles a byte every so often until `until`; a
/// connection the service closes is opened again (strangers are persistent).
async fn stranger(app_addr: String, i: usize, until: Instant) {
    while Instant::now() < until {
        let Ok(mut stream) = TcpStream::connect(&app_addr).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if stream.write_all(opening(i).as_bytes()).await.is_err() {
            continue;
        }
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if stream.write_all(b"a").await.is_err() {
                break;
            }
        }
    }
}

/// Resident memory and its high-water mark of process `pid`, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_trickling_bodies_do_not_keep_signed_commands_from_being_answered() {
    raise_open_file_limit();
    let app = spawn_binary_app_with(|_| {}).await;
    let pid = app.pid().expect("the service runs as its own process");
    let addr = app.address.trim_start_matches("http://").to_string();
    let until = Instant::now() + Duration::from_secs(14);
    let crowd: Vec<_> = (0..STRANGERS)
        .map(|i| tokio::spawn(stranger(addr.clone(), i, until)))
        .collect();
    // Let the crowd arrive and settle in.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let slack = reqwest::Client::new();
    let mut answered = 0;
    while Instant::now() + Duration::from_secs(4) < until {
        let trigger = app.slack.issue_trigger();
        let body = app.command_body("/task", "help", CHANNEL, &trigger, "h");
        let ts = now().to_string();
        let signature = tallyfy_slack::slack::signature::Verifier::new(
            tallyfy_slack::config::Secret::new(SIGNING_SECRET),
        )
        .sign(&ts, body.as_bytes());
        let sent = Instant::now();
        let answer = slack
            .post(app.url("/slack/commands"))
            .header("content-type", FORM)
            .header("X-Slack-Request-Timestamp", ts)
            .header("X-Slack-Signature", signature)
            .body(body)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let took = sent.elapsed();
        let answer = answer.expect("Slack's signed command is answered while strangers crowd");
        assert_eq!(answer.status(), 200, "a signed /task help is answered");
        assert!(
            took < Duration::from_secs(3),
            "answered within Slack's 3 s, not {took:?}"
        );
        let text = answer.text().await.unwrap();
        assert!(text.contains("/task"), "{text}");
        answered += 1;
        let (rss, _) = memory_kib(pid);
        assert!(rss < MEMORY_CEILING_KIB, "the service holds {rss} KiB");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(answered >= 5, "only {answered} commands were sent");
    let (rss, peak) = memory_kib(pid);
    assert!(rss < MEMORY_CEILING_KIB, "the service holds {rss} KiB");
    assert!(
        peak < MEMORY_CEILING_KIB,
        "the service peaked at {peak} KiB"
    );
    for stranger in crowd {
        stranger.abort();
    }
}

#[tokio::test]
async fn a_made_up_webhook_token_is_refused_before_its_body_is_read() {
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let org = crate::fake_tallyfy::ORG;
    stream
        .write_all(
            format!(
                "POST /tallyfy/webhook/{} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-tallyfy-orgid: {org}\r\ncontent-length: 60000\r\n\r\n{{",
                "ab".repeat(16)
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(3), read)
        .await
        .expect("answered without waiting for the body");
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}
