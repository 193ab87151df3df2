//! What a "New task" job does after the modal has closed: resolve the assignees if the
//! modal could not, create the task in Tallyfy exactly once (standalone, or added to a
//! project), and post the confirmation where the request came from; or tell the requester
//! why not, with a Retry button when trying again can help.

use serde::{Deserialize, Serialize};

use super::draft::TaskDraft;
use super::message::{self, Created};
use crate::cards::{self, CardTask, Followed, NewCard, Reply};
use crate::courier::{self, Origin};
use crate::create_once::Creation;
use crate::directory::DirectoryError;
use crate::failures::{self, Failure};
use crate::jobs::ledger::{Progress, Step};
use crate::jobs::{Attempt, Outcome, Stored};
use crate::state::Services;
use crate::tallyfy::model::{CreatedTask, NewTask, Owners};
use crate::tallyfy::TallyfyError;

/// The kind under which a task job is stored.
pub const KIND: &str = "task";

/// Create one Tallyfy task from a "New task" submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskJob {
    /// What identifies the submission; the same key is never worked twice.
    pub key: String,
    pub origin: Origin,
    pub draft: TaskDraft,
    /// Owners resolved while the modal was open; `None` when that ran out of time.
    pub owners: Option<Owners>,
}

impl TaskJob {
    /// The job as it is queued and kept.
    pub fn stored(&self) -> Stored {
        Stored::new(KIND, &self.key, self)
    }
}

/// Why a task's people could not be turned into owners.
#[derive(Debug)]
enum OwnersError {
    /// Someone cannot be assigned; that needs a new form, not a retry.
    Unassignable(String),
    /// The lookup failed; a retry can help.
    Lookup(DirectoryError),
}

impl From<OwnersError> for Failure {
    fn from(e: OwnersError) -> Self {
        match e {
            OwnersError::Unassignable(reason) => Failure::final_(reason),
            OwnersError::Lookup(e) => Failure::retryable(failures::lookup(&e, "assignees'")),
        }
    }
}

/// Creates the task and tells the channel.
pub async fn create(app: &Services, mut job: TaskJob, attempt: Attempt) -> Outcome {
    // What an earlier run did, and the address Tallyfy calls as the task gets done, in one
    // round trip to Redis.
    let (told, progress, webhook) = tokio::join!(
        app.ledger.told(&job.key),
        app.ledger.progress::<CreatedTask>(&job.key, Step::Task),
        cards::webhook_for(app, &job.key, Step::Task)
    );
    if told {
        tracing::info!("the task was created and announced by an earlier run");
        return Outcome::Done;
    }
    let owners = match &job.owners {
        Some(owners) => owners.clone(),
        None => match resolve_owners(app, &job).await {
            Ok(owners) => owners,
            Err(e) => return fail(app, &job, e.into()).await,
        },
    };
    // Kept (for the Retry button) only by `fail`, which alone offers one: a job that
    // succeeds costs no write of itself.
    job.owners = Some(owners.clone());
    let draft = &job.draft;
    let position = match &draft.project {
        Some(p) => crate::channel_projects::next_position(app.store.as_ref(), &p.run_id).await,
        None => None,
    };
    let mut request = NewTask {
        title: draft.title.clone(),
        summary: draft.summary.clone(),
        task_type: draft.task_type,
        owners,
        deadline: crate::deadline::tallyfy_format(draft.deadline),
        separate_task_for_each_assignee: None,
        run_id: draft.project.as_ref().map(|p| p.run_id.clone()),
        position,
        webhook,
        options: draft.options.clone(),
    };
    let what = format!("the task *{}*", crate::slack::mrkdwn::escape(&draft.title));
    let creation = Creation {
        job: &job.key,
        step: Step::Task,
        origin: &job.origin,
        what: &what,
        resumed: attempt.resumed,
        known_unsent: progress == Progress::NotSent,
    };
    // Made as the person who asked: Tallyfy records them as its starter.
    let creator = match app.creator_for(&job.origin).await {
        Ok(creator) => creator,
        Err(failure) => return fail(app, &job, failure).await,
    };
    let mut result = creator.create_once(&creation, &request).await;
    // A cached member id Tallyfy no longer knows: look the people up afresh, once.
    if let Err(e) = &result {
        if rejects_member_ids(e) {
            tracing::info!("Tallyfy refused a cached member id; resolving the assignees again");
            for user in &draft.assignees {
                app.directory.forget(&job.origin.team_id, user).await;
            }
            match resolve_owners(app, &job).await {
                Ok(fresh) if fresh != request.owners => {
                    request.owners = fresh;
                    let again = Creation {
                        known_unsent: false,
                        ..creation
                    };
                    result = creator.create_once(&again, &request).await;
                }
                Ok(_) => {}
                Err(e) => return fail(app, &job, e.into()).await,
            }
        }
    }
    let created = match result {
        Ok(made) => made.into_task(),
        // Tallyfy no longer has the run, or refuses it on the field (422 on `run_id`):
        // the same request cannot pass later.
        Err(ref e @ (TallyfyError::NotFound(_) | TallyfyError::Invalid { .. }))
            if draft.project.is_some()
                && (matches!(e, TallyfyError::NotFound(_)) || failures::refuses_run(e)) =>
        {
            let name = draft
                .project
                .as_ref()
                .map(|p| p.name.as_str())
                .unwrap_or_default();
            let reason = format!(
                "The project \u{201c}{name}\u{201d} no longer exists in Tallyfy. Run /task again and pick another project or a standalone task."
            );
            return fail(app, &job, Failure::final_(reason)).await;
        }
        Err(e) => return fail(app, &job, failures::of_tallyfy(&e)).await,
    };
    app.metrics.job("create_task", "created");
    let link = app
        .links
        .created(&created, draft.project.as_ref().map(|p| &p.run_id));
    tracing::info!(task_id = %created.id, run_id = created.run_id().map(|r| r.0.as_str()), "task created");
    let groups: Vec<String> = draft.groups.iter().map(|g| g.name.clone()).collect();
    let content = message::confirmation(&Created {
        title: &draft.title,
        requester: &job.origin.user_id,
        assignees: &draft.assignees,
        guests: &request.owners.guests,
        groups: &groups,
        deadline: draft.deadline,
        task_type: draft.task_type,
        link: &link,
        project: draft.project.as_ref().map(|p| p.name.as_str()),
        options: &draft.options,
        job_key: &job.key,
    });
    let followed = match (created.run_id(), &draft.project) {
        (Some(run), None) => Followed::Run(run.clone()),
        _ => Followed::Task(created.id.clone()),
    };
    let task = CardTask {
        line: None,
        title: draft.title.clone(),
        assignees: draft.assignees.clone(),
        created,
        link,
        deadline: draft.deadline,
    };
    let card = NewCard {
        job: &job.key,
        origin: &job.origin,
        content,
        followed,
        tasks: vec![task],
        project: None,
    };
    match cards::post(app, card, Reply::New).await {
        true => Outcome::Done,
        false => Outcome::Untold,
    }
}

/// A Retry press on a task's failure notice: run it again, unless it was made after all.
pub async fn retry(app: &Services, job: TaskJob, response_url: &str) {
    if app.ledger.told(&job.key).await {
        let text =
            "This task was already created; its message is in the conversation it came from.";
        app.courier.reply_privately(response_url, text).await;
        return;
    }
    create(app, job, Attempt { resumed: true }).await;
}

/// The job kept dying before it could finish: tell the requester, with a Retry button.
pub async fn give_up(app: &Services, job: &TaskJob) {
    if app.ledger.told(&job.key).await {
        // It did finish: the last run only failed to say so to the queue.
        return;
    }
    app.metrics.job("job", "given_up");
    let reason = failures::GIVEN_UP.to_string();
    fail(app, job, Failure::retryable(reason)).await;
}

/// Resolves a task's people now.
async fn resolve_owners(app: &Services, job: &TaskJob) -> Result<Owners, OwnersError> {
    match app
        .directory
        .resolve_all(&job.origin.team_id, &job.draft.assignees)
        .await
    {
        Ok(resolved) => {
            super::draft::draft_owners(&job.draft, &resolved).map_err(OwnersError::Unassignable)
        }
        Err(e) => {
            tracing::warn!(error = %e, "assignee lookup failed");
            Err(OwnersError::Lookup(e))
        }
    }
}

/// Tells the requester the task was not created, and why.
async fn fail(app: &Services, job: &TaskJob, failure: Failure) -> Outcome {
    app.metrics.job("create_task", "failed");
    // The reason names people and titles: the log says only whether a retry can help.
    tracing::warn!(key = %job.key, retryable = failure.retry, "task not created");
    if failure.retry {
        app.ledger.keep(&job.stored()).await;
    }
    let key = failure.retry.then_some(job.key.as_str());
    let text = message::not_created(&job.draft.title, &failure.reason);
    match app
        .courier
        .tell(&job.origin, courier::failure(&text, key))
        .await
    {
        Ok(()) => Outcome::Done,
        Err(_) => Outcome::Untold,
    }
}

/// Whether Tallyfy refused the request because of a member id in `owners.users`.
fn rejects_member_ids(e: &TallyfyError) -> bool {
    matches!(e, TallyfyError::Invalid { fields, .. } if fields.iter().any(|(f, _)| f.starts_with("owners.users")))
}
