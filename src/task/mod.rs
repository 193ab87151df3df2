//! `/task`: open the "New task" modal from a slash command, and turn its submission into
//! work for [`crate::jobs`]. Both entry points are transport-free: the HTTP routes call
//! them today, and a Socket Mode listener can call them the same way.

pub mod message;
pub mod modal;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{Timestamp, Zoned};
use serde::{Deserialize, Serialize};

use crate::deadline;
use crate::directory::{Assignee, Resolved};
use crate::jobs::{Origin, TaskJob};
use crate::modals::{self, Metadata};
use crate::project::ProjectRef;
use crate::slack::command::SlashCommand;
use crate::slack::interaction::ViewSubmission;
use crate::state::AppState;
use crate::tallyfy::model::{Owners, TaskType};
use modal::Prefill;

/// How long a submission may spend resolving assignees before the modal must close.
const RESOLVE_BUDGET: Duration = Duration::from_millis(1800);
/// How long a submission is remembered, so a repeat of it creates nothing.
const SUBMISSION_TTL: Duration = Duration::from_secs(24 * 3600);
/// Slack's limit on a text input's initial value.
const MAX_INITIAL_CHARS: usize = 3000;

/// A validated "New task" submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDraft {
    pub title: String,
    /// Slack user ids.
    pub assignees: Vec<String>,
    pub deadline: Timestamp,
    pub summary: Option<String>,
    pub task_type: TaskType,
    /// The project (run) to add the task to, or none for a standalone task.
    #[serde(default)]
    pub project: Option<ProjectRef>,
}

/// What the modal answers a submission with.
#[derive(Debug, PartialEq, Eq)]
pub enum SubmitAnswer {
    /// Close the modal: the work has been handed off (or was already).
    Close,
    /// Keep it open and show these messages under these blocks.
    Errors(BTreeMap<String, String>),
}

/// Is this command text a request for help?
pub fn is_help(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "help" | "-h" | "--help" | "?"
    )
}

/// Opens the "New task" modal for a `/task` command, prefilled from its text.
pub async fn open(state: &AppState, cmd: SlashCommand) {
    modals::open_for_command(state, &cmd, |o| {
        modal::view(
            &prefill(&o.text.text, &o.text.mentions, o.now.clone(), &o.projects),
            &o.metadata,
        )
    })
    .await;
}

fn prefill(text: &str, mentions: &[String], now: Zoned, projects: &[ProjectRef]) -> Prefill {
    let (title, when) = deadline::split_phrase(text, &now);
    Prefill {
        title: title.chars().take(MAX_INITIAL_CHARS).collect(),
        assignees: mentions.to_vec(),
        deadline: when.unwrap_or_else(|| deadline::default_deadline(&now)),
        projects: projects.to_vec(),
    }
}

/// Checks a "New task" submission and hands it off. Always answers within Slack's 3 s: the
/// assignee lookup is bounded, and work that needs longer continues after the modal closes.
pub async fn submit(state: &AppState, sub: ViewSubmission) -> SubmitAnswer {
    let draft = match modal::read(&sub.view.state, Timestamp::now()) {
        Ok(draft) => draft,
        Err(errors) => return SubmitAnswer::Errors(errors),
    };
    let team = sub.team_id();

    let owners = match tokio::time::timeout(
        RESOLVE_BUDGET,
        state.directory.resolve_all(&team, &draft.assignees),
    )
    .await
    {
        Ok(Ok(resolved)) => match owners(&resolved) {
            Ok(owners) => Some(owners),
            Err(problem) => {
                return SubmitAnswer::Errors(BTreeMap::from([(
                    modal::ASSIGNEES.to_string(),
                    problem,
                )]))
            }
        },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "assignee lookup failed; it is retried after the modal closes");
            None
        }
        Err(_) => {
            tracing::info!("assignee lookup is slow; it continues after the modal closes");
            None
        }
    };

    let key = format!(
        "submission:{team}:{}:{}",
        sub.view.id,
        sub.view.hash.as_deref().unwrap_or("")
    );
    match state.store.set_if_absent(&key, "1", SUBMISSION_TTL).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(view_id = %sub.view.id, "repeated submission ignored");
            return SubmitAnswer::Close;
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not record the submission; continuing without a duplicate check")
        }
    }

    let metadata = Metadata::decode(&sub.view.private_metadata);
    let fallback_url = sub
        .response_urls
        .iter()
        .chain(&sub.view.response_urls)
        .next()
        .map(|r| r.response_url.clone());
    let origin = Origin {
        team_id: team,
        user_id: sub.user.id.clone(),
        channel_id: metadata.channel_id,
        response_url: metadata.response_url.or(fallback_url),
        thread_ts: metadata.thread_ts,
    };
    state.jobs.spawn(TaskJob {
        key,
        origin,
        draft,
        owners,
    });
    SubmitAnswer::Close
}

/// Turns resolved people into Tallyfy owners, or says in plain words who cannot be assigned.
pub fn owners(resolved: &[Resolved]) -> Result<Owners, String> {
    let mut owners = Owners::default();
    let mut problems = Vec::new();
    for r in resolved {
        let who = r
            .name
            .as_deref()
            .map(|n| format!("@{n}"))
            .unwrap_or_else(|| "One person".into());
        match &r.assignee {
            Assignee::Member { id, .. } => owners.users.push(*id),
            Assignee::NoAccount { email: Some(email) } => {
                problems.push(format!("{who} ({email}) has no Tallyfy account"))
            }
            Assignee::NoAccount { email: None } => {
                problems.push(format!("{who} has no email visible to this app"))
            }
            Assignee::NotAssignable { reason } => {
                problems.push(format!("{who} can't be assigned: {reason}"))
            }
        }
    }
    if problems.is_empty() {
        Ok(owners)
    } else {
        Err(format!(
            "{}. Remove them, or ask a Tallyfy admin to invite them.",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tallyfy::model::MemberId;

    fn resolved(name: &str, assignee: Assignee) -> Resolved {
        Resolved {
            slack_user: format!("U{name}"),
            name: Some(name.into()),
            assignee,
        }
    }

    #[test]
    fn members_become_integer_owner_ids() {
        let people = [
            resolved(
                "alice",
                Assignee::Member {
                    id: MemberId(1001),
                    email: "a@x.io".into(),
                },
            ),
            resolved(
                "bob",
                Assignee::Member {
                    id: MemberId(1002),
                    email: "b@x.io".into(),
                },
            ),
        ];
        assert_eq!(
            owners(&people).unwrap().users,
            vec![MemberId(1001), MemberId(1002)]
        );
    }

    #[test]
    fn people_without_accounts_are_named_with_their_email() {
        let people = [
            resolved(
                "alice",
                Assignee::Member {
                    id: MemberId(1001),
                    email: "a@x.io".into(),
                },
            ),
            resolved(
                "carol",
                Assignee::NoAccount {
                    email: Some("carol@x.io".into()),
                },
            ),
            resolved(
                "robot",
                Assignee::NotAssignable {
                    reason: "it is a bot".into(),
                },
            ),
        ];
        let problem = owners(&people).unwrap_err();
        assert!(
            problem.contains("@carol (carol@x.io) has no Tallyfy account"),
            "{problem}"
        );
        assert!(
            problem.contains("@robot can't be assigned: it is a bot"),
            "{problem}"
        );
    }

    #[test]
    fn prefill_takes_title_mentions_and_phrase() {
        let now: Zoned = "2026-11-25T10:00:00-05:00[America/New_York]"
            .parse()
            .unwrap();
        let p = prefill(
            "Review the Q4 report friday 5pm",
            &["U1".into()],
            now.clone(),
            &[],
        );
        assert_eq!(p.title, "Review the Q4 report");
        assert_eq!(p.assignees, vec!["U1"]);
        assert_eq!(
            p.deadline.strftime("%Y-%m-%d %H:%M").to_string(),
            "2026-11-27 17:00"
        );
        let p = prefill("", &[], now, &[]);
        assert_eq!(
            p.deadline.strftime("%Y-%m-%d %H:%M %Z").to_string(),
            "2026-12-02 17:00 EST"
        );
    }

    #[test]
    fn help_words() {
        assert!(is_help(" Help "));
        assert!(!is_help("help the team"));
    }
}
