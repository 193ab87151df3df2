//! The projects (Tallyfy runs) a channel remembers, so a later `/task` can be added to one
//! and `/project list` can show them (with their progress, cached for a minute so a busy
//! channel does not spend Tallyfy's shared rate budget), and the last position used in
//! each run, so tasks added later go after the project's own lines. Both flows read and
//! write these; neither owns them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::slack::ids::{ChannelId, TeamId};
use crate::store::Store;
use crate::tallyfy::model::RunId;
use crate::tallyfy::TallyfyClient;

/// How many projects a channel remembers.
const REMEMBERED: usize = 10;
/// How long a channel remembers a project, and a run its last position.
const REMEMBER_FOR: Duration = Duration::from_secs(90 * 24 * 3600);

/// How long a run's progress is reused before Tallyfy is asked again.
const PROGRESS_FOR: Duration = Duration::from_secs(60);

/// How far along a run is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunProgress {
    /// (done, total) lines, as the project's card counts them: the tasks Tallyfy makes
    /// at one place (one for each assignee of a line) are one line, done once all are.
    pub done: Option<(usize, usize)>,
    pub status: Option<String>,
}

/// A run's progress: from the cache, else from Tallyfy if it answers within `within`.
pub async fn progress(
    store: &dyn Store,
    tallyfy: &TallyfyClient,
    run: &RunId,
    within: Duration,
) -> Option<RunProgress> {
    let key = format!("run-progress:{run}");
    if let Ok(Some(raw)) = store.get(&key).await {
        if let Ok(cached) = serde_json::from_str(&raw) {
            return Some(cached);
        }
    }
    let run = tokio::time::timeout(within, tallyfy.get_run(run))
        .await
        .ok()?
        .ok()?;
    let progress = RunProgress {
        done: run.lines(),
        status: run.status,
    };
    let raw = serde_json::to_string(&progress).expect("plain data");
    let _ = store.set(&key, &raw, PROGRESS_FOR).await;
    Some(progress)
}

/// A project a channel remembers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRef {
    pub run_id: RunId,
    pub name: String,
}

fn channel_key(team: &TeamId, channel: &ChannelId) -> String {
    format!("projects:{team}:{channel}")
}

fn position_key(run: &RunId) -> String {
    format!("position:{run}")
}

/// The channel's recent projects, newest first. Never fails: an unreachable store means
/// no projects are offered.
pub async fn recent(store: &dyn Store, team: &TeamId, channel: &ChannelId) -> Vec<ProjectRef> {
    let raw = store
        .recent(&channel_key(team, channel))
        .await
        .unwrap_or_default();
    let mut seen = Vec::new();
    raw.iter()
        .filter_map(|r| serde_json::from_str::<ProjectRef>(r).ok())
        .filter(|p| {
            let fresh = !seen.contains(&p.run_id);
            seen.push(p.run_id.clone());
            fresh
        })
        .collect()
}

/// Makes the channel remember a new project.
pub async fn remember(store: &dyn Store, team: &TeamId, channel: &ChannelId, project: &ProjectRef) {
    let raw = serde_json::to_string(project).expect("plain strings serialise");
    if let Err(e) = store
        .push_recent(&channel_key(team, channel), &raw, REMEMBERED, REMEMBER_FOR)
        .await
    {
        tracing::warn!(error = %e, "could not remember the channel's project");
    }
}

/// Records the last position used in a run, so tasks added later go after it.
pub async fn set_last_position(store: &dyn Store, run: &RunId, position: u32) {
    if let Err(e) = store
        .set(&position_key(run), &position.to_string(), REMEMBER_FOR)
        .await
    {
        tracing::warn!(error = %e, "could not record the project's last position");
    }
}

/// The position for the next task added to `run`; `None` (Tallyfy places it) when the
/// store cannot say.
pub async fn next_position(store: &dyn Store, run: &RunId) -> Option<u32> {
    store
        .incr(&position_key(run), REMEMBER_FOR)
        .await
        .ok()
        .and_then(|p| u32::try_from(p).ok())
}
