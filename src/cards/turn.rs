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
//!
//! A completion is made as Tallyfy takes it ([`Completion`]): an approval with its
//! decision (and a rejection's reason as a comment on the task), the answers to required
//! form fields filled first; see [`super::complete`] for what a press asks before that.

use super::news;
use super::store::{self, Target};
use crate::directory::Assignee;
use crate::failures;
use crate::slack::ids::{TeamId, UserId};
use crate::slack::mrkdwn;
use crate::state::Services;
use crate::tallyfy::model::{ListedTask, MemberId, TaskId};
use crate::tallyfy::{TallyfyClient, TallyfyError};

/// How a task is completed: an approval's decision, the reason of a rejection, and answers
/// to its form fields (field id, what was given in Slack).
#[derive(Clone, Debug, Default)]
pub struct Completion {
    pub is_approved: Option<bool>,
    pub reason: Option<String>,
    pub answers: Vec<(String, String)>,
}

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

    fn made(self, completion: &Completion) -> &'static str {
        match (self, completion.is_approved) {
            (Turn::Done, Some(true)) => "Approved in Tallyfy.",
            (Turn::Done, Some(false)) => "Rejected in Tallyfy.",
            (Turn::Done, None) => "Marked done in Tallyfy.",
            (Turn::Reopen, _) => "Reopened in Tallyfy.",
        }
    }
}

/// Who pressed, as Tallyfy is to see them. When the service acts as each person, their
/// own token, and Tallyfy decides what they may do; else the app's account, with the
/// app's own check that they are one of the task's assignees.
pub(super) struct Presser {
    pub tallyfy: TallyfyClient,
    /// The member who must be an assignee, when the app checks it.
    check: Option<MemberId>,
}

impl Presser {
    /// `user`, ready to act; what to tell them when they cannot.
    pub(super) async fn of(
        app: &Services,
        team: &TeamId,
        user: &UserId,
        not_assignee: &str,
    ) -> Result<Presser, String> {
        if app.tallyfy.acts_as_people() {
            return match app.directory.client_for(team, user).await {
                Ok(tallyfy) => Ok(Presser {
                    tallyfy,
                    check: None,
                }),
                Err(e) => Err(failures::lookup(&e, "your")),
            };
        }
        let resolved = app
            .directory
            .resolve_all(team, std::slice::from_ref(user))
            .await
            .map_err(|e| failures::lookup(&e, "assignees'"))?;
        match resolved.into_iter().find_map(|r| match r.assignee {
            Assignee::Member { id, .. } => Some(id),
            _ => None,
        }) {
            Some(member) => Ok(Presser {
                tallyfy: app.tallyfy.clone(),
                check: Some(member),
            }),
            None => Err(not_assignee.into()),
        }
    }

    /// The task as Tallyfy has it now, as this person sees it; refused (with what to tell
    /// them) when the app checks assignees and they are not one.
    pub(super) async fn read(
        &self,
        app: &Services,
        task: &TaskId,
        not_assignee: &str,
    ) -> Result<ListedTask, String> {
        let now = self.tallyfy.get_task_with_fields(task).await.map_err(|e| {
            tracing::warn!(error = %e, "could not read a task before changing it");
            match e {
                // Read with their own token: Tallyfy does not show it to them.
                TallyfyError::PersonForbidden(_) | TallyfyError::NotFound(_)
                    if self.check.is_none() =>
                {
                    "You can't see this task in Tallyfy: it may be private to its assignees, or deleted. Ask whoever owns it.".into()
                }
                e => failures::tallyfy(&e),
            }
        })?;
        if let Some(member) = self.check {
            match assigned(app, &now, member).await {
                Ok(true) => {}
                Ok(false) => return Err(not_assignee.into()),
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the groups that own a task");
                    return Err(failures::tallyfy(&e));
                }
            }
        }
        Ok(now)
    }
}

/// Carries out `user`'s press on `target`; answers what to tell them, privately.
pub async fn turn(
    app: &Services,
    target: &Target,
    team: &TeamId,
    user: &UserId,
    turn: Turn,
    completion: Completion,
) -> String {
    let presser = match Presser::of(app, team, user, turn.not_an_assignee()).await {
        Ok(presser) => presser,
        Err(text) => return text,
    };
    let (cards, task) = (store::of(app), &target.created.id);
    if !cards.take_turn(task).await {
        return turn.already().into();
    }
    let text = carry_out(app, target, &presser, (team, user), turn, completion).await;
    cards.end_turn(task).await;
    text
}

/// Reads the task in Tallyfy, and turns it when the presser may and it is not there
/// already.
async fn carry_out(
    app: &Services,
    target: &Target,
    presser: &Presser,
    (team, user): (&TeamId, &UserId),
    turn: Turn,
    mut completion: Completion,
) -> String {
    let created = &target.created;
    let now = match presser.read(app, &created.id, turn.not_an_assignee()).await {
        Ok(now) => now,
        Err(text) => return text,
    };
    let done = now.status.as_deref() == Some("completed");
    let result = match (turn, done) {
        (Turn::Done, true) | (Turn::Reopen, false) => return turn.already().into(),
        (Turn::Done, false) => {
            match complete(app, presser, target, &now, user, &mut completion).await {
                Ok(result) => result,
                Err(text) => return text,
            }
        }
        (Turn::Reopen, true) => presser.tallyfy.reopen_task(created).await,
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
            let made = turn.made(&completion);
            match completion.reason {
                Some(reason) => {
                    let by = (team, user);
                    give_reason(app, presser, target, by, &reason, made).await
                }
                None => made.into(),
            }
        }
        // Tallyfy lets only the assignees complete this one.
        Err(TallyfyError::PersonForbidden(_))
            if turn == Turn::Done && now.can_complete_only_assignees == Some(true) =>
        {
            "Only this task's assignees can complete it: Tallyfy did not let you. Ask one of them, or its owner in Tallyfy.".into()
        }
        Err(e) => {
            tracing::warn!(error = %e, ?turn, "could not change a task in Tallyfy");
            failures::tallyfy(&e)
        }
    }
}

/// Completes the task as Tallyfy takes it: its answers filled first, an approval with its
/// decision. `Err` says why it was not tried (a decision or an answer Tallyfy needs that
/// the press did not bring).
async fn complete(
    app: &Services,
    presser: &Presser,
    target: &Target,
    now: &ListedTask,
    user: &UserId,
    completion: &mut Completion,
) -> Result<Result<(), TallyfyError>, String> {
    let created = &target.created;
    if now.task_type.as_deref() != Some("approval") {
        // Honoured only by approvals; an expiring task would be recorded as expired.
        completion.is_approved = None;
    } else if completion.is_approved.is_none() {
        return Err("This task is an approval: press Approve or Reject.".into());
    }
    let mut taskdata = serde_json::Map::new();
    for (id, given) in &completion.answers {
        let field = now.form_fields.iter().find(|f| &f.id == id);
        if let Some(value) = field.and_then(|f| f.answer(given)) {
            taskdata.insert(id.clone(), value);
        }
    }
    let unanswered: Vec<&str> = now
        .form_fields
        .iter()
        .filter(|f| f.is_missing() && !taskdata.contains_key(&f.id))
        .map(|f| f.label.as_str())
        .collect();
    if !unanswered.is_empty() {
        return Err(needs(app, target, &unanswered));
    }
    if !taskdata.is_empty() {
        if let Err(e) = presser.tallyfy.fill_fields(created, now, taskdata).await {
            tracing::warn!(error = %e, "could not fill a task's form fields");
            return Ok(Err(e));
        }
    }
    let cards = store::of(app);
    cards.note_completer(&created.id, user).await;
    if let Some(approved) = completion.is_approved {
        cards.note_decision(&created.id, approved).await;
    }
    let result = presser
        .tallyfy
        .complete_task(created, completion.is_approved)
        .await;
    if result.is_err() {
        cards.take_completer(&created.id.0).await;
    }
    Ok(result)
}

/// Whether `member` is one of `task`'s assignees as Tallyfy has them now: named among its
/// owners, or a member of a group that owns it (the groups are read only when needed).
pub(super) async fn assigned(
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

/// What to tell an assignee when Tallyfy needs the fields `labels` filled in first, which
/// they are to do in Tallyfy.
pub(super) fn needs(app: &Services, target: &Target, labels: &[&str]) -> String {
    let named: Vec<String> = labels
        .iter()
        .map(|l| format!("\u{201c}{}\u{201d}", mrkdwn::escape(l)))
        .collect();
    let link = app.links.created(&target.created, None);
    format!(
        "Tallyfy needs {} filled in before this task can be done, which can't be done from Slack: fill it in Tallyfy, then mark the task done there: {link}",
        named.join(", ")
    )
}

/// After a rejection: its reason becomes a comment on the task, signed as comments made
/// from Slack are; answers what to tell the assignee (`made` said how the task went).
pub(super) async fn give_reason(
    app: &Services,
    presser: &Presser,
    target: &Target,
    (team, user): (&TeamId, &UserId),
    reason: &str,
    made: &str,
) -> String {
    // Made with their own token, the comment is theirs: no signature needed.
    let content = match presser.check {
        None => format!("Rejected: {reason}"),
        Some(_) => {
            let author = match super::comment::tallyfy_name(app, team, user).await {
                Ok(Some(name)) => name,
                _ => "an assignee".into(),
            };
            format!("Rejected: {reason}\n\n\u{2014} {author}, in Slack")
        }
    };
    let for_guests = super::comment::for_guests(app, &target.created.id).await;
    match presser
        .tallyfy
        .comment(&target.created.id, &content, for_guests)
        .await
    {
        Ok(()) => made.into(),
        Err(e) => {
            tracing::warn!(error = %e, "could not add a rejection's reason in Tallyfy");
            format!(
                "{made} Its reason was not added: {}",
                mrkdwn::escape(&crate::failures::tallyfy(&e))
            )
        }
    }
}
