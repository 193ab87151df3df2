//! Each person's lists of work, kept by the app (the Home tab reads them; the cards keep
//! them up to date), with typed values: the tasks assigned to them from Slack, the projects
//! they asked for or work in, and whether each task was last told done (the tab lists the
//! open ones; the cards tell a reopening by it). Also the
//! Events API events already taken. Read in one or two calls per list.
//!
//! | key | value | meaning | kept |
//! |---|---|---|---|
//! | `home:assigned:{user}` | a list of [`AssignedTask`], newest first | tasks made from Slack for that person | 90 days |
//! | `home:projects:{user}` | a list of [`RecentProject`], newest first | projects they asked for or work in | 90 days |
//! | `done:{task}` | `1:{completed at}` or `0` | whether the task was last told done (and when it was completed) or open | 90 days |
//! | `event:{event id}` | `1` | an Events API event already taken | an hour |
//!
//! Earlier releases kept the two lists under `assigned:{user}` and `projects:{user}`;
//! those are still read, until they expire.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::slack::ids::UserId;
use crate::state::Services;
use crate::store::Store;

/// How long the lists and the done marks are kept.
const KEEP_FOR: Duration = Duration::from_secs(90 * 24 * 3600);
/// How long an Events API event id is remembered: Slack retries within minutes.
const EVENT_TTL: Duration = Duration::from_secs(3600);
/// How many tasks and projects a person's lists keep.
const ASSIGNED_KEEP: usize = 50;
const PROJECTS_KEEP: usize = 10;

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

/// The Home tab's keys over the shared store.
pub struct HomeStore<'a> {
    store: &'a dyn Store,
}

/// The Home tab's keys in `app`'s store.
pub fn of(app: &Services) -> HomeStore<'_> {
    HomeStore {
        store: app.store.as_ref(),
    }
}

impl HomeStore<'_> {
    /// Lists `task` for each of `people` (each once).
    pub async fn remember_task(&self, people: &[UserId], task: &AssignedTask) {
        self.push(people, "assigned", task, ASSIGNED_KEEP).await;
    }

    /// Lists `project` among the recent projects of each of `people` (each once).
    pub async fn remember_project(&self, people: &[UserId], project: &RecentProject) {
        self.push(people, "projects", project, PROJECTS_KEEP).await;
    }

    async fn push<T: Serialize>(&self, people: &[UserId], list: &str, entry: &T, keep: usize) {
        let raw = serde_json::to_string(entry).expect("plain data");
        let mut seen: Vec<&UserId> = Vec::new();
        for person in people {
            if !seen.contains(&person) {
                seen.push(person);
            }
        }
        // Each list on its own, all at once: one round trip for everyone.
        futures::future::join_all(seen.into_iter().map(|person| {
            let key = format!("home:{list}:{person}");
            let raw = &raw;
            async move {
                if let Err(e) = self.store.push_recent(&key, raw, keep, KEEP_FOR).await {
                    tracing::warn!(error = %e, list, "could not list work for a Home tab");
                }
            }
        }))
        .await;
    }

    /// `user`'s list `list`, newest first, then what an earlier release kept.
    async fn list<T: DeserializeOwned>(&self, user: &str, list: &str) -> Vec<T> {
        let mut raw = self
            .store
            .recent(&format!("home:{list}:{user}"))
            .await
            .unwrap_or_default();
        raw.extend(
            self.store
                .recent(&format!("{list}:{user}"))
                .await
                .unwrap_or_default(),
        );
        raw.iter()
            .filter_map(|entry| serde_json::from_str(entry).ok())
            .collect()
    }

    /// The tasks made from Slack for `user` that were not last told done, newest first.
    pub async fn open_tasks(&self, user: &str) -> Vec<AssignedTask> {
        let mut tasks: Vec<AssignedTask> = Vec::new();
        for task in self.list::<AssignedTask>(user, "assigned").await {
            if !tasks.iter().any(|t| t.task == task.task) {
                tasks.push(task);
            }
        }
        let ids: Vec<String> = tasks.iter().map(|t| t.task.clone()).collect();
        let done = self.done(&ids).await;
        tasks
            .into_iter()
            .zip(done)
            .filter(|(_, done)| done.is_none())
            .map(|(task, _)| task)
            .collect()
    }

    /// `user`'s recent projects, newest first, each once.
    pub async fn recent_projects(&self, user: &str) -> Vec<RecentProject> {
        let mut projects: Vec<RecentProject> = Vec::new();
        for project in self.list::<RecentProject>(user, "projects").await {
            if !projects.iter().any(|p| p.run == project.run) {
                projects.push(project);
            }
        }
        projects
    }

    /// Records whether `task` was last told done (and when it was completed) or open.
    pub async fn note_done(&self, task: &str, done: Option<&str>) {
        let value = match done {
            Some(at) => format!("1:{at}"),
            None => "0".into(),
        };
        let _ = self
            .store
            .set(&format!("done:{task}"), &value, KEEP_FOR)
            .await;
    }

    /// For each of `tasks`, when it was completed if it was last told done (`Some("")`
    /// when that time is not known); `None` when open or never told.
    pub async fn done(&self, tasks: &[String]) -> Vec<Option<String>> {
        let keys: Vec<String> = tasks.iter().map(|t| format!("done:{t}")).collect();
        match self.store.get_many(&keys).await {
            Ok(found) => found
                .into_iter()
                .map(|v| {
                    let v = v?;
                    // Earlier records hold `1` alone.
                    v.strip_prefix('1')
                        .map(|rest| rest.trim_start_matches(':').to_string())
                })
                .collect(),
            Err(_) => vec![None; tasks.len()],
        }
    }

    /// True the first time an Events API event id is taken, on any replica: Slack's
    /// retries and repeats change nothing. When the store cannot say, it is taken.
    pub async fn first_event(&self, event_id: &str) -> bool {
        !matches!(
            self.store
                .set_if_absent(&format!("event:{event_id}"), "1", EVENT_TTL)
                .await,
            Ok(false)
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn lists_read_what_this_release_and_the_last_one_kept_each_once() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let home = HomeStore {
            store: store.as_ref(),
        };
        let task = |id: &str| AssignedTask {
            task: id.into(),
            title: format!("Task {id}"),
            link: format!("https://t/{id}"),
            deadline: 0,
            channel: None,
        };
        let old = serde_json::to_string(&task("t1")).unwrap();
        store
            .push_recent("assigned:U1", &old, 50, KEEP_FOR)
            .await
            .unwrap();
        home.remember_task(&[UserId::new("U1"), UserId::new("U1")], &task("t2"))
            .await;
        home.remember_task(&[UserId::new("U1")], &task("t1")).await;
        let open: Vec<String> = home
            .open_tasks("U1")
            .await
            .into_iter()
            .map(|t| t.task)
            .collect();
        assert_eq!(open, ["t1", "t2"]);
        home.note_done("t1", Some("2026-12-01T10:00:00Z")).await;
        let open: Vec<String> = home
            .open_tasks("U1")
            .await
            .into_iter()
            .map(|t| t.task)
            .collect();
        assert_eq!(open, ["t2"]);
        assert!(home.open_tasks("U2").await.is_empty());
    }
}
