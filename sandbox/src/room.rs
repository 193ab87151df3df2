//! What a person does in the sandbox's channel, sent to the application as Slack sends it
//! (signed slash commands, `view_submission` and `block_actions` payloads, a pick in a
//! form's people picker among them), and what the
//! page shows: every message the application posted, ephemeral answers, open modals and
//! everything the stand-in Tallyfy holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};
use stand_ins::slack::{self as fake_slack, FakeSlack};
use stand_ins::tallyfy::FakeTallyfy;
use tallyfy_slack::config::Secret;
use tallyfy_slack::slack::signature::Verifier;

use crate::world::{self, Player, CHANNELS, PLAYERS};

mod menus;

/// A person's action, as the page sends it.
pub struct Action<'a> {
    pub user: &'a str,
    pub channel: &'a str,
}

pub struct Room {
    pub slack: FakeSlack,
    pub tallyfy: FakeTallyfy,
    /// The application's address.
    app: String,
    http: reqwest::Client,
    verifier: Verifier,
    next: AtomicU64,
    seen: Mutex<Seen>,
}

/// What the page has been shown, in the order it first appeared.
#[derive(Default)]
struct Seen {
    /// Who each response URL and trigger id was made for: id -> (user, channel).
    hooks: HashMap<String, (String, String)>,
    triggers: HashMap<String, String>,
    /// Lines that only the page adds: commands as typed, plain messages, the app's direct
    /// answers to commands.
    local: Vec<Value>,
    /// Modals closed (by their id), and modals replaced by a `response_action: update`.
    closed: std::collections::HashSet<String>,
    replaced: HashMap<String, Value>,
    /// Response URL posts already placed on the timeline.
    responses: usize,
    /// When each line was first seen (a count), by kind, channel and ts: the timeline's
    /// order, since Slack's and the page's timestamps do not interleave.
    order: HashMap<String, u64>,
}

impl Seen {
    fn place(&mut self, line: &Value) -> u64 {
        let key = format!("{}:{}:{}", line["kind"], line["channel"], line["ts"]);
        let next = self.order.len() as u64;
        *self.order.entry(key).or_insert(next)
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn player(user: &str) -> Option<&'static Player> {
    PLAYERS.iter().find(|p| p.id == user)
}

impl Room {
    pub fn new(slack: FakeSlack, tallyfy: FakeTallyfy, app: String) -> Self {
        Self {
            slack,
            tallyfy,
            app,
            http: reqwest::Client::new(),
            verifier: Verifier::new(Secret::new(world::SIGNING_SECRET)),
            next: AtomicU64::new(1),
            seen: Mutex::new(Seen::default()),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ts(&self) -> String {
        format!(
            "{:.6}",
            unix_now() + self.next.fetch_add(1, Ordering::Relaxed) as f64 * 1e-6
        )
    }

    /// A response URL for `user` in `channel`, and a trigger id, as Slack makes for each
    /// command and press.
    fn handles(&self, user: &str, channel: &str) -> (String, String) {
        let hook = format!("H{}", self.next.fetch_add(1, Ordering::Relaxed));
        let trigger = self.slack.issue_trigger();
        let mut seen = self.seen();
        seen.hooks
            .insert(hook.clone(), (user.to_string(), channel.to_string()));
        seen.triggers.insert(trigger.clone(), user.to_string());
        (self.slack.response_url(&hook), trigger)
    }

    fn add_local(&self, line: Value) {
        let mut seen = self.seen();
        seen.place(&line);
        seen.local.push(line);
    }

    /// Posts `body` to the application's `path`, signed as Slack signs it.
    async fn send(&self, path: &str, content_type: &str, body: String) -> Result<Value, String> {
        let ts = (unix_now() as i64).to_string();
        let signature = self.verifier.sign(&ts, body.as_bytes());
        let answer = self
            .http
            .post(format!("{}{path}", self.app))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", signature)
            .body(body)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("the app did not answer: {e}"))?;
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!("the app answered {status}: {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn interact(&self, payload: Value) -> Result<Value, String> {
        let body = serde_urlencoded::to_string([("payload", payload.to_string())])
            .map_err(|e| e.to_string())?;
        self.send(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            body,
        )
        .await
    }

    /// Someone typed `text` in the message box: a slash command goes to the application,
    /// anything else is a message in the channel. `@name` becomes a mention, as Slack
    /// escapes it for commands that ask for escaping.
    pub async fn say(&self, who: Action<'_>, text: &str) -> Result<(), String> {
        let Some(person) = player(who.user) else {
            return Err("no such person".into());
        };
        let text = mentions(text.trim());
        let Some(command) = text.strip_prefix('/') else {
            self.add_local(
                json!({"kind": "said", "channel": who.channel, "user": who.user,
                "ts": self.ts(), "text": text}),
            );
            return Ok(());
        };
        let (name, rest) = command.split_once(' ').unwrap_or((command, ""));
        self.add_local(
            json!({"kind": "typed", "channel": who.channel, "user": who.user,
            "ts": self.ts(), "text": format!("/{name} {rest}").trim_end()}),
        );
        let (response_url, trigger) = self.handles(who.user, who.channel);
        let channel_name = CHANNELS
            .iter()
            .find(|c| c.id == who.channel)
            .map_or("directmessage", |c| c.name);
        let body = serde_urlencoded::to_string([
            ("token", "sandbox"),
            ("team_id", fake_slack::TEAM),
            ("team_domain", "sandbox"),
            ("channel_id", who.channel),
            ("channel_name", channel_name),
            ("user_id", who.user),
            ("user_name", person.name),
            ("command", &format!("/{name}")),
            ("text", rest),
            ("response_url", &response_url),
            ("trigger_id", &trigger),
            ("api_app_id", "A0TEST"),
        ])
        .map_err(|e| e.to_string())?;
        let answer = self
            .send("/slack/commands", "application/x-www-form-urlencoded", body)
            .await?;
        if answer.get("text").is_some() || answer.get("blocks").is_some() {
            let visible = answer["response_type"] == "in_channel";
            self.add_local(json!({"kind": if visible { "app" } else { "ephemeral" },
                "channel": who.channel, "user": who.user, "ts": self.ts(),
                "text": answer["text"], "blocks": answer["blocks"]}));
        }
        Ok(())
    }

    /// The modal `view_id`, when it is open for `user`.
    fn open_view_of(&self, user: &str, view_id: &str) -> Result<Value, String> {
        self.open_views()
            .into_iter()
            .find(|(for_user, v)| for_user == user && v["id"] == view_id)
            .map(|(_, view)| view)
            .ok_or_else(|| "that form is no longer open".to_string())
    }

    /// Someone submitted the modal `view_id` with its inputs' state, as Slack shapes it.
    /// Answers the application's `response_action`, if any (inline errors).
    pub async fn submit(&self, user: &str, view_id: &str, values: Value) -> Result<Value, String> {
        let view = self.open_view_of(user, view_id)?;
        let person = player(user).ok_or("no such person")?;
        let mut submitted = view.clone();
        submitted["state"] = json!({ "values": values });
        submitted["team_id"] = json!(fake_slack::TEAM);
        let payload = json!({
            "type": "view_submission",
            "team": {"id": fake_slack::TEAM, "domain": "sandbox"},
            "user": {"id": user, "username": person.name, "name": person.name, "team_id": fake_slack::TEAM},
            "api_app_id": "A0TEST",
            "token": "sandbox",
            "trigger_id": self.slack.issue_trigger(),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": false
        });
        let answer = self.interact(payload).await?;
        let mut seen = self.seen();
        match answer["response_action"].as_str() {
            Some("errors") => {}
            Some("update") => {
                seen.replaced
                    .insert(view_id.to_string(), answer["view"].clone());
            }
            _ => {
                seen.closed.insert(view_id.to_string());
            }
        }
        Ok(answer)
    }

    /// Someone picked people in the users select of the input block `block_id` on their
    /// open modal `view_id`; `values` is the form's state so far. Slack sends the pick at
    /// once as a `block_actions` payload when the block has `dispatch_action: true`
    /// (docs.slack.dev/reference/interaction-payloads/block_actions-payload), and sends
    /// nothing otherwise. Answers whether it was sent.
    pub async fn pick(
        &self,
        user: &str,
        view_id: &str,
        block_id: &str,
        values: Value,
    ) -> Result<bool, String> {
        let view = self.open_view_of(user, view_id)?;
        let person = player(user).ok_or("no such person")?;
        let block = view["blocks"]
            .as_array()
            .and_then(|blocks| blocks.iter().find(|b| b["block_id"] == block_id))
            .cloned()
            .ok_or("no such block on the form")?;
        let element = &block["element"];
        let kind = element["type"].as_str().unwrap_or_default();
        if block["type"] != "input"
            || block["dispatch_action"] != true
            || !matches!(kind, "multi_users_select" | "users_select")
        {
            return Ok(false);
        }
        let chosen = &values[block_id][element["action_id"].as_str().unwrap_or_default()];
        let mut action = json!({"type": kind, "action_id": element["action_id"],
            "block_id": block_id, "action_ts": self.ts()});
        if kind == "multi_users_select" {
            action["selected_users"] = chosen["selected_users"].clone();
        } else {
            action["selected_user"] = chosen["selected_user"].clone();
        }
        let mut current = view.clone();
        current["state"] = json!({ "values": values });
        current["team_id"] = json!(fake_slack::TEAM);
        let payload = self.in_view(person, view_id, current, action);
        self.interact(payload).await.map(|_| true)
    }

    /// Someone closed the modal `view_id` without submitting it.
    pub fn close(&self, view_id: &str) {
        self.seen().closed.insert(view_id.to_string());
    }

    /// Someone pressed a button on the message `ts` in `channel`.
    pub async fn press(&self, who: Action<'_>, ts: &str, action: Value) -> Result<(), String> {
        let person = player(who.user).ok_or("no such person")?;
        let (response_url, trigger) = self.handles(who.user, who.channel);
        let message = self
            .slack
            .posted()
            .into_iter()
            .find(|m| m["ts"] == ts && m["channel"] == who.channel)
            .unwrap_or_else(|| json!({"ts": ts, "blocks": []}));
        let payload = json!({
            "type": "block_actions",
            "team": {"id": fake_slack::TEAM, "domain": "sandbox"},
            "user": {"id": who.user, "username": person.name, "name": person.name, "team_id": fake_slack::TEAM},
            "api_app_id": "A0TEST",
            "token": "sandbox",
            "container": {"type": "message", "message_ts": ts, "channel_id": who.channel, "is_ephemeral": false},
            "channel": {"id": who.channel, "name": CHANNELS.iter().find(|c| c.id == who.channel).map_or("directmessage", |c| c.name)},
            "message": {"type": "message", "ts": ts, "text": message["text"], "blocks": blocks_of(&message)},
            "response_url": response_url,
            "trigger_id": trigger,
            "actions": [pressed(action, self.ts())]
        });
        self.interact(payload).await.map(|_| ())
    }

    /// Someone opened the app's Home tab: Slack sends `app_home_opened`.
    pub async fn open_home(&self, user: &str) -> Result<(), String> {
        player(user).ok_or("no such person")?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let event = json!({
            "token": "sandbox", "team_id": fake_slack::TEAM, "api_app_id": "A0TEST",
            "type": "event_callback", "event_id": format!("Ev{n:08}"), "event_time": unix_now() as i64,
            "event": {"type": "app_home_opened", "user": user, "channel": format!("D{user}"),
                      "tab": "home", "event_ts": self.ts()}
        });
        self.send("/slack/events", "application/json", event.to_string())
            .await
            .map(|_| ())
    }

    /// Someone pressed a button on their Home tab.
    pub async fn press_home(&self, user: &str, action: Value) -> Result<(), String> {
        let person = player(user).ok_or("no such person")?;
        let view = self.slack.home_view(user).unwrap_or_else(|| json!({}));
        let view_id = view["id"].as_str().unwrap_or("VHOME").to_string();
        let payload = self.in_view(person, &view_id, view, pressed(action, self.ts()));
        self.interact(payload).await.map(|_| ())
    }

    /// The `block_actions` payload Slack sends for `action` taken by `person` in the view
    /// `view_id` (a modal or their Home tab), with a fresh trigger id of theirs.
    fn in_view(&self, person: &Player, view_id: &str, view: Value, action: Value) -> Value {
        let trigger = self.slack.issue_trigger();
        self.seen()
            .triggers
            .insert(trigger.clone(), person.id.to_string());
        json!({
            "type": "block_actions",
            "team": {"id": fake_slack::TEAM, "domain": "sandbox"},
            "user": {"id": person.id, "username": person.name, "name": person.name, "team_id": fake_slack::TEAM},
            "api_app_id": "A0TEST",
            "token": "sandbox",
            "container": {"type": "view", "view_id": view_id},
            "view": view,
            "trigger_id": trigger,
            "actions": [action],
            "is_enterprise_install": false
        })
    }

    /// Someone ran the message shortcut on a message `text` in a channel.
    pub async fn shortcut(&self, who: Action<'_>, ts: &str, text: &str) -> Result<(), String> {
        let person = player(who.user).ok_or("no such person")?;
        let (response_url, trigger) = self.handles(who.user, who.channel);
        let payload = json!({
            "type": "message_action",
            "callback_id": "task_from_message",
            "team": {"id": fake_slack::TEAM, "domain": "sandbox"},
            "user": {"id": who.user, "username": person.name, "name": person.name, "team_id": fake_slack::TEAM},
            "channel": {"id": who.channel, "name": "projects"},
            "message": {"type": "message", "ts": ts, "text": text, "user": who.user},
            "message_ts": ts,
            "response_url": response_url,
            "trigger_id": trigger,
            "token": "sandbox",
            "action_ts": self.ts()
        });
        self.interact(payload).await.map(|_| ())
    }

    /// The stand-in Tallyfy completes (or reopens) a task as `member`, and calls its
    /// webhook as Tallyfy does.
    pub async fn complete(&self, task_id: &str, member: u64, done: bool) -> Option<u16> {
        self.tallyfy
            .complete_id_and_tell(task_id, member, done)
            .await
    }

    /// The modals open, oldest first, each with the person it was opened for.
    fn open_views(&self) -> Vec<(String, Value)> {
        let opened = self.slack.opened_views();
        let seen = self.seen();
        opened
            .into_iter()
            .filter(|o| !seen.closed.contains(&o.id))
            .filter_map(|o| {
                let user = seen.triggers.get(&o.trigger_id)?.clone();
                let mut view = seen.replaced.get(&o.id).cloned().unwrap_or(o.view);
                view["id"] = json!(o.id);
                view["hash"] = json!(o.hash);
                Some((user, view))
            })
            .collect()
    }

    /// Everything the page draws: people, channels, the timeline (oldest first), each
    /// person's open modal, and the stand-in Tallyfy's processes and tasks.
    pub fn state(&self) -> Value {
        let mut lines: Vec<Value> = self
            .slack
            .posted()
            .into_iter()
            .map(|mut m| {
                m["kind"] = json!("app");
                m["blocks"] = blocks_of(&m);
                m
            })
            .collect();
        lines.extend(self.slack.ephemerals().into_iter().map(|mut m| {
            m["kind"] = json!("ephemeral");
            m["blocks"] = blocks_of(&m);
            m
        }));
        let responses = self.slack.responses();
        {
            let mut seen = self.seen();
            lines.extend(seen.local.iter().cloned());
            // Response URL posts carry no timestamp: they are given one when first seen.
            let first_unseen = seen.responses;
            for (hook, body) in responses.iter().skip(first_unseen) {
                let id = hook.trim_start_matches('/').to_string();
                let Some((user, channel)) = seen.hooks.get(&id).cloned() else {
                    continue;
                };
                let visible = body["response_type"] == "in_channel";
                let line = json!({"kind": if visible { "app" } else { "ephemeral" },
                    "channel": channel, "user": user, "ts": self.ts(),
                    "text": body["text"], "blocks": blocks_of(body)});
                seen.local.push(line.clone());
                lines.push(line);
            }
            seen.responses = responses.len();
        }
        lines.sort_by(|a, b| {
            let t = |v: &Value| {
                v["ts"]
                    .as_str()
                    .and_then(|t| t.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            t(a).total_cmp(&t(b))
        });
        {
            let mut seen = self.seen();
            let mut placed: Vec<(u64, Value)> =
                lines.into_iter().map(|l| (seen.place(&l), l)).collect();
            placed.sort_by_key(|(at, _)| *at);
            lines = placed.into_iter().map(|(_, l)| l).collect();
        }
        // Each person sees their newest open modal.
        let mut newest: HashMap<String, Value> = HashMap::new();
        for (user, view) in self.open_views() {
            newest.insert(user, view);
        }
        let modals: Vec<Value> = newest
            .into_iter()
            .map(|(user, view)| json!({"user": user, "view": view}))
            .collect();
        let runs: Vec<Value> = self
            .tallyfy
            .all_runs()
            .into_iter()
            .map(|(id, mut tasks)| {
                for task in &mut tasks {
                    let comments = self
                        .tallyfy
                        .comments(task["id"].as_str().unwrap_or_default());
                    task["comments"] = json!(comments);
                }
                json!({"id": id, "oneoff": id.starts_with("oneoff-"), "tasks": tasks})
            })
            .collect();
        let homes: serde_json::Map<String, Value> = PLAYERS
            .iter()
            .filter_map(|p| self.slack.home_view(p.id).map(|v| (p.id.to_string(), v)))
            .collect();
        json!({
            "homes": homes,
            "people": PLAYERS,
            "channels": CHANNELS,
            "lines": lines,
            "modals": modals,
            "tallyfy": {"runs": runs, "members": self.tallyfy.members().iter().map(|m| json!({"id": m.id, "email": m.email, "name": m.first_name})).collect::<Vec<_>>()},
        })
    }
}

/// The action as Slack describes it in `block_actions`: a button's value, or the option
/// chosen from an overflow menu or a select.
fn pressed(action: Value, ts: String) -> Value {
    let text = |t: &Value| json!({"type": "plain_text", "text": t.as_str().unwrap_or_default()});
    let mut out = json!({
        "type": action["type"].as_str().unwrap_or("button"),
        "action_id": action["action_id"], "block_id": action["block_id"], "action_ts": ts
    });
    match action.get("selected_option") {
        Some(option) if !option.is_null() => {
            out["selected_option"] =
                json!({"text": text(&option["text"]), "value": option["value"]});
        }
        _ => {
            out["value"] = action["value"].clone();
            out["text"] = text(&action["text"]);
        }
    }
    out
}

/// A message's blocks as a list (form-encoded posts carry them as a JSON string).
fn blocks_of(message: &Value) -> Value {
    match &message["blocks"] {
        Value::String(raw) => serde_json::from_str(raw).unwrap_or(json!([])),
        Value::Array(_) => message["blocks"].clone(),
        _ => json!([]),
    }
}

/// `@name` as Slack escapes a mention in a command's text: `<@U123|name>`.
fn mentions(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let bare = word.trim_end_matches([',', '.', '!', '?', ';', ':']);
            let tail = &word[bare.len()..];
            match bare
                .strip_prefix('@')
                .and_then(|n| PLAYERS.iter().find(|p| p.name.eq_ignore_ascii_case(n)))
            {
                Some(p) => format!("<@{}|{}>{tail}", p.id, p.name),
                None => word.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn names_become_mentions_as_slack_escapes_them() {
        assert_eq!(
            mentions("Review it @alice, @Bob and @nobody"),
            "Review it <@U0ALICE|alice>, <@U0BOB|bob> and @nobody"
        );
    }
}
