//! One Tallyfy rate budget for every replica: a burst across two instances never goes over
//! it in any window, and so never meets a 429.

use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::helpers::*;

const LIMIT: usize = 300;
/// What the replicas allow themselves: under Tallyfy's limit, as a client should leave
/// room for sends that a busy machine or network delays into the next window's. Each
/// replica alone would send twice that, over the limit: only a shared budget stays under.
const BUDGET: usize = 240;
const WINDOW: Duration = Duration::from_secs(3);
const BURST: usize = 1000;

#[tokio::test]
async fn a_burst_across_two_replicas_stays_inside_one_budget() {
    let first = spawn_app_with(|env| {
        env.insert("TALLYFY_RATE_LIMIT".into(), BUDGET.to_string());
        env.insert(
            "TALLYFY_RATE_WINDOW_SECS".into(),
            WINDOW.as_secs().to_string(),
        );
    })
    .await;
    let second = spawn_second_instance(&first).await;
    first.tallyfy.limit_rate(LIMIT, WINDOW);
    // What is measured is Tallyfy's budget: Slack's one post a second in a channel would
    // hold the thousand cards for a quarter of an hour.
    first.slack.without_rate_limits();

    let view = first.open_task_modal("").await;
    let metadata = view.view["private_metadata"].as_str().unwrap().to_string();
    let started = Instant::now();
    let submissions = (0..BURST).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        let values = TaskValues::new(&format!("Burst {i:04}"), &[ALICE]);
        let payload = submission(&format!("VBURST{i:04}"), "h1", &metadata, &values);
        async move { app.interact(&payload).await.status() }
    });
    let answers: Vec<_> = futures::stream::iter(submissions)
        .buffer_unordered(50)
        .collect()
        .await;
    assert!(answers.iter().all(|s| *s == 200));

    eventually_within(Duration::from_secs(90), "every task", || {
        (first.tallyfy.tasks_created() == BURST).then_some(())
    })
    .await;
    let took = started.elapsed();
    all_idle(&[&first, &second]).await;
    assert_eq!(first.tallyfy.creates().len(), BURST, "each created once");
    assert_eq!(
        first.tallyfy.rate_limited(),
        0,
        "Tallyfy never had to say 429"
    );

    let arrivals = first.tallyfy.arrivals();
    let busiest = arrivals
        .iter()
        .enumerate()
        .map(|(i, t)| {
            arrivals[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < WINDOW)
                .count()
        })
        .max()
        .unwrap();
    assert!(busiest <= LIMIT, "{busiest} calls in one window");
    println!(
        "{} Tallyfy calls in {:.1} s; the busiest {} ms window held {busiest}",
        arrivals.len(),
        took.as_secs_f64(),
        WINDOW.as_millis()
    );
}
