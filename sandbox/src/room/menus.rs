//! Menus in a modal: a choice in a select of an `actions` block, sent at once as a
//! `block_actions` payload carrying the view and its state so far, and the options of an
//! `external_select`, asked of the app as Slack asks for them, with a `block_suggestion`
//! payload naming the menu and what has been typed (docs.slack.dev/reference/block-kit/
//! block-elements/select-menu-element#external_select; the app answers `{"options": [...]}`).

use serde_json::{json, Value};
use stand_ins::slack as fake_slack;

use super::{player, pressed, Room};

impl Room {
    /// Someone chose `action` (an element with its `selected_option`) in an `actions`
    /// block of their open modal `view_id`; `values` is the form's state so far.
    pub async fn choose_in_modal(
        &self,
        user: &str,
        view_id: &str,
        action: Value,
        values: Value,
    ) -> Result<(), String> {
        let mut view = self.open_view_of(user, view_id)?;
        let person = player(user).ok_or("no such person")?;
        view["state"] = json!({ "values": values });
        view["team_id"] = json!(fake_slack::TEAM);
        let payload = self.in_view(person, view_id, view, pressed(action, self.ts()));
        self.interact(payload).await.map(|_| ())
    }

    /// The options the app offers for the external select `action_id` in block
    /// `block_id` of the open modal `view_id`, for `typed`.
    pub async fn suggest(
        &self,
        user: &str,
        view_id: &str,
        block_id: &str,
        action_id: &str,
        typed: &str,
    ) -> Result<Value, String> {
        let view = self.open_view_of(user, view_id)?;
        let person = player(user).ok_or("no such person")?;
        let payload = json!({
            "type": "block_suggestion",
            "team": {"id": fake_slack::TEAM, "domain": "sandbox"},
            "user": {"id": user, "username": person.name, "name": person.name, "team_id": fake_slack::TEAM},
            "api_app_id": "A0TEST",
            "token": "sandbox",
            "container": {"type": "view", "view_id": view_id},
            "action_id": action_id,
            "block_id": block_id,
            "value": typed,
            "view": view,
        });
        self.interact(payload).await
    }
}
