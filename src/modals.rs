//! Opening a modal from a slash command, shared by `/task` and `/project`: it must go out
//! within the trigger id's 3 s, so the requester's timezone is waited for only briefly, and
//! the modal is corrected once it is known.

use std::time::Duration;

use jiff::{Timestamp, Zoned};
use serde::{Deserialize, Serialize};
use slack_morphism::prelude::SlackView;

use crate::deadline;
use crate::project::{self, ProjectRef};
use crate::slack::command::{parse_text, CommandText, SlashCommand};
use crate::state::AppState;

/// How long opening a modal waits for the requester's timezone. Slack's trigger id lives
/// three seconds; past this wait the modal opens with UTC and is corrected once it is known.
const PROFILE_WAIT: Duration = Duration::from_millis(1200);

/// Where a modal came from, carried through Slack in `private_metadata`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub response_url: Option<String>,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// The requester's timezone, for reading date phrases typed into the modal.
    #[serde(rename = "z", default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
}

impl Metadata {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("plain strings serialise")
    }

    /// Lenient: a missing or foreign value gives empty metadata, never an error.
    pub fn decode(raw: &str) -> Self {
        serde_json::from_str(raw).unwrap_or_default()
    }
}

/// What a modal is built from.
pub struct Opening {
    pub text: CommandText,
    /// Now, in the requester's timezone (UTC until it is known).
    pub now: Zoned,
    pub metadata: Metadata,
    /// The channel's recent projects, newest first.
    pub projects: Vec<ProjectRef>,
}

/// Opens the modal `build` makes for `cmd`, telling the user through the command's
/// `response_url` if Slack refuses it.
pub async fn open_for_command(
    state: &AppState,
    cmd: &SlashCommand,
    build: impl Fn(&Opening) -> SlackView,
) {
    let person = state.directory.person(&cmd.team_id, &cmd.user_id);
    tokio::pin!(person);
    let profile = tokio::time::timeout(PROFILE_WAIT, &mut person);
    let projects = project::recent(state, &cmd.team_id, &cmd.channel_id);
    let (profile, projects) = tokio::join!(profile, projects);
    let (tz, pending) = match profile {
        Ok(Ok(p)) => (p.tz, false),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not read the requester's timezone; using UTC");
            (None, false)
        }
        Err(_) => (None, true),
    };
    let now = Timestamp::now();
    let metadata = Metadata {
        channel_id: Some(cmd.channel_id.clone()),
        response_url: Some(cmd.response_url.clone()),
        thread_ts: None,
        tz: tz.clone(),
    };
    let mut opening = Opening {
        text: parse_text(&cmd.text),
        now: now.to_zoned(deadline::timezone(tz.as_deref())),
        metadata,
        projects,
    };
    let first = build(&opening);
    let opened = match state.slack.open_view(&cmd.trigger_id, first.clone()).await {
        Ok(opened) => opened,
        Err(e) => {
            let reply = serde_json::json!({
                "response_type": "ephemeral",
                "text": format!("I couldn't open the form (Slack said `{}`). Please run `{}` again.", e.code(), cmd.command),
            });
            if let Err(e) = state.slack.respond(&cmd.response_url, &reply).await {
                tracing::error!(error = %e, "could not tell the user the form failed to open");
            }
            return;
        }
    };
    // The timezone came late: rebuild with it, so defaults fall at 17:00 the user's time.
    if pending {
        if let Ok(Ok(p)) = tokio::time::timeout(Duration::from_secs(10), person).await {
            opening.now = now.to_zoned(deadline::timezone(p.tz.as_deref()));
            opening.metadata.tz = p.tz;
            let corrected = build(&opening);
            if corrected != first {
                let _ = state.slack.update_view(&opened, corrected).await;
            }
        }
    }
}
