//! `/project`: an ad-hoc Tallyfy process with no template. The run is created as an empty
//! process (`separate_task_for_each_assignee: true`) and each task line is appended to it
//! with `run_id` and its `position`. The channel remembers its recent projects
//! ([`crate::channel_projects`]), so later `/task`s can be added to them, and `/project
//! list` shows them.
//!
//! - [`modal`] builds and reads the form, with [`lines`] for its task lines; [`submit`]
//!   checks a submission within Slack's 3 s, resolves its people into a [`ProjectPlan`]
//!   (`plan`), and queues the job; [`job`] creates the run, then each line, exactly once,
//!   then hands its card to [`crate::cards`] (or replaces it, on a Retry of what is
//!   missing); [`message`] is what people read.
//! - `/project from <template>` launches one of the organization's templates instead:
//!   [`template`] finds it and opens its kick-off form (or a picker), and answers the
//!   New project form's "Start from a template" menu; [`template_form`] builds and reads
//!   that form; [`template_job`] launches it once and posts its card.

pub mod job;
pub mod lines;
pub mod message;
pub mod modal;
mod plan;
pub mod submit;
pub mod template;
pub mod template_form;
pub mod template_job;

use std::time::Duration;

use serde_json::json;

use crate::deadline;
use crate::modals::{self, ModalRequest};
use crate::slack::command::SlashCommand;
use crate::state::AppState;
use modal::Prefill;

/// How long `/project list` waits for progress from Tallyfy.
const PROGRESS_BUDGET: Duration = Duration::from_millis(1500);

pub fn is_list(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case("list")
}

/// Opens the "New project" modal for a `/project` command, prefilled from its text.
pub async fn open(state: &AppState, request: ModalRequest) {
    // On the heap: the form's lookups and calls are large, and the task that opens it
    // is handed off and kept until Slack answers.
    Box::pin(modals::open_for_command(state, &request, Vec::new(), |o| {
        let (name, when) = deadline::split_phrase(&o.text.text, &o.now);
        let prefill = Prefill {
            name,
            assignees: o.text.mentions.clone(),
            deadline: when.unwrap_or_else(|| deadline::default_deadline(&o.now)),
            groups: o.groups.clone(),
            tags: o.tags.clone(),
        };
        modal::view(&prefill, &o.metadata)
    }))
    .await;
}

/// `/project list`: the channel's recent projects with links, and progress from Tallyfy
/// where it answers quickly.
pub async fn list(state: &AppState, cmd: &SlashCommand) -> serde_json::Value {
    let projects =
        crate::channel_projects::recent(state.store.as_ref(), &cmd.team_id, &cmd.channel_id).await;
    if projects.is_empty() {
        return json!({"response_type": "ephemeral", "text": "No projects have been started in this channel yet. Start one with `/project Name`."});
    }
    let lookups = projects.iter().map(|p| {
        crate::channel_projects::progress(
            state.store.as_ref(),
            &state.tallyfy,
            &p.run_id,
            PROGRESS_BUDGET,
        )
    });
    let runs = futures::future::join_all(lookups).await;
    let entries: Vec<message::ListEntry> = projects
        .iter()
        .zip(runs)
        .map(|(p, run)| message::ListEntry {
            name: p.name.clone(),
            link: state.links.run(&p.run_id),
            progress: run.as_ref().and_then(|r| r.done),
            status: run.and_then(|r| r.status),
        })
        .collect();
    json!({"response_type": "ephemeral", "text": message::list(&entries)})
}
