//! `/project`: an ad-hoc Tallyfy process with no template. The run is created as an empty
//! process (`separate_task_for_each_assignee: true`) and each task line is appended to it
//! with `run_id` and its `position`. The channel remembers its recent projects, so later
//! `/task`s can be added to them, and `/project list` shows them.

pub mod lines;
pub mod message;
pub mod modal;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::deadline;
use crate::directory::{Directory, DirectoryError, Resolved};
use crate::jobs::{Job, ProjectJob};
use crate::modals::{self, Metadata, ModalRequest};
use crate::slack::command::SlashCommand;
use crate::slack::interaction::ViewSubmission;
use crate::state::AppState;
use crate::tallyfy::model::{Owners, RunId};
use crate::task::{self, SubmitAnswer};
use modal::{Prefill, ProjectForm};

/// How many projects a channel remembers.
const REMEMBERED: usize = 10;
/// How long a channel remembers a project.
const REMEMBER_FOR: Duration = Duration::from_secs(90 * 24 * 3600);
/// How long a submission may spend on lookups before the modal must close.
const RESOLVE_BUDGET: Duration = Duration::from_millis(1800);
/// How long `/project list` waits for progress from Tallyfy.
const PROGRESS_BUDGET: Duration = Duration::from_millis(1500);

/// A project a channel remembers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRef {
    pub run_id: RunId,
    pub name: String,
}

/// A project with every person resolved: what the job creates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectPlan {
    pub name: String,
    pub summary: Option<String>,
    /// Slack user ids.
    pub assignees: Vec<String>,
    pub owners: Owners,
    pub deadline: Timestamp,
    pub tasks: Vec<PlannedTask>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedTask {
    /// The position in the run: the run's own first task is 1, so lines start at 2.
    pub position: u32,
    pub title: String,
    pub assignees: Vec<String>,
    pub owners: Owners,
    pub deadline: Timestamp,
}

#[derive(Debug)]
pub enum PlanError {
    /// Mistakes to show on the modal, keyed by block.
    Problems(BTreeMap<String, String>),
    Lookup(DirectoryError),
}

fn channel_key(team: &str, channel: &str) -> String {
    format!("projects:{team}:{channel}")
}

/// The channel's recent projects, newest first. Never fails: an unreachable store means
/// no projects are offered.
pub async fn recent(state: &AppState, team: &str, channel: &str) -> Vec<ProjectRef> {
    let raw = state
        .store
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
pub async fn remember(
    store: &dyn crate::store::Store,
    team: &str,
    channel: &str,
    project: &ProjectRef,
) {
    let raw = serde_json::to_string(project).expect("plain strings serialise");
    if let Err(e) = store
        .push_recent(&channel_key(team, channel), &raw, REMEMBERED, REMEMBER_FOR)
        .await
    {
        tracing::warn!(error = %e, "could not remember the channel's project");
    }
}

fn position_key(run: &RunId) -> String {
    format!("position:{run}")
}

/// Records the last position used in a run, so tasks added later go after it.
pub async fn set_last_position(store: &dyn crate::store::Store, run: &RunId, position: u32) {
    if let Err(e) = store
        .set(&position_key(run), &position.to_string(), REMEMBER_FOR)
        .await
    {
        tracing::warn!(error = %e, "could not record the project's last position");
    }
}

/// The position for the next task added to `run`; `None` (Tallyfy places it) when the
/// store cannot say.
pub async fn next_position(store: &dyn crate::store::Store, run: &RunId) -> Option<u32> {
    store
        .incr(&position_key(run), REMEMBER_FOR)
        .await
        .ok()
        .and_then(|p| u32::try_from(p).ok())
}

pub fn is_list(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case("list")
}

/// Opens the "New project" modal for a `/project` command, prefilled from its text.
pub async fn open(state: &AppState, cmd: SlashCommand) {
    modals::open_for_command(state, &ModalRequest::from(&cmd), |o| {
        let (name, when) = deadline::split_phrase(&o.text.text, &o.now);
        let prefill = Prefill {
            name,
            assignees: o.text.mentions.clone(),
            deadline: when.unwrap_or_else(|| deadline::default_deadline(&o.now)),
            groups: o.groups.clone(),
        };
        modal::view(&prefill, &o.metadata)
    })
    .await;
}

/// Checks a "New project" submission and hands it off, within Slack's 3 s.
pub async fn submit(state: &AppState, sub: ViewSubmission) -> SubmitAnswer {
    let metadata = Metadata::decode(&sub.view.private_metadata);
    let now = Timestamp::now().to_zoned(deadline::timezone(metadata.tz.as_deref()));
    let form = match modal::read(&sub.view.state, &now) {
        Ok(form) => form,
        Err(errors) => return SubmitAnswer::Errors(errors),
    };
    let team = sub.team_id();
    let plan = match tokio::time::timeout(RESOLVE_BUDGET, plan(&state.directory, &team, &form))
        .await
    {
        Ok(Ok(plan)) => Some(plan),
        Ok(Err(PlanError::Problems(errors))) => return SubmitAnswer::Errors(errors),
        Ok(Err(PlanError::Lookup(e))) => {
            tracing::warn!(error = %e, "project lookups failed; they are retried after the modal closes");
            None
        }
        Err(_) => None,
    };
    let (first, key) = modals::claim_submission(state, &team, &sub.view).await;
    if !first {
        return SubmitAnswer::Close;
    }
    let origin = modals::origin(&sub, metadata);
    state
        .jobs
        .submit(Job::Project(ProjectJob {
            key,
            origin,
            form,
            plan,
        }))
        .await;
    SubmitAnswer::Close
}

/// Resolves every person the form names: `@handles` on lines, then Tallyfy members.
pub async fn plan(
    directory: &Directory,
    team: &str,
    form: &ProjectForm,
) -> Result<ProjectPlan, PlanError> {
    let mut problems: Vec<String> = Vec::new();
    let mut line_people: Vec<Vec<String>> = Vec::new();
    for line in &form.lines {
        let mut ids = line.mentions.clone();
        for handle in &line.handles {
            match directory
                .find_handle(team, handle)
                .await
                .map_err(PlanError::Lookup)?
            {
                Some(id) if !ids.contains(&id) => ids.push(id),
                Some(_) => {}
                None => problems.push(modal::line_problem(
                    line,
                    &format!("nobody in this workspace goes by @{handle}"),
                )),
            }
        }
        line_people.push(ids);
    }

    let mut everyone: Vec<String> = form.assignees.clone();
    for id in line_people.iter().flatten() {
        if !everyone.contains(id) {
            everyone.push(id.clone());
        }
    }
    let resolved = directory
        .resolve_all(team, &everyone)
        .await
        .map_err(PlanError::Lookup)?;
    let by_id: HashMap<&str, &Resolved> = resolved
        .iter()
        .map(|r| (r.slack_user.as_str(), r))
        .collect();
    let pick = |ids: &[String]| -> Vec<Resolved> {
        ids.iter()
            .filter_map(|id| by_id.get(id.as_str()).map(|r| (*r).clone()))
            .collect()
    };

    let mut errors = BTreeMap::new();
    let owners = match task::owners(&pick(&form.assignees), form.guests_ok) {
        Ok(mut owners) => {
            owners.groups = form.groups.iter().map(|g| g.id.clone()).collect();
            owners
        }
        Err(problem) => {
            errors.insert(modal::ASSIGNEES.to_string(), problem);
            Owners::default()
        }
    };
    let mut tasks = Vec::new();
    for (i, (line, ids)) in form.lines.iter().zip(&line_people).enumerate() {
        let (assignees, owners) = if ids.is_empty() {
            (form.assignees.clone(), owners.clone())
        } else {
            match task::owners(&pick(ids), form.guests_ok) {
                Ok(o) => (ids.clone(), o),
                Err(problem) => {
                    problems.push(modal::line_problem(line, problem.trim_end_matches('.')));
                    continue;
                }
            }
        };
        tasks.push(PlannedTask {
            position: i as u32 + 2,
            title: line.title.clone(),
            assignees,
            owners,
            deadline: line
                .deadline
                .as_ref()
                .map(|d| d.timestamp())
                .unwrap_or(form.deadline),
        });
    }
    if !problems.is_empty() {
        errors.insert(modal::TASKS.to_string(), modal::join_problems(&problems));
    }
    if !errors.is_empty() {
        return Err(PlanError::Problems(errors));
    }
    Ok(ProjectPlan {
        name: form.name.clone(),
        summary: form.summary.clone(),
        assignees: form.assignees.clone(),
        owners,
        deadline: form.deadline,
        tasks,
    })
}

/// `/project list`: the channel's recent projects with links, and progress from Tallyfy
/// where it answers quickly.
pub async fn list(state: &AppState, cmd: &SlashCommand) -> serde_json::Value {
    let projects = recent(state, &cmd.team_id, &cmd.channel_id).await;
    if projects.is_empty() {
        return json!({"response_type": "ephemeral", "text": "No projects have been started in this channel yet. Start one with `/project Name`."});
    }
    let lookups = projects.iter().map(|p| async {
        tokio::time::timeout(PROGRESS_BUDGET, state.tallyfy.get_run(&p.run_id))
            .await
            .ok()
            .and_then(Result::ok)
    });
    let runs = futures::future::join_all(lookups).await;
    let web = &state.config.tallyfy.web_url;
    let org = state.tallyfy.org_id();
    let entries: Vec<message::ListEntry> = projects
        .iter()
        .zip(runs)
        .map(|(p, run)| message::ListEntry {
            name: p.name.clone(),
            link: format!("{web}/{org}/processes/{}", p.run_id),
            progress: run.as_ref().and_then(|r| r.progress()),
            status: run.and_then(|r| r.status),
        })
        .collect();
    json!({"response_type": "ephemeral", "text": message::list(&entries)})
}
