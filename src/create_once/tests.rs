//! The create-exactly-once protocol against a scripted Tallyfy, on paused time: backoff,
//! rate limits and lost answers are tested without waiting on the wall clock.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::time::Instant;

use super::*;
use crate::store::MemoryStore;
use crate::tallyfy::model::{Owners, TaskId, TaskType};

/// What the scripted Tallyfy does with one create call.
#[derive(Clone)]
enum Answer {
    /// Makes the task and answers with it.
    Make,
    /// Makes the task but the answer is lost on the way back.
    MakeAndLose,
    /// Fails without making anything.
    Fail(TallyfyError),
}

#[derive(Default)]
struct ScriptedTallyfy {
    script: Mutex<VecDeque<Answer>>,
    made: Mutex<Vec<CreatedTask>>,
    creates: Mutex<Vec<Instant>>,
    finds: Mutex<u32>,
}

impl ScriptedTallyfy {
    fn with(answers: impl IntoIterator<Item = Answer>) -> Arc<Self> {
        let this = Self::default();
        this.script.lock().unwrap().extend(answers);
        Arc::new(this)
    }

    fn made(&self) -> usize {
        self.made.lock().unwrap().len()
    }

    fn creates(&self) -> Vec<Instant> {
        self.creates.lock().unwrap().clone()
    }
}

#[async_trait]
impl TaskSink for ScriptedTallyfy {
    async fn create_task(&self, task: &NewTask) -> Result<CreatedTask, TallyfyError> {
        self.creates.lock().unwrap().push(Instant::now());
        let answer = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Answer::Make);
        let make = || {
            let mut made = self.made.lock().unwrap();
            let created = CreatedTask {
                id: TaskId(format!("t{}", made.len() + 1)),
                title: Some(task.title.clone()),
                status: None,
                run: None,
                run_id: None,
            };
            made.push(created.clone());
            created
        };
        match answer {
            Answer::Make => Ok(make()),
            Answer::MakeAndLose => {
                make();
                Err(TallyfyError::NoAnswer("timed out".into()))
            }
            Answer::Fail(e) => Err(e),
        }
    }

    async fn find_task(&self, task: &NewTask) -> Result<Option<CreatedTask>, TallyfyError> {
        *self.finds.lock().unwrap() += 1;
        let made = self.made.lock().unwrap();
        Ok(made
            .iter()
            .find(|t| t.title.as_deref() == Some(&task.title))
            .cloned())
    }
}

#[derive(Default)]
struct Notices(Mutex<Vec<String>>);

#[async_trait]
impl DelayNotice for Notices {
    async fn delayed(&self, _origin: &Origin, text: &str) {
        self.0.lock().unwrap().push(text.to_string());
    }
}

struct Fixture {
    tallyfy: Arc<ScriptedTallyfy>,
    notices: Arc<Notices>,
    ledger: Ledger,
    creator: Creator,
}

fn fixture(answers: impl IntoIterator<Item = Answer>) -> Fixture {
    let tallyfy = ScriptedTallyfy::with(answers);
    let notices = Arc::new(Notices::default());
    let ledger = Ledger::new(Arc::new(MemoryStore::default()));
    let creator = Creator::new(
        tallyfy.clone(),
        ledger.clone(),
        notices.clone(),
        Metrics::default(),
        RetryPolicy {
            backoff: Duration::from_millis(500),
            retry_for: Duration::from_secs(600),
            settle: Duration::from_secs(3),
        },
    );
    Fixture {
        tallyfy,
        notices,
        ledger,
        creator,
    }
}

fn origin() -> Origin {
    Origin {
        team_id: "T1".into(),
        user_id: "U1".into(),
        channel_id: Some("C1".into()),
        response_url: None,
        thread_ts: None,
        request_id: None,
    }
}

fn request() -> NewTask {
    NewTask {
        title: "Draft the contract".into(),
        summary: None,
        task_type: TaskType::Task,
        owners: Owners::default(),
        deadline: "2030-01-01 17:00:00".into(),
        separate_task_for_each_assignee: None,
        run_id: None,
        position: None,
        webhook: None,
        options: Default::default(),
    }
}

async fn create(f: &Fixture, resumed: bool) -> Result<Made, TallyfyError> {
    let origin = origin();
    let creation = Creation {
        job: "job-1",
        step: Step::Task,
        origin: &origin,
        what: "the task *Draft the contract*",
        resumed,
        known_unsent: false,
    };
    f.creator.create_once(&creation, &request()).await
}

fn unavailable() -> Answer {
    Answer::Fail(TallyfyError::Server {
        status: 503,
        message: "down".into(),
    })
}

#[tokio::test(start_paused = true)]
async fn a_creation_is_sent_once_and_recorded() {
    let f = fixture([Answer::Make]);
    let made = create(&f, false).await.unwrap();
    assert!(matches!(made, Made::Now(_)));
    let again = create(&f, true).await.unwrap();
    assert_eq!(again, Made::Before(made.task().clone()));
    assert_eq!((f.tallyfy.made(), f.tallyfy.creates().len()), (1, 1));
    assert_eq!(
        *f.tallyfy.finds.lock().unwrap(),
        0,
        "a recorded creation needs no lookup"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unavailable_tallyfy_is_retried_with_growing_pauses_and_the_delay_told_once() {
    let f = fixture(std::iter::repeat_n(unavailable(), 8).chain([Answer::Make]));
    let started = Instant::now();
    create(&f, false).await.unwrap();
    let sends = f.tallyfy.creates();
    assert_eq!(sends.len(), 9);
    assert_eq!(f.tallyfy.made(), 1);
    let pauses: Vec<Duration> = sends.windows(2).map(|w| w[1] - w[0]).collect();
    // 0.5 s doubling, each jittered by 0.5x to 1.5x, capped at 10 s (so at most 15 s).
    for (i, pause) in pauses.iter().enumerate() {
        let base = Duration::from_millis(500 * 2u64.pow(i as u32)).min(MAX_BACKOFF);
        assert!(
            *pause >= base / 2 && *pause <= base * 3 / 2,
            "pause {i}: {pause:?}"
        );
    }
    assert!(started.elapsed() >= DELAY_NOTICE_AFTER);
    let notices = f.notices.0.lock().unwrap().clone();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("up to 10 minutes"), "{}", notices[0]);
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_is_looked_up_after_the_settle_time_and_not_sent_again() {
    let f = fixture([Answer::MakeAndLose]);
    let made = create(&f, false).await.unwrap();
    assert_eq!(f.tallyfy.made(), 1, "created once");
    assert_eq!(f.tallyfy.creates().len(), 1, "sent once");
    assert_eq!(made.task().id, TaskId("t1".into()));
    assert_eq!(*f.tallyfy.finds.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_creation_sent_by_a_run_that_died_is_looked_up_first() {
    let f = fixture([Answer::MakeAndLose]);
    // The earlier run sent it and died before recording the answer.
    f.ledger.sending("job-1", Step::Task).await;
    let _ = f.tallyfy.create_task(&request()).await;
    let made = create(&f, false).await.unwrap();
    assert_eq!(made, Made::Now(f.tallyfy.made.lock().unwrap()[0].clone()));
    assert_eq!(f.tallyfy.made(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_is_waited_out_for_as_long_as_tallyfy_asks() {
    let limited = Answer::Fail(TallyfyError::RateLimited {
        retry_after: Some(Duration::from_secs(7)),
    });
    let f = fixture([limited, Answer::Make]);
    create(&f, false).await.unwrap();
    let sends = f.tallyfy.creates();
    assert_eq!(sends[1] - sends[0], Duration::from_secs(7));
    assert!(f.notices.0.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_refusal_is_not_retried() {
    let refused = Answer::Fail(TallyfyError::Invalid {
        message: "The given data was invalid.".into(),
        fields: vec![],
    });
    let f = fixture([refused]);
    let err = create(&f, false).await.unwrap_err();
    assert!(matches!(err, TallyfyError::Invalid { .. }));
    assert_eq!(f.tallyfy.creates().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_outage_longer_than_the_retry_window_ends_in_the_error() {
    let f = fixture(std::iter::repeat_n(unavailable(), 1000));
    let started = Instant::now();
    let err = create(&f, false).await.unwrap_err();
    assert!(matches!(err, TallyfyError::Server { status: 503, .. }));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(600) && took < Duration::from_secs(600) + MAX_BACKOFF * 2,
        "{took:?}"
    );
    assert_eq!(f.tallyfy.made(), 0);
    assert_eq!(f.notices.0.lock().unwrap().len(), 1);
}
