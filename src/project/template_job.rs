//! What a template's launch does after its form has closed: find the people its assignee
//! fields name in Tallyfy, launch the template exactly once (`POST /runs`, looked for by
//! name before it is sent again when an answer was lost), and post its card, which then
//! follows the run as a project's card does: its progress and news in the thread.

use serde::{Deserialize, Serialize};
use slack_morphism::prelude::*;

use super::template_form::Answers;
use crate::cards::{self, CardTask, Followed, NewCard, ProjectListing, Reply};
use crate::channel_projects::{self, ProjectRef};
use crate::courier::Origin;
use crate::create_once::{Creation, Once};
use crate::directory;
use crate::failures::{self, Failure};
use crate::jobs::ledger::Step;
use crate::jobs::{Attempt, Outcome, Stored};
use crate::slack::{limits, mrkdwn};
use crate::state::Services;
use crate::tallyfy::model::CreatedTask;
use crate::tallyfy::templates::{Launch, Launched};
use crate::worklists::RecentProject;

/// The kind under which a launch is stored.
pub const KIND: &str = "template";
/// How long the card waits to learn the launched run's tasks.
const STEPS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Launch a template with a kick-off form's answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateJob {
    pub key: String,
    pub origin: Origin,
    pub template_id: String,
    pub template_title: String,
    pub answers: Answers,
}

impl TemplateJob {
    /// The job as it is queued and kept.
    pub fn stored(&self) -> Stored {
        Stored::new(KIND, &self.key, self)
    }
}

/// Launches the template (unless an earlier run did) and tells the channel.
pub async fn launch(app: &Services, job: TemplateJob, reply: Reply, attempt: Attempt) -> Outcome {
    if matches!(reply, Reply::New) && app.ledger.told(&job.key).await {
        tracing::info!("the template was launched and announced by an earlier run");
        return Outcome::Done;
    }
    app.ledger.keep(&job.stored()).await;
    let launch = match request(app, &job).await {
        Ok(launch) => launch,
        Err(failure) => return fail(app, &job, failure).await,
    };
    let what = format!("the run *{}*", mrkdwn::escape(&job.answers.name));
    let creation = Creation {
        job: &job.key,
        step: Step::Run,
        origin: &job.origin,
        what: &what,
        resumed: attempt.resumed,
        known_unsent: false,
    };
    // Launched as the person who asked: they own the run in Tallyfy.
    let creator = match app.creator_for(&job.origin).await {
        Ok(creator) => creator,
        Err(failure) => return fail(app, &job, failure).await,
    };
    let run = match creator.launch_once(&creation, &launch).await {
        Ok(Once::Before(run)) => run,
        Ok(Once::Now(run)) => {
            tracing::info!(run_id = %run.id, "template launched");
            remember(app, &job, &run).await;
            run
        }
        Err(e) => {
            let failure = if e.is_transient() {
                Failure::retryable(failures::tallyfy(&e))
            } else {
                Failure::final_(failures::tallyfy(&e))
            };
            return fail(app, &job, failure).await;
        }
    };
    app.metrics.job("launch_template", "complete");
    let link = app.links.run(&run.id);
    let steps = steps(app, &run, &link).await;
    let project = RecentProject {
        run: run.id.0.clone(),
        name: job.answers.name.clone(),
        link: link.clone(),
    };
    let card = NewCard {
        job: &job.key,
        origin: &job.origin,
        content: announcement(&job, &link, &steps),
        followed: Followed::Run(run.id.clone()),
        tasks: steps,
        project: Some(ProjectListing {
            people: vec![job.origin.user_id.clone()],
            project,
        }),
    };
    if !cards::post(app, card, reply).await {
        return Outcome::Untold;
    }
    // The template's steps carry no webhook of this app's: the run is read for its news.
    cards::follow::read_instead(app, &job.key, Followed::Run(run.id)).await;
    Outcome::Done
}

/// The launch: the form's values, with each assignee field's people as Tallyfy members.
async fn request(app: &Services, job: &TemplateJob) -> Result<Launch, Failure> {
    let mut prerun = job.answers.prerun.clone();
    for (field, people) in &job.answers.people {
        let resolved = app
            .directory
            .resolve_all(&job.origin.team_id, people)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "people for a kick-off field could not be looked up");
                Failure::retryable(failures::lookup(&e, "people's"))
            })?;
        let owners = directory::owners(&resolved, false).map_err(Failure::final_)?;
        let owners = serde_json::to_value(owners).expect("plain data");
        prerun.insert(field.clone(), owners);
    }
    Ok(Launch {
        checklist_id: job.template_id.clone(),
        name: job.answers.name.clone(),
        prerun,
    })
}

/// The channel remembers the run, as it remembers its projects (`/project list`, and
/// `/task`s added to it).
async fn remember(app: &Services, job: &TemplateJob, run: &Launched) {
    if let Some(channel) = &job.origin.channel_id {
        let remembered = ProjectRef {
            run_id: run.id.clone(),
            name: job.answers.name.clone(),
        };
        channel_projects::remember(
            app.store.as_ref(),
            &job.origin.team_id,
            channel,
            &remembered,
        )
        .await;
    }
}

/// The run's tasks (the template's steps, in order), which the card's menus act on as a
/// project's lines; none when Tallyfy does not say in time (the card then has a link only).
async fn steps(app: &Services, run: &Launched, link: &str) -> Vec<CardTask> {
    let read = tokio::time::timeout(STEPS_WAIT, app.tallyfy.get_run(&run.id)).await;
    let Ok(Ok(read)) = read else {
        tracing::info!("a launched run's tasks could not be read for its card");
        return Vec::new();
    };
    let tasks = read.tasks.map(|t| t.data).unwrap_or_default();
    tasks
        .into_iter()
        .enumerate()
        .map(|(i, task)| {
            let title = task.title.clone().unwrap_or_default();
            CardTask {
                line: Some(i as u32 + 1),
                title: title.clone(),
                assignees: Vec::new(),
                created: CreatedTask {
                    id: task.id,
                    title: Some(title),
                    status: task.status,
                    run: None,
                    run_id: Some(run.id.clone()),
                },
                link: link.to_string(),
                deadline: jiff::Timestamp::now(),
            }
        })
        .collect()
}

/// The card: the run, the template it came from, who launched it, a link, and the menus
/// that act on its tasks.
fn announcement(job: &TemplateJob, link: &str, steps: &[CardTask]) -> SlackMessageContent {
    let text = format!(
        ":rocket: *{}* (launched from the template _{}_)\n{} launched it.",
        mrkdwn::link(
            link,
            &mrkdwn::shorten(&job.answers.name, limits::SHOWN_TITLE)
        ),
        mrkdwn::escape(&mrkdwn::shorten(&job.template_title, limits::SHOWN_TITLE)),
        mrkdwn::mention(&job.origin.user_id)
    );
    let open = SlackBlockButtonElement::new("Open in Tallyfy".into())
        .with_action_id("open_in_tallyfy".into())
        .with_url(link.parse().expect("links are built from valid base URLs"));
    let mut blocks: Vec<SlackBlock> = vec![SlackSectionBlock::new()
        .with_text(SlackBlockMarkDownText::new(text.clone()).into())
        .into()];
    let lines = steps
        .iter()
        .filter_map(|s| s.line.map(|line| (line, s.title.as_str())));
    blocks.extend(cards::buttons::line_menus(lines, &job.key));
    blocks.push(SlackActionsBlock::new(vec![open.into()]).into());
    SlackMessageContent::new()
        .with_text(format!("Launched: {}", mrkdwn::escape(&job.answers.name)))
        .with_blocks(blocks)
}

/// The job kept dying before it could finish: tell the requester, with a Retry button.
pub async fn give_up(app: &Services, job: &TemplateJob) {
    if super::job::given_up(app, &job.key, &job.stored()).await {
        fail(app, job, Failure::retryable(failures::GIVEN_UP.to_string())).await;
    }
}

/// Tells the requester the template was not launched, and why.
async fn fail(app: &Services, job: &TemplateJob, failure: Failure) -> Outcome {
    let name = mrkdwn::shorten(&job.answers.name, limits::SHOWN_TITLE);
    let headline = format!("*{}* was not launched.", mrkdwn::escape(&name));
    let (origin, key) = (&job.origin, job.key.as_str());
    super::job::tell_failure(app, origin, key, "launch_template", &headline, failure).await
}
