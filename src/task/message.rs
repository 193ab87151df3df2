//! What the channel and the requester read: the confirmation of a created task, the help
//! text, and failure notices. Every piece of user text is escaped before it goes out.

use jiff::Timestamp;
use slack_morphism::prelude::*;

use crate::deadline;
use crate::slack::ids::UserId;
use crate::slack::{limits, mrkdwn};
use crate::tallyfy::model::{TaskOptions, TaskType};

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
    /// Tallyfy's optional settings, named in one line when any is set.
    pub options: &'a TaskOptions,
    /// The job's key, for the "Mark done" button.
    pub job_key: &'a str,
}

/// Field labels the confirmation names before "and N more".
const FIELDS_NAMED: usize = 3;
/// Characters of a field label the confirmation shows.
const FIELD_LABEL_SHOWN: usize = 40;

/// What is special about a task, in one short line ("An approval · confidential · asks
/// for “Invoice number” and “Region”"); `None` for a plain task.
pub fn special(task_type: TaskType, options: &TaskOptions) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    match task_type {
        TaskType::Task => {}
        TaskType::Approval => parts.push("An approval".into()),
        TaskType::Expiring => parts.push("Expiring".into()),
        TaskType::Email => parts.push("An email task".into()),
        TaskType::ExpiringEmail => parts.push("An expiring email task".into()),
    }
    let flags = [
        (options.top_secret, "confidential"),
        (options.everyone_must_complete, "everyone must complete it"),
        (
            options.can_complete_only_assignees,
            "only assignees can complete it",
        ),
        (options.prevent_guest_comment, "guests can't comment"),
    ];
    parts.extend(
        flags
            .iter()
            .filter(|(set, _)| *set == Some(true))
            .map(|(_, words)| words.to_string()),
    );
    if let Some(max) = options.max_assignable {
        parts.push(format!("at most {max} assignees"));
    }
    if !options.form_fields.is_empty() {
        let mut names: Vec<String> = options
            .form_fields
            .iter()
            .take(FIELDS_NAMED)
            .map(|f| {
                format!(
                    "\u{201c}{}\u{201d}",
                    mrkdwn::escape(&mrkdwn::shorten(&f.label, FIELD_LABEL_SHOWN))
                )
            })
            .collect();
        let more = options.form_fields.len().saturating_sub(FIELDS_NAMED);
        if more > 0 {
            names.push(format!("{more} more"));
        }
        parts.push(format!("asks for {}", join_people(&names)));
        let retyped: Vec<String> = options
            .form_fields
            .iter()
            .filter(|f| f.was.is_some())
            .map(|f| {
                format!(
                    "\u{201c}{}\u{201d}",
                    mrkdwn::escape(&mrkdwn::shorten(&f.label, FIELD_LABEL_SHOWN))
                )
            })
            .collect();
        if !retyped.is_empty() {
            let verb = if retyped.len() == 1 { "is" } else { "are" };
            parts.push(format!(
                "{} {verb} asked as text (Tallyfy has no field of the type first chosen)",
                join_people(&retyped)
            ));
        }
    }
    let first = parts.first_mut()?;
    // The line reads as a sentence: its first word capitalised.
    if let Some(c) = first.get(..1) {
        let upper = c.to_uppercase();
        first.replace_range(..1, &upper);
    }
    Some(parts.join(" \u{b7} "))
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
    let mut kind = String::new();
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
    if let Some(line) = special(created.task_type, created.options) {
        body.push('\n');
        body.push_str(&line);
    }
    // Guests are named above by their Slack mention; their emails stay out of the channel.
    match created.guests.len() {
        0 => {}
        1 => body.push_str("\nOne of them is assigned as a Tallyfy guest."),
        n => body.push_str(&format!("\n{n} of them are assigned as Tallyfy guests.")),
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
    let mut buttons = vec![button.into()];
    let approval = created.task_type == TaskType::Approval;
    buttons.extend(crate::cards::buttons::task_buttons(
        created.job_key,
        false,
        approval,
    ));
    SlackMessageContent::new()
        .with_text(fallback)
        .with_blocks(vec![
            SlackSectionBlock::new()
                .with_text(
                    SlackBlockMarkDownText::new(mrkdwn::clip(&body, limits::SECTION_TEXT)).into(),
                )
                .into(),
            SlackActionsBlock::new(buttons)
                .opt_block_id(crate::cards::buttons::actions_block_id(approval))
                .into(),
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
         • `#tag-name` picks a Tallyfy tag and `!approval` (or `!expiring`, `!email`, `!expiring_email`) the task type.\n\
         • Under *Options* at the end of the form: who must complete it, a start, the most assignees, tags, \
         and fields to ask the assignee for, one per line (`Region: dropdown (EMEA | APAC)`).\n\
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
            options: &TaskOptions::default(),
            job_key: "submission:T:V:h",
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
        assert!(json.contains("\\nAn approval"), "{json}");
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

    #[test]
    fn what_is_special_fits_one_escaped_line() {
        use crate::tallyfy::model::{FieldType, FormField};
        let field = |label: &str| FormField {
            label: label.into(),
            field_type: FieldType::Text,
            required: false,
            options: vec![],
            guidance: None,
            position: None,
            was: None,
        };
        assert_eq!(special(TaskType::Task, &TaskOptions::default()), None);
        let options = TaskOptions {
            top_secret: Some(true),
            everyone_must_complete: Some(true),
            form_fields: vec![
                field("Invoice <number> & co"),
                field("Amount"),
                field("Region"),
                field("Notes"),
                field("More"),
            ],
            ..TaskOptions::default()
        };
        let line = special(TaskType::Approval, &options).unwrap();
        assert_eq!(
            line,
            "An approval \u{b7} confidential \u{b7} everyone must complete it \u{b7} asks for \u{201c}Invoice &lt;number&gt; &amp; co\u{201d}, \u{201c}Amount\u{201d}, \u{201c}Region\u{201d} and 2 more"
        );
        let line = special(TaskType::Task, &options).unwrap();
        assert!(line.starts_with("Confidential"), "{line}");
        assert!(!line.contains('\n'));
    }
}
