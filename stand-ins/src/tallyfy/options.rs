//! The fake's checks of a create's optional fields, each as its source states it:
//!
//! - The seed's parameter table (`shared/seeds/000_3155760a9f98a1f5.txt`, Tallyfy's
//!   "launch a process without a template" page): `everyone_must_complete`,
//!   `is_soft_start_date`, `prevent_guest_comment`, `can_complete_only_assignees` and
//!   `top_secret` are booleans; `started_at` is a string in `YYYY-MM-DD HH:MM:SS`;
//!   `max_assignable` is an integer, 0 meaning unlimited; `tags` is an array of tag ids,
//!   32-character strings; `form_fields` is an array of objects with `label` (string,
//!   required), `field_type` (required), `required` (boolean, required), `options` (an
//!   array, required for radio, dropdown and multiselect), `guidance` (string) and
//!   `position` (integer).
//! - The field types are Tallyfy's own: `BaseCapture::$field_types` as Tallyfy's MCP server
//!   cites it (tallyfy/mcp-public, `server/tools/form_fields.py`, `ALLOWED_FIELD_TYPES`,
//!   and `email`, which the API takes though Tallyfy's web app cannot show it). There is
//!   no number, url, time, datetime or checkbox field: one is refused as an invalid
//!   `field_type`.
//! - A choice is an object `{id: integer, text: string}` (the same file,
//!   `_normalize_option_dicts`: "the ONE shape api-v2 accepts"; `options.*.id` is
//!   required|integer, and an option without `text` gets "options.N.text field is
//!   required"). A radio field needs at least two choices (`CaptureRequestValidator`, as
//!   the same file cites it).
//! - `max_assignable` caps the assignees, members and guests counted together, checked
//!   when the assignment is saved and refused outright when exceeded (tallyfy/documentation,
//!   tracking-and-tasks/tasks/task-assignment-guide). A split create gives each task one
//!   person, so each of its tasks is within any cap.
//! - Tag ids must be the organization's own: Tallyfy's MCP server lists them from
//!   `GET /organizations/{org}/tags` (`tag_management.py`: `id`, `title`, `color`, pages of
//!   at most 100) and shared/docs/tallyfy-api.md gives every tag id 32 characters.
//! - A refusal is a 422 `{"error": true, "errors": {field: [message]}}`, messages worded
//!   as Tallyfy's validator words them (shared/docs/tallyfy-api.md, "Errors and limits").

use serde_json::{json, Map, Value};

pub const FIELD_TYPES: [&str; 10] = [
    "text",
    "textarea",
    "radio",
    "dropdown",
    "multiselect",
    "date",
    "email",
    "file",
    "table",
    "assignees_form",
];

const FLAGS: [&str; 5] = [
    "everyone_must_complete",
    "is_soft_start_date",
    "prevent_guest_comment",
    "can_complete_only_assignees",
    "top_secret",
];

fn refuse(errors: &mut Map<String, Value>, field: &str, message: String) {
    errors.insert(field.to_string(), json!([message]));
}

fn words(field: &str) -> String {
    field.replace('_', " ")
}

/// Records in `errors` every way `task`'s optional fields break the documented rules;
/// `tags` are the ids of the organization's tags.
pub fn check(task: &Map<String, Value>, tags: &[String], errors: &mut Map<String, Value>) {
    for flag in FLAGS {
        if task.get(flag).is_some_and(|v| !v.is_boolean()) {
            refuse(
                errors,
                flag,
                format!("The {} field must be true or false.", words(flag)),
            );
        }
    }
    if let Some(started) = task.get("started_at") {
        let ok = started.as_str().is_some_and(|s| {
            s.len() == 19 && jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", s).is_ok()
        });
        if !ok {
            refuse(
                errors,
                "started_at",
                "The started at does not match the format Y-m-d H:i:s.".into(),
            );
        }
    }
    if let Some(max) = task.get("max_assignable") {
        if !max.is_u64() {
            refuse(
                errors,
                "max_assignable",
                "The max assignable must be an integer of at least 0.".into(),
            );
        }
        let split = task.get("separate_task_for_each_assignee") == Some(&json!(true));
        let count = |key: &str| {
            task.get("owners")
                .and_then(|o| o.get(key))
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        };
        let assignees = count("users") + count("guests");
        if let Some(max) = max.as_u64().filter(|m| *m > 0 && !split) {
            if assignees as u64 > max {
                refuse(
                    errors,
                    "owners",
                    format!(
                        "The task can be assigned to at most {max} people; {assignees} were given."
                    ),
                );
            }
        }
    }
    if let Some(given) = task.get("tags") {
        match given.as_array() {
            None => refuse(errors, "tags", "The tags must be an array.".into()),
            Some(list) => {
                for (i, tag) in list.iter().enumerate() {
                    let id = tag.as_str().unwrap_or_default();
                    if id.len() != 32 {
                        refuse(
                            errors,
                            &format!("tags.{i}"),
                            format!("The tags.{i} must be 32 characters."),
                        );
                    } else if !tags.iter().any(|t| t == id) {
                        refuse(
                            errors,
                            &format!("tags.{i}"),
                            format!("The selected tags.{i} is invalid."),
                        );
                    }
                }
            }
        }
    }
    if let Some(fields) = task.get("form_fields") {
        match fields.as_array() {
            None => refuse(
                errors,
                "form_fields",
                "The form fields must be an array.".into(),
            ),
            Some(list) => {
                for (i, field) in list.iter().enumerate() {
                    check_field(i, field, errors);
                }
            }
        }
    }
}

fn check_field(i: usize, field: &Value, errors: &mut Map<String, Value>) {
    let at = |name: &str| format!("form_fields.{i}.{name}");
    let Some(field) = field.as_object() else {
        refuse(
            errors,
            &format!("form_fields.{i}"),
            format!("The form_fields.{i} must be an object."),
        );
        return;
    };
    let label = field
        .get("label")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if label.trim().is_empty() {
        refuse(
            errors,
            &at("label"),
            format!("The {} field is required.", at("label")),
        );
    }
    let field_type = field.get("field_type").and_then(Value::as_str);
    if !field_type.is_some_and(|t| FIELD_TYPES.contains(&t)) {
        refuse(
            errors,
            &at("field_type"),
            format!("The selected {} is invalid.", at("field_type")),
        );
    }
    if !field.get("required").is_some_and(Value::is_boolean) {
        refuse(
            errors,
            &at("required"),
            format!(
                "The {} field is required and must be true or false.",
                at("required")
            ),
        );
    }
    let options = field.get("options");
    let choices = matches!(field_type, Some("radio" | "dropdown" | "multiselect"));
    match options {
        None if choices => refuse(
            errors,
            &at("options"),
            format!(
                "The {} field is required when field type is {}.",
                at("options"),
                field_type.unwrap_or_default()
            ),
        ),
        Some(v) => match v.as_array() {
            None => refuse(
                errors,
                &at("options"),
                format!("The {} must be an array.", at("options")),
            ),
            Some(list) if choices && list.is_empty() => refuse(
                errors,
                &at("options"),
                format!("The {} field is required.", at("options")),
            ),
            Some(list) if field_type == Some("radio") && list.len() < 2 => refuse(
                errors,
                &at("options"),
                format!("The {} must have at least 2 items.", at("options")),
            ),
            Some(list) => {
                for (j, option) in list.iter().enumerate() {
                    let text = option.get("text").and_then(Value::as_str);
                    if text.is_none_or(|t| t.trim().is_empty()) {
                        let key = format!("{}.{j}.text", at("options"));
                        refuse(errors, &key, format!("The {key} field is required."));
                    }
                    if !option.get("id").is_some_and(Value::is_u64) {
                        let key = format!("{}.{j}.id", at("options"));
                        refuse(errors, &key, format!("The {key} must be an integer."));
                    }
                }
            }
        },
        None => {}
    }
    if field.get("guidance").is_some_and(|g| !g.is_string()) {
        refuse(
            errors,
            &at("guidance"),
            format!("The {} must be a string.", at("guidance")),
        );
    }
    if field.get("position").is_some_and(|p| !p.is_u64()) {
        refuse(
            errors,
            &at("position"),
            format!("The {} must be an integer.", at("position")),
        );
    }
}
