//! Completing a task as Tallyfy rules it: an approval with its decision, and a task's
//! form fields filled first when it has required ones.

use reqwest::Method;

use super::TallyfyClient;
use crate::tallyfy::model::{member_id, CreatedTask, Data, ListedTask, TaskId};
use crate::tallyfy::TallyfyError;

impl TallyfyClient {
    /// As [`TallyfyClient::get_task`], with its form fields (`?with=form_fields`).
    pub async fn get_task_with_fields(&self, task: &TaskId) -> Result<ListedTask, TallyfyError> {
        let path = format!("organizations/{}/tasks/{}", self.org_id, task);
        let req = self
            .request(Method::GET, &path)
            .query(&[("with", "form_fields")]);
        let found: Data<ListedTask> = self.send("get_task", req).await?;
        Ok(found.data)
    }

    /// Completes a task: a one-off task through `POST /organizations/{org}/completed-tasks`,
    /// a task of a run through `POST /organizations/{org}/runs/{run}/completed-tasks`
    /// (Tallyfy's CLI, `resources.go`), with `is_approved` for an approval's decision
    /// (documentation, code-samples/tasks/complete-task; n8n's Complete).
    pub async fn complete_task(
        &self,
        task: &CreatedTask,
        is_approved: Option<bool>,
    ) -> Result<(), TallyfyError> {
        let path = match task.run_id() {
            Some(run) => format!("organizations/{}/runs/{run}/completed-tasks", self.org_id),
            None => format!("organizations/{}/completed-tasks", self.org_id),
        };
        let mut body = serde_json::json!({ "task_id": task.id });
        if let Some(approved) = is_approved {
            body["is_approved"] = approved.into();
        }
        let req = self.request(Method::POST, &path).json(&body);
        let _: serde_json::Value = self.send("complete_task", req).await?;
        Ok(())
    }

    /// Fills form fields of `task` (`taskdata`, keyed by field id): a task of a run through
    /// `PUT /organizations/{org}/runs/{run}/tasks/{id}` with only `taskdata`; a one-off task
    /// through `PUT /organizations/{org}/tasks/{id}`, which also needs its `title`,
    /// `deadline` and `owners`, sent back as `now` has them (documentation,
    /// code-samples/tasks/update-task; MCP `update_standalone_task` does the same).
    pub async fn fill_fields(
        &self,
        task: &CreatedTask,
        now: &ListedTask,
        taskdata: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), TallyfyError> {
        let mut body = serde_json::json!({ "taskdata": taskdata });
        let path = match task.run_id() {
            Some(run) => format!("organizations/{}/runs/{run}/tasks/{}", self.org_id, task.id),
            None => {
                let owners = now.owners.clone().unwrap_or_default();
                let ids: Vec<u64> = owners.users.iter().filter_map(member_id).collect();
                let guests: Vec<&str> = owners
                    .guests
                    .iter()
                    .filter_map(|g| g.as_str().or_else(|| g.get("email")?.as_str()))
                    .collect();
                body["title"] = now.title.clone().into();
                body["deadline"] = now.deadline.clone().into();
                body["owners"] = serde_json::json!({
                    "users": ids, "guests": guests, "groups": owners.groups,
                });
                format!("organizations/{}/tasks/{}", self.org_id, task.id)
            }
        };
        let req = self.request(Method::PUT, &path).json(&body);
        let _: serde_json::Value = self.send("fill_fields", req).await?;
        Ok(())
    }
}
