//! The directory: who a Slack user is (email, timezone, from `users.info`) and which Tallyfy
//! member they are (the member with that email, matched exactly and case-insensitively).
//! Both answers are cached in the store, keyed by workspace and user, so that repeated use
//! costs no lookups, also after a restart when the store is Redis. "No Tallyfy account" is
//! cached too, for a shorter time.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt, Shared};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::config::DirectoryConfig;
use crate::slack::api::{SlackApi, SlackCallError, SlackPerson};
use crate::slack::ids::{TeamId, UserId};
use crate::store::Store;
use crate::tallyfy::model::{MemberId, Owners};
use crate::tallyfy::{TallyfyClient, TallyfyError};
use crate::telemetry::Metrics;

mod catalog;
mod handles;

/// People looked up at once for one request.
const LOOKUP_CONCURRENCY: usize = 8;

/// Where an answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Cache,
    Lookup,
}

/// Work in progress, shared by everyone who asks for the same key while it runs. An entry
/// leaves the map when a waiter has its answer or stops waiting (a caller that timed out),
/// so the map never holds work nobody waits for.
struct Flights<T> {
    map: Arc<std::sync::Mutex<HashMap<String, Shared<BoxFuture<'static, T>>>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Self {
            map: Arc::default(),
        }
    }
}

impl<T> Clone for Flights<T> {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    /// The answer of the work in progress for `key`, or of `start()` when there is none.
    async fn join(&self, key: &str, start: impl FnOnce() -> BoxFuture<'static, T>) -> T {
        let flight = {
            let mut map = self.map.lock().unwrap();
            map.entry(key.to_string())
                .or_insert_with(|| start().shared())
                .clone()
        };
        let _leave = Leave {
            map: self.map.clone(),
            key: key.to_string(),
            flight: flight.clone(),
        };
        flight.await
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

/// Takes a flight out of the map once one of its waiters is done with it, answered or not;
/// the other waiters keep their share of it.
struct Leave<T> {
    map: Arc<std::sync::Mutex<HashMap<String, Shared<BoxFuture<'static, T>>>>>,
    key: String,
    flight: Shared<BoxFuture<'static, T>>,
}

impl<T> Drop for Leave<T> {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap();
        if map.get(&self.key).is_some_and(|f| f.ptr_eq(&self.flight)) {
            map.remove(&self.key);
        }
    }
}

/// What a Slack user is to Tallyfy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Assignee {
    Member {
        id: MemberId,
        email: String,
        /// Their name as Tallyfy has it (what a comment they make from Slack is signed
        /// with); `None` in what earlier releases cached. (Not `name`: the cached form
        /// already has a `name`, the Slack one, beside the flattened assignee.)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tallyfy_name: Option<String>,
    },
    /// No active Tallyfy member has this person's email (or Slack shows no email).
    NoAccount { email: Option<String> },
    /// A bot, or a deactivated Slack account.
    NotAssignable { reason: String },
}

/// One resolved Slack user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub slack_user: UserId,
    /// Their Slack display name, when known (for messages that name them).
    pub name: Option<String>,
    pub assignee: Assignee,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    #[error("Slack users.info failed: {0}")]
    Slack(#[from] SlackCallError),
    #[error("Tallyfy member search failed: {0}")]
    Tallyfy(#[from] TallyfyError),
}

/// The cached form of a mapping.
#[derive(Serialize, Deserialize)]
struct Cached {
    name: Option<String>,
    #[serde(flatten)]
    assignee: Assignee,
}

#[derive(Clone)]
pub struct Directory {
    slack: SlackApi,
    tallyfy: TallyfyClient,
    store: Arc<dyn Store>,
    config: DirectoryConfig,
    metrics: Metrics,
    /// One `users.list` sweep at a time in this process; held with the times of the
    /// `users.list` calls of the last minute, to pace them to Slack's Tier 2.
    handles_lock: Arc<tokio::sync::Mutex<std::collections::VecDeque<tokio::time::Instant>>>,
    /// Lookups in progress, by cache key.
    inflight: Flights<Result<Resolved, DirectoryError>>,
}

impl Directory {
    pub fn new(
        slack: SlackApi,
        tallyfy: TallyfyClient,
        store: Arc<dyn Store>,
        config: DirectoryConfig,
        metrics: Metrics,
    ) -> Self {
        Self {
            slack,
            tallyfy,
            store,
            config,
            metrics,
            handles_lock: Arc::default(),
            inflight: Flights::default(),
        }
    }

    fn person_key(team: &str, user: &str) -> String {
        format!("person:{team}:{user}")
    }

    fn member_key(team: &str, user: &str) -> String {
        format!("member:{team}:{user}")
    }

    /// The Slack profile of `user` (email, timezone, name): from the store, else `users.info`.
    pub async fn person(&self, team: &str, user: &str) -> Result<SlackPerson, DirectoryError> {
        let key = Self::person_key(team, user);
        if let Ok(Some(raw)) = self.store.get(&key).await {
            match serde_json::from_str::<SlackPerson>(&raw) {
                Ok(person) if person.guest.is_some() => return Ok(person),
                _ => {}
            }
        }
        let person = self.slack.user_info(user).await?;
        if let Ok(raw) = serde_json::to_string(&person) {
            let _ = self.store.set(&key, &raw, self.config.hit_ttl).await;
        }
        Ok(person)
    }

    /// Resolves several Slack users at once: one store round trip for all of them, and
    /// concurrent lookups for those not cached. The answer keeps the order of `users`.
    pub async fn resolve_all(
        &self,
        team: &TeamId,
        users: &[UserId],
    ) -> Result<Vec<Resolved>, DirectoryError> {
        let keys: Vec<String> = users.iter().map(|u| Self::member_key(team, u)).collect();
        // A store outage degrades to direct lookups rather than failing the request.
        let cached = self
            .store
            .get_many(&keys)
            .await
            .unwrap_or_else(|_| vec![None; keys.len()]);
        // Boxed, so the stream's item is one named future type (and provably `Send`).
        let lookups: Vec<BoxFuture<'_, Result<Resolved, DirectoryError>>> = users
            .iter()
            .zip(cached)
            .map(|(user, hit)| {
                async move {
                    if let Some(entry) =
                        hit.and_then(|raw| serde_json::from_str::<Cached>(&raw).ok())
                    {
                        self.metrics.directory("cache_hit");
                        return Ok(Resolved {
                            slack_user: user.clone(),
                            name: entry.name,
                            assignee: entry.assignee,
                        });
                    }
                    self.metrics.directory("cache_miss");
                    self.lookup_once(team, user).await
                }
                .boxed()
            })
            .collect();
        // A few lookups at a time: one request must not take all of Slack's and Tallyfy's
        // budgets. `buffered` keeps the answers in the order of `users`.
        futures::stream::iter(lookups)
            .buffered(LOOKUP_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// What the app resolves for `user`, and whether that came from the cache.
    pub async fn whois(
        &self,
        team: &str,
        user: &str,
    ) -> Result<(Resolved, Source), DirectoryError> {
        if let Ok(Some(raw)) = self.store.get(&Self::member_key(team, user)).await {
            if let Ok(entry) = serde_json::from_str::<Cached>(&raw) {
                let resolved = Resolved {
                    slack_user: UserId::from(user),
                    name: entry.name,
                    assignee: entry.assignee,
                };
                return Ok((resolved, Source::Cache));
            }
        }
        Ok((self.lookup_once(team, user).await?, Source::Lookup))
    }

    /// One lookup per person at a time in this process: concurrent requests for the same
    /// person share the first one's answer.
    async fn lookup_once(&self, team: &str, user: &str) -> Result<Resolved, DirectoryError> {
        let key = Self::member_key(team, user);
        let (this, team, user) = (self.clone(), team.to_string(), user.to_string());
        self.inflight
            .join(&key, move || {
                async move { this.lookup(&team, &user).await }.boxed()
            })
            .await
    }

    /// Forgets what is cached about `user`, so the next use looks them up afresh.
    pub async fn forget(&self, team: &str, user: &str) {
        let _ = self.store.delete(&Self::member_key(team, user)).await;
        let _ = self.store.delete(&Self::person_key(team, user)).await;
    }

    async fn lookup(&self, team: &str, user: &str) -> Result<Resolved, DirectoryError> {
        let person = self.person(team, user).await?;
        let assignee = if person.deleted {
            Assignee::NotAssignable {
                reason: "their Slack account is deactivated".into(),
            }
        } else if person.is_bot {
            Assignee::NotAssignable {
                reason: "it is a bot".into(),
            }
        } else {
            match person.email.as_deref() {
                None => Assignee::NoAccount { email: None },
                Some(email) => match self.tallyfy.find_member_by_email(email).await? {
                    Some(member) if member.is_assignable() => Assignee::Member {
                        id: member.id,
                        email: member.email,
                        tallyfy_name: member.full_name,
                    },
                    Some(_) => Assignee::NotAssignable {
                        reason: "their Tallyfy account is deactivated".into(),
                    },
                    None => Assignee::NoAccount {
                        email: Some(email.to_string()),
                    },
                },
            }
        };
        let ttl = match assignee {
            Assignee::Member { .. } => self.config.hit_ttl,
            _ => {
                self.metrics.directory("no_account");
                self.config.miss_ttl
            }
        };
        let entry = Cached {
            name: person.name.clone(),
            assignee,
        };
        if let Ok(raw) = serde_json::to_string(&entry) {
            let _ = self
                .store
                .set(&Self::member_key(team, user), &raw, ttl)
                .await;
        }
        Ok(Resolved {
            slack_user: UserId::from(user),
            name: entry.name,
            assignee: entry.assignee,
        })
    }
}

/// Turns resolved people into Tallyfy owners, or says in plain words who cannot be
/// assigned. With `guests_ok`, people without an account are assigned as guests by email.
pub fn owners(resolved: &[Resolved], guests_ok: bool) -> Result<Owners, String> {
    let mut owners = Owners::default();
    let mut problems = Vec::new();
    let mut no_account = false;
    for r in resolved {
        let who = r
            .name
            .as_deref()
            .map(|n| format!("@{n}"))
            .unwrap_or_else(|| "One person".into());
        match &r.assignee {
            Assignee::Member { id, .. } => owners.users.push(*id),
            Assignee::NoAccount { email: Some(email) } if guests_ok => {
                owners.guests.push(email.clone())
            }
            // A person's email is theirs: the form names them, never their address.
            Assignee::NoAccount { email: Some(_) } => {
                no_account = true;
                problems.push(format!("{who} has no Tallyfy account"))
            }
            Assignee::NoAccount { email: None } => {
                problems.push(format!("{who} has no email visible to this app"))
            }
            Assignee::NotAssignable { reason } => {
                problems.push(format!("{who} can't be assigned: {reason}"))
            }
        }
    }
    if problems.is_empty() {
        return Ok(owners);
    }
    let advice = if no_account {
        "Remove them, tick \u{201c}Assign people without a Tallyfy account as guests\u{201d}, or ask a Tallyfy admin to invite them."
    } else {
        "Remove them, or ask a Tallyfy admin to invite them."
    };
    Err(format!("{}. {advice}", problems.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_cached_member_reads_back_with_both_names() {
        let cached = Cached {
            name: Some("alice".into()),
            assignee: Assignee::Member {
                id: MemberId(1001),
                email: "a@x.io".into(),
                tallyfy_name: Some("Alice Example".into()),
            },
        };
        let raw = serde_json::to_string(&cached).unwrap();
        let back: Cached = serde_json::from_str(&raw).unwrap();
        assert_eq!(back.name.as_deref(), Some("alice"));
        assert_eq!(back.assignee, cached.assignee);
        // What an earlier release cached, without the Tallyfy name, still reads.
        let old = r#"{"name":"alice","kind":"member","id":1001,"email":"a@x.io"}"#;
        let old: Cached = serde_json::from_str(old).unwrap();
        assert!(matches!(
            old.assignee,
            Assignee::Member {
                tallyfy_name: None,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_lookup_nobody_waits_for_any_more_leaves_the_in_flight_map() {
        let flights: Flights<u32> = Flights::default();
        let started = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let start = || {
            let started = started.clone();
            move || {
                started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                futures::future::pending::<u32>().boxed()
            }
        };
        // Two callers share one lookup; both give up waiting.
        let (a, b) = tokio::join!(
            tokio::time::timeout(Duration::from_millis(20), flights.join("k", start())),
            tokio::time::timeout(Duration::from_millis(20), flights.join("k", start())),
        );
        assert!(a.is_err() && b.is_err());
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(flights.len(), 0, "nothing left behind after the timeout");
        // An answered lookup leaves too.
        let answer = flights.join("k", || async { 7 }.boxed()).await;
        assert_eq!((answer, flights.len()), (7, 0));
    }

    fn resolved(name: &str, assignee: Assignee) -> Resolved {
        Resolved {
            slack_user: format!("U{name}").into(),
            name: Some(name.into()),
            assignee,
        }
    }

    #[test]
    fn members_become_integer_owner_ids() {
        let people = [
            resolved(
                "alice",
                Assignee::Member {
                    id: MemberId(1001),
                    email: "a@x.io".into(),
                    tallyfy_name: None,
                },
            ),
            resolved(
                "bob",
                Assignee::Member {
                    id: MemberId(1002),
                    email: "b@x.io".into(),
                    tallyfy_name: None,
                },
            ),
        ];
        assert_eq!(
            owners(&people, false).unwrap().users,
            vec![MemberId(1001), MemberId(1002)]
        );
    }

    #[test]
    fn people_without_accounts_are_named_without_their_email() {
        let people = [
            resolved(
                "alice",
                Assignee::Member {
                    id: MemberId(1001),
                    email: "a@x.io".into(),
                    tallyfy_name: None,
                },
            ),
            resolved(
                "carol",
                Assignee::NoAccount {
                    email: Some("carol@x.io".into()),
                },
            ),
            resolved(
                "robot",
                Assignee::NotAssignable {
                    reason: "it is a bot".into(),
                },
            ),
        ];
        let problem = owners(&people, false).unwrap_err();
        assert!(
            problem.contains("@carol has no Tallyfy account"),
            "{problem}"
        );
        assert!(!problem.contains("carol@x.io"), "{problem}");
        assert!(
            problem.contains("@robot can't be assigned: it is a bot"),
            "{problem}"
        );
    }

    #[test]
    fn with_guests_allowed_people_without_accounts_go_by_email() {
        let people = [
            resolved(
                "alice",
                Assignee::Member {
                    id: MemberId(1001),
                    email: "a@x.io".into(),
                    tallyfy_name: None,
                },
            ),
            resolved(
                "carol",
                Assignee::NoAccount {
                    email: Some("carol@x.io".into()),
                },
            ),
        ];
        let problem = owners(&people, false).unwrap_err();
        assert!(problem.contains("as guests"), "{problem}");
        let o = owners(&people, true).unwrap();
        assert_eq!(
            (o.users, o.guests),
            (vec![MemberId(1001)], vec!["carol@x.io".to_string()])
        );
        let no_email = [resolved("dan", Assignee::NoAccount { email: None })];
        assert!(owners(&no_email, true).is_err(), "a guest needs an email");
    }
}
