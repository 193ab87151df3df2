//! What is kept about alerts, with typed values.
//!
//! | key | value | meaning | kept |
//! |---|---|---|---|
//! | `alerts:{user}` | [`Settings`] | which alerts a person turned on, and in which workspace | a year, renewed each round |
//! | `alerts:people` | a list of user ids, newest first | who ever turned an alert on (each checked against their settings) | a year, renewed each round |
//! | `alert:{user}:{task}` | `sending`, `sent` or `before` | an alert claimed, sent, or a task that was theirs before they turned alerts on | 10 minutes while `sending`; 90 days |
//! | `digest:{user}:{day}` | `sending` or `sent` | their digest for that day (in their time zone) | 10 minutes while `sending`; 3 days |
//! | `alerts-poller` | a replica's name | the lease that makes one replica read for alerts | three rounds |

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::slack::ids::UserId;
use crate::state::Services;
use crate::store::Store;

/// How long settings and the list of people are kept without a round renewing them.
const SETTINGS_TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// How long an alert told is remembered: longer than any task stays open in a list.
const SENT_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
/// How long a digest told is remembered: past the end of its day in any time zone.
const DIGEST_TTL: Duration = Duration::from_secs(3 * 24 * 3600);
/// How long a claim holds while its message is being sent: a replica that died mid-send
/// leaves it to be sent again after this.
const SENDING_TTL: Duration = Duration::from_secs(600);
const PEOPLE: &str = "alerts:people";
const PEOPLE_KEEP: usize = 10_000;
/// The lease that makes one replica read for alerts.
pub const LEASE: &str = "alerts-poller";

/// Which alerts a person turned on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// A direct message when a task is assigned to them.
    #[serde(default)]
    pub assigned: bool,
    /// A morning digest of what is due today or overdue.
    #[serde(default)]
    pub digest: bool,
    /// Their workspace, to look them up in the directory.
    #[serde(default)]
    pub team: String,
    /// Whether the tasks already theirs when they turned assignment alerts on were set
    /// aside (not alerted); the next round does it when turning them on could not.
    #[serde(default)]
    pub seeded: bool,
}

/// Which alert a claim is for.
pub enum Claim<'a> {
    Assigned { user: &'a UserId, task: &'a str },
    Digest { user: &'a UserId, day: &'a str },
}

impl Claim<'_> {
    fn key(&self) -> String {
        match self {
            Claim::Assigned { user, task } => format!("alert:{user}:{task}"),
            Claim::Digest { user, day } => format!("digest:{user}:{day}"),
        }
    }

    fn kept(&self) -> Duration {
        match self {
            Claim::Assigned { .. } => SENT_TTL,
            Claim::Digest { .. } => DIGEST_TTL,
        }
    }
}

/// The alerts' keys over the shared store.
pub struct AlertStore<'a> {
    store: &'a dyn Store,
}

/// The alerts' keys in `app`'s store.
pub fn of(app: &Services) -> AlertStore<'_> {
    AlertStore {
        store: app.store.as_ref(),
    }
}

impl AlertStore<'_> {
    /// `user`'s settings; all off when none were kept or the store cannot say.
    pub async fn settings(&self, user: &UserId) -> Settings {
        let raw = self
            .store
            .get(&format!("alerts:{user}"))
            .await
            .ok()
            .flatten();
        raw.and_then(|raw| serde_json::from_str(&raw).ok())
            .unwrap_or_default()
    }

    /// Keeps `user`'s settings, and lists them among the people the rounds read.
    pub async fn keep_settings(&self, user: &UserId, settings: &Settings) -> bool {
        let raw = serde_json::to_string(settings).expect("plain data");
        let kept = self
            .store
            .set(&format!("alerts:{user}"), &raw, SETTINGS_TTL)
            .await;
        let listed = self
            .store
            .push_recent(PEOPLE, user.as_str(), PEOPLE_KEEP, SETTINGS_TTL)
            .await;
        kept.is_ok() && listed.is_ok()
    }

    /// Everyone who ever turned an alert on, each once; their settings and the list
    /// are kept a year from now.
    pub async fn people(&self) -> Vec<UserId> {
        let mut people: Vec<UserId> = Vec::new();
        for user in self.store.recent(PEOPLE).await.unwrap_or_default() {
            let user = UserId::new(&user);
            if !people.contains(&user) {
                people.push(user);
            }
        }
        let _ = self.store.expire(PEOPLE, SETTINGS_TTL).await;
        for user in &people {
            let _ = self
                .store
                .expire(&format!("alerts:{user}"), SETTINGS_TTL)
                .await;
        }
        people
    }

    /// Takes `claim` for sending: true the first time on any replica, or again once a
    /// send that failed gave it back (or its sender died). When the store cannot say,
    /// nothing is sent: a later round tries.
    pub async fn claim(&self, claim: &Claim<'_>) -> bool {
        matches!(
            self.store
                .set_if_absent(&claim.key(), "sending", SENDING_TTL)
                .await,
            Ok(true)
        )
    }

    /// Records `claim` as sent: it is never sent again.
    pub async fn sent(&self, claim: &Claim<'_>) {
        let _ = self.store.set(&claim.key(), "sent", claim.kept()).await;
    }

    /// Gives `claim` back after its message could not be sent: a later round sends it.
    pub async fn give_back(&self, claim: &Claim<'_>) {
        let _ = self.store.delete(&claim.key()).await;
    }

    /// Sets aside a task that was already `user`'s before they turned alerts on.
    pub async fn set_aside(&self, user: &UserId, task: &str) {
        let key = Claim::Assigned { user, task }.key();
        let _ = self.store.set_if_absent(&key, "before", SENT_TTL).await;
    }

    /// Takes the round's lease for `me`, or keeps it: one replica reads at a time.
    pub async fn hold_lease(&self, me: &str, ttl: Duration) -> bool {
        crate::store::hold_lease(self.store, LEASE, me, ttl).await
    }
}
