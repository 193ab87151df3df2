//! What the channel reads about a project: the confirmation (with any tasks that could not
//! be added, and a button to retry them), the `/project list` answer, and the help text.

use jiff::Timestamp;
use slack_morphism::prelude::*;

use super::plan::PlannedTask;
use crate::deadline;
use crate::slack::ids::UserId;
use crate::slack::{limits, mrkdwn};

/// The action id of the "Retry missing tasks" button; its value is the job's key.
pub const RETRY_ACTION: &str = "project_retry";
/// A project as it stands after a creation attempt.
pub struct Outcome<'a> {
    pub name: &'a str,
    pub requester: &'a str,
    pub assignees: &'a [UserId],
    /// Names of Tallyfy groups that own the project.
    pub groups: &'a [String],
    pub deadline: Timestamp,
    pub link: &'a str,
    /// Each planned task and whether it now exists (`Err` holds why not).
    pub tasks: Vec<(&'a PlannedTask, Result<(), String>)>,
    /// The job key, for the retry button.
    pub job_key: &'a str,
    /// Whether trying the missing tasks again can help (not when Tallyfy refused the run).
    pub retry: bool,
}

fn people(ids: &[UserId]) -> String {
    people_and_groups(ids, &[])
}

fn people_and_groups(ids: &[UserId], groups: &[String]) -> String {
    let mut mentions: Vec<String> = ids.iter().map(|u| mrkdwn::mention(u)).collect();
    mentions.extend(
        groups
            .iter()
            .map(|g| format!("the _{}_ group", mrkdwn::escape(g))),
    );
    match mentions.as_slice() {
        [] => "nobody".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn due(ts: Timestamp) -> String {
    mrkdwn::date(ts.as_second(), &deadline::utc_label(ts))
}

pub fn confirmation(o: &Outcome<'_>) -> SlackMessageContent {
    let missing: Vec<&(&PlannedTask, Result<(), String>)> =
        o.tasks.iter().filter(|(_, r)| r.is_err()).collect();
    let head = format!(
        ":file_folder: *{}* (new project)\n{} set it up for {}, due {}",
        mrkdwn::link(o.link, &mrkdwn::shorten(o.name, limits::SHOWN_TITLE)),
        mrkdwn::mention(o.requester),
        people_and_groups(o.assignees, o.groups),
        due(o.deadline)
    );
    let lines: Vec<String> = o
        .tasks
        .iter()
        .map(|(task, result)| {
            let mark = if result.is_ok() { "•" } else { ":x:" };
            format!(
                "{mark} {} - {} by {}",
                mrkdwn::escape(&mrkdwn::shorten(&task.title, limits::SHOWN_TITLE)),
                people(&task.assignees),
                due(task.deadline)
            )
        })
        .collect();
    // The head, the lines (split across sections), the warning and the buttons: within
    // the blocks a message may hold. Lines that do not fit are summed up.
    let mut all = vec![head];
    all.extend(lines.iter().cloned());
    let mut texts = mrkdwn::pack(&all, limits::SECTION_TEXT);
    // Room for the warning and the buttons; lines that do not fit are summed up.
    let room = limits::MESSAGE_BLOCKS - 3;
    if texts.len() > room {
        texts.truncate(room - 1);
        // The head's two lines are not tasks.
        let listed = texts.iter().map(|t| t.lines().count()).sum::<usize>() - 2;
        texts.push(format!(
            "…and {} more tasks, in Tallyfy",
            lines.len() - listed
        ));
    }
    let mut blocks: Vec<SlackBlock> = texts
        .into_iter()
        .map(|text| {
            SlackSectionBlock::new()
                .with_text(SlackBlockMarkDownText::new(text).into())
                .into()
        })
        .collect();
    let open = SlackBlockButtonElement::new("Open in Tallyfy".into())
        .with_action_id("open_in_tallyfy".into())
        .with_url(
            o.link
                .parse()
                .expect("links are built from valid base URLs"),
        );
    let mut buttons: Vec<SlackActionBlockElement> = vec![open.into()];
    if !missing.is_empty() {
        let reasons: Vec<String> = missing
            .iter()
            .filter_map(|(_, r)| r.as_ref().err().cloned())
            .collect();
        let first_reason = reasons.first().cloned().unwrap_or_default();
        let warning = format!(
            ":warning: {} of {} tasks could not be added ({}).{}",
            missing.len(),
            o.tasks.len(),
            mrkdwn::escape(&mrkdwn::shorten(&first_reason, 1000)),
            if o.retry {
                " Retry adds only the missing ones."
            } else {
                ""
            }
        );
        blocks.push(
            SlackSectionBlock::new()
                .with_text(SlackBlockMarkDownText::new(warning).into())
                .into(),
        );
    }
    if !missing.is_empty() && o.retry {
        buttons.push(
            SlackBlockButtonElement::new("Retry missing tasks".into())
                .with_action_id(RETRY_ACTION.into())
                .with_value(o.job_key.to_string())
                .with_style(SlackBlockButtonStyle::Primary)
                .into(),
        );
    }
    let made = o
        .tasks
        .iter()
        .filter(|(_, made)| made.is_ok())
        .map(|(task, _)| (task.position, task.title.as_str()));
    blocks.extend(crate::cards::buttons::line_menus(made, o.job_key));
    blocks.push(SlackActionsBlock::new(buttons).into());
    let fallback = format!(
        "New project: {} ({} tasks{}) - {}",
        mrkdwn::escape(&mrkdwn::shorten(o.name, limits::SHOWN_TITLE)),
        o.tasks.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(", {} missing", missing.len())
        },
        o.link
    );
    SlackMessageContent::new()
        .with_text(fallback)
        .with_blocks(blocks)
}

/// One remembered project in `/project list`.
pub struct ListEntry {
    pub name: String,
    pub link: String,
    /// (completed, total) tasks, when Tallyfy answered in time.
    pub progress: Option<(usize, usize)>,
    pub status: Option<String>,
}

pub fn list(entries: &[ListEntry]) -> String {
    let mut text = String::from("*Recent projects in this channel*");
    for e in entries {
        text.push_str(&format!("\n• {}", mrkdwn::link(&e.link, &e.name)));
        match (e.progress, e.status.as_deref()) {
            (Some((done, total)), _) => text.push_str(&format!(" - {done} of {total} tasks done")),
            (None, Some(status)) => text.push_str(&format!(" - {}", mrkdwn::escape(status))),
            (None, None) => {}
        }
    }
    text
}

pub fn help(command: &str) -> String {
    format!(
        "*{command}* starts a project in Tallyfy: a process with its own list of tasks, no template needed.\n\
         • `{command} Onboard Globex @alice dec 15` opens the New project form with the name, owners and deadline filled in.\n\
         • In the form, list the tasks one per line. A line can name its own people and deadline: \
         `Draft contract @bob friday`. Lines without them take the project's.\n\
         • The project's link and its tasks are posted here; if some tasks could not be added, \
         a *Retry missing tasks* button adds just those.\n\
         • `{command} from Employee onboarding` launches that Tallyfy template: its kick-off form opens, \
         and the run's link is posted here. The form's *Start from a template* menu finds templates too.\n\
         • `{command} list` shows this channel's recent projects and how far along they are.\n\
         • `/task` can add a task to one of this channel's projects: pick it under *Add to project*.\n\
         • `{command} help` shows this."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tallyfy::model::Owners;

    fn task(title: &str) -> PlannedTask {
        PlannedTask {
            position: 2,
            title: title.into(),
            assignees: vec!["U1".into()],
            owners: Owners::default(),
            deadline: "2026-12-01T22:00:00Z".parse().unwrap(),
            tags: vec![],
        }
    }

    #[test]
    fn missing_tasks_are_marked_and_offer_a_retry() {
        let (a, b) = (task("Draft <b>"), task("Sign"));
        let content = confirmation(&Outcome {
            name: "Onboard & co",
            requester: "UREQ",
            assignees: &["U1".into()],
            groups: &["Ops".into()],
            deadline: "2026-12-15T22:00:00Z".parse().unwrap(),
            link: "https://t/org/processes/r1",
            tasks: vec![(&a, Ok(())), (&b, Err("Tallyfy had a problem".into()))],
            job_key: "submission:T:V:h",
            retry: true,
        });
        let json = serde_json::to_value(&content).unwrap();
        let body = json["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            body.contains("<https://t/org/processes/r1|Onboard &amp; co>"),
            "{body}"
        );
        assert!(body.contains("• Draft &lt;b&gt; - <@U1> by"), "{body}");
        assert!(body.contains(":x: Sign"), "{body}");
        assert!(json["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("1 of 2 tasks could not be added"));
        // The menus list the lines that were made, each naming its position and the job.
        let menus = &json["blocks"][2];
        assert_eq!(menus["block_id"], "lines");
        let ids: Vec<&str> = menus["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["line_done", "line_reopen", "line_comment"]);
        let options = menus["elements"][0]["options"].as_array().unwrap();
        assert_eq!(options.len(), 1, "only lines that were made");
        assert_eq!(options[0]["text"]["text"], "Draft <b>");
        let value = options[0]["value"].as_str().unwrap();
        let pressed = crate::cards::buttons::pressed("line_done", value).unwrap();
        assert_eq!(
            (pressed.job.as_str(), pressed.line),
            ("submission:T:V:h", Some(2))
        );
        let retry = &json["blocks"][3]["elements"][1];
        assert_eq!(retry["action_id"], RETRY_ACTION);
        assert_eq!(retry["value"], "submission:T:V:h");
    }

    #[test]
    fn a_complete_project_has_no_retry_button() {
        let a = task("Only");
        let content = confirmation(&Outcome {
            name: "P",
            requester: "UREQ",
            assignees: &[],
            groups: &[],
            deadline: "2026-12-15T22:00:00Z".parse().unwrap(),
            link: "https://t/org/processes/r1",
            tasks: vec![(&a, Ok(()))],
            job_key: "k",
            retry: true,
        });
        let json = serde_json::to_value(&content).unwrap();
        assert_eq!(json["blocks"].as_array().unwrap().len(), 3);
        assert_eq!(json["blocks"][1]["block_id"], "lines");
        assert_eq!(json["blocks"][2]["elements"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn the_list_shows_progress_when_known() {
        let text = list(&[
            ListEntry {
                name: "A".into(),
                link: "https://t/a".into(),
                progress: Some((2, 5)),
                status: None,
            },
            ListEntry {
                name: "B <x>".into(),
                link: "https://t/b".into(),
                progress: None,
                status: None,
            },
        ]);
        assert!(
            text.contains("<https://t/a|A> - 2 of 5 tasks done"),
            "{text}"
        );
        assert!(
            text.contains("<https://t/b|B &lt;x&gt;>\n")
                || text.ends_with("<https://t/b|B &lt;x&gt;>"),
            "{text}"
        );
    }

    #[test]
    fn the_largest_project_fits_one_message() {
        let long = "&<".repeat(300);
        let tasks: Vec<PlannedTask> = (0..crate::project::modal::MAX_LINES)
            .map(|_| task(&long))
            .collect();
        let name = "&".repeat(600);
        let people: Vec<UserId> = (0..50).map(|i| UserId::new(format!("U{i:08}"))).collect();
        let content = confirmation(&Outcome {
            name: &name,
            requester: "UREQ",
            assignees: &people,
            groups: &[],
            deadline: "2026-12-15T22:00:00Z".parse().unwrap(),
            link: "https://t/org/processes/r1",
            tasks: tasks
                .iter()
                .map(|t| (t, Err("Tallyfy had a problem".into())))
                .collect(),
            job_key: "submission:T:V:h",
            retry: true,
        });
        let json = serde_json::to_value(&content).unwrap();
        let blocks = json["blocks"].as_array().unwrap();
        assert!(
            blocks.len() <= limits::MESSAGE_BLOCKS,
            "{} blocks",
            blocks.len()
        );
        for block in blocks {
            let text = block["text"]["text"].as_str().unwrap_or_default();
            assert!(
                text.chars().count() <= limits::SECTION_TEXT,
                "{}",
                text.len()
            );
        }
        let all: String = blocks
            .iter()
            .filter_map(|b| b["text"]["text"].as_str())
            .collect();
        let listed = all.matches(":x:").count();
        assert!(
            listed == tasks.len() || all.contains("more tasks, in Tallyfy"),
            "{listed}"
        );
    }
}
