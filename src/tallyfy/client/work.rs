//! A person's work as Tallyfy lists it: the organization's task list filtered to one
//! member (documentation, open-api/code-samples/tasks/list-org-tasks: `owners` is
//! comma-separated member ids, `status=active` the open tasks). Tallyfy's own n8n trigger
//! reads "Task Assigned To Me" the same way (`TallyfyTrigger.node.ts`, by polling).

use reqwest::Method;

use super::{TallyfyClient, MAX_PAGES, PER_PAGE};
use crate::tallyfy::model::{ListedTask, MemberId, Page};
use crate::tallyfy::TallyfyError;

impl TallyfyClient {
    /// The open tasks assigned to `member`, wherever in Tallyfy they were made (every page,
    /// up to a bound), soonest deadline first.
    pub async fn open_tasks_of(&self, member: MemberId) -> Result<Vec<ListedTask>, TallyfyError> {
        let path = format!("organizations/{}/tasks", self.org_id);
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let req = self.request(Method::GET, &path).query(&[
                ("owners", member.0.to_string()),
                ("status", "active".to_string()),
                ("sort", "deadline".to_string()),
                ("page", page.to_string()),
                ("per_page", PER_PAGE.to_string()),
            ]);
            let found: Page<ListedTask> = self.send("list_member_tasks", req).await?;
            let more = found.has_next();
            all.extend(found.data);
            if !more {
                break;
            }
        }
        // A completed task is never anyone's open work, whatever a list says.
        all.retain(|t| t.status.as_deref() != Some("completed"));
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use crate::tallyfy::model::{ListedTask, Page};

    #[test]
    fn the_documented_task_list_reads() {
        let raw = include_str!("../../../tests/fixtures/tallyfy/documentation/list-org-tasks.json");
        let page: Page<ListedTask> = serde_json::from_str(raw).unwrap();
        assert_eq!(page.data.len(), 1);
        let task = &page.data[0];
        assert_eq!(task.title.as_deref(), Some("Review Proposal"));
        assert_eq!(task.deadline.as_deref(), Some("2026-03-15T17:00:00Z"));
        assert!(page.has_next(), "page 1 of 5");
    }
}
