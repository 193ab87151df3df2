//! The engine with the in-process queue and store, on paused time: redelivery, give-up,
//! held keys and shutdown, without wall-clock waits. The job kinds here are scripted.

use std::sync::Mutex;

use super::*;
use crate::store::MemoryStore;
use serde::Serialize;

const CLAIM: Duration = Duration::from_secs(30);

/// A scripted job kind: each run answers the next outcome (then `Done`), after `takes`.
#[derive(Default)]
struct Script {
    outcomes: Mutex<Vec<Outcome>>,
    takes: Duration,
    when_held: Option<WhenHeld>,
    runs: Mutex<Vec<Attempt>>,
    held: Mutex<u32>,
    given_up: Mutex<u32>,
}

struct ScriptReader(Arc<Script>);

struct ScriptJob {
    key: String,
    script: Arc<Script>,
}

impl Reader for ScriptReader {
    fn read(&self, payload: &str) -> Result<Box<dyn Runnable>, String> {
        let value: serde_json::Value = serde_json::from_str(payload).map_err(|e| e.to_string())?;
        if value["kind"] != "scripted" {
            return Err("unknown kind".into());
        }
        Ok(Box::new(ScriptJob {
            key: value["key"].as_str().unwrap_or_default().to_string(),
            script: self.0.clone(),
        }))
    }
}

#[async_trait]
impl Runnable for ScriptJob {
    fn key(&self) -> &str {
        &self.key
    }

    async fn run(&self, attempt: Attempt) -> Outcome {
        self.script.runs.lock().unwrap().push(attempt);
        tokio::time::sleep(self.script.takes).await;
        let mut outcomes = self.script.outcomes.lock().unwrap();
        if outcomes.is_empty() {
            Outcome::Done
        } else {
            outcomes.remove(0)
        }
    }

    async fn held(&self) -> WhenHeld {
        *self.script.held.lock().unwrap() += 1;
        self.script.when_held.unwrap_or(WhenHeld::LookAgainLater)
    }

    async fn give_up(&self) {
        *self.script.given_up.lock().unwrap() += 1;
    }
}

fn engine(script: &Arc<Script>) -> (Jobs, Ledger) {
    let ledger = Ledger::new(Arc::new(MemoryStore::default()));
    let settings = QueueSettings {
        consumer: "test".into(),
        claim_after: CLAIM,
        concurrency: 4,
    };
    let jobs = Jobs::new(ledger.clone(), Metrics::default(), None, settings);
    jobs.start(Arc::new(ScriptReader(script.clone())));
    (jobs, ledger)
}

#[derive(Serialize)]
struct Data {
    key: String,
}

fn job(key: &str) -> Stored {
    Stored::new("scripted", key, &Data { key: key.into() })
}

fn runs(script: &Script) -> Vec<bool> {
    script
        .runs
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.resumed)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_job_that_could_not_tell_its_outcome_runs_again_as_resumed_after_the_claim_time() {
    let script = Arc::new(Script {
        outcomes: Mutex::new(vec![Outcome::Untold]),
        ..Script::default()
    });
    let (jobs, _) = engine(&script);
    let started = tokio::time::Instant::now();
    jobs.submit(job("k1")).await;
    jobs.idle().await;
    assert_eq!(runs(&script), vec![false, true]);
    assert!(started.elapsed() >= CLAIM, "{:?}", started.elapsed());
    assert_eq!(*script.given_up.lock().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_job_that_keeps_failing_is_given_up_once_after_its_last_delivery() {
    let script = Arc::new(Script {
        outcomes: Mutex::new(vec![Outcome::Untold; 10]),
        ..Script::default()
    });
    let (jobs, ledger) = engine(&script);
    jobs.submit(job("k2")).await;
    jobs.idle().await;
    assert_eq!(runs(&script).len(), MAX_DELIVERIES as usize);
    assert_eq!(*script.given_up.lock().unwrap(), 1);
    assert!(
        ledger.lock("k2", "other", CLAIM).await.unwrap(),
        "the lock was let go"
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_whose_key_another_run_holds_waits_for_it() {
    let script = Arc::new(Script::default());
    let (jobs, ledger) = engine(&script);
    assert!(ledger.lock("k3", "another-replica/1", CLAIM).await.unwrap());
    jobs.submit(job("k3")).await;
    tokio::time::sleep(CLAIM / 2).await;
    assert!(
        runs(&script).is_empty(),
        "ran while another run held the key"
    );
    assert_eq!(*script.held.lock().unwrap(), 1);
    ledger.unlock("k3").await;
    jobs.idle().await;
    assert_eq!(runs(&script), vec![true]);
}

#[tokio::test(start_paused = true)]
async fn a_job_that_answers_for_itself_when_held_is_dropped() {
    let script = Arc::new(Script {
        when_held: Some(WhenHeld::Answered),
        ..Script::default()
    });
    let (jobs, ledger) = engine(&script);
    assert!(ledger.lock("k4", "another-replica/1", CLAIM).await.unwrap());
    jobs.submit(job("k4")).await;
    jobs.idle().await;
    assert!(runs(&script).is_empty());
    assert_eq!(*script.held.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_job_is_dropped_and_the_next_one_runs() {
    let script = Arc::new(Script::default());
    let (jobs, _) = engine(&script);
    jobs.submit(Stored::new("unknown", "k5", &Data { key: "k5".into() }))
        .await;
    jobs.submit(job("k6")).await;
    jobs.idle().await;
    assert_eq!(runs(&script), vec![false]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_short_jobs_finish_and_hands_back_long_ones() {
    let quick = Arc::new(Script {
        takes: Duration::from_secs(2),
        ..Script::default()
    });
    let (jobs, _) = engine(&quick);
    jobs.submit(job("k7")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(jobs.drain(Duration::from_secs(10)).await, Drained::Finished);

    let slow = Arc::new(Script {
        takes: Duration::from_secs(600),
        ..Script::default()
    });
    let (jobs, ledger) = engine(&slow);
    jobs.submit(job("k8")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(runs(&slow).len(), 1);
    assert_eq!(
        jobs.drain(Duration::from_secs(10)).await,
        Drained::HandedBack
    );
    assert!(
        ledger.lock("k8", "next", CLAIM).await.unwrap(),
        "the lock was let go"
    );
}

#[tokio::test(start_paused = true)]
async fn handed_off_work_counts_until_it_is_done() {
    let script = Arc::new(Script::default());
    let (jobs, _) = engine(&script);
    let done = Arc::new(Mutex::new(false));
    let flag = done.clone();
    jobs.hand_off(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        *flag.lock().unwrap() = true;
    })
    .unwrap();
    jobs.idle().await;
    assert!(*done.lock().unwrap());
}

#[tokio::test(start_paused = true)]
async fn handed_off_work_is_bounded_and_room_comes_back_when_it_ends() {
    let script = Arc::new(Script::default());
    let (jobs, _) = engine(&script);
    for _ in 0..MAX_HANDED_OFF {
        jobs.hand_off(tokio::time::sleep(Duration::from_secs(5)))
            .unwrap();
    }
    assert_eq!(
        jobs.hand_off(async {}),
        Err(Busy),
        "one too many is refused"
    );
    jobs.idle().await;
    assert_eq!(
        jobs.hand_off(async {}),
        Ok(()),
        "room again once the work ended"
    );
}
