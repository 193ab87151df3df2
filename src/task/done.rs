//! "Mark done", "Reopen" and "Comment" on a task's confirmation: the task they act on
//! (kept for as long as the card is followed), the press then carried out as on any card
//! (see `crate::visibility::actions`).

use super::work::TaskJob;
use crate::jobs::ledger::{Progress, Step};
use crate::state::Services;
use crate::tallyfy::model::CreatedTask;
use crate::visibility::actions::{self, Target};

/// The task job `key` made, with its title and owners: as kept for its card, else (a card
/// posted before those were kept) from the job while it is still kept.
pub async fn target(app: &Services, key: &str) -> Option<Target> {
    if let Some(target) = actions::remembered(app, key, None).await {
        return Some(target);
    }
    let job = app
        .ledger
        .kept(key)
        .await
        .and_then(|raw| serde_json::from_str::<TaskJob>(&raw).ok())?;
    match app.ledger.progress::<CreatedTask>(key, Step::Task).await {
        Progress::Made(created) => Some(Target {
            key: key.to_string(),
            title: job.draft.title,
            owners: job.owners.map(|o| o.users).unwrap_or_default(),
            created,
        }),
        _ => None,
    }
}
