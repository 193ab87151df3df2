//! The benchmark's load generator for the whole path of a form (`bench/run`): "New task"
//! submissions (`view_submission`, as Slack sends them: a form body whose `payload` is the
//! JSON, signed with the signing secret), each of a form of its own (its view id and hash),
//! so that every one is a new task. oha sends one body again and again, which the service
//! rightly takes once.
//!
//! ```text
//! bench-submit URL SECRET HOOK_URL rate 200 10      # 200 a second for 10 s
//! bench-submit URL SECRET HOOK_URL total 5000 32     # 5,000, 32 at once
//! ```
//!
//! A number of submissions, not a length of time, at saturation: the service answers a
//! submission before its work is done, so what a run costs is known only once the cards of
//! a known number of forms are posted.
//!
//! Prints one JSON line: `sent`, `ok` (2xx with an empty body: the form closed), `refused`
//! (any other answer), `errors` (no answer), `secs`, and the answer's `p50_ms`, `p99_ms`,
//! `max_ms`. At a fixed rate each submission is sent at its time on a task of its own
//! (open loop: a slow answer delays no later submission, so a stalled server shows in the
//! latency), and its time runs from when it is sent: tokio's timer wakes up to 1 ms late,
//! which is the load generator's, not the server's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

struct Run {
    url: String,
    secret: String,
    hook: String,
    prefix: String,
    next: AtomicU64,
    client: reqwest::Client,
    latencies: Mutex<Vec<Duration>>,
    ok: AtomicU64,
    refused: AtomicU64,
    errors: AtomicU64,
}

impl Run {
    /// A signed submission of a new form: (body, timestamp, signature).
    fn submission(&self) -> (String, String, String) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // The shape of tests/fixtures/view_submission_example.json and the "New task" form's
        // blocks (src/task/modal.rs), with the private metadata the form was opened with.
        let payload = json!({
            "type": "view_submission",
            "team": {"id": "T0BENCH", "domain": "bench"},
            "user": {"id": "U0BENCH", "username": "rita", "name": "rita", "team_id": "T0BENCH"},
            "api_app_id": "A0BENCH",
            "token": "deprecated",
            "trigger_id": format!("{n}.987654321.0123456789abcdef"),
            "view": {
                "id": format!("V{}{n:08}", self.prefix),
                "team_id": "T0BENCH",
                "type": "modal",
                "callback_id": "task_create",
                "private_metadata": json!({"c": "C0BENCH", "r": self.hook}).to_string(),
                "hash": format!("{n}.bench"),
                "title": {"type": "plain_text", "text": "New task"},
                "blocks": [],
                "state": {"values": {
                    "title": {"value": {"type": "plain_text_input", "value": format!("Review the Q4 report #{n}")}},
                    "assignees": {"value": {"type": "multi_users_select", "selected_users": ["U0BENCH"]}},
                    "deadline": {"value": {"type": "datetimepicker", "selected_date_time": now + 3 * 86400}},
                    "summary": {"value": {"type": "plain_text_input", "value": "Numbers in the shared drive"}},
                    "task_type": {"value": {"type": "static_select", "selected_option": {
                        "text": {"type": "plain_text", "text": "Task"}, "value": "task"}}}
                }}
            },
            "response_urls": [],
            "is_enterprise_install": false
        });
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        let ts = now.to_string();
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.secret.as_bytes());
        let tag = ring::hmac::sign(&key, format!("v0:{ts}:{body}").as_bytes());
        let sig = format!("v0={}", hex(tag.as_ref()));
        (body, ts, sig)
    }

    /// Sends one submission and keeps its time.
    async fn send(&self) {
        let (body, ts, sig) = self.submission();
        let sent = Instant::now();
        let answer = self
            .client
            .post(&self.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body)
            .send()
            .await;
        let outcome = match answer {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(b) if b.iter().all(u8::is_ascii_whitespace) => &self.ok,
                Ok(_) => &self.refused,
                Err(_) => &self.errors,
            },
            Ok(_) => &self.refused,
            Err(_) => &self.errors,
        };
        outcome.fetch_add(1, Ordering::Relaxed);
        self.latencies.lock().unwrap().push(sent.elapsed());
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `rate PER_SEC SECS` or `total N CONNECTIONS`.
    let [url, secret, hook, mode, n, second] = &args[..] else {
        eprintln!(
            "usage: bench-submit URL SECRET HOOK_URL (rate PER_SEC SECS | total N CONNECTIONS)"
        );
        std::process::exit(2);
    };
    let n: u64 = n.parse().expect("a whole number");
    let second: f64 = second.parse().expect("a number");
    let run = Arc::new(Run {
        url: url.clone(),
        secret: secret.clone(),
        hook: hook.clone(),
        prefix: format!("{:x}", std::process::id()),
        next: AtomicU64::new(0),
        client: reqwest::Client::new(),
        latencies: Mutex::new(Vec::new()),
        ok: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let length = Duration::from_secs_f64(second);
    runtime.block_on(async {
        let mut tasks = Vec::new();
        match mode.as_str() {
            "rate" => {
                let every = Duration::from_secs_f64(1.0 / n as f64);
                let mut due = Instant::now();
                while due < started + length {
                    tokio::time::sleep_until(due.into()).await;
                    let run = run.clone();
                    tasks.push(tokio::spawn(async move { run.send().await }));
                    due += every;
                }
            }
            "total" => {
                let left = Arc::new(AtomicU64::new(n));
                for _ in 0..second as u64 {
                    let (run, left) = (run.clone(), left.clone());
                    tasks.push(tokio::spawn(async move {
                        while left
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                                l.checked_sub(1)
                            })
                            .is_ok()
                        {
                            run.send().await;
                        }
                    }));
                }
            }
            other => panic!("rate or total, not {other}"),
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let took = started.elapsed().as_secs_f64();
    let mut lat = run.latencies.lock().unwrap().clone();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{}",
        json!({
            "sent": lat.len(),
            "ok": run.ok.load(Ordering::Relaxed),
            "refused": run.refused.load(Ordering::Relaxed),
            "errors": run.errors.load(Ordering::Relaxed),
            "secs": took,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": lat.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        })
    );
}
