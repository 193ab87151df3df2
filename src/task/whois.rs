//! `/task whois @person` and `/task forget @person`: what the app resolves for someone,
//! and dropping it. An email is shown only to the person it belongs to, and only one's
//! own mapping can be forgotten.

use std::time::Duration;

use crate::directory::{Assignee, Source};
use crate::slack::command::SlashCommand;
use crate::slack::mrkdwn;
use crate::state::AppState;

/// Is this `/task whois @person` or `/task forget @person`? (`/task forget the milk` is a task.)
pub fn is_whois_or_forget(text: &str) -> bool {
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
pub async fn answer(state: &AppState, cmd: &SlashCommand) -> Option<String> {
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
    let who = mrkdwn::mention(user);
    // Someone's email is theirs to see; what the app knows of anyone else, less so.
    let own = user == &cmd.user_id;
    if verb == "forget" && !own {
        return Some(format!(
            "You can only make me forget what I know about you: `{} forget @yourself`.",
            cmd.command
        ));
    }
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
        Source::Cache => "from the cache",
        Source::Lookup => "just looked up",
    };
    let what = match &resolved.assignee {
        Assignee::Member { id, email, .. } if own => {
            format!("Tallyfy member {id} ({})", mrkdwn::escape(email))
        }
        Assignee::Member { id, .. } => format!("Tallyfy member {id}"),
        Assignee::NoAccount { email: Some(email) } if own => {
            format!("no Tallyfy account for {}", mrkdwn::escape(email))
        }
        Assignee::NoAccount { email: Some(_) } => "no Tallyfy account for their Slack email".into(),
        Assignee::NoAccount { email: None } => {
            "no email visible to this app (is the users:read.email scope granted?)".into()
        }
        Assignee::NotAssignable { reason } => {
            format!("not assignable: {}", mrkdwn::escape(reason))
        }
    };
    if !own {
        return Some(format!("{who} is {what}, {from}."));
    }
    Some(format!(
        "{who} is {what}, {from}. `{} forget @yourself` makes your next task look you up afresh.",
        cmd.command
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_commands_need_a_mention() {
        assert!(is_whois_or_forget("whois <@U1|alice>"));
        assert!(is_whois_or_forget("FORGET <@U1>"));
        assert!(!is_whois_or_forget("forget the milk"));
        assert!(!is_whois_or_forget("review whois data <@U1>"));
    }
}
