//! The "Options" part both forms end with, all of it optional: Tallyfy's flags as
//! checkboxes, a start, the most assignees, the organization's tags, and the fields the
//! assignee is asked to fill in (one per line). Read back into [`TaskOptions`]; a mistake
//! is answered on its own block, and a field line's mistake names the line.

use std::collections::BTreeMap;

use jiff::Timestamp;
use slack_morphism::prelude::*;

use crate::slack::interaction::ViewState;
use crate::tallyfy::model::{Choice, FieldType, FormField, Tag, TagId, TaskOptions};

pub const FLAGS: &str = "opt_flags";
pub const START: &str = "opt_start";
pub const MAX_ASSIGNEES: &str = "opt_max_assignees";
pub const TAGS: &str = "opt_tags";
pub const FIELDS: &str = "opt_fields";

const EVERYONE: &str = "everyone_must_complete";
const ONLY_ASSIGNEES: &str = "can_complete_only_assignees";
const CONFIDENTIAL: &str = "top_secret";
const NO_GUEST_COMMENTS: &str = "prevent_guest_comment";
const SOFT_START: &str = "is_soft_start_date";

/// The flags, in the order the form shows them, with their plain-word labels.
const FLAG_LABELS: [(&str, &str); 5] = [
    (EVERYONE, "Everyone assigned must complete it"),
    (ONLY_ASSIGNEES, "Only the assignees can complete it"),
    (
        CONFIDENTIAL,
        "Confidential: only the people on it can see it",
    ),
    (NO_GUEST_COMMENTS, "Guests can't comment"),
    (SOFT_START, "The start date is flexible"),
];

/// Fields one task may ask for; Slack's text box holds 3,000 characters anyway.
pub const MAX_FIELDS: usize = 30;
/// Characters in a field's label.
const MAX_LABEL_CHARS: usize = 200;
/// The most assignees a task can be limited to.
const MAX_LIMIT: u32 = 1000;
/// How many field-line problems one inline error names.
const MAX_PROBLEMS_SHOWN: usize = 3;

fn input(block_id: &str, label: &str, element: SlackInputBlockElement) -> SlackInputBlock {
    SlackInputBlock::new(label.into(), element)
        .with_block_id(block_id.into())
        .with_optional(true)
}

/// The blocks of the Options part: `tags` on offer (the block is left out when there are
/// none), `chosen` ticked already.
pub fn blocks(tags: &[Tag], chosen: &[TagId]) -> Vec<SlackBlock> {
    let flags: Vec<SlackBlockChoiceItem<SlackBlockText>> = FLAG_LABELS
        .iter()
        .map(|(value, label)| {
            SlackBlockChoiceItem::new(
                SlackBlockText::from(SlackBlockPlainText::from(*label)),
                value.to_string(),
            )
        })
        .collect();
    let flags = SlackBlockCheckboxesElement::new(flags).with_action_id("value".into());
    let start = SlackBlockDateTimePickerElement::new().with_action_id("value".into());
    let limit = SlackBlockPlainTextInputElement::new()
        .with_action_id("value".into())
        .with_max_length(4)
        .with_placeholder("No limit".into());
    let fields = SlackBlockPlainTextInputElement::new()
        .with_action_id("value".into())
        .with_multiline(true)
        .with_max_length(3000)
        .with_placeholder(
            "Invoice number: text, required\nReceipt: file\nRegion: dropdown (EMEA | APAC | Americas)"
                .into(),
        );
    let mut blocks: Vec<SlackBlock> = vec![
        SlackHeaderBlock::new("Options (all optional)".into()).into(),
        input(FLAGS, "Settings", flags.into()).into(),
        input(START, "Start", start.into())
            .with_hint("When the work can begin; without one, it begins now.".into())
            .into(),
        input(
            MAX_ASSIGNEES,
            "Most people it can be assigned to",
            limit.into(),
        )
        .into(),
    ];
    if !tags.is_empty() {
        blocks.push(tags_block(tags, chosen));
    }
    blocks.push(
        input(FIELDS, "Ask the assignee for", fields.into())
            .with_hint(
                format!("One field per line: a name, a colon, then a type ({}), \", required\" if it must be filled in, choices in brackets for radio (two or more), dropdown and multiselect, and \"-- help text\" if you like.", FieldType::NAMES)
                    .as_str()
                    .into(),
            )
            .into(),
    );
    blocks
}

/// A multi-select of the organization's tags (Slack shows at most 100 options).
fn tags_block(tags: &[Tag], chosen: &[TagId]) -> SlackBlock {
    let item = |t: &Tag| {
        SlackBlockChoiceItem::new(
            t.title.chars().take(75).collect::<String>().as_str().into(),
            t.id.0.clone(),
        )
    };
    let offered: Vec<&Tag> = tags.iter().take(100).collect();
    let options: Vec<_> = offered.iter().map(|t| item(t)).collect();
    let mut element = SlackBlockMultiStaticSelectElement::new()
        .with_action_id("value".into())
        .with_placeholder("Tallyfy tags".into())
        .with_options(options);
    let initial: Vec<_> = offered
        .iter()
        .filter(|t| chosen.contains(&t.id))
        .map(|t| item(t))
        .collect();
    if !initial.is_empty() {
        element = element.with_initial_options(initial);
    }
    input(TAGS, "Tags", element.into()).into()
}

/// Reads the Options part. `deadline` is the task's, when it could be read: the start
/// must come before it. Mistakes are recorded in `errors`, keyed by block.
pub fn read(
    state: &ViewState,
    deadline: Option<Timestamp>,
    errors: &mut BTreeMap<String, String>,
) -> TaskOptions {
    let ticked: Vec<String> = state
        .selected_options(FLAGS)
        .into_iter()
        .map(|(value, _)| value)
        .collect();
    let flag = |name: &str| ticked.iter().any(|v| v == name).then_some(true);
    let start = state
        .date_time(START)
        .and_then(|s| Timestamp::from_second(s).ok());
    if let (Some(start), Some(deadline)) = (start, deadline) {
        if start >= deadline {
            errors.insert(
                START.into(),
                "The start must come before the deadline.".into(),
            );
        }
    }
    let max_assignable = match state.text(MAX_ASSIGNEES).map(|t| t.trim().to_string()) {
        None => None,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Some(n),
            _ => {
                errors.insert(
                    MAX_ASSIGNEES.into(),
                    format!("Enter a whole number of people from 1 to {MAX_LIMIT}, or leave it empty for no limit."),
                );
                None
            }
        },
    };
    let tags = state
        .selected_options(TAGS)
        .into_iter()
        .map(|(id, _)| TagId(id))
        .collect();
    let form_fields = match state.text(FIELDS) {
        None => Vec::new(),
        Some(text) => fields(&text).unwrap_or_else(|problem| {
            errors.insert(FIELDS.into(), problem);
            Vec::new()
        }),
    };
    TaskOptions {
        everyone_must_complete: flag(EVERYONE),
        can_complete_only_assignees: flag(ONLY_ASSIGNEES),
        is_soft_start_date: flag(SOFT_START),
        started_at: start.map(crate::deadline::tallyfy_format),
        prevent_guest_comment: flag(NO_GUEST_COMMENTS),
        top_secret: flag(CONFIDENTIAL),
        max_assignable,
        tags,
        form_fields,
    }
}

/// Tallyfy refuses a task assigned to more people (members and guests together) than its
/// `max_assignable` (tallyfy/documentation, tracking-and-tasks/tasks/task-assignment-guide):
/// says so on the form when `people` is over it. `what` names the task, for a project's
/// line.
pub fn check_most(
    max: Option<u32>,
    people: usize,
    what: Option<&str>,
    errors: &mut BTreeMap<String, String>,
) {
    let Some(max) = max.filter(|m| *m > 0) else {
        return;
    };
    if people <= max as usize || errors.contains_key(MAX_ASSIGNEES) {
        return;
    }
    let subject = match what {
        Some(title) => format!(
            "\u{201c}{}\u{201d} is",
            crate::slack::mrkdwn::shorten(title, 60)
        ),
        None => "This task is".into(),
    };
    errors.insert(
        MAX_ASSIGNEES.into(),
        format!("{subject} for {people} people, but at most {max} can be assigned. Raise the limit or assign fewer people."),
    );
}

/// The fields "Ask the assignee for" lists, one per non-empty line, positioned 1, 2, …;
/// or what is wrong, naming the lines.
pub fn fields(text: &str) -> Result<Vec<FormField>, String> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    if lines.len() > MAX_FIELDS {
        return Err(format!(
            "Ask for at most {MAX_FIELDS} fields; this lists {}.",
            lines.len()
        ));
    }
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for (n, line) in lines {
        match field(line, found.len() as u32 + 1) {
            Ok(f)
                if found
                    .iter()
                    .any(|g: &FormField| g.label.eq_ignore_ascii_case(&f.label)) =>
            {
                problems.push(format!(
                    "Line {n} asks for \u{201c}{}\u{201d} a second time.",
                    f.label
                ))
            }
            Ok(f) => found.push(f),
            Err(problem) => problems.push(format!("Line {n}: {problem}")),
        }
    }
    if problems.is_empty() {
        return Ok(found);
    }
    let more = problems.len().saturating_sub(MAX_PROBLEMS_SHOWN);
    let mut shown = problems
        .into_iter()
        .take(MAX_PROBLEMS_SHOWN)
        .collect::<Vec<_>>()
        .join(" ");
    if more > 0 {
        shown.push_str(&format!(" ({more} more.)"));
    }
    Err(shown)
}

/// One line: `Label: type[, required][ (choice | choice)][ -- help text]`.
fn field(line: &str, position: u32) -> Result<FormField, String> {
    let (line, guidance) = match line.split_once(" -- ") {
        Some((field, help)) => (field.trim(), Some(help.trim().to_string())),
        None => (line, None),
    };
    let (label, spec) = line.split_once(':').unwrap_or((line, ""));
    let label = label.trim();
    if label.is_empty() {
        return Err("give the field a name before the colon.".into());
    }
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(format!(
            "a field's name can be at most {MAX_LABEL_CHARS} characters."
        ));
    }
    let (spec, choices) = match (spec.find('('), spec.rfind(')')) {
        (Some(open), Some(close)) if open < close => {
            let choices: Vec<String> = spec[open + 1..close]
                .split('|')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
            (
                format!("{} {}", &spec[..open], &spec[close + 1..]),
                Some(choices),
            )
        }
        (None, None) => (spec.to_string(), None),
        _ => return Err("close the brackets around the choices.".into()),
    };
    let mut words = spec
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .peekable();
    let field_type = match words.peek() {
        Some(w) if matches!(w.to_lowercase().as_str(), "required" | "optional") => FieldType::Text,
        Some(w) => {
            let name: String = w
                .to_lowercase()
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect();
            let parsed = FieldType::parse(&name).ok_or_else(|| {
                format!(
                    "\u{201c}{w}\u{201d} is not a field type; use {}.",
                    FieldType::NAMES
                )
            })?;
            words.next();
            parsed
        }
        None => FieldType::Text,
    };
    let mut required = false;
    for word in words {
        match word.to_lowercase().as_str() {
            "required" => required = true,
            "optional" => required = false,
            _ => {
                return Err(format!(
                    "\u{201c}{word}\u{201d} is not understood; after the type, write \u{201c}required\u{201d} or the choices in brackets."
                ))
            }
        }
    }
    let options = match (field_type.has_choices(), choices) {
        (true, Some(choices)) if field_type == FieldType::Radio && choices.len() < 2 => {
            return Err("a radio field needs at least two choices, such as (Yes | No).".into())
        }
        (true, Some(choices)) if !choices.is_empty() => Choice::numbered(choices),
        (true, _) => {
            return Err(format!(
                "a {} field needs its choices in brackets, such as ({} | {}).",
                field_type.as_str(),
                "EMEA",
                "APAC"
            ))
        }
        (false, Some(_)) => {
            return Err("only radio, dropdown and multiselect fields take choices.".into())
        }
        (false, None) => Vec::new(),
    };
    Ok(FormField {
        label: label.to_string(),
        field_type,
        required,
        options,
        guidance: guidance.filter(|g| !g.is_empty()),
        position: Some(position),
        was: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_becomes_a_field_in_order() {
        let found = fields(
            "Invoice number: text, required -- as printed\n\nReceipt: file\nRegion: dropdown (EMEA | APAC | Americas)\nNotes",
        )
        .unwrap();
        assert_eq!(found.len(), 4);
        assert_eq!(found[0].label, "Invoice number");
        assert!(found[0].required);
        assert_eq!(found[0].guidance.as_deref(), Some("as printed"));
        assert_eq!(found[1].field_type, FieldType::File);
        assert!(!found[1].required);
        assert_eq!(found[2].field_type, FieldType::Dropdown);
        assert_eq!(
            found[2].options,
            Choice::numbered(["EMEA", "APAC", "Americas"])
        );
        assert_eq!(found[2].position, Some(3));
        assert_eq!(found[3].field_type, FieldType::Text);
    }

    #[test]
    fn mistakes_name_their_lines() {
        let problem = fields("Amount: money\nRegion: dropdown\nSize: file (S | M)").unwrap_err();
        assert!(
            problem.contains("Line 1: \u{201c}money\u{201d} is not a field type"),
            "{problem}"
        );
        assert!(
            problem.contains("Line 2: a dropdown field needs its choices"),
            "{problem}"
        );
        assert!(problem.contains("Line 3: only radio"), "{problem}");
        let problem = fields("Amount: file\namount: text").unwrap_err();
        assert!(problem.contains("Line 2 asks for"), "{problem}");
        let problem = fields("Agree: radio (Yes)\nWhen: datetime").unwrap_err();
        assert!(
            problem.contains("Line 1: a radio field needs at least two"),
            "{problem}"
        );
        assert!(
            problem.contains("Line 2: \u{201c}datetime\u{201d} is not"),
            "{problem}"
        );
        let problem = fields(": text").unwrap_err();
        assert!(
            problem.contains("Line 1: give the field a name"),
            "{problem}"
        );
    }

    #[test]
    fn types_may_be_written_loosely() {
        let found = fields("Notes: Text Area\nPick: multi-select (a | b), required").unwrap();
        assert_eq!(found[0].field_type, FieldType::Textarea);
        assert_eq!(found[1].field_type, FieldType::Multiselect);
        assert!(found[1].required);
    }

    #[test]
    fn the_part_stays_within_slacks_limits() {
        let tags: Vec<Tag> = (0..150)
            .map(|i| Tag {
                id: TagId(format!("{i:032}")),
                title: format!("{i} {}", "long tag name ".repeat(10)),
            })
            .collect();
        let chosen = vec![tags[3].id.clone(), tags[120].id.clone()];
        let json = serde_json::to_value(blocks(&tags, &chosen)).unwrap();
        let blocks = json.as_array().unwrap();
        assert!(blocks.len() <= 7);
        let tags_block = blocks.iter().find(|b| b["block_id"] == TAGS).unwrap();
        let options = tags_block["element"]["options"].as_array().unwrap();
        assert_eq!(options.len(), 100);
        assert!(options
            .iter()
            .all(|o| o["text"]["text"].as_str().unwrap().chars().count() < 76));
        // Only a tag on offer can be chosen already.
        let initial = tags_block["element"]["initial_options"].as_array().unwrap();
        assert_eq!(initial.len(), 1);
        assert_eq!(initial[0]["value"], tags[3].id.0);
        for block in blocks {
            for key in ["hint", "label"] {
                if let Some(text) = block[key]["text"].as_str() {
                    assert!(text.chars().count() <= 2000);
                }
            }
            if let Some(text) = block["element"]["placeholder"]["text"].as_str() {
                assert!(text.chars().count() <= 150, "{text}");
            }
        }
        let none = serde_json::to_value(super::blocks(&[], &[])).unwrap();
        assert!(none
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["block_id"] != TAGS));
    }
}
