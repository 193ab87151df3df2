use super::local::LocalQueue;
use super::*;

#[tokio::test]
async fn the_local_queue_hands_out_jobs_in_order_and_waits_when_empty() {
    let queue = LocalQueue::default();
    queue.push("a").await.unwrap();
    queue.push("b").await.unwrap();
    let first = queue
        .next(Duration::from_millis(10))
        .await
        .unwrap()
        .unwrap();
    let second = queue
        .next(Duration::from_millis(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.payload.as_str(), second.payload.as_str()),
        ("a", "b")
    );
    assert_ne!(first.id, second.id);
    assert!(queue
        .next(Duration::from_millis(10))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn the_local_queue_refuses_a_job_past_its_capacity() {
    let queue = LocalQueue::with_capacity(2);
    queue.push("a").await.unwrap();
    queue.push("b").await.unwrap();
    assert!(queue.push("c").await.is_err(), "full");
    assert_eq!(queue.depth().await.unwrap(), (2, 0));
    let first = queue
        .next(Duration::from_millis(10))
        .await
        .unwrap()
        .unwrap();
    queue.push("c").await.unwrap();
    queue.ack(&first.id).await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), (2, 0));
    // A job put back to run later was taken already: it is never refused.
    let second = queue
        .next(Duration::from_millis(10))
        .await
        .unwrap()
        .unwrap();
    queue.push("d").await.unwrap();
    queue.retry_later(&second, Duration::ZERO).await;
    assert_eq!(queue.depth().await.unwrap(), (3, 0));
}
