//! A template's kick-off form in Slack: each of Tallyfy's field types as the Block Kit
//! element that fits it, required where Tallyfy requires it, and a submission read into
//! the values Tallyfy takes, keyed by each field's id (never its alias), in the shapes
//! Tallyfy documents (code-samples/processes/launch-process: text and textarea a string,
//! date ISO 8601, radio the option's text, dropdown `{id, text, value: null}`,
//! multiselect a list of those with `selected: true`, table one string per column,
//! assignees `{users, guests, groups}`). Also the picker of templates, and the "Start
//! from a template" menu of the New project form.

use std::collections::BTreeMap;

use jiff::Zoned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use slack_morphism::prelude::SlackView;

use crate::modals::Metadata;
use crate::slack::ids::UserId;
use crate::slack::interaction::ViewState;
use crate::tallyfy::templates::{FieldOption, KickoffField, Template, TemplateSummary};

/// The kick-off form's callback id.
pub const CALLBACK_ID: &str = "template_launch";
/// The picker's callback id (several templates matched).
pub const PICKER_ID: &str = "template_pick";
/// The action id of every menu that chooses a template (type-ahead or a list).
pub const PICK_ACTION: &str = "template_pick";
/// The block of the run's name: not the New project form's `name`, whose typed value
/// Slack would keep when that form becomes a template's (it keeps an input's value across
/// `views.update` when its block and action ids stay the same), so the name the form
/// opens with is Tallyfy's own.
pub const NAME: &str = "run_name";
/// Kick-off fields' blocks are `kf.{field id}`.
const FIELD_BLOCK: &str = "kf.";
/// Tallyfy's longest run name (launch-process: `name`, max 550).
pub const MAX_NAME_CHARS: usize = 550;
/// Choices Slack shows as radio buttons or checkboxes at most; more go in a menu.
const MAX_BUTTONS: usize = 10;
/// Options a Slack menu holds.
const MAX_OPTIONS: usize = 100;

/// Where a kick-off form came from, and which template it launches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormMetadata {
    #[serde(flatten)]
    pub base: Metadata,
    #[serde(rename = "p", default)]
    pub template: String,
}

impl FormMetadata {
    pub fn decode(raw: &str) -> Self {
        serde_json::from_str(raw).unwrap_or_default()
    }
}

/// What a kick-off form asks Tallyfy for: the values, and the people the assignee
/// fields name (found in Tallyfy by the job).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers {
    pub name: String,
    pub prerun: Map<String, Value>,
    /// Each assignee field's id and the Slack people picked in it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub people: Vec<(String, Vec<UserId>)>,
}

/// The block of the kick-off field `field_id`.
pub fn block_of(field_id: &str) -> String {
    format!("{FIELD_BLOCK}{field_id}")
}

/// Tallyfy's own name for a launched run: "{template title} - {date}" (launch-process:
/// `name`), dated in the requester's timezone.
pub fn default_name(title: &str, now: &Zoned) -> String {
    let name = format!("{} - {}", title.trim(), now.date());
    name.chars().take(MAX_NAME_CHARS).collect()
}

fn plain(text: &str, max: usize) -> Value {
    json!({"type": "plain_text", "text": shorten(text, max)})
}

fn shorten(text: &str, max: usize) -> String {
    crate::slack::mrkdwn::shorten(text.trim(), max)
}

/// An option's value in Slack: its Tallyfy id, as text.
fn option_value(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn choices(options: &[FieldOption], max: usize) -> Vec<Value> {
    options
        .iter()
        .filter(|o| !o.text.is_empty())
        .take(max)
        .map(|o| json!({"text": plain(&o.text, 75), "value": option_value(&o.id)}))
        .collect()
}

fn view_of(value: Value) -> SlackView {
    serde_json::from_value(value).expect("the form is valid Block Kit")
}

/// The "Start from a template" menu: type-ahead over the organization's templates.
pub fn start_block() -> slack_morphism::prelude::SlackBlock {
    serde_json::from_value(json!({
        "type": "actions", "block_id": "template",
        "elements": [{"type": "external_select", "action_id": PICK_ACTION, "min_query_length": 0,
                      "placeholder": plain("Start from a template", 150)}]
    }))
    .expect("the menu is valid Block Kit")
}

/// The picker shown when several templates match what was typed.
pub fn picker(found: &[TemplateSummary], typed: &str, metadata: &Metadata) -> SlackView {
    let options: Vec<Value> = found
        .iter()
        .take(MAX_OPTIONS)
        .map(|t| json!({"text": plain(&t.title, 75), "value": t.id}))
        .collect();
    let text = format!(
        "{} templates match \u{201c}{}\u{201d}. Choose one to fill in its kick-off form.",
        found.len(),
        crate::slack::mrkdwn::escape(&shorten(typed, 100))
    );
    view_of(json!({
        "type": "modal", "callback_id": PICKER_ID, "title": plain("Launch a template", 24),
        "close": plain("Cancel", 24), "private_metadata": metadata.encode(),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "block_id": "template",
             "elements": [{"type": "static_select", "action_id": PICK_ACTION,
                           "placeholder": plain("Choose a template", 150), "options": options}]}
        ]
    }))
}

/// The kick-off form of `template`, its name defaulting to Tallyfy's format.
pub fn view(template: &Template, metadata: &Metadata, now: &Zoned) -> SlackView {
    let about = format!(
        ":clipboard: *{}*: {}",
        crate::slack::mrkdwn::escape(&shorten(&template.title, 200)),
        if template.prerun.is_empty() {
            "no kick-off form; name the run and launch it."
        } else {
            "fill in its kick-off form to launch it."
        }
    );
    let mut blocks = vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": about}}),
        json!({"type": "input", "block_id": NAME, "label": plain("Name", 100),
               "element": {"type": "plain_text_input", "action_id": "value", "max_length": MAX_NAME_CHARS,
                           "initial_value": default_name(&template.title, now)}}),
    ];
    // Slack holds 100 blocks in a view; two are used above.
    blocks.extend(template.prerun.iter().take(98).map(field_block));
    let metadata = FormMetadata {
        base: metadata.clone(),
        template: template.id.clone(),
    };
    view_of(json!({
        "type": "modal", "callback_id": CALLBACK_ID, "title": plain("Launch a template", 24),
        "submit": plain("Launch", 24), "close": plain("Cancel", 24),
        "private_metadata": serde_json::to_string(&metadata).expect("plain strings"),
        "blocks": blocks,
    }))
}

/// One kick-off field as the Block Kit element that fits its type.
fn field_block(field: &KickoffField) -> Value {
    let block_id = block_of(&field.id);
    let label = plain(field.name(), 200);
    let many = field.options.len() > MAX_BUTTONS;
    let element = match field.field_type.as_str() {
        "textarea" => json!({"type": "plain_text_input", "multiline": true, "max_length": 3000}),
        "email" => json!({"type": "email_text_input"}),
        "date" => json!({"type": "datepicker"}),
        "radio" | "dropdown" if !many && field.field_type == "radio" => {
            json!({"type": "radio_buttons", "options": choices(&field.options, MAX_BUTTONS)})
        }
        "radio" | "dropdown" => {
            json!({"type": "static_select", "options": choices(&field.options, MAX_OPTIONS)})
        }
        "multiselect" if !many => {
            json!({"type": "checkboxes", "options": choices(&field.options, MAX_BUTTONS)})
        }
        "multiselect" => {
            json!({"type": "multi_static_select", "options": choices(&field.options, MAX_OPTIONS)})
        }
        "assignees_form" => json!({"type": "multi_users_select"}),
        "table" => json!({"type": "plain_text_input", "multiline": true, "max_length": 3000}),
        "file" => {
            let text = format!(
                "*{}*: a file, added in Tallyfy once the run is launched.",
                crate::slack::mrkdwn::escape(&shorten(field.name(), 200))
            );
            return json!({"type": "section", "block_id": block_id,
                          "text": {"type": "mrkdwn", "text": text}});
        }
        _ => json!({"type": "plain_text_input", "max_length": 3000}),
    };
    let mut element = element;
    element["action_id"] = json!("value");
    let mut block = json!({"type": "input", "block_id": block_id, "label": label,
                           "optional": !field.required, "element": element});
    let hint = match field.field_type.as_str() {
        "table" => {
            let columns: Vec<&str> = field.columns.iter().map(|c| c.label.as_str()).collect();
            Some(format!("One line per column: {}.", columns.join(", ")))
        }
        _ => Some(field.guidance.clone()).filter(|g| !g.trim().is_empty()),
    };
    if let Some(hint) = hint {
        block["hint"] = plain(&hint, 2000);
    }
    block
}

/// The element of a block in a submission, whatever its type.
fn element<'a>(state: &'a ViewState, block_id: &str) -> Option<&'a Value> {
    state.values.get(block_id)?.values().next()
}

fn option_named<'a>(field: &'a KickoffField, value: &str) -> Option<&'a FieldOption> {
    field.options.iter().find(|o| option_value(&o.id) == value)
}

/// An option as Tallyfy's dropdown and multiselect take it.
fn option_json(option: &FieldOption, selected: bool) -> Value {
    let mut value = json!({"id": option.id, "text": option.text, "value": null});
    if selected {
        value["selected"] = json!(true);
    }
    value
}

/// Reads a submitted kick-off form of `template`; mistakes keyed by block.
pub fn read(state: &ViewState, template: &Template) -> Result<Answers, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let name = state
        .text(NAME)
        .map(|n| n.trim().to_string())
        .unwrap_or_default();
    if name.is_empty() {
        errors.insert(NAME.to_string(), "Give the run a name.".to_string());
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.insert(
            NAME.to_string(),
            format!("Names can be at most {MAX_NAME_CHARS} characters."),
        );
    }
    let mut answers = Answers {
        name,
        ..Answers::default()
    };
    for field in &template.prerun {
        let block = block_of(&field.id);
        match read_field(state, &block, field) {
            Ok(Some(Read::Value(value))) => {
                answers.prerun.insert(field.id.clone(), value);
            }
            Ok(Some(Read::People(people))) => answers.people.push((field.id.clone(), people)),
            Ok(None) if field.required && field.field_type == "file" => {
                errors.insert(
                    NAME.to_string(),
                    format!(
                        "\u{201c}{}\u{201d} needs a file, which Slack can't send to Tallyfy: launch this template in Tallyfy.",
                        shorten(field.name(), 100)
                    ),
                );
            }
            Ok(None) if field.required => {
                errors.insert(
                    block,
                    format!(
                        "Fill in \u{201c}{}\u{201d}: Tallyfy requires it.",
                        shorten(field.name(), 100)
                    ),
                );
            }
            Ok(None) => {}
            Err(problem) => {
                errors.insert(block, problem);
            }
        }
    }
    if errors.is_empty() {
        Ok(answers)
    } else {
        Err(errors)
    }
}

enum Read {
    Value(Value),
    People(Vec<UserId>),
}

/// One field's answer: `None` when left empty.
fn read_field(
    state: &ViewState,
    block: &str,
    field: &KickoffField,
) -> Result<Option<Read>, String> {
    let Some(el) = element(state, block) else {
        return Ok(None);
    };
    let selected = |o: &Value| o.get("value").and_then(Value::as_str).map(str::to_string);
    let value = match field.field_type.as_str() {
        "date" => el
            .get("selected_date")
            .and_then(Value::as_str)
            .map(|d| json!(format!("{d}T00:00:00.000Z"))),
        "radio" => el
            .get("selected_option")
            .and_then(selected)
            .and_then(|v| option_named(field, &v))
            .map(|o| json!(o.text)),
        "dropdown" => el
            .get("selected_option")
            .and_then(selected)
            .and_then(|v| option_named(field, &v))
            .map(|o| option_json(o, false)),
        "multiselect" => {
            let chosen: Vec<Value> = el
                .get("selected_options")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(selected)
                .filter_map(|v| option_named(field, &v))
                .map(|o| option_json(o, true))
                .collect();
            (!chosen.is_empty()).then(|| json!(chosen))
        }
        "assignees_form" => {
            let people = state.users(block);
            return Ok((!people.is_empty()).then_some(Read::People(people)));
        }
        "table" => match state.text(block) {
            None => None,
            Some(text) => {
                let cells: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
                if cells.len() != field.columns.len() {
                    return Err(format!(
                        "Write one line for each of its {} columns; this has {}.",
                        field.columns.len(),
                        cells.len()
                    ));
                }
                Some(json!(cells))
            }
        },
        "file" => None,
        _ => state.text(block).map(|t| json!(t.trim())),
    };
    Ok(value.map(Read::Value))
}

#[cfg(test)]
#[path = "template_form/tests.rs"]
mod tests;
