//! Checking a "New project" submission: every person it names resolved (within Slack's
//! 3 s when possible), mistakes shown on the form, and the job queued.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;

use super::modal::{self, ProjectForm};
use super::job::ProjectJob;
use super::{PlanError, PlannedTask, ProjectPlan};
use crate::deadline;
use crate::directory::{self, Directory, Resolved};
use crate::modals::{self, Metadata, SubmitAnswer};
use crate::slack::ids::{TeamId, UserId};
use crate::slack::interaction::ViewSubmission;
use crate::state::AppState;
use crate::tallyfy::model::Owners;

/// How long a submission may spend on lookups before the modal must close.
const RESOLVE_BUDGET: Duration = Duration::from_millis(1800);
/// How long a submission waits for the organization's tags (usually cached).
const TAGS_WAIT: Duration = Duration::from_millis(500);

/// Checks a "New project" submission and hands it off, within Slack's 3 s.
pub async fn submit(state: &AppState, sub: ViewSubmission) -> SubmitAnswer {
    let metadata = Metadata::decode(&sub.view.private_metadata);
    let now = Timestamp::now().to_zoned(deadline::timezone(metadata.tz.as_deref()));
    // The tags lines may name; cached, and left unmatched when Tallyfy will not list them.
    let tags = match tokio::time::timeout(TAGS_WAIT, state.directory.tags()).await {
        Ok(Ok(tags)) => tags,
        _ => Vec::new(),
    };
    let form = match modal::read(&sub.view.state, &now, &tags) {
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
    let claim = modals::claim_submission(state, &team, &sub.view).await;
    if !claim.first {
        return SubmitAnswer::Close;
    }
    let key = claim.key;
    let origin = modals::origin(&sub, metadata);
    let job = ProjectJob {
        key,
        origin,
        form,
        plan,
    };
    state.jobs.submit(job.stored()).await;
    SubmitAnswer::Close
}

/// Resolves every person the form names: `@handles` on lines, then Tallyfy members.
pub async fn plan(
    directory: &Directory,
    team: &TeamId,
    form: &ProjectForm,
) -> Result<ProjectPlan, PlanError> {
    let mut problems: Vec<String> = Vec::new();
    let mut line_people: Vec<Vec<UserId>> = Vec::new();
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

    let mut everyone: Vec<UserId> = form.assignees.clone();
    for id in line_people.iter().flatten() {
        if !everyone.contains(id) {
            everyone.push(id.clone());
        }
    }
    if everyone.len() > modals::MAX_PEOPLE {
        let errors = BTreeMap::from([(
            modal::TASKS.to_string(),
            modals::too_many_people(everyone.len()),
        )]);
        return Err(PlanError::Problems(errors));
    }
    let resolved = directory
        .resolve_all(team, &everyone)
        .await
        .map_err(PlanError::Lookup)?;
    let by_id: HashMap<&str, &Resolved> = resolved
        .iter()
        .map(|r| (r.slack_user.as_str(), r))
        .collect();
    let pick = |ids: &[UserId]| -> Vec<Resolved> {
        ids.iter()
            .filter_map(|id| by_id.get(id.as_str()).map(|r| (*r).clone()))
            .collect()
    };

    let mut errors = BTreeMap::new();
    let owners = match directory::owners(&pick(&form.assignees), form.guests_ok) {
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
            match directory::owners(&pick(ids), form.guests_ok) {
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
            tags: line.tags.clone(),
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
        options: form.options.clone(),
    })
}
