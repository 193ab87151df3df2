//! Opening a modal from a slash command, shared by `/task` and `/project`: it must go out
//! within the trigger id's 3 s, so the requester's timezone is waited for only briefly, and
//! the modal is corrected once it is known.

use std::time::Duration;

use jiff::{Timestamp, Zoned};
use serde::{Deserialize, Serialize};
use slack_morphism::prelude::*;

use crate::channel_projects::ProjectRef;
use crate::courier::Origin;
use crate::deadline;
use crate::jobs::ledger::Claim;
use crate::slack::api::SlackPerson;
use crate::slack::command::{parse_text, CommandText, SlashCommand};
use crate::slack::ids::{ChannelId, TeamId, UserId};
use crate::slack::interaction::{Shortcut, View, ViewState, ViewSubmission};
use crate::state::AppState;
use crate::tallyfy::model::{Group, Tag};

pub mod options;
pub mod quick_text;

/// How long a trigger id stays good for opening a form, less a margin for the way back.
const TRIGGER_LIFE: Duration = Duration::from_millis(2800);
/// The latest a form's `views.open` call is started, after the command: Slack takes a few
/// hundred milliseconds to open a form, so a form whose turn among the calls in flight
/// comes later than this would reach Slack with its trigger all but spent. It is not
/// sent (no call spent on Slack's rate limit for nothing), and the person is told.
const LAST_CALL: Duration = Duration::from_millis(2000);
/// How long opening a modal waits for the requester's timezone. Slack's trigger id lives
/// three seconds; past this wait the modal opens with UTC and is corrected once it is known.
const PROFILE_WAIT: Duration = Duration::from_millis(1200);

/// Slack gives up on a submission's answer 3 s after it sent it
/// (api.slack.com/surfaces/modals#submission_responses): every wait a submission makes is
/// bounded by what is left of that, counted from Slack's send, whatever else is slow.
#[derive(Clone, Copy, Debug)]
pub struct AnswerBy(tokio::time::Instant);

/// How long after Slack sent a submission its answer leaves, at the latest.
const ANSWER_WITHIN: Duration = Duration::from_millis(2400);
/// What is kept back from the waits for claiming the submission and queueing its job.
const HAND_OFF: Duration = Duration::from_millis(400);

impl AnswerBy {
    /// The deadline of a submission Slack sent at `sent`.
    pub fn from_sent(sent: tokio::time::Instant) -> Self {
        Self(sent + ANSWER_WITHIN)
    }

    /// `wait`, or less: what is left before the answer must go, less the hand-off's share.
    pub fn at_most(&self, wait: Duration) -> Duration {
        let left = self
            .0
            .saturating_duration_since(tokio::time::Instant::now());
        wait.min(left.saturating_sub(HAND_OFF))
    }
}

/// What a modal answers a submission with.
#[derive(Debug, PartialEq, Eq)]
pub enum SubmitAnswer {
    /// Close the modal: the work has been handed off (or was already).
    Close,
    /// Keep it open and show these messages under these blocks.
    Errors(std::collections::BTreeMap<String, String>),
    /// The submitter is a refused guest: nothing was kept; close it and tell them why.
    Refused,
}

/// Whether a submission's sender is a refused guest ([`refused_guest`]): it runs beside the
/// form's own lookups and is settled before anything of the submission is kept.
pub type GuestCheck<'a> = futures::future::BoxFuture<'a, bool>;

/// `answer` (a form's errors), unless the guest check refuses the submitter.
pub async fn unless_refused(guest: GuestCheck<'_>, answer: SubmitAnswer) -> SubmitAnswer {
    if guest.await {
        SubmitAnswer::Refused
    } else {
        answer
    }
}

/// Where a modal came from, carried through Slack in `private_metadata`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<ChannelId>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub response_url: Option<String>,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// The requester's timezone, for reading date phrases typed into the modal.
    #[serde(rename = "z", default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
}

impl Metadata {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("plain strings serialise")
    }

    /// Lenient: a missing or foreign value gives empty metadata, never an error.
    pub fn decode(raw: &str) -> Self {
        serde_json::from_str(raw).unwrap_or_default()
    }
}

/// A request to open a modal: from a slash command, or from a shortcut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModalRequest {
    pub team_id: TeamId,
    pub user_id: UserId,
    /// Where the answer goes; `None` for a global shortcut (then: a direct message).
    pub channel_id: Option<ChannelId>,
    pub trigger_id: String,
    pub response_url: Option<String>,
    /// Answer in this thread (a message shortcut on a message).
    pub thread_ts: Option<String>,
    /// The text to prefill from, as Slack sent it.
    pub text: String,
    /// A longer text for the summary (the message a shortcut was used on).
    pub summary: Option<String>,
    /// How the user asked, for messages: `/task`, or the shortcut.
    pub via: String,
    /// When the request reached the service: its trigger id lives three seconds from then.
    pub received: tokio::time::Instant,
}

impl From<&SlashCommand> for ModalRequest {
    fn from(cmd: &SlashCommand) -> Self {
        Self {
            team_id: cmd.team_id.clone(),
            user_id: cmd.user_id.clone(),
            channel_id: Some(cmd.channel_id.clone()),
            trigger_id: cmd.trigger_id.clone(),
            response_url: Some(cmd.response_url.clone()),
            thread_ts: None,
            text: cmd.text.clone(),
            summary: None,
            via: cmd.command.clone(),
            received: tokio::time::Instant::now(),
        }
    }
}

impl From<&Shortcut> for ModalRequest {
    fn from(s: &Shortcut) -> Self {
        let message_text = s
            .message
            .as_ref()
            .map(|m| m.text.clone())
            .unwrap_or_default();
        // The message's first line becomes the title; all of it, the summary.
        let first_line: String = message_text
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        let summary = crate::slack::command::parse_text_keep_lines(&message_text);
        Self {
            team_id: s.team_id(),
            user_id: s.user.id.clone(),
            channel_id: s.channel.as_ref().map(|c| c.id.clone()),
            trigger_id: s.trigger_id.clone(),
            response_url: s.response_url.clone(),
            thread_ts: s
                .message
                .as_ref()
                .map(|m| m.thread_ts.clone().unwrap_or_else(|| m.ts.clone()))
                .filter(|ts| !ts.is_empty()),
            text: first_line,
            summary: Some(summary).filter(|s| !s.is_empty()),
            via: "the Create a Tallyfy task shortcut".into(),
            received: tokio::time::Instant::now(),
        }
    }
}

/// What a modal is built from.
pub struct Opening {
    pub text: CommandText,
    /// A summary to prefill, when the request carried one.
    pub summary: Option<String>,
    /// Now, in the requester's timezone (UTC until it is known).
    pub now: Zoned,
    pub metadata: Metadata,
    /// The channel's recent projects, newest first.
    pub projects: Vec<ProjectRef>,
    /// The organization's Tallyfy groups, when they were at hand in time.
    pub groups: Vec<Group>,
    /// The organization's Tallyfy tags, likewise.
    pub tags: Vec<Tag>,
}

/// The block of Tallyfy groups a task can be assigned to.
pub const GROUPS: &str = "groups";
/// The block of the "assign as guests" choice.
pub const GUESTS: &str = "guests";
const GUESTS_OK: &str = "guests_ok";

/// How long opening waits for the organization's groups and tags before leaving them out.
const GROUPS_WAIT: Duration = Duration::from_millis(1000);

/// A multi-select of the organization's groups (Slack shows at most 100 options).
pub fn groups_block(groups: &[Group]) -> SlackBlock {
    let options: Vec<SlackBlockChoiceItem<SlackBlockPlainTextOnly>> = groups
        .iter()
        .take(100)
        .map(|g| {
            SlackBlockChoiceItem::new(
                g.name.chars().take(75).collect::<String>().as_str().into(),
                g.id.clone(),
            )
        })
        .collect();
    let element = SlackBlockMultiStaticSelectElement::new()
        .with_action_id("value".into())
        .with_placeholder("Tallyfy groups".into())
        .with_options(options);
    SlackInputBlock::new("Assign Tallyfy groups".into(), element.into())
        .with_block_id(GROUPS.into())
        .with_optional(true)
        .into()
}

/// A form's Assignees block. Each pick in it is sent to the app at once
/// (`dispatch_action`), which looks the people up while the rest of the form is filled in.
pub fn assignees_block(
    block_id: &str,
    picker: SlackBlockMultiUsersSelectElement,
    optional: bool,
) -> SlackBlock {
    SlackInputBlock::new("Assignees".into(), picker.into())
        .with_block_id(block_id.into())
        .with_optional(optional)
        .with_dispatch_action(true)
        .into()
}

/// The choice to assign people without a Tallyfy account as guests, by email.
pub fn guests_block() -> SlackBlock {
    let option = SlackBlockChoiceItem::new(
        SlackBlockText::from(SlackBlockPlainText::from(
            "Assign people without a Tallyfy account as guests (by email)",
        )),
        GUESTS_OK.to_string(),
    );
    let element = SlackBlockCheckboxesElement::new(vec![option]).with_action_id("value".into());
    SlackInputBlock::new("Guests".into(), element.into())
        .with_block_id(GUESTS.into())
        .with_optional(true)
        .into()
}

/// The groups chosen on a submitted modal: (id, name).
pub fn read_groups(state: &ViewState) -> Vec<Group> {
    state
        .selected_options(GROUPS)
        .into_iter()
        .map(|(id, name)| Group { id, name })
        .collect()
}

/// A required one-line text (a title, a name), trimmed; an empty or too long one is
/// recorded in `errors`. `plural` names the thing in the message ("Titles"), and
/// `advice` follows it.
pub fn read_required_text(
    state: &ViewState,
    block_id: &str,
    empty: &str,
    plural: &str,
    advice: &str,
    errors: &mut std::collections::BTreeMap<String, String>,
) -> String {
    const MAX_CHARS: usize = crate::tallyfy::limits::MAX_TITLE_CHARS;
    let text = state
        .text(block_id)
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    let chars = text.chars().count();
    if text.is_empty() {
        errors.insert(block_id.into(), empty.into());
    } else if chars > MAX_CHARS {
        errors.insert(
            block_id.into(),
            format!(
                "{plural} can be at most {MAX_CHARS} characters; this one has {chars}.{advice}"
            ),
        );
    }
    text
}

/// The most people one task or project may name: each is looked up in Slack and Tallyfy,
/// and the budget for those calls is shared by everyone.
pub const MAX_PEOPLE: usize = 50;

/// What the form says when a request names too many people.
pub fn too_many_people(named: usize) -> String {
    format!(
        "At most {MAX_PEOPLE} people can be assigned at once; this names {named}. Assign a Tallyfy group for larger teams."
    )
}

/// The people and Tallyfy groups chosen; at least one of either, or `missing` is recorded.
pub fn read_owners(
    state: &ViewState,
    block_id: &str,
    missing: &str,
    errors: &mut std::collections::BTreeMap<String, String>,
) -> (Vec<UserId>, Vec<Group>) {
    let assignees = state.users(block_id);
    let groups = read_groups(state);
    if assignees.is_empty() && groups.is_empty() {
        errors.insert(block_id.into(), missing.into());
    } else if assignees.len() > MAX_PEOPLE {
        errors.insert(block_id.into(), too_many_people(assignees.len()));
    }
    (assignees, groups)
}

/// The deadline block's value, or why it is unusable (recorded in `errors`).
pub fn read_deadline(
    state: &ViewState,
    block_id: &str,
    now: jiff::Timestamp,
    errors: &mut std::collections::BTreeMap<String, String>,
) -> Option<jiff::Timestamp> {
    match state
        .date_time(block_id)
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
    {
        None => {
            errors.insert(
                block_id.into(),
                "Pick a date and time for the deadline.".into(),
            );
            None
        }
        Some(ts) if ts <= now => {
            errors.insert(
                block_id.into(),
                "That deadline is in the past. Pick a time that is still ahead.".into(),
            );
            None
        }
        Some(ts) => Some(ts),
    }
}

/// Claims a submission (team, view and hash) so that a repeat of it creates nothing.
pub async fn claim_submission(state: &AppState, team: &TeamId, view: &View) -> Claim {
    let claim = state
        .ledger
        .claim_submission(team, &view.id, view.hash.as_deref().unwrap_or(""))
        .await;
    if !claim.first {
        tracing::info!(view_id = %view.id, "repeated submission ignored");
    }
    claim
}

/// Where a submitted modal's answers go: the metadata it was opened with, falling back to
/// the submission's own response URL.
pub fn origin(sub: &ViewSubmission, metadata: Metadata) -> Origin {
    let fallback_url = sub
        .response_urls
        .iter()
        .chain(&sub.view.response_urls)
        .map(|r| r.response_url.clone())
        .find(|url| !url.is_empty());
    Origin {
        team_id: sub.team_id(),
        user_id: sub.user.id.clone(),
        channel_id: metadata.channel_id,
        response_url: metadata.response_url.or(fallback_url),
        thread_ts: metadata.thread_ts,
        request_id: crate::telemetry::current_request_id(),
    }
}

/// Whether "assign as guests" was ticked.
pub fn read_guests_ok(state: &ViewState) -> bool {
    state
        .selected_options(GUESTS)
        .iter()
        .any(|(v, _)| v == GUESTS_OK)
}

/// What a Slack guest is told when guests may not use the app (`SLACK_ALLOW_GUESTS`).
pub const GUEST_REFUSAL: &str = "Sorry: Slack guests can't use this app in this workspace. Ask a member of the workspace to do it for you.";

/// Whether `person` is a guest this installation refuses.
pub fn refuses(state: &AppState, person: &SlackPerson) -> bool {
    !state.config.slack.allow_guests && person.guest == Some(true)
}

/// Whether `user` is a guest this installation refuses, asked within `budget`. When Slack
/// cannot say in time the request goes ahead: a form that opened without the check is
/// checked again when it is submitted, and the person is usually cached by then.
pub async fn refused_guest(state: &AppState, team: &str, user: &str, budget: Duration) -> bool {
    if state.config.slack.allow_guests {
        return false;
    }
    match tokio::time::timeout(budget, state.directory.person(team, user)).await {
        Ok(Ok(person)) => refuses(state, &person),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not tell whether the requester is a guest");
            false
        }
        Err(_) => {
            tracing::info!("Slack is slow to say whether the requester is a guest");
            false
        }
    }
}

/// How long looking up the people picked in a form may run in the background; past that
/// it is left to the submission, which looks up whoever is not known yet.
const EARLY_LOOKUP_LIMIT: Duration = Duration::from_secs(10);
/// How long the early lookup waits to learn whether the person filling in the form is a
/// guest (their profile is normally cached since the form opened).
const EARLY_GUEST_CHECK: Duration = Duration::from_secs(2);

/// Looks up `people`, picked in a form (or named in the command that opened it), while the
/// form is being filled in, so that its submission finds them known: in the background,
/// bounded like all work handed off after an answer. A lookup still running when the form
/// is submitted is joined by the submission, not repeated; one that is refused (too much
/// running) or gives up costs nothing, since the submission looks up whoever is not known
/// yet. Nobody is looked up for a form naming more than [`MAX_PEOPLE`] (the submission
/// says so), nor, when `requester` is given, for a guest this installation refuses.
pub fn look_up_early(
    state: &AppState,
    team: TeamId,
    people: Vec<UserId>,
    requester: Option<UserId>,
) {
    if people.is_empty() || people.len() > MAX_PEOPLE {
        return;
    }
    let app = state.clone();
    let handed = state.jobs.hand_off(async move {
        if let Some(requester) = requester {
            if refused_guest(&app, &team, &requester, EARLY_GUEST_CHECK).await {
                return;
            }
        }
        let lookup = app.directory.resolve_all(&team, &people);
        match tokio::time::timeout(EARLY_LOOKUP_LIMIT, lookup).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::info!(error = %e, "people picked in a form could not be looked up yet")
            }
            Err(_) => tracing::info!("people picked in a form are still being looked up"),
        }
    });
    if handed.is_err() {
        tracing::info!(
            "too much work is running: people picked in a form are looked up when it is submitted"
        );
    }
}

/// A lookup for a form, waited for `wait` at most. It runs on by itself, so a slow one
/// still warms the cache for next time.
/// The lookup starts at once, in a task of its own (on the heap, so that what waits for
/// it stays small).
fn waited<T: Send + 'static>(
    lookup: impl std::future::Future<Output = Result<T, crate::directory::DirectoryError>>
        + Send
        + 'static,
    wait: Duration,
) -> impl std::future::Future<Output = Option<T>> {
    let running = tokio::spawn(Box::pin(lookup));
    async move {
        tokio::time::timeout(wait, running)
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(Result::ok)
    }
}

/// Opens the modal `build` makes for `req`, telling the user if Slack refuses it.
pub async fn open_for_command(
    state: &AppState,
    req: &ModalRequest,
    projects: Vec<ProjectRef>,
    build: impl Fn(&Opening) -> SlackView,
) {
    // The lookups and calls below are kept on the heap, each only while it runs: the
    // form's task stays small, however many are opening at once.
    let mut person = Box::pin(state.directory.person(&req.team_id, &req.user_id));
    let profile = tokio::time::timeout(PROFILE_WAIT, &mut person);
    let directory = state.directory.clone();
    let groups = waited(async move { directory.groups().await }, GROUPS_WAIT);
    let directory = state.directory.clone();
    let tags = waited(async move { directory.tags().await }, GROUPS_WAIT);
    let (profile, groups, tags) = tokio::join!(profile, groups, tags);
    let (tz, pending) = match profile {
        Ok(Ok(p)) if refuses(state, &p) => {
            tracing::info!("a Slack guest was refused");
            Box::pin(state.courier.tell_person(
                &req.user_id,
                req.response_url.as_deref(),
                GUEST_REFUSAL,
            ))
            .await;
            return;
        }
        Ok(Ok(p)) => (p.tz, false),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not read the requester's timezone; using UTC");
            (None, false)
        }
        Err(_) => (None, true),
    };
    let text = parse_text(&req.text);
    // The people the command names fill the form's Assignees: looked up while it opens
    // (the guest check again when Slack has not yet said who the requester is).
    look_up_early(
        state,
        req.team_id.clone(),
        text.mentions.clone(),
        pending.then(|| req.user_id.clone()),
    );
    let now = Timestamp::now();
    let metadata = Metadata {
        channel_id: req.channel_id.clone(),
        response_url: req.response_url.clone(),
        thread_ts: req.thread_ts.clone(),
        tz: tz.clone(),
    };
    let mut opening = Opening {
        text,
        summary: req.summary.clone(),
        now: now.to_zoned(deadline::timezone(tz.as_deref())),
        metadata,
        projects,
        groups: groups.unwrap_or_default(),
        tags: tags.unwrap_or_default(),
    };
    // A trigger id is good for three seconds: past that, opening the form is not worth
    // trying (and an answer that comes later than that is not waited for). The form is
    // made when its turn to be sent comes, so forms waiting for Slack hold no view.
    let left = TRIGGER_LIFE.saturating_sub(req.received.elapsed());
    let open = state.slack.open_built_view(&req.trigger_id, || {
        (req.received.elapsed() < LAST_CALL).then(|| build(&opening))
    });
    let opened = match tokio::time::timeout(left, Box::pin(open)).await {
        Err(_) | Ok(Ok(None)) => {
            state.metrics.slack_request("form", "too_late");
            let text = format!(
                "Slack was too slow to open the form just now. Please try {} again.",
                req.via
            );
            Box::pin(
                state
                    .courier
                    .tell_person(&req.user_id, req.response_url.as_deref(), &text),
            )
            .await;
            return;
        }
        Ok(Ok(Some(opened))) => opened,
        Ok(Err(e)) => {
            let text = format!(
                "I couldn't open the form (Slack said `{}`). Please try {} again.",
                e.code(),
                req.via
            );
            Box::pin(
                state
                    .courier
                    .tell_person(&req.user_id, req.response_url.as_deref(), &text),
            )
            .await;
            return;
        }
    };
    // The timezone came late: rebuild with it, so defaults fall at 17:00 the user's time.
    if pending {
        if let Ok(Ok(p)) = tokio::time::timeout(Duration::from_secs(10), person).await {
            // The form as it was opened, made again (not kept while Slack answered).
            let first = build(&opening);
            opening.now = now.to_zoned(deadline::timezone(p.tz.as_deref()));
            opening.metadata.tz = p.tz;
            let corrected = build(&opening);
            if corrected != first {
                let _ = Box::pin(state.slack.update_view(&opened, corrected)).await;
            }
        }
    }
}
