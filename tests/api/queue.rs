//! The shared job queue against a real Redis: each job goes to one replica, and a job its
//! replica stopped touching is taken over by another.

use std::sync::Arc;
use std::time::Duration;

use tallyfy_slack::jobs::queue::{Queue, RedisQueue};
use tallyfy_slack::store::Breaker;

use crate::helpers::{unique_prefix, REDIS_URL};

const CLAIM: Duration = Duration::from_millis(600);
const WAIT: Duration = Duration::from_millis(100);

fn replica(prefix: &str, name: &str) -> RedisQueue {
    RedisQueue::new(
        REDIS_URL,
        prefix,
        name,
        CLAIM,
        Duration::from_secs(1),
        Arc::new(Breaker::default()),
    )
    .unwrap()
}

#[tokio::test]
async fn each_job_goes_to_one_replica() {
    let prefix = unique_prefix();
    let (a, b) = (replica(&prefix, "a"), replica(&prefix, "b"));
    // The group exists once a replica has looked.
    assert!(a.next(WAIT).await.unwrap().is_none());
    a.push("one").await.unwrap();
    a.push("two").await.unwrap();
    a.push("three").await.unwrap();
    assert_eq!(a.depth().await.unwrap(), (3, 0), "three waiting");
    let first = a.next(WAIT).await.unwrap().unwrap();
    let second = b.next(WAIT).await.unwrap().unwrap();
    assert_eq!(a.depth().await.unwrap(), (1, 2), "one waiting, two taken");
    a.ack(&first.id).await.unwrap();
    assert_eq!(b.depth().await.unwrap(), (1, 1));
    assert_eq!(
        (first.payload.as_str(), second.payload.as_str()),
        ("one", "two")
    );
    assert_eq!((first.deliveries, second.deliveries), (1, 1));
    let third = a.next(WAIT).await.unwrap().unwrap();
    assert_eq!(third.payload, "three");
    assert!(a.next(WAIT).await.unwrap().is_none());
    assert!(b.next(WAIT).await.unwrap().is_none());
}

#[tokio::test]
async fn an_abandoned_job_is_taken_over_after_the_claim_timeout() {
    let prefix = unique_prefix();
    let (dead, alive) = (replica(&prefix, "dead"), replica(&prefix, "alive"));
    assert!(dead.next(WAIT).await.unwrap().is_none());
    dead.push("job").await.unwrap();
    let taken = dead.next(WAIT).await.unwrap().unwrap();
    // Not yet: the claim is fresh.
    assert!(alive.next(WAIT).await.unwrap().is_none());
    tokio::time::sleep(CLAIM + Duration::from_millis(100)).await;
    let again = alive.next(WAIT).await.unwrap().expect("taken over");
    assert_eq!(again.id, taken.id);
    assert_eq!(again.payload, "job");
    assert_eq!(again.deliveries, 2);
    alive.ack(&again.id).await.unwrap();
    tokio::time::sleep(CLAIM + Duration::from_millis(100)).await;
    assert!(
        dead.next(WAIT).await.unwrap().is_none(),
        "acknowledged jobs are gone"
    );
}

#[tokio::test]
async fn a_touched_job_stays_with_its_replica_and_a_released_one_moves_at_once() {
    let prefix = unique_prefix();
    let (busy, other) = (replica(&prefix, "busy"), replica(&prefix, "other"));
    assert!(busy.next(WAIT).await.unwrap().is_none());
    busy.push("long job").await.unwrap();
    let running = busy.next(WAIT).await.unwrap().unwrap();
    for _ in 0..4 {
        tokio::time::sleep(CLAIM / 3).await;
        busy.touch(&running.id).await.unwrap();
        assert!(
            other.next(WAIT).await.unwrap().is_none(),
            "kept while touched"
        );
    }
    busy.release(&running.id).await.unwrap();
    let moved = other
        .next(WAIT)
        .await
        .unwrap()
        .expect("released jobs move at once");
    assert_eq!(moved.id, running.id);
}
