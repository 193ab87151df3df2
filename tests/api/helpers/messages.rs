//! What the app shows people in Slack, read by what it means rather than by where it sits
//! in the JSON: the messages it sends, and the blocks of the modals it opens.

use std::ops::Deref;

use serde_json::Value;

use super::app::{TestApp, CHANNEL};
use crate::fake_slack::OpenView;

/// A message the app sent: posted with `chat.postMessage`, or through a response URL.
///
/// It dereferences to its JSON, so a check the readers below do not cover can still look
/// at any field (`message["response_type"]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Message(Value);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Message {
    pub fn new(json: Value) -> Self {
        Self(json)
    }

    /// The plain `text`: what notifications show, and all a notice without blocks has.
    pub fn text(&self) -> &str {
        self.0["text"]
            .as_str()
            .unwrap_or_else(|| panic!("a message without text: {}", self.0))
    }

    /// The mrkdwn of each section, in order.
    pub fn sections(&self) -> Vec<&str> {
        self.blocks("section")
            .filter_map(|b| b["text"]["text"].as_str())
            .collect()
    }

    /// The first section's mrkdwn: what the message says, in full.
    pub fn body(&self) -> &str {
        self.sections()
            .first()
            .copied()
            .unwrap_or_else(|| panic!("a message without a section: {}", self.0))
    }

    /// Every button, in order (a project's line menus are not buttons).
    pub fn buttons(&self) -> Vec<&Value> {
        self.blocks("actions")
            .filter_map(|b| b["elements"].as_array())
            .flatten()
            .filter(|e| e["type"] == "button")
            .collect()
    }

    /// The button `action_id`, if the message has one.
    pub fn button(&self, action_id: &str) -> Option<&Value> {
        self.buttons()
            .into_iter()
            .find(|b| b["action_id"] == action_id)
    }

    /// Where the "Open in Tallyfy" button leads.
    pub fn link(&self) -> &str {
        self.button("open_in_tallyfy")
            .and_then(|b| b["url"].as_str())
            .unwrap_or_else(|| panic!("a message without an Open in Tallyfy link: {}", self.0))
    }

    /// The retry button: a task's "Retry" or a project's "Retry missing tasks".
    pub fn retry_button(&self) -> &Value {
        self.buttons()
            .into_iter()
            .find(|b| matches!(b["action_id"].as_str(), Some("job_retry" | "project_retry")))
            .unwrap_or_else(|| panic!("a message without a retry button: {}", self.0))
    }

    /// The job key the retry button carries, to press it with.
    pub fn retry_key(&self) -> &str {
        self.retry_button()["value"]
            .as_str()
            .unwrap_or_else(|| panic!("a retry button without a job key: {}", self.0))
    }

    fn blocks<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.0["blocks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(move |b| b["type"] == kind)
    }
}

impl Deref for Message {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.0
    }
}

/// How many messages the app has posted to `CHANNEL` so far.
pub fn announcements(app: &TestApp) -> usize {
    app.slack
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["channel"] == CHANNEL)
        .count()
}

/// The block `block_id` of a view.
pub fn block(view: &OpenView, block_id: &str) -> Value {
    view.view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == block_id)
        .unwrap_or_else(|| panic!("no block {block_id}"))
        .clone()
}
