//! A "New task" submission once it is valid: what the job creates.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::channel_projects::ProjectRef;
use crate::directory::Resolved;
use crate::slack::ids::UserId;
use crate::tallyfy::model::{Group, Owners, TaskOptions, TaskType};

/// A validated "New task" submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDraft {
    pub title: String,
    pub assignees: Vec<UserId>,
    pub deadline: Timestamp,
    pub summary: Option<String>,
    pub task_type: TaskType,
    /// The project (run) to add the task to, or none for a standalone task.
    #[serde(default)]
    pub project: Option<ProjectRef>,
    /// Tallyfy groups assigned as a whole.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Assign people without a Tallyfy account as guests, by email.
    #[serde(default)]
    pub guests_ok: bool,
    /// Tallyfy's optional settings; left out of the stored job when none is set.
    #[serde(default, skip_serializing_if = "TaskOptions::is_empty")]
    pub options: TaskOptions,
}

/// The owners of a drafted task: its people, and its groups.
pub fn draft_owners(draft: &TaskDraft, resolved: &[Resolved]) -> Result<Owners, String> {
    let mut owners = crate::directory::owners(resolved, draft.guests_ok)?;
    owners.groups = draft.groups.iter().map(|g| g.id.clone()).collect();
    Ok(owners)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_without_options_is_stored_as_before_and_old_drafts_still_read() {
        let old = serde_json::json!({
            "title": "Ship", "assignees": ["U1"], "deadline": "2030-01-01T17:00:00Z",
            "summary": null, "task_type": "task", "project": null, "groups": [], "guests_ok": false
        });
        let draft: TaskDraft = serde_json::from_value(old.clone()).unwrap();
        assert!(draft.options.is_empty());
        assert_eq!(serde_json::to_value(&draft).unwrap(), old);
    }
}
