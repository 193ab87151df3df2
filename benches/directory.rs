//! Assignee resolution, cold and warm: ten Slack people mapped to Tallyfy members through
//! local fakes of Slack and Tallyfy (each answering after a set delay, like a real network)
//! and a real Redis on 127.0.0.1:6379.
//!
//! Run with `cargo bench --bench directory`. Prints medians and the warm/cold ratio.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stand_ins::{slack as fake_slack, tallyfy as fake_tallyfy};
use tallyfy_slack::config::Config;
use tallyfy_slack::directory::Directory;
use tallyfy_slack::slack::api::SlackApi;
use tallyfy_slack::store::{RedisStore, Store};
use tallyfy_slack::tallyfy::TallyfyClient;
use tallyfy_slack::telemetry::Metrics;

const PEOPLE: usize = 10;
const UPSTREAM_DELAY: Duration = Duration::from_millis(40);
const COLD_RUNS: usize = 15;
const WARM_RUNS: usize = 200;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn directory(
    slack: &fake_slack::FakeSlack,
    tallyfy: &fake_tallyfy::FakeTallyfy,
    prefix: &str,
) -> Directory {
    let env: HashMap<&str, String> = [
        ("SLACK_SIGNING_SECRET", "s".to_string()),
        ("SLACK_BOT_TOKEN", fake_slack::BOT_TOKEN.to_string()),
        ("SLACK_API_URL", slack.api_url()),
        ("TALLYFY_ORG_ID", fake_tallyfy::ORG.to_string()),
        ("TALLYFY_ACCESS_TOKEN", fake_tallyfy::TOKEN.to_string()),
        ("TALLYFY_API_URL", tallyfy.api_url()),
    ]
    .into_iter()
    .collect();
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let metrics = Metrics::default();
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::new(
            "redis://127.0.0.1:6379",
            prefix,
            metrics.clone(),
            Default::default(),
        )
        .unwrap(),
    );
    Directory::new(
        SlackApi::new(&config.slack, metrics.clone()).unwrap(),
        TallyfyClient::new(&config.tallyfy, metrics.clone(), store.clone()),
        store,
        config.directory.clone(),
        metrics,
    )
}

#[tokio::main]
async fn main() {
    let slack = fake_slack::FakeSlack::start().await;
    let tallyfy = fake_tallyfy::FakeTallyfy::start().await;
    let users: Vec<tallyfy_slack::slack::ids::UserId> =
        (1..=PEOPLE).map(|i| format!("U{i:02}").into()).collect();
    for (i, id) in users.iter().enumerate() {
        slack.add_person(fake_slack::Person {
            id: id.to_string(),
            name: format!("person{i}"),
            email: Some(format!("person{i}@example.com")),
            tz: "UTC".into(),
            deleted: false,
            is_bot: false,
            ..fake_slack::Person::default()
        });
        tallyfy.add_member(
            3000 + i as u64,
            &format!("person{i}@example.com"),
            &format!("P{i}"),
            "active",
        );
    }
    slack.set_users_info_delay(UPSTREAM_DELAY);
    tallyfy.set_list_delay(UPSTREAM_DELAY);
    let run = std::process::id();

    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for i in 0..COLD_RUNS {
        // A fresh key prefix is an empty cache.
        let directory = directory(&slack, &tallyfy, &format!("bench-{run}-{i}")).await;
        let started = Instant::now();
        let resolved = directory
            .resolve_all(&"TBENCH".into(), &users)
            .await
            .expect("resolution works");
        cold.push(started.elapsed());
        assert_eq!(resolved.len(), PEOPLE);
        if i == 0 {
            for _ in 0..WARM_RUNS {
                let started = Instant::now();
                directory
                    .resolve_all(&"TBENCH".into(), &users)
                    .await
                    .unwrap();
                warm.push(started.elapsed());
            }
        }
    }
    let (cold, warm) = (median(cold), median(warm));
    println!(
        "resolve {PEOPLE} assignees (upstream answers after {} ms)",
        UPSTREAM_DELAY.as_millis()
    );
    println!(
        "  cold (empty cache): median {:>9.3} ms over {COLD_RUNS} runs",
        cold.as_secs_f64() * 1e3
    );
    println!(
        "  warm (all cached):  median {:>9.3} ms over {WARM_RUNS} runs",
        warm.as_secs_f64() * 1e3
    );
    println!(
        "  warm is {:.0}x faster than cold",
        cold.as_secs_f64() / warm.as_secs_f64()
    );
}
