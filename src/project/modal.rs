//! The "New project" modal: building it, and reading a submission into a [`ProjectForm`]
//! with errors keyed by block (a task line's error names the line).

use std::collections::BTreeMap;

use jiff::{Timestamp, Zoned};
use slack_morphism::prelude::*;

use super::lines::{self, Line};
use crate::modals::{self, Metadata};
use crate::slack::ids::UserId;
use crate::slack::interaction::ViewState;
use crate::tallyfy::model::{Group, Tag, TaskOptions};

pub const CALLBACK_ID: &str = "project_create";
pub const NAME: &str = "name";
pub const SUMMARY: &str = "summary";
pub const ASSIGNEES: &str = "assignees";
pub const DEADLINE: &str = "deadline";
pub const TASKS: &str = "tasks";
const VALUE: &str = "value";

pub const MAX_NAME_CHARS: usize = crate::tallyfy::limits::MAX_TITLE_CHARS;
/// Task lines in one project; more would not fit one confirmation message.
pub const MAX_LINES: usize = 50;
/// How many line problems one inline error names.
const MAX_PROBLEMS_SHOWN: usize = 3;

/// What the modal opens with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefill {
    pub name: String,
    pub assignees: Vec<UserId>,
    pub deadline: Zoned,
    /// Tallyfy groups that can own the project.
    pub groups: Vec<Group>,
    /// The organization's Tallyfy tags, offered under Options.
    pub tags: Vec<Tag>,
}

/// A submission that passed the checks that need no lookups.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProjectForm {
    pub name: String,
    pub summary: Option<String>,
    pub assignees: Vec<UserId>,
    pub deadline: Timestamp,
    pub lines: Vec<Line>,
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub guests_ok: bool,
    /// Options for every task line; left out of the stored job when none is set.
    #[serde(default, skip_serializing_if = "TaskOptions::is_empty")]
    pub options: TaskOptions,
}

pub fn view(prefill: &Prefill, metadata: &Metadata) -> SlackView {
    let mut name = SlackBlockPlainTextInputElement::new().with_action_id(VALUE.into());
    if prefill.name.is_empty() {
        name = name.with_focus_on_load(true);
    } else {
        name = name.with_initial_value(prefill.name.chars().take(3000).collect());
    }
    let mut people = SlackBlockMultiUsersSelectElement::new()
        .with_action_id(VALUE.into())
        .with_placeholder("Who owns it?".into());
    if !prefill.assignees.is_empty() {
        people =
            people.with_initial_users(prefill.assignees.iter().map(|u| u.to_string()).collect());
    }
    let deadline = SlackBlockDateTimePickerElement::new()
        .with_action_id(VALUE.into())
        .with_initial_date_time(SlackDateTime(prefill.deadline.timestamp()));
    let summary = SlackBlockPlainTextInputElement::new()
        .with_action_id(VALUE.into())
        .with_multiline(true)
        .with_max_length(3000);
    let tasks = SlackBlockPlainTextInputElement::new()
        .with_action_id(VALUE.into())
        .with_multiline(true)
        .with_max_length(3000)
        .with_placeholder("Draft contract @alice friday\nReview contract @bob\nSign".into());
    let tasks_block = SlackInputBlock::new("Tasks, one per line".into(), tasks.into())
        .with_block_id(TASKS.into())
        .with_optional(true)
        .with_hint(
            "A line may name its own @people, #tags and deadline; otherwise it takes the project's. Options below apply to every line."
                .into(),
        );
    let mut blocks = vec![
        super::template_form::start_block(),
        input(NAME, "Name", name.into(), false),
        input(SUMMARY, "Summary", summary.into(), true),
        // With groups on offer, a group alone may own the project.
        modals::assignees_block(ASSIGNEES, people, !prefill.groups.is_empty()),
    ];
    if !prefill.groups.is_empty() {
        blocks.push(modals::groups_block(&prefill.groups));
    }
    blocks.extend([
        modals::guests_block(),
        input(DEADLINE, "Deadline", deadline.into(), false),
        tasks_block.into(),
    ]);
    blocks.extend(modals::options::blocks(&prefill.tags, &[]));
    SlackView::Modal(
        SlackModalView::new("New project".into(), blocks)
            .with_submit("Create project".into())
            .with_close("Cancel".into())
            .with_callback_id(CALLBACK_ID.into())
            .with_private_metadata(metadata.encode()),
    )
}

fn input(
    block_id: &str,
    label: &str,
    element: SlackInputBlockElement,
    optional: bool,
) -> SlackBlock {
    SlackInputBlock::new(label.into(), element)
        .with_block_id(block_id.into())
        .with_optional(optional)
        .into()
}

/// Reads and checks a submission; `now` is in the requester's timezone (for date phrases),
/// and `tags` are the organization's, for the lines' `#tags`.
pub fn read(
    state: &ViewState,
    now: &Zoned,
    tags: &[Tag],
) -> Result<ProjectForm, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let name = modals::read_required_text(
        state,
        NAME,
        "Give the project a name.",
        "Names",
        "",
        &mut errors,
    );
    let (assignees, groups) = modals::read_owners(
        state,
        ASSIGNEES,
        "Choose at least one person (or group) to own the project.",
        &mut errors,
    );
    let deadline = modals::read_deadline(state, DEADLINE, now.timestamp(), &mut errors);
    let summary = state
        .text(SUMMARY)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());

    let options = modals::options::read(state, deadline, &mut errors);
    let lines = lines::parse(&state.text(TASKS).unwrap_or_default(), now, tags);
    let mut problems = Vec::new();
    if lines.len() > MAX_LINES {
        problems.push(format!(
            "A project can hold {MAX_LINES} tasks here; this has {}.",
            lines.len()
        ));
    }
    for line in &lines {
        if line.title.chars().count() > MAX_NAME_CHARS {
            problems.push(line_problem(
                line,
                &format!("longer than {MAX_NAME_CHARS} characters"),
            ));
        }
        if line
            .deadline
            .as_ref()
            .is_some_and(|d| d.timestamp() <= now.timestamp())
        {
            problems.push(line_problem(line, "its date is in the past"));
        } else if let (Some(due), Some(start)) = (&line.deadline, start(&options)) {
            if due.timestamp() <= start {
                problems.push(line_problem(line, "its date is not after the start"));
            }
        }
    }
    if !problems.is_empty() {
        errors.insert(TASKS.into(), join_problems(&problems));
    }
    // The project's own first task is split, one person each; each line is one task.
    for line in &lines {
        let people = match line.mentions.len() + line.handles.len() {
            0 => assignees.len(),
            n => n,
        };
        modals::options::check_most(
            options.max_assignable,
            people,
            Some(&line.title),
            &mut errors,
        );
    }

    match deadline {
        Some(deadline) if errors.is_empty() => Ok(ProjectForm {
            name,
            summary,
            assignees,
            deadline,
            lines,
            groups,
            guests_ok: modals::read_guests_ok(state),
            options,
        }),
        _ => Err(errors),
    }
}

/// The start chosen under Options, as a time.
fn start(options: &TaskOptions) -> Option<Timestamp> {
    let text = options.started_at.as_deref()?;
    jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", text)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// `Line 2 ("Draft contract @zed"): nobody here goes by @zed`
pub fn line_problem(line: &Line, problem: &str) -> String {
    let source: String = line.source.chars().take(60).collect();
    format!("Line {} (\u{201c}{source}\u{201d}): {problem}", line.number)
}

/// Several problems as one inline message, naming the first few.
pub fn join_problems(problems: &[String]) -> String {
    let mut text = problems
        .iter()
        .take(MAX_PROBLEMS_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(". ");
    if problems.len() > MAX_PROBLEMS_SHOWN {
        text.push_str(&format!(
            ". And {} more.",
            problems.len() - MAX_PROBLEMS_SHOWN
        ));
    } else {
        text.push('.');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Zoned {
        "2026-11-25T10:00:00-05:00[America/New_York]"
            .parse()
            .unwrap()
    }

    fn state(tasks: &str, deadline: i64) -> ViewState {
        serde_json::from_value(json!({"values": {
            "name": {"value": {"type": "plain_text_input", "value": "Onboard Globex"}},
            "summary": {"value": {"type": "plain_text_input", "value": null}},
            "assignees": {"value": {"type": "multi_users_select", "selected_users": ["U1"]}},
            "deadline": {"value": {"type": "datetimepicker", "selected_date_time": deadline}},
            "tasks": {"value": {"type": "plain_text_input", "value": tasks}},
        }}))
        .unwrap()
    }

    #[test]
    fn a_valid_project_reads_with_its_lines() {
        let deadline = now().timestamp().as_second() + 86400 * 10;
        let form = read(
            &state("Kickoff call @alice tomorrow\nSend welcome pack", deadline),
            &now(),
            &[],
        )
        .unwrap();
        assert_eq!(form.name, "Onboard Globex");
        assert_eq!(form.lines.len(), 2);
        assert_eq!(form.lines[0].handles, vec!["alice"]);
    }

    #[test]
    fn a_line_dated_in_the_past_is_named() {
        let deadline = now().timestamp().as_second() + 86400 * 10;
        let errors = read(&state("Fine\nLate one 2026-01-05", deadline), &now(), &[]).unwrap_err();
        assert_eq!(
            errors[TASKS],
            "Line 2 (\u{201c}Late one 2026-01-05\u{201d}): its date is in the past."
        );
    }

    #[test]
    fn too_many_lines_are_refused() {
        let deadline = now().timestamp().as_second() + 86400 * 10;
        let many: Vec<String> = (1..=51).map(|i| format!("Task {i}")).collect();
        let errors = read(&state(&many.join("\n"), deadline), &now(), &[]).unwrap_err();
        assert!(errors[TASKS].contains("this has 51"), "{}", errors[TASKS]);
    }
}
