//! `/task`: open the "New task" modal from a slash command, and turn its submission into
//! work for [`crate::jobs`]. Both entry points are transport-free: the HTTP routes call
//! them today, and a Socket Mode listener can call them the same way.

pub mod message;
pub mod modal;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::deadline;
use crate::directory::{Assignee, Resolved};
use crate::jobs::{Job, TaskJob};
use crate::modals::{self, Metadata, ModalRequest, Opening};
use crate::project::ProjectRef;
use crate::slack::command::SlashCommand;
use crate::slack::interaction::ViewSubmission;
use crate::state::AppState;
use crate::tallyfy::model::{Group, Owners, TaskType};
use modal::Prefill;

/// How long a submission may spend resolving assignees before the modal must close.
const RESOLVE_BUDGET: Duration = Duration::from_millis(1800);
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
    /// Tallyfy groups assigned as a whole.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Assign people without a Tallyfy account as guests, by email.
    #[serde(default)]
    pub guests_ok: bool,
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

/// Is this `/task whois @person` or `/task forget @person`? (`/task forget the milk` is a task.)
pub fn is_directory_command(text: &str) -> bool {
    let first = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    (first == "whois" || first == "forget") && text.contains("<@")
}

/// How long `/task whois` may look someone up before answering.
const WHOIS_BUDGET: Duration = Duration::from_millis(2200);

/// `/task whois @person` and `/task forget @person`: what the app resolves for someone,
/// and dropping it. `None` when the text is neither.
pub async fn directory_command(state: &AppState, cmd: &SlashCommand) -> Option<String> {
    let text = cmd.text.trim();
    let (verb, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let verb = verb.to_ascii_lowercase();
    if verb != "whois" && verb != "forget" {
        return None;
    }
    let mentions = crate::slack::command::parse_text(rest).mentions;
    let Some(user) = mentions.first() else {
        return Some(format!("Name someone: `{} {verb} @person`.", cmd.command));
    };
    let who = crate::slack::mrkdwn::mention(user);
    if verb == "forget" {
        state.directory.forget(&cmd.team_id, user).await;
        return Some(format!("I forgot what I knew about {who}; their next task looks them up again in Slack and Tallyfy."));
    }
    let answer =
        match tokio::time::timeout(WHOIS_BUDGET, state.directory.whois(&cmd.team_id, user)).await {
            Err(_) => {
                return Some(format!(
                    "Slack or Tallyfy is slow to answer about {who}; try again in a moment."
                ))
            }
            Ok(Err(e)) => return Some(format!("I couldn't look up {who}: {e}.")),
            Ok(Ok(answer)) => answer,
        };
    let (resolved, source) = answer;
    let from = match source {
        crate::directory::Source::Cache => "from the cache",
        crate::directory::Source::Lookup => "just looked up",
    };
    let what = match &resolved.assignee {
        Assignee::Member { id, email } => {
            format!(
                "Tallyfy member {id} ({})",
                crate::slack::mrkdwn::escape(email)
            )
        }
        Assignee::NoAccount { email: Some(email) } => {
            format!(
                "no Tallyfy account for {}",
                crate::slack::mrkdwn::escape(email)
            )
        }
        Assignee::NoAccount { email: None } => {
            "no email visible to this app (is the users:read.email scope granted?)".into()
        }
        Assignee::NotAssignable { reason } => {
            format!("not assignable: {}", crate::slack::mrkdwn::escape(reason))
        }
    };
    Some(format!(
        "{who} is {what}, {from}. `{} forget @person` makes the next task look them up afresh.",
        cmd.command
    ))
}

/// Opens the "New task" modal for a `/task` command or a shortcut, prefilled from its text.
pub async fn open(state: &AppState, request: ModalRequest) {
    modals::open_for_command(state, &request, |o| modal::view(&prefill(o), &o.metadata)).await;
}

fn prefill(o: &Opening) -> Prefill {
    let (title, when) = deadline::split_phrase(&o.text.text, &o.now);
    Prefill {
        title: title.chars().take(MAX_INITIAL_CHARS).collect(),
        assignees: o.text.mentions.clone(),
        deadline: when.unwrap_or_else(|| deadline::default_deadline(&o.now)),
        projects: o.projects.clone(),
        groups: o.groups.clone(),
        summary: o.summary.clone(),
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
        Ok(Ok(resolved)) => match draft_owners(&draft, &resolved) {
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

    let (first, key) = modals::claim_submission(state, &team, &sub.view).await;
    if !first {
        return SubmitAnswer::Close;
    }
    let origin = modals::origin(&sub, Metadata::decode(&sub.view.private_metadata));
    state
        .jobs
        .submit(Job::Task(TaskJob {
            key,
            origin,
            draft,
            owners,
        }))
        .await;
    SubmitAnswer::Close
}

/// Turns resolved people into Tallyfy owners, or says in plain words who cannot be
/// assigned. With `guests_ok`, people without an account are assigned as guests by email.
pub fn owners(resolved: &[Resolved], guests_ok: bool) -> Result<Owners, String> {
    let mut owners = Owners::default();
    let mut problems = Vec::new();
    let mut no_account = false;
    for r in resolved {
        let who = r
            .name
            .as_deref()
            .map(|n| format!("@{n}"))
            .unwrap_or_else(|| "One person".into());
        match &r.assignee {
            Assignee::Member { id, .. } => owners.users.push(*id),
            Assignee::NoAccount { email: Some(email) } if guests_ok => {
                owners.guests.push(email.clone())
            }
            Assignee::NoAccount { email: Some(email) } => {
                no_account = true;
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
        return Ok(owners);
    }
    let advice = if no_account {
        "Remove them, tick \u{201c}Assign people without a Tallyfy account as guests\u{201d}, or ask a Tallyfy admin to invite them."
    } else {
        "Remove them, or ask a Tallyfy admin to invite them."
    };
    Err(format!("{}. {advice}", problems.join("; ")))
}

/// The owners of a drafted task: its people, and its groups.
pub fn draft_owners(draft: &TaskDraft, resolved: &[Resolved]) -> Result<Owners, String> {
    let mut owners = owners(resolved, draft.guests_ok)?;
    owners.groups = draft.groups.iter().map(|g| g.id.clone()).collect();
    Ok(owners)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tallyfy::model::MemberId;
    use jiff::Zoned;

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
            owners(&people, false).unwrap().users,
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
        let problem = owners(&people, false).unwrap_err();
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
    fn with_guests_allowed_people_without_accounts_go_by_email() {
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
        ];
        let problem = owners(&people, false).unwrap_err();
        assert!(problem.contains("as guests"), "{problem}");
        let o = owners(&people, true).unwrap();
        assert_eq!(
            (o.users, o.guests),
            (vec![MemberId(1001)], vec!["carol@x.io".to_string()])
        );
        let no_email = [resolved("dan", Assignee::NoAccount { email: None })];
        assert!(owners(&no_email, true).is_err(), "a guest needs an email");
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

    #[test]
    fn directory_commands_need_a_mention() {
        assert!(is_directory_command("whois <@U1|alice>"));
        assert!(is_directory_command("FORGET <@U1>"));
        assert!(!is_directory_command("forget the milk"));
        assert!(!is_directory_command("review whois data <@U1>"));
    }

    #[test]
    fn help_words() {
        assert!(is_help(" Help "));
        assert!(!is_help("help the team"));
    }
}
