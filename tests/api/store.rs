//! The Redis and in-process stores keep the same contract.

use std::sync::Arc;
use std::time::Duration;

use tallyfy_slack::store::{MemoryStore, RedisStore, Reservation, Store};
use tallyfy_slack::telemetry::Metrics;

use crate::helpers::{shared_conn, shared_redis, unique_prefix, SharedRedis};

fn stores() -> Vec<Arc<dyn Store>> {
    vec![
        Arc::new(MemoryStore::default()),
        Arc::new(
            RedisStore::connect(
                &shared_redis().target(),
                &unique_prefix(),
                Metrics::default(),
                Default::default(),
            )
            .unwrap(),
        ),
    ]
}

#[tokio::test]
async fn both_stores_get_set_and_delete() {
    for store in stores() {
        let kind = store.kind();
        assert_eq!(store.get("a").await.unwrap(), None, "{kind}");
        store.set("a", "1", Duration::from_secs(60)).await.unwrap();
        store.set("b", "2", Duration::from_secs(60)).await.unwrap();
        assert_eq!(
            store.get("a").await.unwrap().as_deref(),
            Some("1"),
            "{kind}"
        );
        let many = store
            .get_many(&["a".into(), "nope".into(), "b".into()])
            .await
            .unwrap();
        assert_eq!(
            many,
            vec![Some("1".into()), None, Some("2".into())],
            "{kind}"
        );
        assert!(store.get_many(&[]).await.unwrap().is_empty(), "{kind}");
        store.delete("a").await.unwrap();
        assert_eq!(store.get("a").await.unwrap(), None, "{kind}");
        store.ping().await.unwrap();
    }
}

#[tokio::test]
async fn both_stores_shorten_a_keys_life_without_touching_its_value() {
    for store in stores() {
        let kind = store.kind();
        store
            .set("kept", "v1", Duration::from_secs(60))
            .await
            .unwrap();
        assert!(
            store
                .expire("kept", Duration::from_millis(300))
                .await
                .unwrap(),
            "{kind}"
        );
        assert_eq!(
            store.get("kept").await.unwrap().as_deref(),
            Some("v1"),
            "{kind}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(store.get("kept").await.unwrap(), None, "{kind}");
        assert!(
            !store.expire("kept", Duration::from_secs(60)).await.unwrap(),
            "{kind}: no such key"
        );
    }
}

#[tokio::test]
async fn both_stores_claim_a_key_once_until_it_expires() {
    for store in stores() {
        let kind = store.kind();
        assert!(
            store
                .set_if_absent("claim", "x", Duration::from_millis(300))
                .await
                .unwrap(),
            "{kind}"
        );
        assert!(
            !store
                .set_if_absent("claim", "y", Duration::from_secs(60))
                .await
                .unwrap(),
            "{kind}"
        );
        assert_eq!(
            store.get("claim").await.unwrap().as_deref(),
            Some("x"),
            "{kind}"
        );
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(
            store.get("claim").await.unwrap(),
            None,
            "{kind}: the entry outlived its TTL"
        );
        assert!(
            store
                .set_if_absent("claim", "z", Duration::from_secs(60))
                .await
                .unwrap(),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn concurrent_claims_have_exactly_one_winner() {
    for store in stores() {
        let attempts = (0..16).map(|i| {
            let store = store.clone();
            async move {
                store
                    .set_if_absent("race", &i.to_string(), Duration::from_secs(60))
                    .await
                    .unwrap()
            }
        });
        let wins = futures::future::join_all(attempts)
            .await
            .into_iter()
            .filter(|w| *w)
            .count();
        assert_eq!(wins, 1, "{}", store.kind());
    }
}

/// Commands, pipelines and transactions that many tasks send at the same moment (on one
/// server they go to Redis together, as one pipeline) each get their own answer; one
/// command's error is its own, and an aborted transaction applies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_sent_at_once_each_get_their_own_answer() {
    let prefix = unique_prefix();
    let conn = shared_conn().await;
    let tasks = (0..300).map(|i| {
        // In braces: the task's keys share one slot of a cluster, as the service's do.
        let (mut conn, key) = (conn.clone(), format!("{{{prefix}:at-once:{i}}}"));
        tokio::spawn(async move {
            let () = redis::cmd("SET")
                .arg(&key)
                .arg(format!("value {i}"))
                .arg("PX")
                .arg(60_000)
                .query_async(&mut conn)
                .await
                .unwrap();
            if i % 7 == 0 {
                // A list command on a string: Redis refuses this one command only.
                let e = redis::cmd("LPUSH")
                    .arg(&key)
                    .arg("x")
                    .query_async::<i64>(&mut conn)
                    .await
                    .unwrap_err();
                assert_eq!(e.code(), Some("WRONGTYPE"), "{e}");
            }
            let got: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(got.as_deref(), Some(format!("value {i}").as_str()));
            // A transaction and a pipeline join the same batches, whole.
            let counter = format!("{key}:n");
            let (n,): (i64,) = redis::pipe()
                .atomic()
                .incr(&counter, 2)
                .pexpire(&counter, 60_000)
                .ignore()
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!(n, 2);
            if i % 11 == 0 {
                // A command refused as it is queued aborts its transaction, and only it.
                let e = redis::pipe()
                    .atomic()
                    .incr(&counter, 1)
                    .cmd("SET")
                    .arg(&counter)
                    .query_async::<()>(&mut conn)
                    .await
                    .unwrap_err();
                assert!(e.to_string().contains("wrong number of arguments"), "{e}");
            }
            let (value, n, missing): (String, i64, Option<String>) = redis::pipe()
                .get(&key)
                .get(&counter)
                .get(format!("{key}:missing"))
                .query_async(&mut conn)
                .await
                .unwrap();
            assert_eq!((value, n, missing), (format!("value {i}"), 2, None));
        })
    });
    for task in futures::future::join_all(tasks).await {
        task.unwrap();
    }
}

/// On one server, where commands are gathered into batches: a connection first used on a
/// runtime that has since shut down (a test's, or a tool's) still answers on another.
#[test]
fn a_connection_outlives_the_runtime_that_first_used_it() {
    if !matches!(shared_redis(), SharedRedis::Server) {
        return;
    }
    let key = format!("{}:outlives", unique_prefix());
    let conn = std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async { shared_conn().await })
    })
    .join()
    .unwrap();
    for round in 0..2 {
        let (mut conn, key) = (conn.clone(), key.clone());
        let got = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let () = redis::cmd("SET")
                        .arg(&key)
                        .arg(round)
                        .arg("PX")
                        .arg(60_000)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                    redis::cmd("GET")
                        .arg(&key)
                        .query_async::<Option<i64>>(&mut conn)
                        .await
                        .unwrap()
                })
        })
        .join()
        .unwrap();
        assert_eq!(got, Some(round), "round {round}");
    }
}

#[tokio::test]
async fn both_stores_count_and_keep_recent_lists() {
    for store in stores() {
        let kind = store.kind();
        assert_eq!(
            store.incr("n", Duration::from_secs(60)).await.unwrap(),
            1,
            "{kind}"
        );
        assert_eq!(
            store.incr("n", Duration::from_secs(60)).await.unwrap(),
            2,
            "{kind}"
        );
        store.set("m", "41", Duration::from_secs(60)).await.unwrap();
        assert_eq!(
            store.incr("m", Duration::from_secs(60)).await.unwrap(),
            42,
            "{kind}"
        );

        assert!(store.recent("list").await.unwrap().is_empty(), "{kind}");
        for v in ["a", "b", "c", "d"] {
            store
                .push_recent("list", v, 3, Duration::from_secs(60))
                .await
                .unwrap();
        }
        assert_eq!(
            store.recent("list").await.unwrap(),
            vec!["d", "c", "b"],
            "{kind}"
        );
        store.delete("list").await.unwrap();
        assert!(store.recent("list").await.unwrap().is_empty(), "{kind}");
    }
}

#[tokio::test]
async fn redis_keys_carry_the_prefix() {
    let prefix = unique_prefix();
    let store = RedisStore::connect(
        &shared_redis().target(),
        &prefix,
        Metrics::default(),
        Default::default(),
    )
    .unwrap();
    store.set("k", "v", Duration::from_secs(60)).await.unwrap();
    let mut conn = shared_conn().await;
    let value: Option<String> = redis::cmd("GET")
        .arg(format!("{prefix}:k"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("v"));
}

#[tokio::test]
async fn an_unreachable_redis_answers_errors_quickly() {
    let store = RedisStore::new(
        "redis://127.0.0.1:1",
        "x",
        Metrics::default(),
        Default::default(),
    )
    .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(3), store.get("k"))
        .await
        .expect("store calls are bounded");
    assert!(result.is_err());
}

/// Books a send with no cap on the wait; answers the wait.
async fn book(store: &dyn Store, key: &str, limit: u32, window: Duration) -> Duration {
    match store
        .reserve(key, limit, window, Duration::from_secs(3600))
        .await
        .unwrap()
    {
        Reservation::Booked { wait, .. } => wait,
        Reservation::Full { wait } => panic!("not booked: {wait:?}"),
    }
}

#[tokio::test]
async fn both_stores_book_sends_in_one_rolling_window() {
    for store in stores() {
        let kind = store.kind();
        let window = Duration::from_millis(500);
        for _ in 0..3 {
            let wait = book(store.as_ref(), "budget", 3, window).await;
            assert!(wait < Duration::from_millis(50), "{kind}: {wait:?}");
        }
        // The fourth goes a window after the first; the fifth no earlier than the fourth.
        let fourth = book(store.as_ref(), "budget", 3, window).await;
        assert!(
            fourth > Duration::from_millis(400) && fourth <= window,
            "{kind}: {fourth:?}"
        );
        let fifth = book(store.as_ref(), "budget", 3, window).await;
        assert!(
            fifth >= fourth.saturating_sub(Duration::from_millis(5)),
            "{kind}: {fifth:?}"
        );
        // Another key is another budget.
        assert!(book(store.as_ref(), "other", 3, window).await < Duration::from_millis(50));
    }
}

#[tokio::test]
async fn both_stores_refuse_a_turn_past_the_cap_and_take_back_a_booking() {
    for store in stores() {
        let kind = store.kind();
        let window = Duration::from_secs(60);
        let cap = Duration::from_secs(5);
        let first = store.reserve("fair", 1, window, cap).await.unwrap();
        let Reservation::Booked { id, .. } = first else {
            panic!("{kind}: the first send is booked")
        };
        let second = store.reserve("fair", 1, window, cap).await.unwrap();
        assert!(
            matches!(second, Reservation::Full { wait } if wait > cap),
            "{kind}: {second:?}"
        );
        // The first call is called off: its turn is free again.
        store.unbook("fair", &id).await.unwrap();
        let again = store.reserve("fair", 1, window, cap).await.unwrap();
        assert!(
            matches!(again, Reservation::Booked { wait, .. } if wait < Duration::from_millis(50)),
            "{kind}: {again:?}"
        );
    }
}

/// Every key the service writes while it works (claims, job data and progress, caches,
/// the channel's projects, the rate schedule, the job stream) expires.
#[tokio::test]
async fn every_key_the_service_writes_to_redis_expires() {
    use crate::helpers::*;
    let app = spawn_app().await;
    let view = app.open_task_modal("").await;
    let answer = app
        .submit_task(&view, &TaskValues::new("Expiring", &[ALICE]))
        .await;
    assert_eq!(answer.status(), 200);
    let project = ProjectValues::new("Expiring project", &[ALICE], "First\nSecond");
    let view = app.open_project_modal(&project.name).await;
    assert_eq!(app.submit_project(&view, &project).await.status(), 200);
    eventually("both announced", || {
        (announcements(&app) == 2).then_some(())
    })
    .await;
    app.idle().await;

    let mut conn = shared_conn().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", app.prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(keys.len() > 5, "the service wrote its keys: {keys:?}");
    assert!(keys.iter().any(|k| k.ends_with(":jobs")), "{keys:?}");
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0, "{key} never expires (PTTL {ttl})");
    }
}
