//! What to do with each thing Slack sends, whatever it came over: the HTTP routes and the
//! Socket Mode connection both parse, then call these, then send back the [`Answer`].
//! Everything here answers within Slack's 3 s; slow work is handed off. A request from
//! another workspace or app is refused here, before anything is looked up for it.

use serde_json::{json, Value};

use crate::courier;
use crate::modals::{self, ModalRequest, SubmitAnswer};
use crate::project;
use crate::slack::command::{is_help, SlashCommand};
use crate::slack::interaction::{Interaction, Shortcut};
use crate::slack::workspace::Admission;
use crate::state::AppState;
use crate::task;
use crate::work::RetryJob;

/// The callback id of the "Create a Tallyfy task" message shortcut.
pub const MESSAGE_SHORTCUT: &str = "task_from_message";
/// The callback id of the global "Create a Tallyfy task" shortcut.
pub const GLOBAL_SHORTCUT: &str = "task_anywhere";

/// How long a request answered inline may wait to learn whether its sender is a guest.
/// It is the sender's own profile, normally cached since their form opened; with the
/// lookups that follow (1.8 s for a submission's assignees, 2.2 s for `whois`) the answer
/// stays inside Slack's 3 s.
const GUEST_CHECK: std::time::Duration = std::time::Duration::from_millis(400);

/// The body of the answer to Slack: nothing (HTTP 200, empty), or a JSON document (as a
/// value, or already serialized).
#[derive(Debug, PartialEq)]
pub enum Answer {
    Empty,
    Json(Value),
    Serialized(bytes::Bytes),
}

fn ephemeral(text: String) -> Answer {
    Answer::Json(json!({ "response_type": "ephemeral", "text": text }))
}

/// A help answer: the same every time for a command, so it is serialized once (the last
/// command's is kept; a workspace names its commands one way).
fn help(
    cache: &std::sync::Mutex<Option<(String, bytes::Bytes)>>,
    command: &str,
    text: fn(&str) -> String,
) -> Answer {
    let mut cached = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((for_command, body)) = cached.as_ref() {
        if for_command == command {
            return Answer::Serialized(body.clone());
        }
    }
    let body = bytes::Bytes::from(
        serde_json::to_vec(&json!({ "response_type": "ephemeral", "text": text(command) }))
            .unwrap_or_default(),
    );
    *cached = Some((command.to_string(), body.clone()));
    Answer::Serialized(body)
}

static TASK_HELP: std::sync::Mutex<Option<(String, bytes::Bytes)>> = std::sync::Mutex::new(None);
static PROJECT_HELP: std::sync::Mutex<Option<(String, bytes::Bytes)>> = std::sync::Mutex::new(None);

/// Whether a request naming `team` and `app` is served; checked before anything is
/// looked up or done for it. A refusal is logged at info: strangers' requests are no
/// fault of this service.
fn admitted(state: &AppState, kind: &str, team: &str, app: Option<&str>) -> Admission {
    let admission = state.workspace.admits(team, app);
    match admission {
        Admission::Admitted => {}
        Admission::Refused => {
            state.metrics.slack_request(kind, "other_workspace");
            tracing::info!(
                kind,
                team,
                app,
                "refused a request from another workspace or app"
            );
        }
        Admission::NotYetKnown => {
            state.metrics.slack_request(kind, "workspace_unknown");
            tracing::info!(
                kind,
                "refused a request: Slack has not yet said whose the bot token is"
            );
        }
    }
    admission
}

pub async fn command(state: &AppState, cmd: SlashCommand) -> Answer {
    match admitted(state, "command", &cmd.team_id, cmd.api_app_id.as_deref()) {
        Admission::Admitted => {}
        Admission::Refused => {
            return ephemeral("This app serves another Slack workspace; nothing was done.".into())
        }
        Admission::NotYetKnown => {
            return ephemeral("I'm still starting up; please try again in a minute.".into())
        }
    }
    state
        .metrics
        .slack_request("command", cmd.command.trim_start_matches('/'));
    let answered_inline = task::whois::is_whois_or_forget(&cmd.text) || project::is_list(&cmd.text);
    if answered_inline
        && !is_help(&cmd.text)
        && modals::refused_guest(state, &cmd.team_id, &cmd.user_id, GUEST_CHECK).await
    {
        return ephemeral(modals::GUEST_REFUSAL.into());
    }
    match cmd.command.as_str() {
        "/task" if is_help(&cmd.text) => help(&TASK_HELP, &cmd.command, task::message::help),
        "/task" if task::whois::is_whois_or_forget(&cmd.text) => {
            ephemeral(task::whois::answer(state, &cmd).await.unwrap_or_default())
        }
        "/task" => {
            // The modal opens in the background: the trigger id is good for 3 s, and the
            // command is acknowledged at once so Slack never shows a timeout.
            let (app, request) = (state.clone(), ModalRequest::from(&cmd));
            opening(
                state
                    .jobs
                    .hand_off(async move { task::open(&app, request).await }),
            )
        }
        "/project" if is_help(&cmd.text) => {
            help(&PROJECT_HELP, &cmd.command, project::message::help)
        }
        // Answered inline: the progress lookups are bounded well inside Slack's 3 s.
        "/project" if project::is_list(&cmd.text) => Answer::Json(project::list(state, &cmd).await),
        "/project" => {
            let (app, request) = (state.clone(), ModalRequest::from(&cmd));
            opening(
                state
                    .jobs
                    .hand_off(async move { project::open(&app, request).await }),
            )
        }
        other => ephemeral(format!(
            "I don't know the command `{other}`. Try `/task help`."
        )),
    }
}

/// The answer to a command whose form opens in the background: nothing (the form comes),
/// or, when too much is running already, a word to try again.
fn opening(started: Result<(), crate::jobs::Busy>) -> Answer {
    match started {
        Ok(()) => Answer::Empty,
        Err(_) => ephemeral(
            "I'm handling a lot of requests right now and couldn't open the form. Please try again in a moment."
                .into(),
        ),
    }
}

pub async fn interaction(state: &AppState, interaction: Interaction) -> Answer {
    if let Some((team, app)) = interaction.sender() {
        if admitted(state, "interaction", &team, app) != Admission::Admitted {
            return Answer::Empty;
        }
    }
    match interaction {
        Interaction::ViewSubmission(sub) => {
            // A form that opened before Slack said who its user is: checked now.
            if modals::refused_guest(state, &sub.team_id(), &sub.user.id, GUEST_CHECK).await {
                let (app, user) = (state.clone(), sub.user.id.clone());
                let _ = state.jobs.hand_off(async move {
                    app.courier
                        .tell_person(&user, None, modals::GUEST_REFUSAL)
                        .await
                });
                return Answer::Empty;
            }
            let answer = match sub.view.callback_id.as_str() {
                task::modal::CALLBACK_ID => task::submit::submit(state, sub).await,
                project::modal::CALLBACK_ID => project::submit::submit(state, sub).await,
                _ => SubmitAnswer::Close,
            };
            match answer {
                SubmitAnswer::Close => {
                    state.metrics.slack_request("view_submission", "accepted");
                    Answer::Empty
                }
                SubmitAnswer::Errors(errors) => {
                    state.metrics.slack_request("view_submission", "invalid");
                    Answer::Json(json!({ "response_action": "errors", "errors": errors }))
                }
            }
        }
        Interaction::BlockActions(actions) => {
            for action in &actions.actions {
                if action.action_id == task::message::DONE_ACTION {
                    if let (Some(key), Some(url)) = (&action.value, &actions.response_url) {
                        state.metrics.slack_request("block_actions", "mark_done");
                        let (app, key, url) = (state.clone(), key.clone(), url.clone());
                        let (team, user) = (actions.team_id(), actions.user.id.clone());
                        let _ = state.jobs.hand_off(async move {
                            task::done::press(&app, &key, &team, &user, &url).await
                        });
                    }
                    continue;
                }
                let retry = action.action_id == project::message::RETRY_ACTION
                    || action.action_id == courier::RETRY_ACTION;
                if let (true, Some(key), Some(url)) = (retry, &action.value, &actions.response_url)
                {
                    state.metrics.slack_request("block_actions", "retry");
                    let retry = RetryJob {
                        key: key.clone(),
                        response_url: url.clone(),
                        pressed_by: Some(actions.user.id.clone()),
                    };
                    state.jobs.submit(retry.stored()).await;
                }
            }
            Answer::Empty
        }
        Interaction::MessageAction(shortcut) | Interaction::Shortcut(shortcut) => {
            shortcut_opened(state, shortcut);
            Answer::Empty
        }
        Interaction::Other => {
            state.metrics.slack_request("interaction", "ignored");
            Answer::Empty
        }
    }
}

/// A shortcut opens the "New task" modal: from a message, prefilled with its text and
/// answering in its thread; from anywhere, answering in a direct message.
fn shortcut_opened(state: &AppState, shortcut: Shortcut) {
    if shortcut.callback_id != MESSAGE_SHORTCUT && shortcut.callback_id != GLOBAL_SHORTCUT {
        state.metrics.slack_request("shortcut", "unknown");
        return;
    }
    state
        .metrics
        .slack_request("shortcut", &shortcut.callback_id);
    let request = ModalRequest::from(&shortcut);
    let app = state.clone();
    if state
        .jobs
        .hand_off(async move { task::open(&app, request).await })
        .is_err()
    {
        tracing::warn!("too much work is running: a shortcut's form was not opened");
    }
}

pub fn event(state: &AppState, event: &Value) -> Option<Answer> {
    let kind = event.get("type").and_then(|t| t.as_str())?;
    // A callback names its team; a URL verification names none, and is answered.
    if let Some(team) = event.get("team_id").and_then(Value::as_str) {
        let app = event.get("api_app_id").and_then(Value::as_str);
        if admitted(state, "event", team, app) != Admission::Admitted {
            return Some(Answer::Empty);
        }
    }
    match kind {
        "url_verification" => {
            state.metrics.slack_request("event", "url_verification");
            let challenge = event
                .get("challenge")
                .and_then(|c| c.as_str())
                .unwrap_or_default();
            Some(Answer::Json(json!({ "challenge": challenge })))
        }
        kind => {
            state.metrics.slack_request("event", kind);
            Some(Answer::Empty)
        }
    }
}
