//! "Mark done" on a task's confirmation: the task is completed in Tallyfy, once, when the
//! person who pressed is one of its assignees (their Slack account maps to a Tallyfy
//! member who owns it); anyone else is told, privately, that only the assignees can. The
//! thread hears of the completion as of any other (see `crate::visibility`).

use super::work::TaskJob;
use crate::directory::Assignee;
use crate::jobs::ledger::{Progress, Step};
use crate::slack::ids::{TeamId, UserId};
use crate::state::Services;
use crate::tallyfy::model::CreatedTask;
use crate::wording;

/// What a press was answered with, privately.
const NOT_AN_ASSIGNEE: &str = "Only the task's assignees can mark it done.";
const ALREADY: &str = "This task is already marked done.";
const MARKED: &str = "Marked done in Tallyfy.";
const GONE: &str = "I no longer have this task's details; mark it done in Tallyfy.";

/// Answers a "Mark done" press by `user` on job `key`'s confirmation.
pub async fn press(app: &Services, key: &str, team: &TeamId, user: &UserId, response_url: &str) {
    let text = answer(app, key, team, user).await;
    app.courier.reply_privately(response_url, &text).await;
}

async fn answer(app: &Services, key: &str, team: &TeamId, user: &UserId) -> String {
    let job = app
        .ledger
        .kept(key)
        .await
        .and_then(|raw| serde_json::from_str::<TaskJob>(&raw).ok());
    let created = app.ledger.progress::<CreatedTask>(key, Step::Task).await;
    let (Some(job), Progress::Made(created)) = (job, created) else {
        return GONE.into();
    };
    let owners = job.owners.map(|o| o.users).unwrap_or_default();
    let member = match app
        .directory
        .resolve_all(team, std::slice::from_ref(user))
        .await
    {
        Ok(resolved) => resolved.into_iter().find_map(|r| match r.assignee {
            Assignee::Member { id, .. } => Some(id),
            _ => None,
        }),
        Err(e) => return wording::lookup(&e, "assignees'"),
    };
    if !member.is_some_and(|m| owners.contains(&m)) {
        return NOT_AN_ASSIGNEE.into();
    }
    if !app
        .ledger
        .first_news(&format!("marked-done:{}", created.id))
        .await
    {
        return ALREADY.into();
    }
    match app.tallyfy.complete_task(&created).await {
        Ok(()) => {
            app.metrics.job("mark_done", "completed");
            MARKED.into()
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not mark a task done");
            wording::tallyfy(&e)
        }
    }
}
