//! What a "New project" job does after the modal has closed: resolve its people if the
//! modal could not, create the run, append every line at its position (each exactly
//! once), and post the confirmation; a Retry press runs the same job again and replaces
//! the message, so only what is missing gets created.

use futures::future::{BoxFuture, FutureExt};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::message::{self, Outcome as Confirmation};
use super::modal::ProjectForm;
use super::plan::{self, PlanError, PlannedTask, ProjectPlan};
use crate::cards::{self, CardTask, Followed, NewCard, ProjectListing, Reply};
use crate::channel_projects::{self, ProjectRef};
use crate::courier::{self, Origin};
use crate::create_once::{Creation, Creator, Made};
use crate::failures::{self, Failure};
use crate::jobs::ledger::{Progress, Step};
use crate::jobs::{Attempt, Outcome, Stored};
use crate::slack::mrkdwn;
use crate::state::Services;
use crate::tallyfy::model::{CreatedTask, NewTask, RunId, TaskOptions, TaskType};
use crate::tallyfy::TallyfyError;
use crate::worklists::RecentProject;

/// The kind under which a project job is stored.
pub const KIND: &str = "project";
/// Appends to one run in flight at once: a 20-line project's lines all go out together,
/// so the project takes two of Tallyfy's round trips (the run, then its lines) instead of
/// one per few lines. Each append still books its turn in the shared rate budget, which
/// paces them when many projects are made at once; each line's `position` says where it
/// goes, whatever order the appends arrive in.
pub const APPEND_CONCURRENCY: usize = 20;

/// Create a project: its run, then each task appended at its position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectJob {
    pub key: String,
    pub origin: Origin,
    pub form: ProjectForm,
    /// People resolved while the modal was open; `None` when that ran out of time.
    pub plan: Option<ProjectPlan>,
}

impl ProjectJob {
    /// The job as it is queued and kept.
    pub fn stored(&self) -> Stored {
        Stored::new(KIND, &self.key, self)
    }
}

/// Creates the project (what an earlier run has not) and tells the channel.
pub async fn create(
    app: &Services,
    mut job: ProjectJob,
    reply: Reply,
    attempt: Attempt,
) -> Outcome {
    if matches!(reply, Reply::New) && app.ledger.told(&job.key).await {
        tracing::info!("the project was created and announced by an earlier run");
        return Outcome::Done;
    }
    let plan = match job.plan.clone() {
        Some(plan) => plan,
        None => match plan::plan(&app.directory, &job.origin.team_id, &job.form).await {
            Ok(plan) => plan,
            Err(PlanError::Problems(problems)) => {
                let reason = problems.into_values().collect::<Vec<_>>().join(" ");
                return fail(app, &job, Failure::final_(reason)).await;
            }
            Err(PlanError::Lookup(e)) => {
                tracing::warn!(error = %e, "project lookups failed");
                let reason = failures::lookup(&e, "people's");
                return fail(app, &job, Failure::retryable(reason)).await;
            }
        },
    };
    job.plan = Some(plan.clone());
    app.ledger.keep(&job.stored()).await;
    // Made as the person who asked: they own the project in Tallyfy.
    let creator = match app.creator_for(&job.origin).await {
        Ok(creator) => creator,
        Err(failure) => return fail(app, &job, failure).await,
    };
    let run = match ensure_run(app, &creator, &job, &plan, attempt).await {
        Ok(run) => run,
        Err(e) => return fail(app, &job, failures::of_tallyfy(&e)).await,
    };
    let results = append_all(app, &creator, &job, &run, &plan, attempt).await;
    let missing = results.iter().filter(|r| r.is_err()).count();
    app.metrics.job(
        "create_project",
        if missing == 0 { "complete" } else { "partial" },
    );
    let link = app.links.run(&run);
    let tasks = made_lines(app, &job, &plan, &link, &results).await;
    let retry = results.iter().any(|r| r.as_ref().is_err_and(|f| f.retry));
    let results: Vec<Result<(), String>> = results
        .into_iter()
        .map(|r| r.map_err(|f| f.reason))
        .collect();
    let groups: Vec<String> = job.form.groups.iter().map(|g| g.name.clone()).collect();
    let content = message::confirmation(&Confirmation {
        name: &plan.name,
        requester: &job.origin.user_id,
        assignees: &plan.assignees,
        groups: &groups,
        deadline: plan.deadline,
        link: &link,
        tasks: plan.tasks.iter().zip(results).collect(),
        job_key: &job.key,
        retry,
    });
    let mut people = vec![job.origin.user_id.clone()];
    people.extend(plan.assignees.iter().cloned());
    let project = RecentProject {
        run: run.0.clone(),
        name: plan.name.clone(),
        link: link.clone(),
    };
    let card = NewCard {
        job: &job.key,
        origin: &job.origin,
        content,
        followed: Followed::Run(run.clone()),
        tasks,
        project: Some(ProjectListing { people, project }),
    };
    match cards::post(app, card, reply).await {
        true => Outcome::Done,
        false => Outcome::Untold,
    }
}

/// The job kept dying before it could finish: tell the requester, with a Retry button.
pub async fn give_up(app: &Services, job: &ProjectJob) {
    if given_up(app, &job.key, &job.stored()).await {
        let reason = failures::GIVEN_UP.to_string();
        fail(app, job, Failure::retryable(reason)).await;
    }
}

/// Whether the requester of job `key`, which kept dying, is still to be told; the job is
/// then kept, for the notice's Retry button.
pub(super) async fn given_up(app: &Services, key: &str, stored: &Stored) -> bool {
    if app.ledger.told(key).await {
        return false;
    }
    app.metrics.job("job", "given_up");
    app.ledger.keep(stored).await;
    true
}

/// The project's run: the one an earlier attempt created, or a new one.
async fn ensure_run(
    app: &Services,
    creator: &Creator,
    job: &ProjectJob,
    plan: &ProjectPlan,
    attempt: Attempt,
) -> Result<RunId, TallyfyError> {
    let request = NewTask {
        title: plan.name.clone(),
        summary: plan.summary.clone(),
        task_type: TaskType::Task,
        owners: plan.owners.clone(),
        deadline: crate::deadline::tallyfy_format(plan.deadline),
        separate_task_for_each_assignee: Some(true),
        run_id: None,
        position: None,
        webhook: cards::webhook_for(app, &job.key, Step::Run).await,
        // The chosen options hold for the project's own first task as for its lines.
        options: plan.options.clone(),
    };
    let what = format!("the project *{}*", mrkdwn::escape(&plan.name));
    let creation = Creation {
        job: &job.key,
        step: Step::Run,
        origin: &job.origin,
        what: &what,
        resumed: attempt.resumed,
        known_unsent: false,
    };
    let made = creator.create_once(&creation, &request).await?;
    let run = made.task().run_id().cloned().ok_or_else(|| {
        TallyfyError::Unexpected("the created project came back without a run".into())
    })?;
    if let Made::Before(_) = made {
        return Ok(run);
    }
    tracing::info!(run_id = %run, "project run created");
    let last_position = plan.tasks.last().map(|t| t.position).unwrap_or(1);
    channel_projects::set_last_position(app.store.as_ref(), &run, last_position).await;
    if let Some(channel) = &job.origin.channel_id {
        let remembered = ProjectRef {
            run_id: run.clone(),
            name: plan.name.clone(),
        };
        channel_projects::remember(
            app.store.as_ref(),
            &job.origin.team_id,
            channel,
            &remembered,
        )
        .await;
    }
    Ok(run)
}

/// Appends every task not yet in the run, a few at a time; positions come from the plan,
/// so the order holds whatever order the requests finish in. Each result says whether the
/// line now exists, or why not.
async fn append_all(
    app: &Services,
    creator: &Creator,
    job: &ProjectJob,
    run: &RunId,
    plan: &ProjectPlan,
    attempt: Attempt,
) -> Vec<Result<(), Failure>> {
    // Boxed, so the stream's item is one named future type (and provably `Send`).
    let appends: Vec<BoxFuture<'_, Result<(), Failure>>> = plan
        .tasks
        .iter()
        .map(|task| append(app, creator, job, run, &plan.options, task, attempt).boxed())
        .collect();
    futures::stream::iter(appends)
        .buffered(APPEND_CONCURRENCY)
        .collect()
        .await
}

#[allow(clippy::too_many_arguments)]
async fn append(
    app: &Services,
    creator: &Creator,
    job: &ProjectJob,
    run: &RunId,
    options: &TaskOptions,
    task: &PlannedTask,
    attempt: Attempt,
) -> Result<(), Failure> {
    let request = NewTask {
        title: task.title.clone(),
        summary: None,
        task_type: TaskType::Task,
        owners: task.owners.clone(),
        deadline: crate::deadline::tallyfy_format(task.deadline),
        separate_task_for_each_assignee: None,
        run_id: Some(run.clone()),
        position: Some(task.position),
        webhook: cards::webhook_for(app, &job.key, Step::Line(task.position)).await,
        options: options.with_tags(&task.tags),
    };
    let what = format!("the project *{}*", mrkdwn::escape(&job.form.name));
    let creation = Creation {
        job: &job.key,
        step: Step::Line(task.position),
        origin: &job.origin,
        what: &what,
        resumed: attempt.resumed,
        known_unsent: false,
    };
    match creator.create_once(&creation, &request).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, position = task.position, "could not append a task");
            // Tallyfy refusing the run itself (422 on `run_id`) will refuse it again.
            let reason = failures::tallyfy(&e);
            Err(match failures::refuses_run(&e) {
                true => Failure::final_(reason),
                false => Failure::retryable(reason),
            })
        }
    }
}

/// Tells the requester the project was not created, and why.
async fn fail(app: &Services, job: &ProjectJob, failure: Failure) -> Outcome {
    let name = mrkdwn::shorten(&job.form.name, crate::slack::limits::SHOWN_TITLE);
    let headline = format!("The project *{}* was not created.", mrkdwn::escape(&name));
    let (origin, key) = (&job.origin, job.key.as_str());
    tell_failure(app, origin, key, "create_project", &headline, failure).await
}

/// Tells the requester of job `key` (from `origin`) what was not made (`headline`) and
/// why, with a Retry button when a retry can help; `flow` names the job in the metrics.
pub(super) async fn tell_failure(
    app: &Services,
    origin: &Origin,
    key: &str,
    flow: &'static str,
    headline: &str,
    failure: Failure,
) -> Outcome {
    app.metrics.job(flow, "failed");
    // The reason names people and titles: the log says only whether a retry can help.
    tracing::warn!(
        key,
        flow,
        retryable = failure.retry,
        "the work was not made"
    );
    let text = format!(":warning: {headline} {}", mrkdwn::escape(&failure.reason));
    let retry = failure.retry.then_some(key);
    match app
        .courier
        .tell(origin, courier::failure(&text, retry))
        .await
    {
        Ok(()) => Outcome::Done,
        Err(_) => Outcome::Untold,
    }
}

/// The lines that were made, as the card's line menus act on them and their assignees'
/// Home tabs list them.
async fn made_lines(
    app: &Services,
    job: &ProjectJob,
    plan: &ProjectPlan,
    link: &str,
    results: &[Result<(), Failure>],
) -> Vec<CardTask> {
    let mut tasks = Vec::new();
    for (line, made) in plan.tasks.iter().zip(results) {
        if made.is_err() {
            continue;
        }
        let step = Step::Line(line.position);
        if let Progress::Made(created) = app.ledger.progress::<CreatedTask>(&job.key, step).await {
            tasks.push(CardTask {
                line: Some(line.position),
                title: line.title.clone(),
                assignees: line.assignees.clone(),
                created,
                link: link.to_string(),
                deadline: line.deadline,
            });
        }
    }
    tasks
}
