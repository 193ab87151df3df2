//! What to do with each thing Slack sends, whatever it came over: the HTTP routes and the
//! Socket Mode connection both parse, then call these, then send back the [`Answer`].
//! Everything here answers within Slack's 3 s; slow work is handed off. A request from
//! another workspace or app is refused here, before anything is looked up for it.

use serde_json::{json, Value};

use crate::cards;
use crate::courier;
use crate::home;
use crate::job_kinds::{PressedOn, RetryJob};
use crate::modals::{self, ModalRequest, SubmitAnswer};
use crate::project;
use crate::slack::command::{is_help, SlashCommand};
use crate::slack::interaction::{Action, BlockActions, Interaction, Shortcut, ViewSubmission};
use crate::slack::workspace::Admission;
use crate::state::AppState;
use crate::task;

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

/// A slash command's answer. What only some commands wait for (a guest check, `whois`,
/// the project list) is kept on the heap while it runs, so the future of every command
/// (`help` answered from memory among them) stays small to move.
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
        && Box::pin(modals::refused_guest(
            state,
            &cmd.team_id,
            &cmd.user_id,
            GUEST_CHECK,
        ))
        .await
    {
        return ephemeral(modals::GUEST_REFUSAL.into());
    }
    match cmd.command.as_str() {
        "/task" if is_help(&cmd.text) => help(&TASK_HELP, &cmd.command, task::message::help),
        "/task" if task::whois::is_whois_or_forget(&cmd.text) => ephemeral(
            Box::pin(task::whois::answer(state, &cmd))
                .await
                .unwrap_or_default(),
        ),
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
        "/project" if project::is_list(&cmd.text) => {
            Answer::Json(Box::pin(project::list(state, &cmd)).await)
        }
        "/project" if project::template::named(&cmd.text).is_some() => {
            let name = project::template::named(&cmd.text)
                .unwrap_or_default()
                .to_string();
            let (app, request) = (state.clone(), ModalRequest::from(&cmd));
            opening(
                state
                    .jobs
                    .hand_off(async move { project::template::open(&app, request, name).await }),
            )
        }
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

/// A submission of any other form: a template's kick-off fields, a comment, a task's form.
async fn other_submission(state: &AppState, sub: ViewSubmission) -> SubmitAnswer {
    match sub.view.callback_id.as_str() {
        project::template_form::CALLBACK_ID => {
            Box::pin(project::template::submit(state, sub)).await
        }
        cards::comment::CALLBACK_ID => match Box::pin(cards::comment::submit(state, sub)).await {
            Ok(()) => SubmitAnswer::Close,
            Err(errors) => SubmitAnswer::Errors(errors),
        },
        cards::form::CALLBACK_ID => match Box::pin(cards::form::submit(state, sub)).await {
            Ok(()) => SubmitAnswer::Close,
            Err(errors) => SubmitAnswer::Errors(errors),
        },
        _ => SubmitAnswer::Close,
    }
}

/// An interaction's answer; `sent` is when Slack sent it (its trigger id's 3 s count from
/// then).
pub async fn interaction(
    state: &AppState,
    interaction: Interaction,
    sent: tokio::time::Instant,
) -> Answer {
    if let Some((team, app)) = interaction.sender() {
        if admitted(state, "interaction", &team, app) != Admission::Admitted {
            return Answer::Empty;
        }
    }
    match interaction {
        Interaction::ViewSubmission(sub) => {
            let answer_by = modals::AnswerBy::from_sent(sent);
            // A form that opened before Slack said who its user is: checked now, beside the
            // form's own lookups where it has some, before anything else otherwise.
            let (team, user) = (sub.team_id(), sub.user.id.clone());
            let asker = user.clone();
            let guest: modals::GuestCheck<'_> = Box::pin(async move {
                modals::refused_guest(state, &team, &user, answer_by.at_most(GUEST_CHECK)).await
            });
            let answer = match sub.view.callback_id.as_str() {
                task::modal::CALLBACK_ID => {
                    Box::pin(task::submit::submit(state, sub, answer_by, guest)).await
                }
                project::modal::CALLBACK_ID => {
                    Box::pin(project::submit::submit(state, sub, answer_by, guest)).await
                }
                _ if guest.await => SubmitAnswer::Refused,
                _ => Box::pin(other_submission(state, sub)).await,
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
                SubmitAnswer::Refused => {
                    let (app, user) = (state.clone(), asker);
                    let _ = state.jobs.hand_off(async move {
                        app.courier
                            .tell_person(&user, None, modals::GUEST_REFUSAL)
                            .await
                    });
                    Answer::Empty
                }
            }
        }
        Interaction::BlockActions(actions) => {
            for action in &actions.actions {
                if assignees_picked(state, &actions, action)
                    || template_chosen(state, &actions, action)
                    || cards::press(state, &actions, action, sent)
                    || home_guide(state, &actions, action)
                    || home::toggle(state, &actions, action)
                {
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
                        pressed_on: pressed_on(&actions),
                    };
                    Box::pin(state.jobs.submit(retry.stored())).await;
                }
            }
            Answer::Empty
        }
        Interaction::BlockSuggestion(asked) => {
            if asked.action_id != project::template_form::PICK_ACTION {
                state.metrics.slack_request("block_suggestion", "ignored");
                return Answer::Empty;
            }
            Answer::Json(Box::pin(project::template::suggestions(state, &asked.value)).await)
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

/// The message a button was pressed on, when it is one in a conversation that can be
/// followed (an ephemeral message cannot be updated later).
fn pressed_on(actions: &BlockActions) -> Option<PressedOn> {
    let container = actions.container.as_ref().filter(|c| !c.is_ephemeral)?;
    Some(PressedOn {
        channel: container.channel_id.as_ref()?.to_string(),
        ts: container.message_ts.clone().filter(|ts| !ts.is_empty())?,
    })
}

/// A pick in a form's Assignees picker (Slack sends each one): the people chosen are
/// looked up in the background while the form is filled in; false for any other action.
fn assignees_picked(state: &AppState, actions: &BlockActions, action: &Action) -> bool {
    let picker = match actions.view_callback_id() {
        task::modal::CALLBACK_ID => task::modal::ASSIGNEES,
        project::modal::CALLBACK_ID => project::modal::ASSIGNEES,
        _ => return false,
    };
    if action.block_id != picker {
        return false;
    }
    state
        .metrics
        .slack_request("block_actions", "people_picked");
    let (team, user) = (actions.team_id(), actions.user.id.clone());
    modals::look_up_early(state, team, action.selected_users.clone(), Some(user));
    true
}

/// A template chosen in a form's template menu: the form becomes its kick-off form;
/// false for any other action.
fn template_chosen(state: &AppState, actions: &BlockActions, action: &Action) -> bool {
    if action.action_id != project::template_form::PICK_ACTION {
        return false;
    }
    if let (Some(view), Some(id)) = (&actions.view, action.chosen()) {
        project::template::chosen(state, actions.user.id.clone(), view, id.to_string());
    }
    true
}

/// A Home tab's guide button: the command's help in a modal; false for any other action.
fn home_guide(state: &AppState, actions: &BlockActions, action: &Action) -> bool {
    let id = action.action_id.as_str();
    if id != home::HELP_TASK_ACTION && id != home::HELP_PROJECT_ACTION {
        return false;
    }
    let Some(trigger_id) = actions.trigger_id.clone() else {
        return true;
    };
    state.metrics.slack_request("block_actions", "home_guide");
    let guide = if id == home::HELP_TASK_ACTION {
        home::guide("Using /task", &task::message::help("/task"))
    } else {
        home::guide("Using /project", &project::message::help("/project"))
    };
    let app = state.clone();
    let _ = state.jobs.hand_off(async move {
        if let Err(e) = app.slack.open_view(&trigger_id, &guide).await {
            tracing::info!(error = %e, "could not open a Home tab guide");
        }
    });
    true
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
    // A callback names its team; a URL verification names none, and is answered. In a
    // Slack Connect channel `team_id` can be the other organization's; the workspace the
    // app is installed in is `authorizations[0].team_id`, which Bolt reads first
    // (slackapi/bolt-python `extract_team_id`).
    let authorized = event
        .pointer("/authorizations/0/team_id")
        .and_then(Value::as_str);
    if let Some(team) = authorized.or_else(|| event.get("team_id").and_then(Value::as_str)) {
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
        "event_callback" => {
            home::event(state, event);
            Some(Answer::Empty)
        }
        kind => {
            state.metrics.slack_request("event", kind);
            Some(Answer::Empty)
        }
    }
}
