//! The soak: creates many tasks through the service against the stand-ins and the shipped
//! Redis configuration, and reports the bytes of Redis each task keeps, in all and by key
//! kind, and what the shipped Redis holds at 1,000 tasks a day. Not a check: it is ignored
//! unless asked for (docs/performance.md, "Redis bytes per task"):
//!
//! `SOAK_TASKS=100000 cargo test --release --test api redis_soak -- --ignored --nocapture`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::helpers::*;

/// `INFO memory`'s `used_memory`.
async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap()
}

/// A key's kind: its segments after the prefix, with ids (anything holding a digit, or
/// long) written as `*`.
fn kind(prefix: &str, key: &str) -> String {
    let rest = key.strip_prefix(prefix).unwrap_or(key);
    rest.split(':')
        .map(|segment| {
            if segment.len() > 24 || segment.chars().any(|c| c.is_ascii_digit()) {
                "*"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

#[derive(Default)]
struct Kind {
    keys: u64,
    bytes: u64,
    /// The longest time to live seen among its keys, in seconds (-1: none).
    ttl: i64,
}

#[tokio::test]
#[ignore = "a soak for the benchmark: minutes of work"]
async fn redis_bytes_per_task() {
    let tasks: usize = std::env::var("SOAK_TASKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let redis = OwnRedis::start_shipped().await;
    let url = redis.url.clone();
    let app = spawn_app_with(move |env| {
        env.insert("REDIS_URL".into(), url);
        env.insert("TALLYFY_RATE_LIMIT".into(), "1000000".into());
        env.insert("RUST_LOG".into(), "error".into());
    })
    .await;
    // The stand-ins keep what was sent to them for the tests to read: here only the newest.
    app.slack.keep_history(10_000);
    app.slack.without_rate_limits();
    app.tallyfy.keep_history(10_000);
    let mut conn = redis::Client::open(redis.admin_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // The service's own start-up keys (its consumer group, workspace) are not a task's.
    let warm = app.open_task_modal("").await;
    app.submit_task(&warm, &TaskValues::new("Warm-up", &[ALICE]))
        .await;
    eventually("the warm-up task", || {
        (app.tallyfy.tasks_created() == 1).then_some(())
    })
    .await;
    app.idle().await;
    let before = used_memory(&mut conn).await;

    let started = Instant::now();
    futures::stream::iter(0..tasks)
        .map(|i| {
            let app = &app;
            async move {
                let view = app.open_task_modal("").await;
                let answer = app
                    .submit_task(&view, &TaskValues::new(&format!("Soak task {i}"), &[ALICE]))
                    .await;
                assert_eq!(answer.status(), 200);
            }
        })
        .buffer_unordered(16)
        .collect::<()>()
        .await;
    eventually_within(Duration::from_secs(600), "every task created", || {
        (app.tallyfy.tasks_created() == tasks + 1).then_some(())
    })
    .await;
    app.idle().await;
    let elapsed = started.elapsed();
    let after = used_memory(&mut conn).await;

    // Every key, by kind: MEMORY USAGE (exact, SAMPLES 0) and the longest TTL.
    let mut kinds: BTreeMap<String, Kind> = BTreeMap::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        for key in keys {
            let bytes: Option<u64> = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(&key)
                .arg("SAMPLES")
                .arg(0)
                .query_async(&mut conn)
                .await
                .unwrap();
            let ttl: i64 = redis::cmd("TTL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            let entry = kinds.entry(kind(&app.prefix, &key)).or_default();
            entry.keys += 1;
            entry.bytes += bytes.unwrap_or(0);
            entry.ttl = entry.ttl.max(ttl);
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }

    let per_task = (after.saturating_sub(before)) as f64 / tasks as f64;
    println!("soak: {tasks} tasks in {:.0} s", elapsed.as_secs_f64());
    println!(
        "soak: used_memory {before} -> {after} bytes: {per_task:.0} bytes a task (INFO memory)"
    );
    println!(
        "soak: {:<44} {:>8} {:>12} {:>10} {:>8} {:>14}",
        "key kind", "keys", "bytes", "per task", "TTL d", "at 1,000/day"
    );
    let mut steady = 0.0;
    for (name, kind) in &kinds {
        let per_task = kind.bytes as f64 / tasks as f64;
        let days = kind.ttl.max(0) as f64 / 86_400.0;
        // Keys written per task live `days`: at 1,000 tasks a day, 1,000 * days tasks'
        // worth are held at once (a key without a TTL only grows: counted as a year).
        let held = per_task * 1_000.0 * if kind.ttl < 0 { 365.0 } else { days };
        steady += held;
        println!(
            "soak: {name:<44} {:>8} {:>12} {per_task:>10.0} {days:>8.1} {:>12.1} MB",
            kind.keys,
            kind.bytes,
            held / 1e6
        );
    }
    println!(
        "soak: the shipped Redis at 1,000 tasks a day holds about {:.0} MB once the longest-lived keys start expiring (shipped maxmemory: 512 MB)",
        steady / 1e6
    );
}
