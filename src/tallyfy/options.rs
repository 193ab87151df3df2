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
pub struct FormField {
    pub label: String,
    pub field_type: FieldType,
    pub required: bool,
    /// The choices of a radio, dropdown or multiselect field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
}

/// The kinds of form field Tallyfy offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Textarea,
    Radio,
    Dropdown,
    Multiselect,
    Number,
    Email,
    Url,
    Date,
    Time,
    Datetime,
    Checkbox,
    File,
}

impl FieldType {
    pub const ALL: [FieldType; 13] = [
        FieldType::Text,
        FieldType::Textarea,
        FieldType::Radio,
        FieldType::Dropdown,
        FieldType::Multiselect,
        FieldType::Number,
        FieldType::Email,
        FieldType::Url,
        FieldType::Date,
        FieldType::Time,
        FieldType::Datetime,
        FieldType::Checkbox,
        FieldType::File,
    ];

    /// The API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Textarea => "textarea",
            FieldType::Radio => "radio",
            FieldType::Dropdown => "dropdown",
            FieldType::Multiselect => "multiselect",
            FieldType::Number => "number",
            FieldType::Email => "email",
            FieldType::Url => "url",
            FieldType::Date => "date",
            FieldType::Time => "time",
            FieldType::Datetime => "datetime",
            FieldType::Checkbox => "checkbox",
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
                options: vec!["EMEA".into()],
                guidance: None,
                position: Some(1),
            }],
            ..TaskOptions::default()
        };
        assert_eq!(
            serde_json::to_value(&options).unwrap(),
            json!({
                "top_secret": true, "max_assignable": 3, "tags": ["a".repeat(32)],
                "form_fields": [{"label": "Region", "field_type": "dropdown", "required": false,
                                 "options": ["EMEA"], "position": 1}]
            })
        );
    }
}
