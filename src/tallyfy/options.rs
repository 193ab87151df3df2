//! The optional part of a create (`POST /organizations/{org}/tasks`): the flags, the start,
//! the most assignees, tags and the form fields the assignee fills in. Everything unset is
//! left out of the body, so a task without options is sent exactly as before.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A tag's id: a 32-character string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TagId(pub String);

impl fmt::Display for TagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tag of the organization, as `GET /organizations/{org}/tags` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub id: TagId,
    pub title: String,
}

/// What a task may carry beyond its title, people and deadline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub everyone_must_complete: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_complete_only_assignees: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_soft_start_date: Option<bool>,
    /// `YYYY-MM-DD HH:MM:SS` in UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prevent_guest_comment: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_secret: Option<bool>,
    /// The most people the task may be assigned to (Tallyfy reads 0 as no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_assignable: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form_fields: Vec<FormField>,
}

impl TaskOptions {
    /// Whether nothing is set: the body is then what it is without options.
    pub fn is_empty(&self) -> bool {
        *self == TaskOptions::default()
    }

    /// These options with `more` tags besides their own (each tag once).
    pub fn with_tags(&self, more: &[TagId]) -> TaskOptions {
        let mut options = self.clone();
        for tag in more {
            if !options.tags.contains(tag) {
                options.tags.push(tag.clone());
            }
        }
        options
    }
}

/// A field the assignee fills in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredField")]
pub struct FormField {
    pub label: String,
    pub field_type: FieldType,
    pub required: bool,
    /// The choices of a radio, dropdown or multiselect field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// The type an earlier release stored that Tallyfy does not have (`number`, `url`,
    /// `time`, `datetime`, `checkbox`, `email`): the field is asked as text instead, and
    /// the card says so. Never sent.
    #[serde(skip_serializing)]
    pub was: Option<String>,
}

/// A choice as Tallyfy stores it: `{id, text}` (tallyfy/mcp-public,
/// `server/tools/form_fields.py`, `_normalize_option_dicts`: the one shape its API takes,
/// `id` an integer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Choice {
    pub id: u32,
    pub text: String,
}

impl Choice {
    /// `texts` as choices numbered 1, 2, …
    pub fn numbered<S: Into<String>>(texts: impl IntoIterator<Item = S>) -> Vec<Choice> {
        texts
            .into_iter()
            .enumerate()
            .map(|(i, text)| Choice {
                id: i as u32 + 1,
                text: text.into(),
            })
            .collect()
    }
}

/// A field as any release stored it: choices as objects or (before) plain strings, and
/// any type name.
#[derive(Deserialize)]
struct StoredField {
    label: String,
    field_type: String,
    required: bool,
    #[serde(default)]
    options: Vec<StoredChoice>,
    #[serde(default)]
    guidance: Option<String>,
    #[serde(default)]
    position: Option<u32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StoredChoice {
    Text(String),
    Object {
        #[serde(default)]
        id: Option<u32>,
        text: String,
    },
}

impl From<StoredField> for FormField {
    fn from(f: StoredField) -> Self {
        let (field_type, was) = match FieldType::parse(&f.field_type) {
            Some(t) => (t, None),
            None => (FieldType::Text, Some(f.field_type)),
        };
        let options = f
            .options
            .into_iter()
            .enumerate()
            .map(|(i, c)| match c {
                StoredChoice::Text(text) => Choice {
                    id: i as u32 + 1,
                    text,
                },
                StoredChoice::Object { id, text } => Choice {
                    id: id.unwrap_or(i as u32 + 1),
                    text,
                },
            })
            .collect();
        FormField {
            label: f.label,
            field_type,
            required: f.required,
            options,
            guidance: f.guidance,
            position: f.position,
            was,
        }
    }
}

/// The kinds of form field Tallyfy has and shows (tallyfy/mcp-public,
/// `server/tools/fastmcp_types.py` and `form_fields.py`, citing the API's
/// `BaseCapture::$field_types`). Its `table` and `assignees_form` need more than a line
/// of text can say, and `email` Tallyfy's own web app cannot show, so the form offers
/// none of those.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Textarea,
    Radio,
    Dropdown,
    Multiselect,
    Date,
    File,
}

impl FieldType {
    pub const ALL: [FieldType; 7] = [
        FieldType::Text,
        FieldType::Textarea,
        FieldType::Date,
        FieldType::File,
        FieldType::Radio,
        FieldType::Dropdown,
        FieldType::Multiselect,
    ];

    /// The types, as the form lists them: "text, textarea, …, dropdown or multiselect".
    pub const NAMES: &'static str = "text, textarea, date, file, radio, dropdown or multiselect";

    /// The API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Textarea => "textarea",
            FieldType::Radio => "radio",
            FieldType::Dropdown => "dropdown",
            FieldType::Multiselect => "multiselect",
            FieldType::Date => "date",
            FieldType::File => "file",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether the field picks among `options`, which it then needs.
    pub fn has_choices(self) -> bool {
        matches!(
            self,
            FieldType::Radio | FieldType::Dropdown | FieldType::Multiselect
        )
    }

    /// The fewest choices Tallyfy takes for it: a radio needs two (Tallyfy's
    /// `CaptureRequestValidator`, as tallyfy/mcp-public `form_fields.py` cites it).
    pub fn fewest_choices(self) -> usize {
        match self {
            FieldType::Radio => 2,
            t if t.has_choices() => 1,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unset_options_are_left_out_and_set_ones_keep_their_json_types() {
        assert_eq!(
            serde_json::to_value(TaskOptions::default()).unwrap(),
            json!({})
        );
        let options = TaskOptions {
            top_secret: Some(true),
            max_assignable: Some(3),
            tags: vec![TagId("a".repeat(32))],
            form_fields: vec![FormField {
                label: "Region".into(),
                field_type: FieldType::Dropdown,
                required: false,
                options: Choice::numbered(["EMEA"]),
                guidance: None,
                position: Some(1),
                was: None,
            }],
            ..TaskOptions::default()
        };
        assert_eq!(
            serde_json::to_value(&options).unwrap(),
            json!({
                "top_secret": true, "max_assignable": 3, "tags": ["a".repeat(32)],
                "form_fields": [{"label": "Region", "field_type": "dropdown", "required": false,
                                 "options": [{"id": 1, "text": "EMEA"}], "position": 1}]
            })
        );
    }

    #[test]
    fn fields_stored_by_earlier_releases_still_read() {
        let old: FormField = serde_json::from_value(json!({
            "label": "Amount", "field_type": "number", "required": true,
            "options": [], "position": 1
        }))
        .unwrap();
        assert_eq!(old.field_type, FieldType::Text);
        assert_eq!(old.was.as_deref(), Some("number"));
        let sent = serde_json::to_value(&old).unwrap();
        assert_eq!(
            sent,
            json!({"label": "Amount", "field_type": "text", "required": true, "position": 1})
        );
        let strings: FormField = serde_json::from_value(json!({
            "label": "Region", "field_type": "dropdown", "required": false, "options": ["EMEA", "APAC"]
        }))
        .unwrap();
        assert_eq!(strings.options, Choice::numbered(["EMEA", "APAC"]));
        assert_eq!(strings.was, None);
    }
}
