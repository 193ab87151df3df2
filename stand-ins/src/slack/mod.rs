//! A local Slack Web API that behaves like the real one as far as this app depends on it:
//! bearer-token auth, trigger ids that expire after 3 s and work once, view limits,
//! `not_in_channel` for channels the bot is not in, Slack's rate-limit tiers answered 429
//! with `Retry-After` (see `tiers`), `users.info` shapes (with `profile.email` and `tz`),
//! and `response_url` endpoints.
//!
//! Block Kit's limits are enforced on every surface (messages, ephemeral messages,
//! `response_url` posts, views), as Slack's reference pages give them
//! (api.slack.com/reference/block-kit/blocks, .../block-elements, .../surfaces; see
//! shared/docs/slack-platform.md, "Message limits"): a message holds at most 50 blocks and
//! its `text` at most 40,000 characters (`msg_too_long`); a view at most 100 blocks;
//! a section's `text` at most 3,000 characters and at most 10 `fields` of 2,000; a header
//! 150; a context at most 10 elements; an actions block at most 25 elements; a button's
//! text 75, value 2,000 and url 3,000; `block_id` and `action_id` 255; `dispatch_action`
//! on input blocks only, as a boolean (.../reference/block-kit/blocks/input-block). Over a
//! limit, posts get `invalid_blocks`, `response_url` posts HTTP 400 `invalid_blocks`, and
//! views `invalid_arguments`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::{any, post};
use axum::Router;
use serde_json::Value;

use self::api::{api, hook};
use self::socket::socket;

mod api;
mod blocks;
mod socket;
mod tiers;

pub const BOT_TOKEN: &str = "xoxb-test-bot-token";
pub const APP_TOKEN: &str = "xapp-1-test-app-token";
pub const TEAM: &str = "T0TEST";
/// Sent down a socket's channel: the connection goes silent.
const FREEZE: &str = "\u{0}freeze";
/// Slack's trigger ids expire this long after the command was sent.
const TRIGGER_LIFETIME: Duration = Duration::from_secs(3);

#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub body: Value,
}

/// A modal Slack opened (or last updated).
#[derive(Clone, Debug)]
pub struct OpenView {
    pub trigger_id: String,
    pub id: String,
    pub hash: String,
    pub view: Value,
    /// How many times `views.update` replaced it.
    pub updates: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub tz: String,
    pub deleted: bool,
    pub is_bot: bool,
    /// A multi-channel guest.
    pub is_restricted: bool,
    /// A single-channel guest.
    pub is_ultra_restricted: bool,
    /// The person's own workspace when it is not this one: a member of another
    /// organization in a Slack Connect channel. `users.info` answers their own `team_id`
    /// (api.slack.com/methods/users.info: the user object's `team_id` is the user's
    /// workspace), and what they submit carries it (see [`FakeSlack::view_submission`]).
    pub team: Option<String>,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    /// When set, the lists of what was sent (calls, views opened, messages posted) keep
    /// about this many of the newest entries: a soak's hundred thousand requests fit.
    history: Option<usize>,
    /// Issued trigger ids and when.
    triggers: HashMap<String, Instant>,
    used_triggers: HashSet<String>,
    /// Open views: id -> hash.
    views: HashMap<String, String>,
    opened: Vec<OpenView>,
    /// The App Home view last published for each user, by user id.
    homes: HashMap<String, Value>,
    people: HashMap<String, Person>,
    /// Channels the bot is a member of.
    member_of: HashSet<String>,
    /// The installation lacks `chat:write.public` (the app's manifest asks for it).
    without_write_public: bool,
    users_info_delay: Duration,
    /// `users.info` calls being answered now, and the most there ever were at once.
    users_info_now: usize,
    users_info_most: usize,
    /// Scripted failures per method, used before normal handling: (status, body, retry-after).
    failures: HashMap<String, VecDeque<(u16, Value, Option<u64>)>>,
    /// response_url posts by hook id.
    responses: Vec<(String, Value)>,
    broken_response_urls: bool,
    /// Slack's rate limits, and what they counted.
    tiers: tiers::Tiers,
    /// The most members a `users.list` page holds, whatever `limit` asks.
    users_list_page_cap: Option<usize>,
    /// `users.list` calls answered so far, and the call (counted from 1) that fails once.
    users_list_answered: usize,
    users_list_fail_at: Option<usize>,
    /// Response URLs issued for a button on a posted message: hook id -> (channel, ts).
    message_hooks: HashMap<String, (String, String)>,
    /// Response URLs that answer 307 to another address, by hook id.
    redirects: HashMap<String, String>,
    /// Until then, posting (messages, ephemeral messages, response URLs) answers 503.
    posting_down_until: Option<Instant>,
    /// Messages chat.postMessage actually posted.
    posted: Vec<Value>,
    /// Ephemeral messages posted, with their `user` and `ts`.
    ephemerals: Vec<Value>,
    /// The next chat.postMessage posts, then holds its answer this long (a lost answer).
    post_then_hang: Option<Duration>,
    /// The answer being made is held this long first.
    hang_now: Option<Duration>,
    /// The next chat.postMessage posts, then its connection drops before the answer.
    post_then_drop: bool,
    /// The answer being made is cut off: the connection closes mid-answer.
    drop_now: bool,
    /// Methods whose every answer is held this long after the work is done.
    slow: HashMap<String, Duration>,
    /// Methods whose next call is held this long before its work is done (a request slow
    /// to arrive): a later call of the same method can overtake it.
    held: HashMap<String, Duration>,
    next_id: u64,
    /// Socket Mode: the open socket's sender, acknowledgements received, connections opened.
    socket: Option<tokio::sync::mpsc::UnboundedSender<Option<String>>>,
    /// Earlier sockets, kept open (as Slack keeps one for a while after a newer one opened)
    /// until the app closes them.
    retired: Vec<tokio::sync::mpsc::UnboundedSender<Option<String>>>,
    acks: Vec<Value>,
    connections_opened: usize,
    /// The WebSocket URL apps.connections.open hands out instead of this fake's own.
    socket_url: Option<String>,
    address: String,
}

#[derive(Clone)]
pub struct FakeSlack {
    inner: Arc<Mutex<Inner>>,
    pub base: String,
}

impl FakeSlack {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/api/{method}", any(api))
            .route("/hooks/{id}", post(hook))
            .route("/socket", axum::routing::get(socket))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        inner.lock().unwrap().address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { inner, base }
    }

    pub fn api_url(&self) -> String {
        format!("{}/api", self.base)
    }

    /// A fresh trigger id, as Slack issues with each command.
    pub fn issue_trigger(&self) -> String {
        let mut inner = self.inner.lock().unwrap();
        inner.next_id += 1;
        let id = format!("{}.{}.trigger", inner.next_id, rand_suffix());
        inner.triggers.insert(id.clone(), Instant::now());
        id
    }

    /// A trigger id Slack issued `ago` (with a request it sent then, which took that long
    /// to arrive): it expires 3 s after it was issued, not after it arrived
    /// (api.slack.com/interactivity/handling#modal_responses: "trigger_id ... expires in 3
    /// seconds").
    pub fn issue_trigger_ago(&self, ago: Duration) -> String {
        let id = self.issue_trigger();
        let mut inner = self.inner.lock().unwrap();
        let issued = Instant::now().checked_sub(ago).unwrap_or_else(Instant::now);
        inner.triggers.insert(id.clone(), issued);
        id
    }

    pub fn response_url(&self, id: &str) -> String {
        format!("{}/hooks/{id}", self.base)
    }

    /// The `response_url` Slack sends with a press of a button on the message at `ts` in
    /// `channel`: a post to it with `"replace_original": true` replaces that message for
    /// everyone (api.slack.com/interactivity/handling#updating_message_response).
    pub fn message_response_url(&self, channel: &str, ts: &str) -> String {
        let mut inner = self.inner.lock().unwrap();
        inner.next_id += 1;
        let id = format!("message-{}", inner.next_id);
        inner
            .message_hooks
            .insert(id.clone(), (channel.to_string(), ts.to_string()));
        format!("{}/hooks/{id}", self.base)
    }

    pub fn add_person(&self, person: Person) {
        self.inner
            .lock()
            .unwrap()
            .people
            .insert(person.id.clone(), person);
    }

    /// Keeps only about the newest `entries` of each list of what was sent (for a soak).
    pub fn keep_history(&self, entries: usize) {
        self.inner.lock().unwrap().history = Some(entries);
    }

    /// Slack's rate limits are not kept: for a soak or a burst that measures something
    /// else than Slack's pacing (it sends more in a minute than any tier takes).
    pub fn without_rate_limits(&self) {
        self.inner.lock().unwrap().tiers.off = true;
    }

    /// `calls` calls of `method` were made this minute by another replica of the app (or
    /// its previous process): Slack counts them against the same tier.
    pub fn spend_tier(&self, method: &str, calls: usize) {
        self.inner.lock().unwrap().tiers.spend(method, calls);
    }

    /// Takes `chat:write.public` away: public channels too need the bot as a member.
    pub fn without_write_public(&self) {
        self.inner.lock().unwrap().without_write_public = true;
    }

    pub fn join_channel(&self, channel: &str) {
        self.inner
            .lock()
            .unwrap()
            .member_of
            .insert(channel.to_string());
    }

    /// `users.list` pages hold at most `members`, whatever `limit` asks: Slack may return
    /// fewer than the limit, and a client must follow `next_cursor` until it is empty
    /// (api.slack.com/apis/pagination).
    pub fn cap_users_list_page(&self, members: usize) {
        self.inner.lock().unwrap().users_list_page_cap = Some(members.max(1));
    }

    /// The `call`th `users.list` call (counted from 1) fails once, as Slack's
    /// `internal_error` (HTTP 500).
    pub fn fail_users_list_call(&self, call: usize) {
        self.inner.lock().unwrap().users_list_fail_at = Some(call);
    }

    pub fn set_users_info_delay(&self, delay: Duration) {
        self.inner.lock().unwrap().users_info_delay = delay;
    }

    /// The most `users.info` calls that were ever in flight at once.
    pub fn users_info_at_once(&self) -> usize {
        self.inner.lock().unwrap().users_info_most
    }

    /// The next call of `method` answers `status` with `body` (and `Retry-After`).
    pub fn fail_next(&self, method: &str, status: u16, body: Value, retry_after: Option<u64>) {
        self.inner
            .lock()
            .unwrap()
            .failures
            .entry(method.to_string())
            .or_default()
            .push_back((status, body, retry_after));
    }

    /// Slack fails every post (503, `service_unavailable`) for the next `period`.
    pub fn posting_down_for(&self, period: Duration) {
        self.inner.lock().unwrap().posting_down_until = Some(Instant::now() + period);
    }

    /// Messages that were really posted (failed attempts are not here).
    /// Every call of `method` does its work, then holds its answer for `period`.
    pub fn answer_slowly(&self, method: &str, period: Duration) {
        self.inner
            .lock()
            .unwrap()
            .slow
            .insert(method.into(), period);
    }

    /// The next call of `method` is held `period` before it is carried out, as a request
    /// slow on the network is: calls made after it can be carried out first.
    pub fn hold_next(&self, method: &str, period: Duration) {
        self.inner
            .lock()
            .unwrap()
            .held
            .insert(method.into(), period);
    }

    /// The next `chat.postMessage` is posted, but its answer is held for `period`.
    pub fn post_then_hang(&self, period: Duration) {
        self.inner.lock().unwrap().post_then_hang = Some(period);
    }

    /// The next `chat.postMessage` is carried out, but the connection drops before its
    /// answer arrives: the poster cannot know whether the message was posted.
    pub fn post_then_drop(&self) {
        self.inner.lock().unwrap().post_then_drop = true;
    }

    pub fn posted(&self) -> Vec<Value> {
        self.inner.lock().unwrap().posted.clone()
    }

    /// Posts to the response URL `hook` are answered with a redirect (307) to `to`.
    pub fn redirect_hook(&self, hook: &str, to: &str) {
        self.inner
            .lock()
            .unwrap()
            .redirects
            .insert(hook.to_string(), to.to_string());
    }

    pub fn break_response_urls(&self) {
        self.inner.lock().unwrap().broken_response_urls = true;
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// The modal opened with `trigger_id`, as it stands now.
    pub fn opened_view(&self, trigger_id: &str) -> Option<OpenView> {
        self.inner
            .lock()
            .unwrap()
            .opened
            .iter()
            .rev()
            .find(|o| o.trigger_id == trigger_id)
            .cloned()
    }

    /// The App Home view last published (`views.publish`) for `user`.
    pub fn home_view(&self, user: &str) -> Option<Value> {
        self.inner.lock().unwrap().homes.get(user).cloned()
    }

    /// Sends a Socket Mode message to the connected app; false when none is connected.
    pub fn socket_send(&self, message: Value) -> bool {
        let s = self.inner.lock().unwrap();
        s.socket
            .as_ref()
            .is_some_and(|tx| tx.send(Some(message.to_string())).is_ok())
    }

    /// The connection goes silent, as a half-open link does: still open, but nothing is
    /// read from it or sent on it (not even a pong).
    /// It stops being the socket messages are sent down: [`FakeSlack::socket_connected`]
    /// is false until the app opens another.
    pub fn socket_freeze(&self) {
        let mut s = self.inner.lock().unwrap();
        if let Some(tx) = s.socket.take() {
            let _ = tx.send(Some(FREEZE.to_string()));
            s.retired.push(tx);
        }
    }

    /// apps.connections.open hands out `url` from now on.
    pub fn hand_out_socket_url(&self, url: &str) {
        self.inner.lock().unwrap().socket_url = Some(url.to_string());
    }

    /// Drops the connection from Slack's side, without a goodbye.
    pub fn socket_drop(&self) {
        if let Some(tx) = self.inner.lock().unwrap().socket.take() {
            let _ = tx.send(None);
        }
    }

    pub fn socket_connected(&self) -> bool {
        self.inner
            .lock()
            .unwrap()
            .socket
            .as_ref()
            .is_some_and(|tx| !tx.is_closed())
    }

    pub fn acks(&self) -> Vec<Value> {
        self.inner.lock().unwrap().acks.clone()
    }

    pub fn connections_opened(&self) -> usize {
        self.inner.lock().unwrap().connections_opened
    }

    /// Every modal opened, oldest first, as each stands now.
    pub fn opened_views(&self) -> Vec<OpenView> {
        self.inner.lock().unwrap().opened.clone()
    }

    /// Ephemeral messages posted (`chat.postEphemeral`), each with its `user` and `ts`.
    pub fn ephemerals(&self) -> Vec<Value> {
        self.inner.lock().unwrap().ephemerals.clone()
    }

    /// The people of the workspace, by id.
    pub fn people(&self) -> Vec<Person> {
        let mut people: Vec<Person> = self
            .inner
            .lock()
            .unwrap()
            .people
            .values()
            .cloned()
            .collect();
        people.sort_by(|a, b| a.id.cmp(&b.id));
        people
    }

    /// The `view_submission` Slack sends when `user` submits `view` with `values` (its
    /// `state.values`). In a Slack Connect channel a member of another organization
    /// submits with THEIR workspace in `team.id`, `user.team_id` and `view.team_id`; the
    /// workspace the app is installed in is only in `view.app_installed_team_id`
    /// (slackapi/bolt-js issue 1614, answered by Slack's support as the intended
    /// behaviour; Bolt reads `view.app_installed_team_id` before `team.id`:
    /// slackapi/bolt-python `slack_bolt/request/internals.py` `extract_team_id`, pull
    /// request 734, and slackapi/bolt-js pull request 1615).
    pub fn view_submission(&self, view: &OpenView, user: &str, values: Value) -> Value {
        let team = self
            .inner
            .lock()
            .unwrap()
            .people
            .get(user)
            .and_then(|p| p.team.clone())
            .unwrap_or_else(|| TEAM.to_string());
        serde_json::json!({
            "type": "view_submission",
            "team": {"id": team, "domain": "workspace"},
            "user": {"id": user, "username": "someone", "name": "someone", "team_id": team},
            "api_app_id": "A0TEST",
            "token": "verification-token",
            "trigger_id": format!("{}.submitted", rand_suffix()),
            "view": {
                "id": view.id, "team_id": team, "type": "modal", "hash": view.hash,
                "callback_id": view.view["callback_id"],
                "private_metadata": view.view["private_metadata"],
                "blocks": view.view["blocks"],
                "state": {"values": values},
                "app_id": "A0TEST", "app_installed_team_id": TEAM, "bot_id": "B0TEST",
                "root_view_id": view.id, "previous_view_id": null, "external_id": ""
            },
            "response_urls": [],
            "is_enterprise_install": false,
            "enterprise": null
        })
    }

    pub fn responses(&self) -> Vec<(String, Value)> {
        self.inner.lock().unwrap().responses.clone()
    }
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{nanos:x}")
}

/// Drops the older half of `list` once it holds more than `history` entries.
pub(crate) fn trim<T>(list: &mut Vec<T>, history: Option<usize>) {
    if let Some(most) = history {
        if list.len() > most {
            list.drain(..list.len() - most / 2);
        }
    }
}

#[cfg(test)]
mod tests;
