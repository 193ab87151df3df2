//! What Slack sends the app: modal submissions, slash-command bodies and button presses,
//! shaped as Slack shapes them.

use serde_json::{json, Value};

use super::app::{CHANNEL, REQUESTER};
use crate::fake_slack;

/// What a person fills in on the "New task" modal.
#[derive(Clone, Debug)]
pub struct TaskValues {
    pub title: Option<String>,
    pub assignees: Vec<String>,
    pub deadline: Option<i64>,
    pub summary: Option<String>,
    pub task_type: &'static str,
    pub options: OptionValues,
}

/// What a person fills in under a form's Options.
#[derive(Clone, Debug, Default)]
pub struct OptionValues {
    /// The ticked settings, by value (`top_secret`, `everyone_must_complete`, …).
    pub flags: Vec<&'static str>,
    pub start: Option<i64>,
    pub max_assignees: Option<String>,
    /// Chosen tags: (id, title).
    pub tags: Vec<(String, String)>,
    /// "Ask the assignee for", as typed.
    pub fields: Option<String>,
}

impl OptionValues {
    /// The Options blocks' state, as Slack sends it (every block, filled in or not).
    pub fn state(&self) -> serde_json::Map<String, Value> {
        let flags: Vec<Value> = self
            .flags
            .iter()
            .map(|f| json!({"text": {"type": "plain_text", "text": f}, "value": f}))
            .collect();
        let tags: Vec<Value> = self
            .tags
            .iter()
            .map(|(id, title)| json!({"text": {"type": "plain_text", "text": title}, "value": id}))
            .collect();
        json!({
            "opt_flags": {"value": {"type": "checkboxes", "selected_options": flags}},
            "opt_start": {"value": {"type": "datetimepicker", "selected_date_time": self.start}},
            "opt_max_assignees": {"value": {"type": "plain_text_input", "value": self.max_assignees}},
            "opt_tags": {"value": {"type": "multi_static_select", "selected_options": tags}},
            "opt_fields": {"value": {"type": "plain_text_input", "value": self.fields}}
        })
        .as_object()
        .unwrap()
        .clone()
    }
}

impl TaskValues {
    pub fn new(title: &str, assignees: &[&str]) -> Self {
        Self {
            title: Some(title.into()),
            assignees: assignees.iter().map(|a| a.to_string()).collect(),
            deadline: Some(now() + 3 * 24 * 3600),
            summary: None,
            task_type: "task",
            options: OptionValues::default(),
        }
    }
}

/// What a person fills in on the "New project" modal.
#[derive(Clone, Debug)]
pub struct ProjectValues {
    pub name: String,
    pub assignees: Vec<String>,
    pub deadline: i64,
    pub tasks: String,
    pub options: OptionValues,
}

impl ProjectValues {
    pub fn new(name: &str, assignees: &[&str], tasks: &str) -> Self {
        Self {
            name: name.into(),
            assignees: assignees.iter().map(|a| a.to_string()).collect(),
            deadline: now() + 10 * 24 * 3600,
            tasks: tasks.into(),
            options: OptionValues::default(),
        }
    }
}

/// A `view_submission` payload of the "New task" modal, as Slack sends it.
pub fn submission(view_id: &str, hash: &str, metadata: &str, v: &TaskValues) -> Value {
    let mut payload = json!({
        "type": "view_submission",
        "team": {"id": fake_slack::TEAM, "domain": "test"},
        "user": {"id": REQUESTER, "username": "rita", "name": "rita", "team_id": fake_slack::TEAM},
        "api_app_id": "A0TEST",
        "token": "deprecated",
        "trigger_id": "123.456.abc",
        "view": {
            "id": view_id,
            "team_id": fake_slack::TEAM,
            "type": "modal",
            "callback_id": "task_create",
            "private_metadata": metadata,
            "hash": hash,
            "title": {"type": "plain_text", "text": "New task"},
            "blocks": [],
            "state": {"values": {
                "title": {"value": {"type": "plain_text_input", "value": v.title}},
                "assignees": {"value": {"type": "multi_users_select", "selected_users": v.assignees}},
                "deadline": {"value": {"type": "datetimepicker", "selected_date_time": v.deadline}},
                "summary": {"value": {"type": "plain_text_input", "value": v.summary}},
                "task_type": {"value": {"type": "static_select", "selected_option": {
                    "text": {"type": "plain_text", "text": v.task_type}, "value": v.task_type}}}
            }}
        },
        "response_urls": [],
        "is_enterprise_install": false
    });
    payload["view"]["state"]["values"]
        .as_object_mut()
        .unwrap()
        .extend(v.options.state());
    payload
}

/// A `view_submission` payload of the "New project" modal, as Slack sends it.
pub fn project_submission(view_id: &str, hash: &str, metadata: &str, v: &ProjectValues) -> Value {
    let mut payload = json!({
        "type": "view_submission",
        "team": {"id": fake_slack::TEAM, "domain": "test"},
        "user": {"id": REQUESTER, "username": "rita", "team_id": fake_slack::TEAM},
        "view": {
            "id": view_id, "team_id": fake_slack::TEAM, "type": "modal", "callback_id": "project_create",
            "private_metadata": metadata, "hash": hash, "blocks": [],
            "state": {"values": {
                "name": {"value": {"type": "plain_text_input", "value": v.name}},
                "summary": {"value": {"type": "plain_text_input", "value": null}},
                "assignees": {"value": {"type": "multi_users_select", "selected_users": v.assignees}},
                "deadline": {"value": {"type": "datetimepicker", "selected_date_time": v.deadline}},
                "tasks": {"value": {"type": "plain_text_input", "value": v.tasks}}
            }}
        }
    });
    payload["view"]["state"]["values"]
        .as_object_mut()
        .unwrap()
        .extend(v.options.state());
    payload
}

/// The form body Slack sends for `command text`, run by the requester in `channel`.
pub fn command_body(
    command: &str,
    text: &str,
    channel: &str,
    trigger_id: &str,
    response_url: &str,
) -> String {
    serde_urlencoded::to_string([
        ("token", "deprecated-verification-token"),
        ("team_id", fake_slack::TEAM),
        ("team_domain", "test"),
        ("channel_id", channel),
        ("channel_name", "projects"),
        ("user_id", REQUESTER),
        ("user_name", "rita"),
        ("command", command),
        ("text", text),
        ("response_url", response_url),
        ("trigger_id", trigger_id),
        ("api_app_id", "A0TEST"),
    ])
    .unwrap()
}

/// A `block_actions` payload: the requester pressed the button `action_id` (carrying
/// `value`) on a message in `CHANNEL`.
pub fn button_press(action_id: &str, value: &str, response_url: &str) -> Value {
    json!({
        "type": "block_actions",
        "team": {"id": fake_slack::TEAM, "domain": "test"},
        "user": {"id": REQUESTER, "username": "rita", "team_id": fake_slack::TEAM},
        "api_app_id": "A0TEST",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": CHANNEL},
        "channel": {"id": CHANNEL, "name": "projects"},
        "message": {"type": "message", "ts": "1700000000.000001", "blocks": [{"type": "rich_text", "elements": []}]},
        "response_url": response_url,
        "trigger_id": "1.2.3",
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                      "text": {"type": "plain_text", "text": "Retry"}, "action_ts": "1700000001.000001"}]
    })
}

/// A `block_actions` payload: the requester picked `users` in the people picker of the
/// input block `block_id` (`dispatch_action: true`) on the open modal `view`, as Slack sends
/// it on each pick (docs.slack.dev/reference/interaction-payloads/block_actions-payload):
/// `container` names the view, `view` carries the form with its state so far, and the
/// action its `selected_users`. Recorded payloads from modals have the same frame
/// (tests/fixtures/slack/slackapi/java-slack-sdk/interaction-block_actions-08.json,
/// tests/fixtures/slack/DonDebonair/slack-machine/interaction-block_actions-09.json).
pub fn people_picked(
    view_id: &str,
    hash: &str,
    view: &Value,
    block_id: &str,
    users: &[&str],
) -> Value {
    let mut view = view.clone();
    view["id"] = json!(view_id);
    view["hash"] = json!(hash);
    view["team_id"] = json!(fake_slack::TEAM);
    view["state"] = json!({"values": {
        block_id: {"value": {"type": "multi_users_select", "selected_users": users}}
    }});
    json!({
        "type": "block_actions",
        "team": {"id": fake_slack::TEAM, "domain": "test"},
        "user": {"id": REQUESTER, "username": "rita", "name": "rita", "team_id": fake_slack::TEAM},
        "api_app_id": "A0TEST",
        "token": "deprecated",
        "container": {"type": "view", "view_id": view_id},
        "trigger_id": "1.2.3",
        "view": view,
        "actions": [{"type": "multi_users_select", "action_id": "value", "block_id": block_id,
                      "selected_users": users, "action_ts": "1700000001.000001"}],
        "is_enterprise_install": false
    })
}

/// Unix time in seconds, as Slack writes timestamps and deadlines.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
