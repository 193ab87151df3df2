//! What the app remembers of the work it made, for each person's Home tab: the tasks
//! assigned to them from Slack (and whether each was last told done), and the projects
//! they asked for or work in. Kept in the store (see `crate::jobs::ledger`), read in one
//! or two calls per person.

use serde::{Deserialize, Serialize};

use crate::slack::ids::UserId;
use crate::state::Services;

/// A task made from Slack, as a Home tab lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedTask {
    pub task: String,
    pub title: String,
    pub link: String,
    /// Unix seconds.
    pub deadline: i64,
    /// The conversation it was asked for in, when there was one.
    #[serde(default)]
    pub channel: Option<String>,
}

/// A project made from Slack, as a Home tab lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentProject {
    pub run: String,
    pub name: String,
    pub link: String,
}

/// Lists `task` for each of `people` (each once).
pub async fn remember_task(app: &Services, people: &[UserId], task: &AssignedTask) {
    let raw = serde_json::to_string(task).expect("plain data");
    let mut seen: Vec<&UserId> = Vec::new();
    for person in people {
        if !seen.contains(&person) {
            seen.push(person);
            app.ledger.note_assigned(person.as_str(), &raw).await;
        }
    }
}

/// Lists `project` among the recent projects of each of `people` (each once).
pub async fn remember_project(app: &Services, people: &[UserId], project: &RecentProject) {
    let raw = serde_json::to_string(project).expect("plain data");
    let mut seen: Vec<&UserId> = Vec::new();
    for person in people {
        if !seen.contains(&person) {
            seen.push(person);
            app.ledger.note_project(person.as_str(), &raw).await;
        }
    }
}

/// The tasks made from Slack for `user` that were not last told done, newest first.
pub async fn open_tasks(app: &Services, user: &str) -> Vec<AssignedTask> {
    let mut tasks: Vec<AssignedTask> = Vec::new();
    for raw in app.ledger.assigned(user).await {
        if let Ok(task) = serde_json::from_str::<AssignedTask>(&raw) {
            if !tasks.iter().any(|t| t.task == task.task) {
                tasks.push(task);
            }
        }
    }
    let ids: Vec<String> = tasks.iter().map(|t| t.task.clone()).collect();
    let done = app.ledger.done(&ids).await;
    tasks
        .into_iter()
        .zip(done)
        .filter(|(_, done)| done.is_none())
        .map(|(task, _)| task)
        .collect()
}

/// `user`'s recent projects, newest first, each once.
pub async fn recent_projects(app: &Services, user: &str) -> Vec<RecentProject> {
    let mut projects: Vec<RecentProject> = Vec::new();
    for raw in app.ledger.projects(user).await {
        if let Ok(project) = serde_json::from_str::<RecentProject>(&raw) {
            if !projects.iter().any(|p| p.run == project.run) {
                projects.push(project);
            }
        }
    }
    projects
}
