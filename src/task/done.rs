//! "Mark done" and "Reopen" on a task's confirmation: the task is completed (or reopened)
//! in Tallyfy, once, when the person who pressed is one of its assignees (their Slack
//! account maps to a Tallyfy member who owns it); anyone else is told, privately, that
//! only the assignees can. What Tallyfy says of the task decides: a done task is not
//! completed again, an open one not reopened, and a second press while the first is being
//! carried out changes nothing. The thread hears of a completion as of any other, and of a
//! reopening with who made it (see `crate::visibility`).

use super::work::TaskJob;
use crate::directory::Assignee;
use crate::jobs::ledger::{Progress, Step};
use crate::slack::ids::{TeamId, UserId};
use crate::state::Services;
use crate::tallyfy::model::CreatedTask;
use crate::wording;

/// Which way a press turns the task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// "Mark done".
    Done,
    /// "Reopen".
    Reopen,
}

impl Turn {
    fn not_an_assignee(self) -> &'static str {
        match self {
            Turn::Done => "Only the task's assignees can mark it done.",
            Turn::Reopen => "Only the task's assignees can reopen it.",
        }
    }

    /// The answer when the task already is where the press would take it.
    fn already(self) -> &'static str {
        match self {
            Turn::Done => "This task is already marked done.",
            Turn::Reopen => "This task is already open.",
        }
    }

    fn made(self) -> &'static str {
        match self {
            Turn::Done => "Marked done in Tallyfy.",
            Turn::Reopen => "Reopened in Tallyfy.",
        }
    }
}

const GONE: &str = "I no longer have this task's details; change it in Tallyfy.";

/// Answers a "Mark done" or "Reopen" press by `user` on job `key`'s confirmation.
pub async fn press(
    app: &Services,
    key: &str,
    team: &TeamId,
    user: &UserId,
    response_url: &str,
    turn: Turn,
) {
    let text = answer(app, key, team, user, turn).await;
    app.courier.reply_privately(response_url, &text).await;
}

/// The job's task, and its title, when they are still kept.
pub(super) async fn kept_task(app: &Services, key: &str) -> Option<(TaskJob, CreatedTask)> {
    let job = app
        .ledger
        .kept(key)
        .await
        .and_then(|raw| serde_json::from_str::<TaskJob>(&raw).ok())?;
    match app.ledger.progress::<CreatedTask>(key, Step::Task).await {
        Progress::Made(created) => Some((job, created)),
        _ => None,
    }
}

async fn answer(app: &Services, key: &str, team: &TeamId, user: &UserId, turn: Turn) -> String {
    let Some((job, created)) = kept_task(app, key).await else {
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
        return turn.not_an_assignee().into();
    }
    if !app.ledger.take_turn(&created.id.0).await {
        return turn.already().into();
    }
    let text = carry_out(app, key, &job.draft.title, &created, user, turn).await;
    app.ledger.end_turn(&created.id.0).await;
    text
}

/// Reads the task in Tallyfy, and turns it when it is not there already.
async fn carry_out(
    app: &Services,
    key: &str,
    title: &str,
    created: &CreatedTask,
    user: &UserId,
    turn: Turn,
) -> String {
    let now = match app.tallyfy.get_task(&created.id).await {
        Ok(task) => task,
        Err(e) => {
            tracing::warn!(error = %e, "could not read a task before changing it");
            return wording::tallyfy(&e);
        }
    };
    let done = now.status.as_deref() == Some("completed");
    let result = match (turn, done) {
        (Turn::Done, true) | (Turn::Reopen, false) => return turn.already().into(),
        (Turn::Done, false) => app.tallyfy.complete_task(created).await,
        (Turn::Reopen, true) => app.tallyfy.reopen_task(created).await,
    };
    match result {
        Ok(()) => {
            let (name, outcome) = match turn {
                Turn::Done => ("mark_done", "completed"),
                Turn::Reopen => ("reopen", "reopened"),
            };
            app.metrics.job(name, outcome);
            if turn == Turn::Reopen {
                let at = now.completed_at.as_deref();
                crate::visibility::reopened(app, key, &created.id, title, user, at).await;
            }
            turn.made().into()
        }
        Err(e) => {
            tracing::warn!(error = %e, ?turn, "could not change a task in Tallyfy");
            wording::tallyfy(&e)
        }
    }
}
