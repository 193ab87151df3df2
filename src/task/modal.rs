//! The "New task" modal: building it (prefilled from the command) and reading a submission
//! back into a validated [`TaskDraft`], with errors keyed by block for inline display.

use std::collections::BTreeMap;

use jiff::{Timestamp, Zoned};
use slack_morphism::prelude::*;

use super::draft::TaskDraft;
use crate::channel_projects::ProjectRef;
use crate::modals::{self, Metadata};
use crate::slack::ids::UserId;
use crate::slack::interaction::ViewState;
use crate::tallyfy::model::{Group, Tag, TagId, TaskType};

pub const CALLBACK_ID: &str = "task_create";
pub const TITLE: &str = "title";
pub const ASSIGNEES: &str = "assignees";
pub const DEADLINE: &str = "deadline";
pub const SUMMARY: &str = "summary";
pub const TASK_TYPE: &str = "task_type";
pub const PROJECT: &str = "project";
/// The "Add to project" choice for a task of its own.
const STANDALONE: &str = "standalone";
/// Every input block has a single element with this action id.
const VALUE: &str = "value";

const MAX_SUMMARY_CHARS: usize = 3000;

/// What the modal opens with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefill {
    pub title: String,
    pub assignees: Vec<UserId>,
    pub deadline: Zoned,
    /// The channel's recent projects, offered under "Add to project".
    pub projects: Vec<ProjectRef>,
    /// Tallyfy groups that can be assigned.
    pub groups: Vec<Group>,
    pub summary: Option<String>,
    /// The task type chosen already (a quick-text `!approval`, say).
    pub task_type: TaskType,
    /// The organization's Tallyfy tags, offered under Options.
    pub tags: Vec<Tag>,
    /// Tags chosen already (quick-text `#tags`).
    pub chosen_tags: Vec<TagId>,
}

pub fn view(prefill: &Prefill, metadata: &Metadata) -> SlackView {
    let mut title_input = SlackBlockPlainTextInputElement::new().with_action_id(VALUE.into());
    if !prefill.title.is_empty() {
        title_input = title_input.with_initial_value(prefill.title.clone());
    } else {
        title_input = title_input.with_focus_on_load(true);
    }
    let mut people = SlackBlockMultiUsersSelectElement::new()
        .with_action_id(VALUE.into())
        .with_placeholder("Who should do it?".into());
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
        .with_max_length(MAX_SUMMARY_CHARS as u64)
        .with_placeholder("Details, links, what done looks like".into());
    let summary = match &prefill.summary {
        Some(text) => summary.with_initial_value(text.chars().take(MAX_SUMMARY_CHARS).collect()),
        None => summary,
    };
    let options: Vec<SlackBlockChoiceItem<SlackBlockPlainTextOnly>> = TaskType::ALL
        .iter()
        .map(|t| SlackBlockChoiceItem::new(t.label().into(), t.as_str().to_string()))
        .collect();
    let chosen = TaskType::ALL
        .iter()
        .position(|t| *t == prefill.task_type)
        .unwrap_or(0);
    let task_type = SlackBlockStaticSelectElement::new()
        .with_action_id(VALUE.into())
        .with_initial_option(options[chosen].clone())
        .with_options(options);

    let mut blocks: Vec<SlackBlock> = vec![
        input(TITLE, "Title", title_input.into(), false),
        // With groups on offer, a task may go to a group alone.
        modals::assignees_block(ASSIGNEES, people, !prefill.groups.is_empty()),
    ];
    if !prefill.groups.is_empty() {
        blocks.push(modals::groups_block(&prefill.groups));
    }
    blocks.extend([
        modals::guests_block(),
        input(DEADLINE, "Deadline", deadline.into(), false),
        input(SUMMARY, "Summary", summary.into(), true),
        input(TASK_TYPE, "Task type", task_type.into(), false),
    ]);
    if !prefill.projects.is_empty() {
        blocks.push(input(
            PROJECT,
            "Add to project",
            project_select(&prefill.projects).into(),
            false,
        ));
    }
    blocks.extend(modals::options::blocks(&prefill.tags, &prefill.chosen_tags));
    SlackView::Modal(
        SlackModalView::new("New task".into(), blocks)
            .with_submit("Create task".into())
            .with_close("Cancel".into())
            .with_callback_id(CALLBACK_ID.into())
            .with_private_metadata(metadata.encode()),
    )
}

fn project_select(projects: &[ProjectRef]) -> SlackBlockStaticSelectElement {
    let standalone = SlackBlockChoiceItem::new("Standalone task".into(), STANDALONE.to_string());
    let mut options = vec![standalone.clone()];
    // Slack allows 100 options, each under 76 characters.
    options.extend(projects.iter().take(99).map(|p| {
        let label: String = p.name.chars().take(75).collect();
        SlackBlockChoiceItem::new(label.as_str().into(), p.run_id.0.clone())
    }));
    SlackBlockStaticSelectElement::new()
        .with_action_id(VALUE.into())
        .with_initial_option(standalone)
        .with_options(options)
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

/// Reads and checks a submission. Errors are keyed by block id, worded for the user.
pub fn read(state: &ViewState, now: Timestamp) -> Result<TaskDraft, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();

    let title = modals::read_required_text(
        state,
        TITLE,
        "Give the task a title.",
        "Titles",
        " Move the detail into the summary.",
        &mut errors,
    );
    let (assignees, groups) = modals::read_owners(
        state,
        ASSIGNEES,
        "Choose at least one person (or group) to do this.",
        &mut errors,
    );

    let deadline = modals::read_deadline(state, DEADLINE, now, &mut errors);

    let summary = state
        .text(SUMMARY)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let project = state
        .selected_option(PROJECT)
        .filter(|(value, _)| value != STANDALONE && !value.is_empty())
        .map(|(value, name)| ProjectRef {
            run_id: crate::tallyfy::model::RunId(value),
            name,
        });
    let task_type = state
        .selected(TASK_TYPE)
        .and_then(|v| TaskType::parse(&v))
        .unwrap_or_default();
    let options = modals::options::read(state, deadline, &mut errors);
    modals::options::check_most(options.max_assignable, assignees.len(), None, &mut errors);

    match deadline {
        Some(deadline) if errors.is_empty() => Ok(TaskDraft {
            title,
            assignees,
            deadline,
            summary,
            task_type,
            project,
            groups,
            guests_ok: modals::read_guests_ok(state),
            options,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(values: serde_json::Value) -> ViewState {
        serde_json::from_value(json!({ "values": values })).unwrap()
    }

    fn now() -> Timestamp {
        "2026-11-25T15:00:00Z".parse().unwrap()
    }

    fn valid() -> serde_json::Value {
        json!({
            "title": {"value": {"type": "plain_text_input", "value": "  Review the Q4 report "}},
            "assignees": {"value": {"type": "multi_users_select", "selected_users": ["U1", "U2"]}},
            "deadline": {"value": {"type": "datetimepicker", "selected_date_time": 1796162400}},
            "summary": {"value": {"type": "plain_text_input", "value": null}},
            "task_type": {"value": {"type": "static_select", "selected_option": {"value": "approval"}}}
        })
    }

    #[test]
    fn a_complete_submission_reads_into_a_draft() {
        let draft = read(&state(valid()), now()).unwrap();
        assert_eq!(draft.title, "Review the Q4 report");
        assert_eq!(draft.assignees, vec!["U1", "U2"]);
        assert_eq!(draft.deadline.as_second(), 1796162400);
        assert_eq!(draft.summary, None);
        assert_eq!(draft.task_type, TaskType::Approval);
    }

    #[test]
    fn each_mistake_is_reported_on_its_own_field() {
        let mut v = valid();
        v["title"]["value"]["value"] = json!("   ");
        v["assignees"]["value"]["selected_users"] = json!([]);
        v["deadline"]["value"]["selected_date_time"] = json!(now().as_second() - 60);
        let errors = read(&state(v), now()).unwrap_err();
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            vec![ASSIGNEES, DEADLINE, TITLE]
        );
        assert!(errors[DEADLINE].contains("in the past"));
    }

    #[test]
    fn titles_over_600_characters_are_refused_with_the_count() {
        let mut v = valid();
        v["title"]["value"]["value"] = json!("é".repeat(601));
        let errors = read(&state(v.clone()), now()).unwrap_err();
        assert!(
            errors[TITLE].contains("this one has 601"),
            "{}",
            errors[TITLE]
        );
        v["title"]["value"]["value"] = json!("é".repeat(600));
        assert!(read(&state(v), now()).is_ok());
    }

    #[test]
    fn the_view_carries_prefill_and_metadata() {
        let zoned: Zoned = "2026-12-02T17:00:00-05:00[America/New_York]"
            .parse()
            .unwrap();
        let prefill = Prefill {
            title: "Review <b> & co".into(),
            assignees: vec!["U9".into()],
            deadline: zoned,
            projects: vec![],
            groups: vec![],
            summary: None,
            task_type: TaskType::Task,
            tags: vec![],
            chosen_tags: vec![],
        };
        let metadata = Metadata {
            channel_id: Some("C1".into()),
            response_url: Some("https://r".into()),
            thread_ts: None,
            tz: Some("America/New_York".into()),
        };
        let json = serde_json::to_value(view(&prefill, &metadata)).unwrap();
        assert_eq!(json["type"], "modal");
        assert_eq!(json["callback_id"], CALLBACK_ID);
        assert_eq!(
            Metadata::decode(json["private_metadata"].as_str().unwrap()),
            metadata
        );
        let blocks = json["blocks"].as_array().unwrap();
        let block = |id: &str| blocks.iter().find(|b| b["block_id"] == id).unwrap().clone();
        assert_eq!(block(TITLE)["element"]["initial_value"], "Review <b> & co");
        assert_eq!(block(ASSIGNEES)["element"]["initial_users"], json!(["U9"]));
        assert_eq!(block(DEADLINE)["element"]["type"], "datetimepicker");
        assert_eq!(block(DEADLINE)["element"]["initial_date_time"], 1796248800);
        assert_eq!(block(SUMMARY)["optional"], true);
        assert_eq!(
            block(TASK_TYPE)["element"]["options"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
        assert!(json["title"]["text"].as_str().unwrap().len() <= 24);
        assert!(json["private_metadata"].as_str().unwrap().len() <= 3000);
        assert!(
            blocks.iter().all(|b| b["block_id"] != PROJECT),
            "no project choice without projects"
        );
    }

    #[test]
    fn recent_projects_are_offered_after_a_standalone_choice() {
        let prefill = Prefill {
            title: String::new(),
            assignees: vec![],
            deadline: "2026-12-02T17:00:00-05:00[America/New_York]"
                .parse()
                .unwrap(),
            projects: vec![ProjectRef {
                run_id: crate::tallyfy::model::RunId("r1".into()),
                name: "x".repeat(90),
            }],
            groups: vec![],
            summary: None,
            task_type: TaskType::Task,
            tags: vec![],
            chosen_tags: vec![],
        };
        let json = serde_json::to_value(view(&prefill, &Metadata::default())).unwrap();
        let block = json["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["block_id"] == PROJECT)
            .unwrap()
            .clone();
        let options = block["element"]["options"].as_array().unwrap();
        assert_eq!(options[0]["value"], STANDALONE);
        assert_eq!(block["element"]["initial_option"]["value"], STANDALONE);
        assert_eq!(options[1]["value"], "r1");
        assert_eq!(
            options[1]["text"]["text"].as_str().unwrap().chars().count(),
            75
        );
    }
}
