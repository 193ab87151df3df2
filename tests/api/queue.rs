//! The shared job queue against a real Redis: each job goes to one replica, a job its
//! replica stopped touching is taken over by another, and a job stored in today's format
//! still runs, so jobs waiting in Redis survive an upgrade. A job is run only when its
//! entry carries a valid MAC under `JOB_SIGNING_KEY`; the stream refuses jobs past its
//! bound rather than trim any, expires, and forgets a replica that leaves.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::json;
use tallyfy_slack::jobs::queue::{Queue, RedisQueue};
use tallyfy_slack::store::Breaker;

use crate::fake_tallyfy::ORG;
use crate::helpers::*;

const CLAIM: Duration = Duration::from_millis(600);
const WAIT: Duration = Duration::from_millis(100);

fn replica(prefix: &str, name: &str) -> RedisQueue {
    RedisQueue::connect(
        &shared_redis().target(),
        prefix,
        name,
        CLAIM,
        Duration::from_secs(1),
        Arc::new(Breaker::default()),
        job_mac(),
    )
    .unwrap()
}

async fn redis_conn() -> SharedConn {
    shared_conn().await
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

/// A job as the app writes it on its stream today (a fixture under `tests/fixtures/stored_jobs/`,
/// captured from a real submission), with this test's values where it has `{{placeholders}}`.
fn stored_job(fixture: &str, fills: &[(&str, String)]) -> String {
    let mut job = fixture.to_string();
    for (name, value) in fills {
        job = job.replace(&format!("{{{{{name}}}}}"), value);
    }
    assert!(
        !job.contains("{{"),
        "a placeholder was left unfilled: {job}"
    );
    job
}

/// The MAC of `job` as an operator's tool makes it, with openssl:
/// `printf '%s' "$JOB" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$JOB_SIGNING_KEY`.
fn operator_mac(job: &str) -> String {
    use std::io::Write;
    let mut openssl = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-mac", "HMAC", "-macopt"])
        .arg(format!("hexkey:{JOB_SIGNING_KEY}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl is installed");
    openssl
        .stdin
        .take()
        .unwrap()
        .write_all(job.as_bytes())
        .unwrap();
    let out = openssl.wait_with_output().unwrap();
    // `HMAC-SHA2-256(stdin)= 3f…`
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().last().unwrap().to_string()
}

/// Puts `job` on the app's stream the way the app queues one:
/// `XADD {prefix}:jobs * job <json> mac <hmac>`.
async fn queue_stored(app: &TestApp, job: &str) {
    queue_with_mac(app, job, Some(&operator_mac(job))).await;
}

/// Puts `job` on the app's stream with `mac` (or none).
async fn queue_with_mac(app: &TestApp, job: &str, mac: Option<&str>) {
    let mut conn = redis_conn().await;
    let mut xadd = redis::cmd("XADD");
    xadd.arg(format!("{}:jobs", app.prefix))
        .arg("*")
        .arg("job")
        .arg(job);
    if let Some(mac) = mac {
        xadd.arg("mac").arg(mac);
    }
    let _: String = xadd.query_async(&mut conn).await.unwrap();
}

/// The date and time Tallyfy is sent a deadline in.
fn tallyfy_deadline(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

#[tokio::test]
async fn a_stored_task_job_creates_its_task_once_and_announces_it() {
    let app = spawn_app().await;
    let deadline = Timestamp::from_second(now() + 3 * 24 * 3600).unwrap();
    let job = stored_job(
        include_str!("../fixtures/stored_jobs/task.json"),
        &[
            ("response_url", app.slack.response_url("stored-hook")),
            ("deadline", deadline.to_string()),
        ],
    );
    queue_stored(&app, &job).await;

    let message = announced(&app, Duration::from_secs(10)).await;
    let text = message.body();
    assert!(text.contains("Review the Q4 report"), "{text}");
    assert!(
        text.contains(&format!("<@{REQUESTER}> asked <@{ALICE}> and <@{BOB}>")),
        "{text}"
    );
    app.idle().await;
    let creates = app.tallyfy.creates();
    assert_eq!(creates.len(), 1, "created once");
    let sent = &creates[0].body;
    assert_eq!(sent["title"], "Review the Q4 report");
    assert_eq!(sent["summary"], "Numbers in the shared drive");
    assert_eq!(sent["task_type"], "approval");
    assert_eq!(sent["owners"]["users"], json!([1001, 1002]));
    assert_eq!(sent["deadline"], tallyfy_deadline(deadline));
    assert_eq!(app.tallyfy.tasks_titled("Review the Q4 report"), 1);
    assert_eq!(announcements(&app), 1, "announced once");
    assert!(app.slack.responses().is_empty(), "no failure notice");
}

#[tokio::test]
async fn a_stored_project_job_creates_its_run_and_lines_once_and_announces_them() {
    let app = spawn_app().await;
    let deadline = Timestamp::from_second(now() + 10 * 24 * 3600).unwrap();
    // Line 2 carries a day of its own, as "friday" does, at 17:00 where the requester is.
    let line_deadline = Timestamp::from_second(now() + 5 * 24 * 3600)
        .unwrap()
        .to_zoned(TimeZone::get("America/New_York").unwrap())
        .with()
        .hour(17)
        .minute(0)
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .unwrap();
    let job = stored_job(
        include_str!("../fixtures/stored_jobs/project.json"),
        &[
            ("response_url", app.slack.response_url("stored-hook")),
            ("deadline", deadline.to_string()),
            ("line_deadline", line_deadline.to_string()),
            ("line_deadline_utc", line_deadline.timestamp().to_string()),
        ],
    );
    queue_stored(&app, &job).await;

    let message = announced(&app, Duration::from_secs(10)).await;
    app.idle().await;
    let creates = app.tallyfy.creates();
    assert_eq!(
        creates.len(),
        4,
        "the run, then one append per line, once each"
    );
    let run_request = &creates[0].body;
    assert_eq!(run_request["title"], "Onboard Globex");
    assert_eq!(run_request["owners"]["users"], json!([1001]));
    assert_eq!(run_request["deadline"], tallyfy_deadline(deadline));
    let run = creates[1].body["run_id"]
        .as_str()
        .expect("an append")
        .to_string();
    let appends: Vec<&serde_json::Value> = creates[1..].iter().map(|c| &c.body).collect();
    assert!(appends.iter().all(|a| a["run_id"] == run.as_str()));
    let positions: BTreeSet<u64> = appends
        .iter()
        .map(|a| a["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, BTreeSet::from([2, 3, 4]));
    let welcome = appends
        .iter()
        .find(|a| a["title"] == "Send welcome pack")
        .unwrap();
    assert_eq!(welcome["owners"]["users"], json!([1002]));
    assert_eq!(
        welcome["deadline"],
        tallyfy_deadline(line_deadline.timestamp())
    );
    for title in [
        "Onboard Globex",
        "Kickoff call",
        "Send welcome pack",
        "Collect contract",
    ] {
        assert_eq!(app.tallyfy.tasks_titled(title), 1, "{title}");
    }
    assert_eq!(app.tallyfy.run_tasks(&run).len(), 4);

    let text = message.body();
    let link = format!("https://go.tallyfy.test/{ORG}/processes/{run}");
    assert!(text.contains(&format!("<{link}|Onboard Globex>")), "{text}");
    for line in [
        "• Kickoff call - <@UALICE>",
        "• Send welcome pack - <@UBOB>",
        "• Collect contract - <@UALICE>",
    ] {
        assert!(text.contains(line), "{line} missing from {text}");
    }
    assert!(
        message.button("project_retry").is_none(),
        "nothing is missing"
    );
    assert_eq!(announcements(&app), 1, "announced once");
}

#[tokio::test]
async fn a_job_without_a_valid_mac_is_dropped_unrun() {
    let app = spawn_app().await;
    let deadline = Timestamp::from_second(now() + 3 * 24 * 3600).unwrap();
    let fills = [
        ("response_url", app.slack.response_url("stored-hook")),
        ("deadline", deadline.to_string()),
    ];
    let fixture = include_str!("../fixtures/stored_jobs/task.json");
    let forged = |title: &str, view: &str| {
        stored_job(
            &fixture
                .replace("Review the Q4 report", title)
                .replace("V00000002", view),
            &fills,
        )
    };
    let unsigned = forged("Forged without a MAC", "V00000097");
    let wrongly_signed = forged("Forged with a wrong MAC", "V00000098");
    let signed_elsewhere = forged("Signed for another job", "V00000099");
    queue_with_mac(&app, &unsigned, None).await;
    queue_with_mac(&app, &wrongly_signed, Some(&"0".repeat(64))).await;
    queue_with_mac(&app, &signed_elsewhere, Some(&operator_mac(&unsigned))).await;
    // A signed job queued after them runs: the forged ones did not stop the queue.
    queue_stored(&app, &stored_job(fixture, &fills)).await;

    let message = announced(&app, Duration::from_secs(10)).await;
    assert!(message.body().contains("Review the Q4 report"));
    app.idle().await;
    assert_eq!(app.tallyfy.tasks_created(), 1, "only the signed job ran");
    assert_eq!(announcements(&app), 1);
    let length: u64 = redis::cmd("XLEN")
        .arg(format!("{}:jobs", app.prefix))
        .query_async(&mut redis_conn().await)
        .await
        .unwrap();
    assert_eq!(
        length, 0,
        "the forged entries were acknowledged and removed"
    );
}

#[tokio::test]
async fn a_full_stream_refuses_a_job_and_trims_none() {
    let prefix = unique_prefix();
    let queue = replica(&prefix, "a").with_max_len(3);
    assert!(queue.next(WAIT).await.unwrap().is_none());
    for job in ["one", "two", "three"] {
        queue.push(job).await.unwrap();
    }
    assert!(queue.push("four").await.is_err(), "refused when full");
    let mut taken = Vec::new();
    while let Some(delivery) = queue.next(WAIT).await.unwrap() {
        taken.push(delivery.payload.clone());
        queue.ack(&delivery.id).await.unwrap();
    }
    assert_eq!(taken, ["one", "two", "three"], "none was trimmed");
    queue.push("four").await.unwrap();
    // Everything the queue writes expires.
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:jobs"))
        .query_async(&mut redis_conn().await)
        .await
        .unwrap();
    assert!(ttl > 0, "the stream has a time to live: {ttl}");
}

#[tokio::test]
async fn jobs_read_together_are_each_handed_to_one_replica_once_and_kept_until_done() {
    let prefix = unique_prefix();
    let (a, b) = (replica(&prefix, "a"), replica(&prefix, "b"));
    assert!(a.next(WAIT).await.unwrap().is_none());
    for job in ["one", "two", "three", "four", "five"] {
        a.push(job).await.unwrap();
    }
    let first = a.next_batch(WAIT, 3).await.unwrap();
    let payloads: Vec<&str> = first.iter().map(|d| d.payload.as_str()).collect();
    assert_eq!(
        payloads,
        ["one", "two", "three"],
        "at most as many as asked for"
    );
    let rest = b.next_batch(WAIT, 16).await.unwrap();
    let payloads: Vec<&str> = rest.iter().map(|d| d.payload.as_str()).collect();
    assert_eq!(
        payloads,
        ["four", "five"],
        "the others' jobs are not handed out again"
    );
    assert_eq!(
        a.depth().await.unwrap(),
        (0, 5),
        "every job is held until it is done"
    );
    for delivery in first.iter().chain(&rest) {
        a.ack(&delivery.id).await.unwrap();
    }
    assert_eq!(a.depth().await.unwrap(), (0, 0));
    assert!(b.next_batch(WAIT, 16).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_replica_that_leaves_hands_its_jobs_on_and_is_forgotten() {
    let prefix = unique_prefix();
    let (leaving, staying) = (replica(&prefix, "leaving"), replica(&prefix, "staying"));
    assert!(leaving.next(WAIT).await.unwrap().is_none());
    leaving.push("held").await.unwrap();
    let held = leaving.next(WAIT).await.unwrap().unwrap();
    leaving.leave().await.unwrap();
    let names = consumers(&prefix).await;
    assert!(!names.contains(&"leaving".to_string()), "{names:?}");
    // Its job kept its claim time: another replica takes it once that has passed.
    tokio::time::sleep(CLAIM + Duration::from_millis(100)).await;
    let moved = staying
        .next(WAIT)
        .await
        .unwrap()
        .expect("the held job moved");
    assert_eq!((moved.id, moved.payload), (held.id, "held".to_string()));
}

/// The names of the stream's consumers.
async fn consumers(prefix: &str) -> Vec<String> {
    let reply: redis::streams::StreamInfoConsumersReply = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(format!("{prefix}:jobs"))
        .arg("workers")
        .query_async(&mut redis_conn().await)
        .await
        .unwrap();
    reply.consumers.into_iter().map(|c| c.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_that_shut_down_are_no_longer_consumers_of_the_stream() {
    let mut app = spawn_app().await;
    let mut binary = spawn_binary_instance(&app).await;
    // A replica becomes a consumer of the stream when it takes its first job.
    for title in ["First", "Second", "Third", "Fourth"] {
        let view = app.open_task_modal("").await;
        let answer = app
            .submit_task(&view, &TaskValues::new(title, &[ALICE]))
            .await;
        assert_eq!(answer.status(), 200);
    }
    eventually("four announcements", || {
        (announcements(&app) == 4).then_some(())
    })
    .await;
    assert!(!consumers(&app.prefix).await.is_empty());
    app.stop().await;
    assert!(binary.terminate().await.success());
    let left = consumers(&app.prefix).await;
    assert!(left.is_empty(), "still consumers: {left:?}");
}

/// A task job stored by an earlier release whose form fields use types Tallyfy does not
/// have (number, checkbox) and choices as plain strings.
#[tokio::test]
async fn a_stored_job_with_field_types_tallyfy_lacks_is_created_and_the_change_told() {
    let app = spawn_app().await;
    let deadline = Timestamp::from_second(now() + 3 * 24 * 3600).unwrap();
    let job = stored_job(
        include_str!("../fixtures/stored_jobs/task_with_old_fields.json"),
        &[
            ("response_url", app.slack.response_url("stored-hook")),
            ("deadline", deadline.to_string()),
        ],
    );
    queue_stored(&app, &job).await;
    let message = announced(&app, Duration::from_secs(10)).await;
    let text = message.body().to_string();
    app.idle().await;
    let creates = app.tallyfy.creates();
    assert_eq!(creates.len(), 1, "created once");
    assert_eq!(app.tallyfy.tasks_titled("Review the Q5 report"), 1);
    assert_eq!(
        creates[0].body["form_fields"],
        json!([
            {"label": "Approved amount", "field_type": "text", "required": true, "position": 1},
            {"label": "Region", "field_type": "dropdown", "required": false,
             "options": [{"id": 1, "text": "EMEA"}, {"id": 2, "text": "APAC"}], "position": 2},
            {"label": "Signed", "field_type": "text", "required": false, "position": 3}
        ])
    );
    assert!(
        text.contains(
            "\u{201c}Approved amount\u{201d} and \u{201c}Signed\u{201d} are asked as text"
        ),
        "{text}"
    );
}
