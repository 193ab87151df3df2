//! `/task`: the "New task" modal, its submission, the job that creates the task after the
//! modal closes, its messages, and `/task whois` / `/task forget`. Each entry point is
//! transport-free: the HTTP routes and the Socket Mode connection call them alike.
//!
//! - [`modal`] builds and reads the form; [`submit`] checks a submission within Slack's
//!   3 s and queues the job; [`work`] is the job: create the task once, then tell the
//!   channel; [`message`] is what people read; [`whois`] answers the directory commands;
//!   [`done`] finds the task a card's button acts on.

pub mod done;
pub mod message;
pub mod modal;
pub mod submit;
pub mod whois;
pub mod work;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::deadline;
use crate::directory::Resolved;
use crate::modals::{self, ModalRequest, Opening};
use crate::runs::ProjectRef;
use crate::slack::ids::UserId;
use crate::state::AppState;
use crate::tallyfy::model::{Group, Owners, TaskOptions, TaskType};
use modal::Prefill;

/// Slack's limit on a text input's initial value.
const MAX_INITIAL_CHARS: usize = 3000;

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

/// Opens the "New task" modal for a `/task` command or a shortcut, prefilled from its text.
pub async fn open(state: &AppState, request: ModalRequest) {
    let projects = match &request.channel_id {
        Some(channel) => crate::runs::recent(state.store.as_ref(), &request.team_id, channel).await,
        None => Vec::new(),
    };
    // On the heap: the form's lookups and calls are large, and the task that opens it
    // is handed off and kept until Slack answers.
    Box::pin(modals::open_for_command(state, &request, projects, |o| {
        modal::view(&prefill(o), &o.metadata)
    }))
    .await;
}

fn prefill(o: &Opening) -> Prefill {
    let (text, chosen_tags) = modals::marks::take_tags(&o.text.text, &o.tags);
    let (text, task_type) = modals::marks::take_task_type(&text);
    let (title, when) = deadline::split_phrase(&text, &o.now);
    Prefill {
        title: title.chars().take(MAX_INITIAL_CHARS).collect(),
        assignees: o.text.mentions.clone(),
        deadline: when.unwrap_or_else(|| deadline::default_deadline(&o.now)),
        projects: o.projects.clone(),
        groups: o.groups.clone(),
        summary: o.summary.clone(),
        task_type: task_type.unwrap_or_default(),
        tags: o.tags.clone(),
        chosen_tags,
    }
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
    use crate::modals::Metadata;
    use jiff::Zoned;

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

    #[test]
    fn prefill_takes_title_mentions_and_phrase() {
        let now: Zoned = "2026-11-25T10:00:00-05:00[America/New_York]"
            .parse()
            .unwrap();
        let opening = |text: &str, now: &Zoned| Opening {
            text: crate::slack::command::parse_text(text),
            now: now.clone(),
            metadata: Metadata::default(),
            projects: vec![],
            groups: vec![],
            tags: vec![],
            summary: None,
        };
        let p = prefill(&opening("Review the Q4 report <@U1> friday 5pm", &now));
        assert_eq!(p.title, "Review the Q4 report");
        assert_eq!(p.assignees, vec!["U1"]);
        assert_eq!(
            p.deadline.strftime("%Y-%m-%d %H:%M").to_string(),
            "2026-11-27 17:00"
        );
        let p = prefill(&opening("", &now));
        assert_eq!(
            p.deadline.strftime("%Y-%m-%d %H:%M %Z").to_string(),
            "2026-12-02 17:00 EST"
        );
    }
}
