//! What the channel and the requester read: the confirmation of a created task, the help
//! text, and failure notices. Every piece of user text is escaped before it goes out.

use jiff::Timestamp;
use slack_morphism::prelude::*;

use crate::deadline;
use crate::slack::ids::UserId;
use crate::slack::{limits, mrkdwn};
use crate::tallyfy::model::TaskType;

/// A task that now exists in Tallyfy.
#[derive(Clone, Debug)]
pub struct Created<'a> {
    pub title: &'a str,
    pub requester: &'a str,
    pub assignees: &'a [UserId],
    /// Emails assigned as guests.
    pub guests: &'a [String],
    /// Names of Tallyfy groups assigned.
    pub groups: &'a [String],
    pub deadline: Timestamp,
    pub task_type: TaskType,
    pub link: &'a str,
    /// The project the task was added to.
    pub project: Option<&'a str>,
}

/// The channel message announcing a created task.
pub fn confirmation(created: &Created<'_>) -> SlackMessageContent {
    let mut people: Vec<String> = created
        .assignees
        .iter()
        .map(|u| mrkdwn::mention(u))
        .collect();
    people.extend(
        created
            .groups
            .iter()
            .map(|g| format!("the _{}_ group", mrkdwn::escape(g))),
    );
    let due = mrkdwn::date(
        created.deadline.as_second(),
        &deadline::utc_label(created.deadline),
    );
    let mut kind = match created.task_type {
        TaskType::Task => String::new(),
        other => format!(" ({})", other.label().to_lowercase()),
    };
    if let Some(project) = created.project {
        let project = mrkdwn::shorten(project, limits::SHOWN_TITLE);
        kind.push_str(&format!(" in project _{}_", mrkdwn::escape(&project)));
    }
    let mut body = format!(
        ":white_check_mark: *{}*{kind}\n{} asked {} to do this by {due}",
        mrkdwn::link(
            created.link,
            &mrkdwn::shorten(created.title, limits::SHOWN_TITLE)
        ),
        mrkdwn::mention(created.requester),
        join_people(&people),
    );
    if !created.guests.is_empty() {
        let emails: Vec<String> = created.guests.iter().map(|e| mrkdwn::escape(e)).collect();
        body.push_str(&format!(
            "\nAssigned as Tallyfy guests: {}",
            emails.join(", ")
        ));
    }
    let fallback = format!(
        "New task: {} for {}, due {} - {}",
        mrkdwn::escape(&mrkdwn::shorten(created.title, limits::SHOWN_TITLE)),
        join_people(&people),
        deadline::utc_label(created.deadline),
        created.link
    );
    let button = SlackBlockButtonElement::new("Open in Tallyfy".into())
        .with_action_id("open_in_tallyfy".into())
        .with_url(
            created
                .link
                .parse()
                .expect("links are built from valid base URLs"),
        );
    SlackMessageContent::new()
        .with_text(fallback)
        .with_blocks(vec![
            SlackSectionBlock::new()
                .with_text(
                    SlackBlockMarkDownText::new(mrkdwn::clip(&body, limits::SECTION_TEXT)).into(),
                )
                .into(),
            SlackActionsBlock::new(vec![button.into()]).into(),
        ])
}

/// The words for a task that could not be created.
pub fn not_created(title: &str, reason: &str) -> String {
    format!(
        ":warning: The task *{}* was not created. {}",
        mrkdwn::escape(&mrkdwn::shorten(title, limits::SHOWN_TITLE)),
        mrkdwn::escape(reason)
    )
}

/// `/task help`.
pub fn help(command: &str) -> String {
    format!(
        "*{command}* turns a request into a tracked Tallyfy task.\n\
         • `{command}` opens the New task form.\n\
         • `{command} Review the Q4 report @alice friday 5pm` opens it filled in: the title, \
         the people you mention as assignees, and the deadline.\n\
         • Deadlines you can type: `today`, `tomorrow 5pm`, `friday`, `next monday`, `in 3 days`, \
         `in 2 hours`, `2026-12-01`, `dec 1 17:00`. Without a deadline it is due in 7 days at 17:00 your time.\n\
         • When the task is created, a message with a link to it is posted here.\n\
         • Assignees need a Tallyfy account with the same email as in Slack; the form tells you who does not have one, \
         and can assign them as Tallyfy guests by email instead.\n\
         • `{command} whois @person` shows which Tallyfy member someone maps to; `{command} forget @yourself` makes the app look you up again.\n\
         • `{command} help` shows this."
    )
}

fn join_people(people: &[String]) -> String {
    match people {
        [] => "nobody".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(title: &str) -> SlackMessageContent {
        confirmation(&Created {
            title,
            requester: "UREQ",
            assignees: &["U1".into(), "U2".into(), "U3".into()],
            guests: &[],
            groups: &[],
            deadline: "2026-12-01T22:00:00Z".parse().unwrap(),
            task_type: TaskType::Approval,
            link: "https://go.tallyfy.com/org1/processes/run1",
            project: None,
        })
    }

    #[test]
    fn confirmation_names_everyone_and_links_the_run() {
        let json = serde_json::to_string(&created("Review the Q4 report")).unwrap();
        assert!(
            json.contains("<https://go.tallyfy.com/org1/processes/run1|Review the Q4 report>"),
            "{json}"
        );
        assert!(
            json.contains("<@UREQ> asked <@U1>, <@U2> and <@U3>"),
            "{json}"
        );
        assert!(
            json.contains("<!date^1796162400^{date_short_pretty} at {time}|2026-12-01 22:00 UTC>"),
            "{json}"
        );
        assert!(json.contains("(approval)"));
        assert!(
            json.contains(r#""url":"https://go.tallyfy.com/org1/processes/run1""#),
            "{json}"
        );
    }

    #[test]
    fn hostile_titles_render_literally() {
        let content = created("<!channel> & <https://x|y>");
        let json = serde_json::to_value(&content).unwrap();
        let text = json["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            text.contains("|&lt;!channel&gt; &amp; &lt;https://x|y&gt;>"),
            "{text}"
        );
        assert!(!text.contains("<!channel>"));
        let fallback = json["text"].as_str().unwrap();
        assert!(
            !fallback.contains("<!channel>") && !fallback.contains("<https://x|y>"),
            "{fallback}"
        );
    }
}
