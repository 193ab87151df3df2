//! `@handles` typed on a project's lines, found among the workspace's people: one
//! `users.list` sweep, cached for an hour. `users.list` is Tier 2 (about 20 calls a minute:
//! api.slack.com/methods/users.list), so a sweep's pages are paced to that, each 429 is
//! waited out (the client does, and the sweep again while Slack still counts other
//! replicas' calls against the minute), and a sweep that fails midway is kept with its cursor: the
//! next look-up (the job's own, or a Retry's) goes on from there instead of page one.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Directory, DirectoryError};
use crate::slack::api::SlackCallError;
use crate::slack::ids::UserId;

/// How long a finished sweep's names are kept.
const HANDLES_TTL: Duration = Duration::from_secs(3600);
/// How long a sweep that stopped midway is kept to be resumed.
const PARTIAL_TTL: Duration = Duration::from_secs(900);
/// `users.list` calls made in a minute, at most (Slack's Tier 2).
const PAGES_PER_MINUTE: usize = 20;
/// How many more times a sweep waits when Slack still says the minute is spent (after the
/// client's own wait): other replicas' sweeps share Slack's count.
const TIER_WAITS: usize = 3;
const MINUTE: Duration = Duration::from_secs(60);
/// A bound on pages keeps one sweep from running away in a huge workspace.
const MAX_PAGES: usize = 50;

/// A sweep so far: the people read, and the cursor of the next page.
#[derive(Default, Serialize, Deserialize)]
struct Partial {
    cursor: String,
    pages: usize,
    people: Vec<(String, Vec<String>)>,
}

impl Directory {
    /// Finds the Slack user a typed `@handle` names (their username, display name or real
    /// name, ignoring case). The workspace's names are cached for an hour.
    pub async fn find_handle(
        &self,
        team: &str,
        handle: &str,
    ) -> Result<Option<UserId>, DirectoryError> {
        let wanted = handle.trim_start_matches('@').to_lowercase();
        let index = self.handles(team).await?;
        Ok(index.get(&wanted).map(|id| UserId::from(id.as_str())))
    }

    async fn handles(&self, team: &str) -> Result<HashMap<String, String>, DirectoryError> {
        let key = format!("handles:{team}");
        let cached = || async {
            let raw = self.store.get(&key).await.ok()??;
            serde_json::from_str::<HashMap<String, String>>(&raw).ok()
        };
        if let Some(index) = cached().await {
            return Ok(index);
        }
        // Several modals submitted at once share one sweep: wait for it, then read its result.
        let mut recent = self.handles_lock.lock().await;
        if let Some(index) = cached().await {
            return Ok(index);
        }
        let partial_key = format!("handles_sweep:{team}");
        let mut sweep: Partial = match self.store.get(&partial_key).await {
            Ok(Some(raw)) => serde_json::from_str(&raw).unwrap_or_default(),
            _ => Partial::default(),
        };
        let mut waits = 0;
        loop {
            pace(&mut recent).await;
            let cursor = Some(sweep.cursor.as_str()).filter(|c| !c.is_empty());
            let page = self.slack.people_page(cursor).await;
            let (people, next) = match page {
                Ok(page) => page,
                Err(SlackCallError::RateLimited(after)) if waits < TIER_WAITS => {
                    // Slack counts the minute per app, across replicas: the others' calls
                    // spent it. The page is asked again once Slack says it may be.
                    waits += 1;
                    let wait = after.unwrap_or(MINUTE).min(MINUTE + Duration::from_secs(1));
                    tracing::info!(
                        wait_secs = wait.as_secs(),
                        "users.list is at its tier; waiting"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(e) => {
                    // Kept as far as it got: the next look-up goes on from here.
                    if let Ok(raw) = serde_json::to_string(&sweep) {
                        let _ = self.store.set(&partial_key, &raw, PARTIAL_TTL).await;
                    }
                    return Err(e.into());
                }
            };
            sweep.people.extend(people);
            sweep.pages += 1;
            match next {
                Some(next) if sweep.pages < MAX_PAGES => sweep.cursor = next,
                _ => break,
            }
        }
        let index = index_of(&sweep.people);
        if let Ok(raw) = serde_json::to_string(&index) {
            let _ = self.store.set(&key, &raw, HANDLES_TTL).await;
        }
        let _ = self.store.delete(&partial_key).await;
        Ok(index)
    }
}

/// Waits until a `users.list` call is within Slack's Tier 2, and books it.
async fn pace(recent: &mut std::collections::VecDeque<tokio::time::Instant>) {
    let minute = MINUTE;
    let now = tokio::time::Instant::now();
    while recent
        .front()
        .is_some_and(|t| now.duration_since(*t) >= minute)
    {
        recent.pop_front();
    }
    if recent.len() >= PAGES_PER_MINUTE {
        if let Some(oldest) = recent.pop_front() {
            tokio::time::sleep_until(oldest + minute).await;
        }
    }
    recent.push_back(tokio::time::Instant::now());
}

/// Handles to user ids: every name a person goes by, lower-cased; "Ada Lovelace" is also
/// typed as @ada.lovelace or @adalovelace.
fn index_of(people: &[(String, Vec<String>)]) -> HashMap<String, String> {
    let mut index = HashMap::new();
    for (id, names) in people {
        for name in names {
            let name = name.to_lowercase();
            index.entry(name.clone()).or_insert_with(|| id.clone());
            if name.contains(' ') {
                index
                    .entry(name.replace(' ', "."))
                    .or_insert_with(|| id.clone());
                index
                    .entry(name.replace(' ', ""))
                    .or_insert_with(|| id.clone());
            }
        }
    }
    index
}
