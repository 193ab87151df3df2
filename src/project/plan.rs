//! A "New project" form with every person resolved: what the job creates. People named
//! by `@handle` on a line are found, everyone is mapped to a Tallyfy member (or a guest),
//! and what cannot be assigned becomes an error on the field that names it.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::modal::{self, ProjectForm};
use crate::directory::{self, Directory, DirectoryError, Resolved};
use crate::modals;
use crate::slack::ids::{TeamId, UserId};
use crate::tallyfy::model::{Owners, TagId, TaskOptions};

/// A project with every person resolved: what the job creates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectPlan {
    pub name: String,
    pub summary: Option<String>,
    pub assignees: Vec<UserId>,
    pub owners: Owners,
    pub deadline: Timestamp,
    pub tasks: Vec<PlannedTask>,
    /// Options for every task line; left out of the stored job when none is set.
    #[serde(default, skip_serializing_if = "TaskOptions::is_empty")]
    pub options: TaskOptions,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedTask {
    /// The position in the run: the run's own first task is 1, so lines start at 2.
    pub position: u32,
    pub title: String,
    pub assignees: Vec<UserId>,
    pub owners: Owners,
    pub deadline: Timestamp,
    /// Tags of this line's own, besides the project's options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagId>,
}

#[derive(Debug)]
pub enum PlanError {
    /// Mistakes to show on the modal, keyed by block.
    Problems(BTreeMap<String, String>),
    Lookup(DirectoryError),
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
