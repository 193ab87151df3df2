//! "Mark done" and "Reopen" on a task's confirmation: the task is read from the kept job,
//! and the press carried out as on any card (see `crate::visibility::actions`).

use super::work::TaskJob;
use crate::jobs::ledger::{Progress, Step};
use crate::state::Services;
use crate::tallyfy::model::CreatedTask;
use crate::visibility::actions::Target;

/// The task job `key` made, with its title and owners, while the job is still kept.
pub async fn target(app: &Services, key: &str) -> Option<Target> {
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
