//! `/task`: the "New task" modal, its submission, the job that creates the task after the
//! modal closes, its messages, and `/task whois` / `/task forget`. Each entry point is
//! transport-free: the HTTP routes and the Socket Mode connection call them alike.
//!
//! - [`modal`] builds and reads the form; [`submit`] checks a submission within Slack's
//!   3 s and queues the job, a [`TaskDraft`]; [`job`] creates the task once, then hands
//!   its card to [`crate::cards`]; [`message`] is what people read; [`whois`] answers the
//!   directory commands.

mod draft;
pub mod job;
pub mod message;
pub mod modal;
pub mod submit;
pub mod whois;

use crate::deadline;
use crate::modals::{self, ModalRequest, Opening};
use crate::state::AppState;
use modal::Prefill;

/// Slack's limit on a text input's initial value.
const MAX_INITIAL_CHARS: usize = 3000;

/// Opens the "New task" modal for a `/task` command or a shortcut, prefilled from its text.
pub async fn open(state: &AppState, request: ModalRequest) {
    let projects = match &request.channel_id {
        Some(channel) => {
            crate::channel_projects::recent(state.store.as_ref(), &request.team_id, channel).await
        }
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
    let (text, chosen_tags) = modals::quick_text::take_tags(&o.text.text, &o.tags);
    let (text, task_type) = modals::quick_text::take_task_type(&text);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modals::Metadata;
    use jiff::Zoned;

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
