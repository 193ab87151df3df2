//! Interaction payloads (`payload=<json>` forms): view submissions, block actions and
//! shortcuts. Parsed with local types that read only what this app uses, so new fields,
//! blocks and element types that Slack adds can never break parsing. A field the app reads
//! that is missing or `null` reads as empty: whether it matters is for the flow that uses
//! it to say (a submission of someone else's modal, say, needs no view id at all).

use std::collections::HashMap;

use serde::{Deserialize, Deserializer};

use super::ids::{ChannelId, TeamId, UserId};

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Interaction {
    ViewSubmission(ViewSubmission),
    BlockActions(BlockActions),
    /// A menu with external options asks for them, for what has been typed so far.
    BlockSuggestion(BlockSuggestion),
    Shortcut(Shortcut),
    MessageAction(Shortcut),
    #[serde(other)]
    Other,
}

impl Interaction {
    /// The team and app the interaction says it comes from; `None` for kinds this app
    /// does nothing with.
    pub fn sender(&self) -> Option<(TeamId, Option<&str>)> {
        match self {
            Interaction::ViewSubmission(s) => Some((s.team_id(), s.api_app_id.as_deref())),
            Interaction::BlockActions(a) => Some((a.team_id(), a.api_app_id.as_deref())),
            Interaction::BlockSuggestion(s) => Some((
                sender_team(&s.team, &s.user).unwrap_or_default(),
                s.api_app_id.as_deref(),
            )),
            Interaction::Shortcut(s) | Interaction::MessageAction(s) => {
                Some((s.team_id(), s.api_app_id.as_deref()))
            }
            Interaction::Other => None,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Team {
    #[serde(default, deserialize_with = "or_default")]
    pub id: TeamId,
}

/// The workspace a request is for: the one the app is installed in when the payload's
/// view names it (`view.app_installed_team_id`), else the payload's `team`, else the
/// user's own. In a Slack Connect channel a member of another organization sends their
/// own workspace in `team.id` and `user.team_id`; only the view says which workspace the
/// app serves there. Bolt reads it in this order (slackapi/bolt-python
/// `slack_bolt/request/internals.py` `extract_team_id`; slackapi/bolt-js issue 1614).
fn installed_team(installed: Option<&str>, team: &Option<Team>, user: &User) -> Option<TeamId> {
    installed
        .filter(|t| !t.is_empty())
        .map(TeamId::from)
        .or_else(|| sender_team(team, user))
}

/// The sender's workspace: the payload's `team`, else the user's own.
fn sender_team(team: &Option<Team>, user: &User) -> Option<TeamId> {
    team.as_ref()
        .map(|t| t.id.clone())
        .or_else(|| user.team_id.clone())
}

#[derive(Debug, Default, Deserialize)]
pub struct User {
    #[serde(default, deserialize_with = "or_default")]
    pub id: UserId,
    #[serde(default)]
    pub team_id: Option<TeamId>,
}

/// A field that is missing or `null` reads as its default.
fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Debug, Deserialize)]
pub struct ViewSubmission {
    #[serde(default)]
    pub api_app_id: Option<String>,
    #[serde(default)]
    pub team: Option<Team>,
    #[serde(default, deserialize_with = "or_default")]
    pub user: User,
    #[serde(default, deserialize_with = "or_default")]
    pub view: View,
    /// Present at the top level in some payloads, inside `view` in others.
    #[serde(default, deserialize_with = "or_default")]
    pub response_urls: Vec<ResponseUrl>,
}

impl ViewSubmission {
    pub fn team_id(&self) -> TeamId {
        let installed = self.view.app_installed_team_id.as_deref();
        installed_team(installed, &self.team, &self.user)
            .or_else(|| self.view.team_id.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
pub struct ResponseUrl {
    #[serde(default)]
    pub channel_id: Option<ChannelId>,
    #[serde(default, deserialize_with = "or_default")]
    pub response_url: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct View {
    #[serde(default, deserialize_with = "or_default")]
    pub id: String,
    #[serde(default)]
    pub team_id: Option<TeamId>,
    /// The workspace the app is installed in (differs from `team_id` when a member of
    /// another organization uses the view in a Slack Connect channel).
    #[serde(default)]
    pub app_installed_team_id: Option<String>,
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default, deserialize_with = "or_default")]
    pub callback_id: String,
    #[serde(default, deserialize_with = "or_default")]
    pub private_metadata: String,
    #[serde(default, deserialize_with = "or_default")]
    pub state: ViewState,
    #[serde(default, deserialize_with = "or_default")]
    pub response_urls: Vec<ResponseUrl>,
}

/// `state.values[block_id][action_id]`: each element's value, whatever its type.
#[derive(Debug, Default, Deserialize)]
pub struct ViewState {
    #[serde(default, deserialize_with = "or_default")]
    pub values: HashMap<String, HashMap<String, serde_json::Value>>,
}

impl ViewState {
    /// The (first) element of a block. This app gives each input block one element.
    fn element(&self, block_id: &str) -> Option<&serde_json::Value> {
        self.values
            .get(block_id)
            .and_then(|actions| actions.values().next())
    }

    /// A text input's value; `None` when empty.
    pub fn text(&self, block_id: &str) -> Option<String> {
        self.element(block_id)?
            .get("value")?
            .as_str()
            .map(str::to_string)
            .filter(|s| !s.trim().is_empty())
    }

    /// The users picked in a (multi) users select.
    pub fn users(&self, block_id: &str) -> Vec<UserId> {
        let Some(el) = self.element(block_id) else {
            return Vec::new();
        };
        if let Some(list) = el.get("selected_users").and_then(|v| v.as_array()) {
            return list
                .iter()
                .filter_map(|u| u.as_str())
                .map(UserId::from)
                .collect();
        }
        el.get("selected_user")
            .and_then(|u| u.as_str())
            .map(|u| vec![UserId::from(u)])
            .unwrap_or_default()
    }

    /// A datetimepicker's value, in UNIX seconds.
    pub fn date_time(&self, block_id: &str) -> Option<i64> {
        let v = self.element(block_id)?.get("selected_date_time")?;
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    }

    /// A static select's chosen value and its label.
    pub fn selected_option(&self, block_id: &str) -> Option<(String, String)> {
        let option = self.element(block_id)?.get("selected_option")?;
        let value = option.get("value")?.as_str()?.to_string();
        let label = option
            .get("text")
            .and_then(|t| t.get("text"))
            .and_then(|t| t.as_str())
            .unwrap_or_default();
        Some((value, label.to_string()))
    }

    /// A multi-select's or checkboxes' chosen (value, label) pairs.
    pub fn selected_options(&self, block_id: &str) -> Vec<(String, String)> {
        let Some(list) = self
            .element(block_id)
            .and_then(|e| e.get("selected_options"))
            .and_then(|o| o.as_array())
        else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|o| {
                let value = o.get("value")?.as_str()?.to_string();
                let label = o
                    .get("text")
                    .and_then(|t| t.get("text"))
                    .and_then(|t| t.as_str())
                    .unwrap_or_default();
                Some((value, label.to_string()))
            })
            .collect()
    }

    /// A static select's chosen value.
    pub fn selected(&self, block_id: &str) -> Option<String> {
        self.element(block_id)?
            .get("selected_option")?
            .get("value")?
            .as_str()
            .map(str::to_string)
    }
}

#[derive(Debug, Deserialize)]
pub struct BlockActions {
    #[serde(default)]
    pub api_app_id: Option<String>,
    #[serde(default)]
    pub team: Option<Team>,
    #[serde(default, deserialize_with = "or_default")]
    pub user: User,
    #[serde(default)]
    pub view: Option<serde_json::Value>,
    /// Present when the action came from a message.
    #[serde(default)]
    pub response_url: Option<String>,
    /// Good for one `views.open` within 3 s of the press.
    #[serde(default)]
    pub trigger_id: Option<String>,
    /// Where the pressed button is: for a message, its channel and ts.
    #[serde(default)]
    pub container: Option<Container>,
    #[serde(default, deserialize_with = "or_default")]
    pub actions: Vec<Action>,
}

/// Where a block action happened (`container` of a `block_actions` payload).
#[derive(Debug, Default, Deserialize)]
pub struct Container {
    #[serde(default)]
    pub channel_id: Option<ChannelId>,
    #[serde(default)]
    pub message_ts: Option<String>,
    /// The message is ephemeral (seen only by its person): it cannot be updated later.
    #[serde(default)]
    pub is_ephemeral: bool,
}

#[derive(Debug, Deserialize)]
pub struct Action {
    #[serde(default, deserialize_with = "or_default")]
    pub action_id: String,
    /// The block the element is in (a form's input block, say).
    #[serde(default, deserialize_with = "or_default")]
    pub block_id: String,
    /// The people chosen so far in a multi users select (all of them, on every pick).
    #[serde(default, deserialize_with = "or_default")]
    pub selected_users: Vec<UserId>,
    #[serde(default)]
    pub value: Option<String>,
    /// A select's choice.
    #[serde(default)]
    pub selected_option: Option<SelectedOption>,
}

#[derive(Debug, Deserialize)]
pub struct SelectedOption {
    #[serde(default)]
    pub value: Option<String>,
}

impl Action {
    /// What was pressed or chosen: a button's value, or a select's chosen value.
    pub fn chosen(&self) -> Option<&str> {
        let chosen = self
            .selected_option
            .as_ref()
            .and_then(|o| o.value.as_deref());
        self.value.as_deref().or(chosen)
    }
}

impl BlockActions {
    /// The workspace the action is for; an action in a modal reads the view's installing
    /// workspace first, as a submission does.
    pub fn team_id(&self) -> TeamId {
        let installed = self
            .view
            .as_ref()
            .and_then(|v| v.get("app_installed_team_id"))
            .and_then(|t| t.as_str());
        installed_team(installed, &self.team, &self.user).unwrap_or_default()
    }

    /// The callback id of the modal the action happened in; empty for a message's.
    pub fn view_callback_id(&self) -> &str {
        self.view
            .as_ref()
            .and_then(|v| v.get("callback_id"))
            .and_then(|c| c.as_str())
            .unwrap_or_default()
    }
}

/// A `block_suggestion` payload: the menu (`action_id`, `block_id`), what has been typed
/// (`value`), and the view it is in (docs.slack.dev/reference/block-kit/block-elements/
/// select-menu-element#external_select; the recorded payloads under tests/fixtures/slack).
#[derive(Debug, Deserialize)]
pub struct BlockSuggestion {
    #[serde(default)]
    pub api_app_id: Option<String>,
    #[serde(default)]
    pub team: Option<Team>,
    #[serde(default, deserialize_with = "or_default")]
    pub user: User,
    #[serde(default, deserialize_with = "or_default")]
    pub action_id: String,
    #[serde(default, deserialize_with = "or_default")]
    pub value: String,
}

/// A global shortcut, or a message shortcut (with `channel`, `message` and `response_url`).
#[derive(Debug, Deserialize)]
pub struct Shortcut {
    #[serde(default)]
    pub api_app_id: Option<String>,
    #[serde(default, deserialize_with = "or_default")]
    pub callback_id: String,
    #[serde(default, deserialize_with = "or_default")]
    pub trigger_id: String,
    #[serde(default)]
    pub team: Option<Team>,
    #[serde(default, deserialize_with = "or_default")]
    pub user: User,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub response_url: Option<String>,
}

impl Shortcut {
    pub fn team_id(&self) -> TeamId {
        sender_team(&self.team, &self.user).unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
pub struct Channel {
    #[serde(default, deserialize_with = "or_default")]
    pub id: ChannelId,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    #[serde(default, deserialize_with = "or_default")]
    pub text: String,
    #[serde(default, deserialize_with = "or_default")]
    pub ts: String,
    #[serde(default)]
    pub thread_ts: Option<String>,
}

/// The JSON of an interaction form's `payload` field.
pub fn parse_payload(payload: &str) -> Result<Interaction, serde_json::Error> {
    serde_json::from_str(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLACK_EXAMPLE: &str = include_str!("../../tests/fixtures/view_submission_example.json");

    /// The payload of a recorded request under `tests/fixtures/slack/`.
    fn recorded(doc: &str) -> Interaction {
        let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
        serde_json::from_value(doc["body"].clone()).unwrap()
    }

    #[test]
    fn reads_slacks_own_example_submission() {
        let Interaction::ViewSubmission(sub) = serde_json::from_str(SLACK_EXAMPLE).unwrap() else {
            panic!("not a view_submission")
        };
        assert_eq!(sub.team_id(), "T1234567");
        assert_eq!(sub.view.callback_id, "modal-with-inputs");
        assert_eq!(sub.view.private_metadata, "shhh-its-secret");
        assert_eq!(sub.view.hash.as_deref(), Some("156663117.cd33ad1f"));
        assert_eq!(
            sub.view.state.text("multiline").as_deref(),
            Some("This is my example inputted value")
        );
        assert_eq!(
            sub.view.response_urls[0].channel_id.as_deref(),
            Some("C123B12DE")
        );
    }

    #[test]
    fn unknown_types_fields_and_elements_do_not_break_parsing() {
        let payload = r#"{"type":"view_submission","brand_new_field":{"x":[1,2]},"team":{"id":"T1"},
            "user":{"id":"U1","name":"n"},"view":{"id":"V1","callback_id":"c","blocks":[{"type":"hologram"}],
            "state":{"values":{"b":{"a":{"type":"rich_text_input","rich_text_value":{}}},
                                "when":{"v":{"type":"datetimepicker","selected_date_time":1764349200}}}}}}"#;
        let Interaction::ViewSubmission(sub) = serde_json::from_str(payload).unwrap() else {
            panic!()
        };
        assert_eq!(sub.view.state.text("b"), None);
        assert_eq!(sub.view.state.date_time("when"), Some(1764349200));
        let other: Interaction =
            serde_json::from_str(r#"{"type":"workflow_step_edit","x":1}"#).unwrap();
        assert!(matches!(other, Interaction::Other));
    }

    #[test]
    fn reads_user_selects_and_static_selects() {
        let state: ViewState = serde_json::from_str(
            r#"{"values":{"who":{"v":{"type":"multi_users_select","selected_users":["U1","U2"]}},
                          "one":{"v":{"type":"users_select","selected_user":"U3"}},
                          "kind":{"v":{"type":"static_select","selected_option":{"text":{"type":"plain_text","text":"Approval"},"value":"approval"}}},
                          "empty":{"v":{"type":"plain_text_input","value":null}}}}"#,
        )
        .unwrap();
        assert_eq!(state.users("who"), vec!["U1", "U2"]);
        assert_eq!(state.users("one"), vec!["U3"]);
        assert_eq!(state.selected("kind").as_deref(), Some("approval"));
        assert_eq!(state.text("empty"), None);
        assert!(state.users("missing").is_empty());
    }

    #[test]
    fn submissions_without_a_view_id_or_a_user_id_are_read() {
        // slack-go's example has no view id; Bolt's tests send `"user": {}` and a bare view.
        for doc in [
            include_str!("../../tests/fixtures/slack/slack-go/slack/interaction-view_submission-01.json"),
            include_str!("../../tests/fixtures/slack/slackapi/bolt-js/interaction-view_submission-01.json"),
            include_str!("../../tests/fixtures/slack/slackapi/java-slack-sdk/interaction-view_submission-05.json"),
        ] {
            let Interaction::ViewSubmission(sub) = recorded(doc) else {
                panic!("not a view_submission: {doc}")
            };
            assert!(sub.view.id.is_empty() || sub.user.id.is_empty(), "{doc}");
        }
    }

    #[test]
    fn an_action_in_a_modal_names_its_view_block_and_people() {
        // Recorded in a modal (its `container` is the view): a datepicker's action.
        let doc = include_str!(
            "../../tests/fixtures/slack/DonDebonair/slack-machine/interaction-block_actions-09.json"
        );
        let Interaction::BlockActions(actions) = recorded(doc) else {
            panic!("not a block_actions")
        };
        assert_eq!(actions.actions[0].block_id, "sLIvA");
        assert!(actions.actions[0].selected_users.is_empty());
        assert_eq!(actions.view_callback_id(), "");
        // A pick in a multi users select, as Slack's block_actions reference shapes it.
        let payload = r#"{"type":"block_actions","team":{"id":"T1"},"user":{"id":"U1"},
            "container":{"type":"view","view_id":"V1"},
            "view":{"id":"V1","callback_id":"project_create","state":{"values":{}}},
            "actions":[{"type":"multi_users_select","action_id":"value","block_id":"assignees",
                        "selected_users":["U2","U3"],"action_ts":"1.2"}]}"#;
        let Interaction::BlockActions(actions) = serde_json::from_str(payload).unwrap() else {
            panic!()
        };
        assert_eq!(actions.view_callback_id(), "project_create");
        assert_eq!(actions.actions[0].block_id, "assignees");
        assert_eq!(actions.actions[0].selected_users, vec!["U2", "U3"]);
    }

    #[test]
    fn a_slack_connect_member_is_served_as_the_installing_workspace() {
        // A member of another organization: their team in `team` and `user`, the
        // installing workspace in the view (slackapi/bolt-js issue 1614).
        let submitted = r#"{"type":"view_submission","team":{"id":"T2"},"user":{"id":"U9","team_id":"T2"},
            "view":{"id":"V1","team_id":"T2","app_installed_team_id":"T1","callback_id":"c"}}"#;
        let Interaction::ViewSubmission(sub) = serde_json::from_str(submitted).unwrap() else {
            panic!("not a view_submission")
        };
        assert_eq!(sub.team_id(), "T1");
        let pressed = r#"{"type":"block_actions","team":{"id":"T2"},"user":{"id":"U9","team_id":"T2"},
            "view":{"id":"V1","app_installed_team_id":"T1"},"actions":[]}"#;
        let Interaction::BlockActions(actions) = serde_json::from_str(pressed).unwrap() else {
            panic!("not a block_actions")
        };
        assert_eq!(actions.team_id(), "T1");
        // Without the view's word, the payload's team is read.
        let plain = r#"{"type":"view_submission","team":{"id":"T2"},"user":{"id":"U9"},"view":{"id":"V1","app_installed_team_id":""}}"#;
        let Interaction::ViewSubmission(sub) = serde_json::from_str(plain).unwrap() else {
            panic!("not a view_submission")
        };
        assert_eq!(sub.team_id(), "T2");
    }

    #[test]
    fn null_and_empty_objects_read_as_empty() {
        let payload = r#"{"type":"message_action","callback_id":null,"team":{},"user":null,
            "channel":{},"message":{"text":null,"ts":null}}"#;
        let Interaction::MessageAction(shortcut) = serde_json::from_str(payload).unwrap() else {
            panic!()
        };
        assert_eq!(shortcut.callback_id, "");
        assert_eq!(shortcut.team_id(), "");
        assert_eq!(shortcut.user.id, "");
        assert_eq!(shortcut.message.unwrap().ts, "");
    }
}
