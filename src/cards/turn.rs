//! What an assignee's "Mark done" or "Reopen" does, whichever card it was pressed on (a
//! task's, or a line of a project's): the task is completed (or reopened) in Tallyfy,
//! once, when the person who pressed is one of its assignees as Tallyfy has them at that
//! moment (their Slack account maps to a Tallyfy member who owns the task, or who is in a
//! group that owns it); anyone else is told, privately, that only the assignees can.
//! Nothing kept from when the card was posted decides: someone removed from the task since
//! is refused, someone added since is not. What Tallyfy says of the task decides the rest
//! too: a done task is not completed again, an open one not reopened, and a second press
//! while the first is being carried out changes nothing. The thread hears of a completion as of any other, and of a reopening with who
//! made it.

use super::news;
use super::store::{self, Target};
use crate::directory::Assignee;
use crate::failures;
use crate::slack::ids::{TeamId, UserId};
use crate::state::Services;
use crate::tallyfy::model::{ListedTask, MemberId};
use crate::tallyfy::TallyfyError;

/// What a press is answered with when the job's details are no longer kept.
pub const GONE: &str = "I no longer have this task's details; change it in Tallyfy.";

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

/// Carries out `user`'s press on `target`; answers what to tell them, privately.
pub async fn turn(
    app: &Services,
    target: &Target,
    team: &TeamId,
    user: &UserId,
    turn: Turn,
) -> String {
    let member = match app
        .directory
        .resolve_all(team, std::slice::from_ref(user))
        .await
    {
        Ok(resolved) => resolved.into_iter().find_map(|r| match r.assignee {
            Assignee::Member { id, .. } => Some(id),
            _ => None,
        }),
        Err(e) => return failures::lookup(&e, "assignees'"),
    };
    let Some(member) = member else {
        return turn.not_an_assignee().into();
    };
    let (cards, task) = (store::of(app), &target.created.id);
    if !cards.take_turn(task).await {
        return turn.already().into();
    }
    let text = carry_out(app, target, member, user, turn).await;
    cards.end_turn(task).await;
    text
}

/// Reads the task in Tallyfy, and turns it when `member` is one of its assignees now and
/// it is not there already.
async fn carry_out(
    app: &Services,
    target: &Target,
    member: MemberId,
    user: &UserId,
    turn: Turn,
) -> String {
    let created = &target.created;
    let now = match app.tallyfy.get_task(&created.id).await {
        Ok(task) => task,
        Err(e) => {
            tracing::warn!(error = %e, "could not read a task before changing it");
            return failures::tallyfy(&e);
        }
    };
    match assigned(app, &now, member).await {
        Ok(true) => {}
        Ok(false) => return turn.not_an_assignee().into(),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the groups that own a task");
            return failures::tallyfy(&e);
        }
    }
    let done = now.status.as_deref() == Some("completed");
    let result = match (turn, done) {
        (Turn::Done, true) | (Turn::Reopen, false) => return turn.already().into(),
        (Turn::Done, false) => {
            let cards = store::of(app);
            cards.note_completer(&created.id, user).await;
            let result = app.tallyfy.complete_task(created).await;
            if result.is_err() {
                cards.take_completer(&created.id.0).await;
            }
            result
        }
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
                news::reopened(app, &target.key, &created.id, &target.title, user, at).await;
            }
            turn.made().into()
        }
        Err(e) => {
            tracing::warn!(error = %e, ?turn, "could not change a task in Tallyfy");
            failures::tallyfy(&e)
        }
    }
}

/// Whether `member` is one of `task`'s assignees as Tallyfy has them now: named among its
/// owners, or a member of a group that owns it (the groups are read only when needed).
async fn assigned(
    app: &Services,
    task: &ListedTask,
    member: MemberId,
) -> Result<bool, TallyfyError> {
    let owners = task.owners.clone().unwrap_or_default();
    if owners.names(member) {
        return Ok(true);
    }
    if owners.groups.is_empty() {
        return Ok(false);
    }
    let groups = app.tallyfy.group_members().await?;
    Ok(groups
        .iter()
        .any(|g| owners.groups.contains(&g.id) && g.has(member)))
}
