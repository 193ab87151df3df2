//! What the job engine stores about a job: the submission's claim, the lock of the
//! replica running it, the job kept for the Retry button, the progress of each creation
//! it makes, and whether its outcome was told. The layout is unchanged from earlier
//! releases, so jobs queued or kept before an upgrade run the same after it. What follows a
//! posted card is kept by `cards::store`, the Home tab's lists by `worklists`; every key
//! the service writes is listed in `docs/keys.md`.
//!
//! | key | value | meaning |
//! |---|---|---|
//! | `submission:{team}:{view}:{hash}` | `1` | the submission was taken; it is also the job's key |
//! | `running:{key}` | `{replica}/{delivery}` | a replica is running the job |
//! | `job:{key}` | the job's JSON | kept for the Retry button |
//! | `progress:{key}:{step}` | `sending`, or what was created (JSON) | one creation |
//! | `progress:{key}:delayed` | `1` | the requester was told of a delay |
//! | `progress:{key}:told` | `posting:{unix secs}:{channel}:{thread ts}` | the outcome is being posted there |
//! | `progress:{key}:told` | `1` | the outcome was told |

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::store::{MemoryStore, Store, StoreError};

/// How long a job's data and progress are kept: its Retry button works this long.
pub const JOB_TTL: Duration = Duration::from_secs(24 * 3600);
/// The record of a creation that was sent but whose outcome is not known yet.
const SENDING: &str = "sending";
/// A write that Redis refused is tried again this often, this many times (two minutes).
const LATE_WRITE_PAUSE: Duration = Duration::from_millis(500);
const LATE_WRITE_TRIES: u32 = 240;

/// A job as it is stored: one JSON object, its kind under `"kind"` beside its own fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub key: String,
    pub json: String,
}

impl Stored {
    /// `data` (a struct) with `"kind": kind` added to it.
    pub fn new(kind: &str, key: &str, data: &impl Serialize) -> Self {
        let mut value = serde_json::to_value(data).expect("jobs are plain data");
        if let Some(object) = value.as_object_mut() {
            object.insert("kind".into(), kind.into());
        }
        Self {
            key: key.to_string(),
            json: value.to_string(),
        }
    }
}

/// One creation a job makes, named in its progress record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A one-off task, or a task added to an existing project.
    Task,
    /// A project's run.
    Run,
    /// A project's line at this position in its run.
    Line(u32),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Task => f.write_str("task"),
            Step::Run => f.write_str("run"),
            Step::Line(position) => write!(f, "task:{position}"),
        }
    }
}

/// What is known of one creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress<T> {
    /// Never sent, as far as the store knows (or the store could not say).
    NotSent,
    /// Sent, with no answer recorded: it may or may not exist.
    Sending,
    /// Made: this is what was created.
    Made(T),
}

/// How far telling a job's outcome got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Telling {
    NotYet,
    /// A post was about to go out; it may or may not have been made.
    Posting(Posting),
    Told,
}

/// A post about to be made: when, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    /// Unix seconds, a moment before the post.
    pub at: i64,
    pub channel: String,
    pub thread_ts: Option<String>,
}

impl Posting {
    fn encode(&self) -> String {
        format!(
            "posting:{}:{}:{}",
            self.at,
            self.channel,
            self.thread_ts.as_deref().unwrap_or("")
        )
    }

    fn decode(raw: &str) -> Option<Self> {
        let mut parts = raw.strip_prefix("posting:")?.splitn(3, ':');
        let at = parts.next()?.parse().ok()?;
        let channel = parts.next()?.to_string();
        let thread_ts = Some(parts.next()?.to_string()).filter(|t| !t.is_empty());
        Some(Self {
            at,
            channel,
            thread_ts,
        })
    }
}

/// A submission's claim: whether this is its first delivery, and the job's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub first: bool,
    pub key: String,
}

/// The job records, over the shared store.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<dyn Store>,
    /// Submissions claimed while the store could not be reached: repeats that reach this
    /// replica during an outage are still caught.
    local_claims: Arc<MemoryStore>,
}

impl Ledger {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            local_claims: Arc::new(MemoryStore::default()),
        }
    }

    /// Claims a submission (team, view and hash) so that a repeat of it creates nothing.
    /// While the store is out, the claim is made in this replica only: a repeat that
    /// reaches another replica then goes through.
    pub async fn claim_submission(&self, team: &str, view_id: &str, hash: &str) -> Claim {
        let key = format!("submission:{team}:{view_id}:{hash}");
        let first = match self.store.set_if_absent(&key, "1", JOB_TTL).await {
            Ok(first) => first,
            Err(e) => {
                tracing::warn!(error = %e, "could not record the submission in the store; checking repeats in this replica only");
                self.local_claims
                    .set_if_absent(&key, "1", JOB_TTL)
                    .await
                    .unwrap_or(true)
            }
        };
        Claim { first, key }
    }

    /// Takes the job's lock for `holder`; false when another run holds it.
    pub async fn lock(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.store
            .set_if_absent(&format!("running:{key}"), holder, ttl)
            .await
    }

    /// Keeps the lock alive for another `ttl`.
    pub async fn relock(&self, key: &str, holder: &str, ttl: Duration) {
        let _ = self.store.set(&format!("running:{key}"), holder, ttl).await;
    }

    pub async fn unlock(&self, key: &str) {
        let _ = self.store.delete(&format!("running:{key}")).await;
    }

    /// Keeps a job as it is stored, for its Retry button.
    pub async fn keep(&self, job: &Stored) {
        let key = format!("job:{}", job.key);
        if let Err(e) = self.store.set(&key, &job.json, JOB_TTL).await {
            tracing::warn!(error = %e, "could not keep the job; its retry button will not work");
        }
    }

    /// The job kept as `key`, when it is still there and reads as a `T`.
    pub async fn kept<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let raw = self.store.get(&format!("job:{key}")).await.ok().flatten()?;
        serde_json::from_str(&raw).ok()
    }

    /// Whether the outcome of this job was already told (an earlier run got that far).
    pub async fn told(&self, key: &str) -> bool {
        self.telling(key).await == Telling::Told
    }

    /// How far telling the outcome got.
    pub async fn telling(&self, key: &str) -> Telling {
        match self.store.get(&format!("progress:{key}:told")).await {
            Ok(Some(raw)) => match Posting::decode(&raw) {
                Some(posting) => Telling::Posting(posting),
                None => Telling::Told,
            },
            Ok(None) | Err(_) => Telling::NotYet,
        }
    }

    /// Records that the outcome is about to be posted, so a run that takes the job over
    /// looks for the post before making it again.
    pub async fn posting(&self, key: &str, posting: &Posting) {
        let _ = self
            .store
            .set(&format!("progress:{key}:told"), &posting.encode(), JOB_TTL)
            .await;
    }

    /// Records that the outcome was told. While Redis is out this keeps trying for a
    /// while, so that a replica that takes the job over once Redis is back finds it told
    /// and does not announce it again.
    pub async fn mark_told(&self, key: &str) {
        let (store, key) = (self.store.clone(), format!("progress:{key}:told"));
        if store.set(&key, "1", JOB_TTL).await.is_err() {
            write_later(move || {
                let (store, key) = (store.clone(), key.clone());
                async move { store.set(&key, "1", JOB_TTL).await.is_ok() }
            });
        }
    }

    /// What is recorded of one creation.
    pub async fn progress<T: DeserializeOwned>(&self, key: &str, step: Step) -> Progress<T> {
        match self.store.get(&progress_key(key, step)).await {
            Ok(Some(raw)) if raw == SENDING => Progress::Sending,
            Ok(Some(raw)) => match serde_json::from_str(&raw) {
                Ok(made) => Progress::Made(made),
                Err(_) => Progress::NotSent,
            },
            Ok(None) | Err(_) => Progress::NotSent,
        }
    }

    /// Records that a creation is about to be sent.
    pub async fn sending(&self, key: &str, step: Step) {
        let _ = self
            .store
            .set(&progress_key(key, step), SENDING, JOB_TTL)
            .await;
    }

    /// Records what a creation made.
    pub async fn made<T: Serialize>(&self, key: &str, step: Step, made: &T) {
        let raw = serde_json::to_string(made).expect("plain data");
        if let Err(e) = self
            .store
            .set(&progress_key(key, step), &raw, JOB_TTL)
            .await
        {
            tracing::warn!(error = %e, "could not record a creation; a later run will look it up");
        }
    }

    /// True the first time it is asked for a job: the requester is told of a delay once.
    pub async fn first_delay(&self, key: &str) -> bool {
        matches!(
            self.store
                .set_if_absent(&format!("progress:{key}:delayed"), "1", JOB_TTL)
                .await,
            Ok(true)
        )
    }
}

fn progress_key(key: &str, step: Step) -> String {
    format!("progress:{key}:{step}")
}

/// Tries a write Redis refused again in the background, every `LATE_WRITE_PAUSE`, until
/// `attempt` says it went through or `LATE_WRITE_TRIES` have passed.
pub fn write_later<F, Fut>(attempt: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    tokio::spawn(
        async move {
            for _ in 0..LATE_WRITE_TRIES {
                tokio::time::sleep(LATE_WRITE_PAUSE).await;
                if attempt().await {
                    return;
                }
            }
        }
        .in_current_span(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_post_in_doubt_is_neither_told_nor_forgotten() {
        let ledger = Ledger::new(Arc::new(MemoryStore::default()));
        let posting = Posting {
            at: 1_700_000_000,
            channel: "C1".into(),
            thread_ts: Some("1700000000.000100".into()),
        };
        ledger.posting("k", &posting).await;
        assert_eq!(ledger.telling("k").await, Telling::Posting(posting));
        assert!(!ledger.told("k").await);
        ledger.mark_told("k").await;
        assert_eq!(ledger.telling("k").await, Telling::Told);
    }

    #[test]
    fn progress_keys_keep_their_stored_layout() {
        assert_eq!(progress_key("k", Step::Task), "progress:k:task");
        assert_eq!(progress_key("k", Step::Run), "progress:k:run");
        assert_eq!(progress_key("k", Step::Line(3)), "progress:k:task:3");
    }

    #[tokio::test]
    async fn a_creation_moves_from_not_sent_to_sending_to_made() {
        let ledger = Ledger::new(Arc::new(MemoryStore::default()));
        let p: Progress<String> = ledger.progress("k", Step::Run).await;
        assert_eq!(p, Progress::NotSent);
        ledger.sending("k", Step::Run).await;
        assert_eq!(
            ledger.progress::<String>("k", Step::Run).await,
            Progress::Sending
        );
        ledger.made("k", Step::Run, &"run-1".to_string()).await;
        assert_eq!(
            ledger.progress::<String>("k", Step::Run).await,
            Progress::Made("run-1".into())
        );
        assert_eq!(
            ledger.progress::<String>("k", Step::Task).await,
            Progress::NotSent
        );
    }

    #[tokio::test]
    async fn a_submission_is_claimed_once_and_its_key_is_the_job_key() {
        let ledger = Ledger::new(Arc::new(MemoryStore::default()));
        let first = ledger.claim_submission("T1", "V1", "h").await;
        let again = ledger.claim_submission("T1", "V1", "h").await;
        assert_eq!(
            first,
            Claim {
                first: true,
                key: "submission:T1:V1:h".into()
            }
        );
        assert!(!again.first);
        assert!(!ledger.told(&first.key).await);
        ledger.mark_told(&first.key).await;
        assert!(ledger.told(&first.key).await);
    }
}
