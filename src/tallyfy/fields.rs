//! A task's form fields as Tallyfy reads them, and their answers as Tallyfy takes them.
//!
//! - Read: `GET /organizations/{org}/tasks/{id}?with=form_fields` adds
//!   `form_fields: {data: [{id, label, field_type, value, required, options}]}`
//!   (Tallyfy's documentation, code-samples/tasks/get-task: the sample is
//!   `tests/fixtures/tallyfy/get-task-with-form-fields.json`; MCP `_task_fields` reads the
//!   choices there, as `{id, text}` objects).
//! - Answered: `taskdata` keyed by the field's id, each value in its type's shape: text,
//!   textarea and email a plain string, date an ISO 8601 string, radio the choice's text,
//!   dropdown `{id, text, value: null}` (documentation, code-samples/tasks/update-task).
//! - A required field without a value keeps the task from being completed
//!   (code-samples/tasks/complete-task).

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

/// One form field of a task.
#[derive(Clone, Debug, Deserialize)]
pub struct TaskField {
    pub id: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub field_type: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default, deserialize_with = "choices")]
    pub options: Vec<Choice>,
    #[serde(default)]
    pub value: Value,
}

/// One choice of a radio or dropdown field: `{id, text}` (a plain string is read as its
/// text, with no id).
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub id: Value,
    pub text: String,
}

fn choices<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Choice>, D::Error> {
    let list = Option::<Vec<Value>>::deserialize(d)?.unwrap_or_default();
    Ok(list
        .into_iter()
        .filter_map(|c| match c {
            Value::String(text) => Some(Choice {
                id: Value::Null,
                text,
            }),
            Value::Object(o) => Some(Choice {
                id: o.get("id").cloned().unwrap_or(Value::Null),
                text: o.get("text")?.as_str()?.to_string(),
            }),
            _ => None,
        })
        .collect())
}

/// The form fields as the read gives them: `{data: [...]}`, a bare list, or nothing.
pub fn form_fields<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<TaskField>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        Wrapped { data: Vec<TaskField> },
        Plain(Vec<TaskField>),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Option::<Shape>::deserialize(d)? {
        Some(Shape::Wrapped { data }) | Some(Shape::Plain(data)) => data,
        _ => Vec::new(),
    })
}

/// How a field can be answered in Slack, if it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked {
    /// A line of text (at most 200 characters, as Tallyfy takes it).
    ShortText,
    LongText,
    Email,
    Date,
    /// One of the field's choices.
    Choice,
}

impl TaskField {
    /// Whether Tallyfy will not complete the task until this field has a value.
    pub fn is_missing(&self) -> bool {
        let empty = match &self.value {
            Value::Null => true,
            Value::String(s) => s.trim().is_empty(),
            Value::Array(list) => list.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        self.required && empty
    }

    /// How Slack can ask for it; `None` for the types it cannot (file, table, multiselect,
    /// assignees), and for a choice field without choices.
    pub fn asked(&self) -> Option<Asked> {
        match self.field_type.as_str() {
            "text" => Some(Asked::ShortText),
            "textarea" => Some(Asked::LongText),
            "email" => Some(Asked::Email),
            "date" => Some(Asked::Date),
            "radio" | "dropdown" if !self.options.is_empty() => Some(Asked::Choice),
            _ => None,
        }
    }

    /// The value Tallyfy takes for this field from `given`: the text typed, the date picked
    /// (`YYYY-MM-DD`), or the position of the choice picked.
    pub fn answer(&self, given: &str) -> Option<Value> {
        match self.asked()? {
            Asked::ShortText | Asked::LongText | Asked::Email => Some(json!(given)),
            Asked::Date => {
                let date: jiff::civil::Date = given.parse().ok()?;
                Some(json!(format!("{date}T00:00:00.000Z")))
            }
            Asked::Choice => {
                let choice = self.options.get(given.parse::<usize>().ok()?)?;
                Some(match self.field_type.as_str() {
                    "radio" => json!(choice.text),
                    _ => json!({"id": choice.id, "text": choice.text, "value": null}),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tallyfy::model::{Data, ListedTask};

    #[test]
    fn the_documented_sample_reads_with_its_fields() {
        let sample = include_str!("../../tests/fixtures/tallyfy/get-task-with-form-fields.json");
        let task: Data<ListedTask> = serde_json::from_str(sample).unwrap();
        let field = &task.data.form_fields[0];
        assert_eq!(field.label, "Approval Status");
        assert_eq!(field.field_type, "dropdown");
        assert!(field.required && !field.is_missing());
        assert_eq!(task.data.task_type.as_deref(), Some("task"));
    }

    #[test]
    fn answers_take_each_types_documented_shape() {
        let field = |t: &str| TaskField {
            id: "f".into(),
            label: "L".into(),
            field_type: t.into(),
            required: true,
            options: vec![
                Choice {
                    id: json!(1),
                    text: "EMEA".into(),
                },
                Choice {
                    id: json!(2),
                    text: "APAC".into(),
                },
            ],
            value: Value::Null,
        };
        assert!(field("text").is_missing());
        assert_eq!(field("text").answer("INV-7"), Some(json!("INV-7")));
        assert_eq!(field("radio").answer("1"), Some(json!("APAC")));
        assert_eq!(
            field("dropdown").answer("1"),
            Some(json!({"id": 2, "text": "APAC", "value": null}))
        );
        assert_eq!(
            field("date").answer("2030-05-01"),
            Some(json!("2030-05-01T00:00:00.000Z"))
        );
        assert_eq!(field("file").asked(), None);
        assert_eq!(field("table").asked(), None);
    }
}
