//! What is kept about each posted card, with typed values. The keys are the ones earlier
//! releases wrote, so cards posted before an upgrade keep working after it.
//!
//! | key | value | meaning | kept |
//! |---|---|---|---|
//! | `card:{job}` | [`Card`], deflated | the confirmation: where it is, what it says, what it follows | [`FOLLOW_TTL`]; [`DONE_TTL`] once the work is done |
//! | `target:{job}`, `target:{job}:{position}` | [`Target`] | what a card's buttons (or a project line's menus) act on | [`FOLLOW_TTL`]; [`DONE_TTL`] once the work is done |
//! | `hook:{job}:{step}` | a token | the webhook Tallyfy calls when that creation's task is done | [`FOLLOW_TTL`]; [`DONE_TTL`] once the work is done |
//! | `watch:{token}` | the job's key | whose card a webhook call is about | [`FOLLOW_TTL`]; [`DONE_TTL`] once the work is done |
//! | `news:{what}` | `1` | a completion (or reopening, or a project's end) already told | [`FOLLOW_TTL`]; [`DONE_TTL`] when told by a webhook's job |
//! | `calls:{token}:{minute}` | a count | a webhook's calls in one minute, for its rate limit | two minutes |
//! | `turn:{task}` | `1` | someone's Mark done or Reopen is being carried out | 30 s |
//! | `completer:{task}` | a Slack user id | who pressed Mark done, to name them in the thread | an hour |
//! | `decision:{task}` | `approved` or `rejected` | the decision that completed an approval from its card | an hour |
//! | `polled` | a list of [`Polled`], newest first | the work the poller reads (no public URL) | [`FOLLOW_TTL`] |
//! | `poller` | a replica's name | the lease that makes one replica the poller | three polls |

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use slack_morphism::prelude::SlackMessageContent;

use crate::jobs::ledger::Step;
use crate::slack::ids::UserId;
use crate::state::Services;
use crate::store::{Store, StoreError};
use crate::tallyfy::model::{CreatedTask, RunId, TaskId};

/// How long what follows a card (its webhooks, its record, its news) is kept: work takes
/// time.
pub const FOLLOW_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
/// How long the news told of finished work is remembered: a late repeat of its webhook
/// call is still caught.
pub const DONE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a Mark done or Reopen holds its task against another press.
const TURN_TTL: Duration = Duration::from_secs(30);
/// How long who pressed Mark done is kept for the completion's news.
const COMPLETER_TTL: Duration = Duration::from_secs(3600);
/// Where the work read by polling is listed, and how many entries the list keeps.
const POLLED: &str = "polled";
const POLLED_KEEP: usize = 1000;
/// The lease that makes one replica the poller.
const LEASE: &str = "poller";

/// A confirmation in a channel: where it is and what it says.
#[derive(Clone, Serialize, Deserialize)]
pub struct Card {
    pub channel: String,
    pub ts: String,
    pub content: SlackMessageContent,
    /// What the card's news comes from: the task, or the project's run. Records kept by
    /// earlier releases have none (their news is then checked against `target:{job}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followed: Option<Followed>,
}

/// What a card's card follows in Tallyfy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Followed {
    Task(TaskId),
    Run(RunId),
}

/// A task a card's button acts on. Who may act on it is read from Tallyfy at each press
/// (earlier releases kept its owners here too; that is read no more).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    /// The job whose card it is.
    pub key: String,
    pub title: String,
    pub created: CreatedTask,
}

/// One piece of work the poller reads: whose card, what, and since when (unix seconds).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Polled {
    pub job: String,
    pub followed: Followed,
    pub since: i64,
}

/// The cards' keys over the shared store.
pub struct CardStore<'a> {
    store: &'a dyn Store,
}

/// The cards' keys in `app`'s store.
pub fn of(app: &Services) -> CardStore<'_> {
    CardStore {
        store: app.store.as_ref(),
    }
}

impl CardStore<'_> {
    async fn read<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let raw = self.store.get(key).await.ok().flatten()?;
        serde_json::from_str(&raw).ok()
    }

    async fn write<T: Serialize>(&self, key: &str, value: &T, ttl: Duration) {
        let raw = serde_json::to_string(value).expect("plain data");
        if let Err(e) = self.store.set(key, &raw, ttl).await {
            tracing::warn!(error = %e, key = key.split(':').next().unwrap_or(""), "could not keep a card's record");
        }
    }

    /// Keeps where job `job`'s card is and what it says (deflated: see [`packed`]).
    pub async fn keep_card(&self, job: &str, card: &Card) {
        let raw = serde_json::to_string(card).expect("plain data");
        if let Err(e) = self
            .store
            .set(&format!("card:{job}"), &packed(&raw), FOLLOW_TTL)
            .await
        {
            tracing::warn!(error = %e, "could not keep a card's record");
        }
    }

    pub async fn card(&self, job: &str) -> Option<Card> {
        let raw = self
            .store
            .get(&format!("card:{job}"))
            .await
            .ok()
            .flatten()?;
        serde_json::from_str(&unpacked(&raw)?).ok()
    }

    /// Job `job`'s card, what its buttons act on and its webhooks are kept `ttl` from now:
    /// [`DONE_TTL`] once its work is done (long enough to reopen it from the card and to
    /// catch a late repeat of a call), not months; [`FOLLOW_TTL`] again once reopened.
    /// Each key's life is set in place: a write made meanwhile is not undone.
    pub async fn keep_for(&self, job: &str, ttl: Duration) {
        let mut keys = vec![
            format!("card:{job}"),
            target_key(job, None),
            format!("hook:{job}:{}", Step::Task),
            format!("hook:{job}:{}", Step::Run),
        ];
        // A project's lines are numbered from 1, with no gaps.
        for line in 1..=100 {
            if !matches!(
                self.store.get(&target_key(job, Some(line))).await,
                Ok(Some(_))
            ) {
                break;
            }
            keys.push(target_key(job, Some(line)));
            keys.push(format!("hook:{job}:{}", Step::Line(line)));
        }
        let hooks: Vec<String> = keys
            .iter()
            .filter(|k| k.starts_with("hook:"))
            .cloned()
            .collect();
        let tokens = self.store.get_many(&hooks).await.unwrap_or_default();
        keys.extend(
            tokens
                .into_iter()
                .flatten()
                .map(|token| format!("watch:{token}")),
        );
        for key in keys {
            let _ = self.store.expire(&key, ttl).await;
        }
    }

    /// Keeps what job `target.key`'s card (or its line at `line`) acts on.
    pub async fn keep_target(&self, target: &Target, line: Option<u32>) {
        self.write(&target_key(&target.key, line), target, FOLLOW_TTL)
            .await;
    }

    pub async fn target(&self, job: &str, line: Option<u32>) -> Option<Target> {
        self.read(&target_key(job, line)).await
    }

    /// The token of creation `step`'s webhook: the same one every time it is asked for
    /// (the first replica to ask makes it), and known to [`CardStore::watched`].
    pub async fn webhook_token(&self, job: &str, step: Step) -> String {
        let hook = format!("hook:{job}:{step}");
        // A new job's first run: a fresh token, and what it names, in one round trip. A
        // token an earlier run gave out is kept, and named again.
        let fresh = crate::seal::random_token();
        let watch = |token: &str| {
            let key = format!("watch:{token}");
            async move { self.store.set(&key, job, FOLLOW_TTL).await }
        };
        let (taken, _) = tokio::join!(
            self.store.set_if_absent(&hook, &fresh, FOLLOW_TTL),
            watch(&fresh)
        );
        if taken.is_ok_and(|taken| !taken) {
            if let Ok(Some(token)) = self.store.get(&hook).await {
                let _ = watch(&token).await;
                return token;
            }
        }
        fresh
    }

    /// The job whose webhook has this token, if it is one this service gave out; an
    /// error when the store cannot say.
    pub async fn watched(&self, token: &str) -> Result<Option<String>, StoreError> {
        if token.len() != 32 || !token.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        self.store.get(&format!("watch:{token}")).await
    }

    /// Counts one call on webhook `token` in the current minute; the count so far.
    pub async fn count_call(&self, token: &str) -> Result<i64, StoreError> {
        let minute = jiff::Timestamp::now().as_second() / 60;
        self.store
            .incr(&format!("calls:{token}:{minute}"), Duration::from_secs(120))
            .await
    }

    /// True once `what` was told (see [`CardStore::mark_told`]); false when the store
    /// cannot say (telling is then tried, and marked after).
    pub async fn was_told(&self, what: &str) -> bool {
        matches!(self.store.get(&format!("news:{what}")).await, Ok(Some(_)))
    }

    /// Records that `what` was told, after Slack took it; kept `ttl`.
    pub async fn mark_told(&self, what: &str, ttl: Duration) {
        let _ = self.store.set(&format!("news:{what}"), "1", ttl).await;
    }

    /// True the first time `what` (a task and its completion time, say) is asked about, on
    /// any replica: each piece of news is told once.
    pub async fn first_news(&self, what: &str) -> bool {
        matches!(
            self.store
                .set_if_absent(&format!("news:{what}"), "1", FOLLOW_TTL)
                .await,
            Ok(true)
        )
    }

    /// Takes `task` for one press of Mark done or Reopen; false while another press is
    /// being carried out (or the store cannot say: nothing is done then).
    pub async fn take_turn(&self, task: &TaskId) -> bool {
        matches!(
            self.store
                .set_if_absent(&format!("turn:{task}"), "1", TURN_TTL)
                .await,
            Ok(true)
        )
    }

    pub async fn end_turn(&self, task: &TaskId) {
        let _ = self.store.delete(&format!("turn:{task}")).await;
    }

    /// Records that `user` pressed Mark done on `task`: the completion Tallyfy then
    /// reports names its token's user, so the thread names the person instead.
    pub async fn note_completer(&self, task: &TaskId, user: &UserId) {
        let _ = self
            .store
            .set(&format!("completer:{task}"), user.as_str(), COMPLETER_TTL)
            .await;
    }

    /// Who pressed Mark done on `task`, leaving the record (see [`CardStore::take_completer`]).
    pub async fn completer(&self, task: &str) -> Option<UserId> {
        let user = self
            .store
            .get(&format!("completer:{task}"))
            .await
            .ok()
            .flatten()?;
        Some(UserId::new(user))
    }

    /// Records the decision (approved or not) that `task`, an approval, is completed with.
    pub async fn note_decision(&self, task: &TaskId, approved: bool) {
        let word = if approved { "approved" } else { "rejected" };
        let _ = self
            .store
            .set(&format!("decision:{task}"), word, COMPLETER_TTL)
            .await;
    }

    /// The decision noted for `task`: "approved" or "rejected".
    pub async fn decision(&self, task: &str) -> Option<String> {
        self.store
            .get(&format!("decision:{task}"))
            .await
            .ok()
            .flatten()
    }

    /// Who pressed Mark done on `task`, once: the record goes as it is read (and the
    /// decision with it).
    pub async fn take_completer(&self, task: &str) -> Option<UserId> {
        let _ = self.store.delete(&format!("decision:{task}")).await;
        let key = format!("completer:{task}");
        let user = self.store.get(&key).await.ok().flatten()?;
        let _ = self.store.delete(&key).await;
        Some(UserId::new(user))
    }

    /// Lists a piece of work for the poller.
    pub async fn list_polled(&self, entry: &Polled) {
        let raw = serde_json::to_string(entry).expect("plain data");
        if let Err(e) = self
            .store
            .push_recent(POLLED, &raw, POLLED_KEEP, FOLLOW_TTL)
            .await
        {
            tracing::warn!(error = %e, "could not list the work to read for completions");
        }
    }

    /// The work the poller reads, newest first.
    pub async fn polled(&self) -> Vec<Polled> {
        let listed = self.store.recent(POLLED).await.unwrap_or_default();
        listed
            .iter()
            .filter_map(|raw| serde_json::from_str(raw).ok())
            .collect()
    }

    /// Takes the poller's lease for `me`, or keeps it: one replica polls at a time.
    /// Without the store each replica reads for itself; news is still told once each.
    pub async fn hold_lease(&self, me: &str, ttl: Duration) -> bool {
        crate::store::hold_lease(self.store, LEASE, me, ttl).await
    }
}

/// How a card's record is written: its JSON deflated, in base64 after `z1.`. A card's
/// blocks repeat the same few keys and words: this keeps about 60% of the bytes, base64
/// included.
fn packed(json: &str) -> String {
    use base64::Engine;
    format!(
        "z1.{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(deflated(json.as_bytes()))
    )
}

thread_local! {
    /// One compressor per thread, reset for each card: making one allocates and clears
    /// about 300 KB of tables, which cost more than the deflating itself (a sixth of the
    /// service's CPU per form, see docs/performance.md). The fastest level: on a card it
    /// keeps within 1% of the bytes the default level keeps.
    static DEFLATER: std::cell::RefCell<flate2::Compress> =
        std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::fast(), false));
}

/// `input` deflated (raw deflate, as `flate2::write::DeflateEncoder` writes it).
fn deflated(input: &[u8]) -> Vec<u8> {
    DEFLATER.with(|deflater| {
        let mut deflater = deflater.borrow_mut();
        deflater.reset();
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        loop {
            let read = deflater.total_in() as usize;
            let status = deflater
                .compress_vec(&input[read..], &mut out, flate2::FlushCompress::Finish)
                .expect("deflating into memory");
            if status == flate2::Status::StreamEnd {
                return out;
            }
            out.reserve(out.capacity().max(64));
        }
    })
}

/// A card's record as [`packed`] wrote it, or as earlier releases did (plain JSON);
/// `None` when it is neither. At most [`CARD_MAX`] bytes are inflated.
fn unpacked(raw: &str) -> Option<String> {
    use base64::Engine;
    use std::io::Read;
    let Some(body) = raw.strip_prefix("z1.") else {
        return Some(raw.to_string());
    };
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(body)
        .ok()?;
    let mut json = String::new();
    flate2::read::DeflateDecoder::new(bytes.as_slice())
        .take(CARD_MAX)
        .read_to_string(&mut json)
        .ok()?;
    Some(json)
}

/// The most a card's record inflates to: a message's blocks and text are well under it.
const CARD_MAX: u64 = 256 * 1024;

fn target_key(job: &str, line: Option<u32>) -> String {
    match line {
        Some(position) => format!("target:{job}:{position}"),
        None => format!("target:{job}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cards_record_is_kept_deflated_and_read_back_as_earlier_releases_wrote_it() {
        let card = Card {
            channel: "C1".into(),
            ts: "1700000000.000100".into(),
            content: serde_json::from_value(serde_json::json!({
                "text": "Alice created a task: Draft the contract, for Bob, due Fri 12 Dec",
                "blocks": [
                    {"type": "section", "block_id": "created", "text": {"type": "mrkdwn",
                        "text": ":white_check_mark: <@U0ALICE> created *<https://go.tallyfy.com/org/tasks/t1|Draft the contract>*"}},
                    {"type": "context", "elements": [{"type": "mrkdwn",
                        "text": "Assigned to <@U0BOB> · due Fri 12 Dec, 17:00"}]},
                    {"type": "actions", "block_id": "card", "elements": [
                        {"type": "button", "action_id": "mark_done", "value": "submission:T1:abcdef0123456789",
                            "text": {"type": "plain_text", "text": "Mark done"}, "style": "primary"},
                        {"type": "button", "action_id": "comment", "value": "submission:T1:abcdef0123456789",
                            "text": {"type": "plain_text", "text": "Comment"}},
                        {"type": "button", "action_id": "open_in_tallyfy", "url": "https://go.tallyfy.com/org/tasks/t1",
                            "text": {"type": "plain_text", "text": "Open in Tallyfy"}}
                    ]}
                ]
            }))
            .unwrap(),
            followed: Some(Followed::Task(TaskId("t1".into()))),
        };
        let json = serde_json::to_string(&card).unwrap();
        let packed = packed(&json);
        assert!(
            packed.len() * 4 < json.len() * 3,
            "{} bytes deflated, {} as JSON",
            packed.len(),
            json.len()
        );
        assert_eq!(unpacked(&packed).as_deref(), Some(json.as_str()));
        // A record an earlier release kept, in plain JSON.
        assert_eq!(unpacked(&json).as_deref(), Some(json.as_str()));
        assert_eq!(unpacked("z1.not base64!"), None);
    }

    #[test]
    fn the_threads_compressor_starts_afresh_for_each_record() {
        let small = r#"{"text":"a card"}"#;
        // Text that hardly deflates, so the output outgrows its first allocation.
        let large: String = (0..20_000u32)
            .map(|i| char::from(b'!' + (i.wrapping_mul(2_654_435_761) >> 27) as u8))
            .collect();
        let first = packed(small);
        assert_eq!(unpacked(&packed(&large)).as_deref(), Some(large.as_str()));
        assert_eq!(
            packed(small),
            first,
            "nothing of the last record is carried over"
        );
        assert_eq!(unpacked(&first).as_deref(), Some(small));
    }
}
