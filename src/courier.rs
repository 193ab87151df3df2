//! Telling people things: every message the app posts after answering Slack goes through
//! the [`Courier`]. A confirmation goes where the request came from (the channel or its
//! thread, else the command's `response_url`, else a direct message); a private notice
//! goes to the requester alone (the `response_url`, else an ephemeral message, else a
//! direct message). Slack's rate limits are waited out; a 429 means nothing was posted,
//! so waiting and posting again cannot double a message.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use slack_morphism::prelude::*;

use crate::jobs::ledger::{Ledger, Posting, Telling};
use crate::slack::api::{SlackApi, SlackCallError};
use crate::slack::ids::{ChannelId, TeamId, UserId};
use crate::slack::{limits, mrkdwn};
use crate::telemetry::Metrics;

/// Rate-limit answers are waited out at most this many times per message.
const MAX_RATE_LIMIT_WAITS: u32 = 5;
/// The longest single wait a `Retry-After` may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The metadata event type on every message posted for a job; its payload's `job` is the
/// job's key, so a post whose answer was lost can be found instead of made twice.
pub const JOB_EVENT: &str = "tallyfy_slack_job";
/// How far before the recorded moment of a post its message is looked for (clock skew).
const LOOK_BACK_SECS: i64 = 60;
/// The action id of the "Retry" button on a failure notice; its value is the job's key.
pub const RETRY_ACTION: &str = "job_retry";

/// Where a request came from, and so where its answers go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub team_id: TeamId,
    pub user_id: UserId,
    pub channel_id: Option<ChannelId>,
    /// The command's `response_url`: a way to answer even where the bot is not a member.
    pub response_url: Option<String>,
    pub thread_ts: Option<String>,
    /// The request that asked for the work, for the logs.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// Where an announcement went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Posted {
    /// A message in the channel (or its thread), which can be updated and replied to.
    InChannel { channel: String, ts: String },
    /// Through a response URL or a direct message, or found already posted.
    Elsewhere,
}

/// What a look for a job's message in a conversation found.
enum Found {
    Posted(String),
    Absent,
    /// The history could not be read (not a member, or Slack did not answer).
    Unknown,
}

/// No way to reach the person worked: Slack refused every path.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the message could not be delivered anywhere: {0}")]
pub struct Undelivered(pub SlackCallError);

#[derive(Clone)]
pub struct Courier {
    slack: SlackApi,
    ledger: Ledger,
    metrics: Metrics,
}

impl Courier {
    pub fn new(slack: SlackApi, ledger: Ledger, metrics: Metrics) -> Self {
        Self {
            slack,
            ledger,
            metrics,
        }
    }

    /// Posts job `job`'s outcome where the request came from: the channel (or its
    /// thread); else through the command's `response_url`; else privately to the
    /// requester. A channel post is recorded as intended before it is made and carries
    /// the job's key in its metadata: a run that takes the job over after the post was
    /// made, but before it was recorded as told, finds the message and does not post again.
    pub async fn announce(
        &self,
        job: &str,
        origin: &Origin,
        content: SlackMessageContent,
    ) -> Result<Posted, Undelivered> {
        if let Some(channel) = &origin.channel_id {
            let thread = origin.thread_ts.as_deref();
            if self.already_posted(job, channel.as_str(), thread).await {
                tracing::info!("the outcome was posted by an earlier run; not posting it again");
                return Ok(Posted::Elsewhere);
            }
            let posting = Posting {
                at: jiff::Timestamp::now().as_second(),
                channel: channel.to_string(),
                thread_ts: thread.map(str::to_string),
            };
            self.ledger.posting(job, &posting).await;
            match self
                .post(channel.as_str(), thread, &tagged(content.clone(), job))
                .await
            {
                Ok(Some(ts)) => {
                    return Ok(Posted::InChannel {
                        channel: channel.to_string(),
                        ts,
                    })
                }
                Ok(None) => return Ok(Posted::Elsewhere),
                // Sent, but no answer: Slack may have posted it. Look before any fallback.
                Err(e @ SlackCallError::Transport(_)) => {
                    match self.look_up(job, channel.as_str(), thread, &posting).await {
                        Found::Posted(ts) => {
                            tracing::info!(
                                "the post's answer was lost, but the message is in the channel"
                            );
                            return Ok(Posted::InChannel {
                                channel: channel.to_string(),
                                ts,
                            });
                        }
                        Found::Absent => {
                            tracing::info!(error = %e, "the post did not happen; trying the response URL")
                        }
                        // Neither known posted nor known absent: only the requester is shown
                        // it (privately), so the channel can never see it twice.
                        Found::Unknown => {
                            tracing::warn!(error = %e, "the post's outcome cannot be looked up; telling the requester privately");
                            return self.tell(origin, content).await.map(|()| Posted::Elsewhere);
                        }
                    }
                }
                Err(e) => {
                    tracing::info!(error = %e, "cannot post in the channel; trying the response URL")
                }
            }
        }
        if let Some(url) = &origin.response_url {
            if self
                .slack
                .respond(url, &response_body(&content, "in_channel"))
                .await
                .is_ok()
            {
                return Ok(Posted::Elsewhere);
            }
        }
        self.direct(&origin.user_id, &content, "confirmation")
            .await
            .map(|()| Posted::Elsewhere)
    }

    /// A reply in the thread of the message at `ts` in `channel`.
    pub async fn reply_in_thread(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
    ) -> Result<(), SlackCallError> {
        self.post(channel, Some(ts), &notice(text))
            .await
            .map(|_| ())
    }

    /// A line of news in a channel.
    pub async fn say(&self, channel: &str, text: &str) -> Result<(), SlackCallError> {
        self.post(channel, None, &notice(text)).await.map(|_| ())
    }

    /// The message at `ts` in `channel` now reads `content`.
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        content: SlackMessageContent,
    ) -> Result<(), SlackCallError> {
        self.slack.update_message(channel, ts, content).await
    }

    /// Whether an earlier run of `job` may have posted in this conversation, and did.
    async fn already_posted(&self, job: &str, channel: &str, thread: Option<&str>) -> bool {
        let Telling::Posting(posting) = self.ledger.telling(job).await else {
            return false;
        };
        if posting.channel != channel {
            return false;
        }
        match self.look_up(job, channel, thread, &posting).await {
            Found::Posted(_) => true,
            Found::Absent => false,
            Found::Unknown => {
                tracing::warn!("could not look for an earlier post of this outcome; posting it");
                false
            }
        }
    }

    /// Looks for the message of `job` posted (or meant to be) as `posting` says.
    async fn look_up(
        &self,
        job: &str,
        channel: &str,
        thread: Option<&str>,
        posting: &Posting,
    ) -> Found {
        let since = posting.at - LOOK_BACK_SECS;
        let mut joined = false;
        loop {
            match self
                .slack
                .find_tagged_message(channel, thread, since, JOB_EVENT, ("job", job))
                .await
            {
                Ok(Some(ts)) => return Found::Posted(ts),
                Ok(None) => return Found::Absent,
                // Posted with `chat:write.public` to a public channel the bot is not in: it
                // joins, and can then read what it posted there.
                Err(SlackCallError::Api(code))
                    if code == "not_in_channel" && !joined && is_public_channel(channel) =>
                {
                    joined = true;
                    if let Err(e) = self.slack.join_channel(channel).await {
                        tracing::info!(error = %e, "cannot join the channel to look for a post");
                        return Found::Unknown;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the conversation's history");
                    return Found::Unknown;
                }
            }
        }
    }

    /// A private message to the requester: the `response_url` (ephemeral), else an
    /// ephemeral message in the channel, else a direct message.
    pub async fn tell(
        &self,
        origin: &Origin,
        content: SlackMessageContent,
    ) -> Result<(), Undelivered> {
        if let Some(url) = &origin.response_url {
            if self
                .slack
                .respond(url, &response_body(&content, "ephemeral"))
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        if let Some(channel) = &origin.channel_id {
            if self
                .slack
                .post_ephemeral(channel.as_str(), origin.user_id.as_str(), content.clone())
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        self.direct(&origin.user_id, &content, "notice").await
    }

    /// Replaces the message whose button was pressed, for everyone in the conversation.
    pub async fn replace(
        &self,
        response_url: &str,
        content: &SlackMessageContent,
    ) -> Result<(), SlackCallError> {
        let mut body = response_body(content, "in_channel");
        body["replace_original"] = true.into();
        self.slack.respond(response_url, &body).await
    }

    /// A private answer to a button press, leaving its message as it is.
    pub async fn reply_privately(&self, response_url: &str, text: &str) {
        let body = serde_json::json!({"response_type": "ephemeral", "replace_original": false, "text": text});
        let _ = self.slack.respond(response_url, &body).await;
    }

    /// A private answer to `user`'s press: as [`Courier::reply_privately`], or in a direct
    /// message for a press without a response URL (on the Home tab).
    pub async fn answer_press(&self, user: &UserId, response_url: Option<&str>, text: &str) {
        match response_url {
            Some(url) => self.reply_privately(url, text).await,
            None => {
                let _ = self.direct(user, &notice(text), "notice").await;
            }
        }
    }

    /// A private note to someone who asked for something that did not happen (a form that
    /// would not open): through the `response_url` when there is one, else a direct message.
    pub async fn tell_person(&self, user: &UserId, response_url: Option<&str>, text: &str) {
        if let Some(url) = response_url {
            let reply = serde_json::json!({ "response_type": "ephemeral", "text": text });
            if self.slack.respond(url, &reply).await.is_ok() {
                return;
            }
        }
        let _ = self.direct(user, &notice(text), "notice").await;
    }

    /// `content` in a direct message to `user` (an alert of theirs), rate limits waited
    /// out; `what` names it in metrics and logs.
    pub async fn message_person(
        &self,
        user: &UserId,
        content: &SlackMessageContent,
        what: &str,
    ) -> Result<(), Undelivered> {
        self.direct(user, content, what).await
    }

    /// A direct message, the last way to reach someone.
    async fn direct(
        &self,
        user: &UserId,
        content: &SlackMessageContent,
        what: &str,
    ) -> Result<(), Undelivered> {
        self.post(user.as_str(), None, content)
            .await
            .map(|_| ())
            .map_err(|e| {
                self.metrics.job(what, "undelivered");
                tracing::error!(error = %e, user = %user, "{what} could not be delivered anywhere");
                Undelivered(e)
            })
    }

    /// `chat.postMessage`, waiting out rate limits (a few times).
    async fn post(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        content: &SlackMessageContent,
    ) -> Result<Option<String>, SlackCallError> {
        let mut waits = 0;
        let mut joined = false;
        loop {
            match self
                .slack
                .post_message(channel, thread_ts, content.clone())
                .await
            {
                Err(SlackCallError::RateLimited(after)) if waits < MAX_RATE_LIMIT_WAITS => {
                    waits += 1;
                    let wait = after.unwrap_or(Duration::from_secs(1)).min(MAX_RETRY_AFTER);
                    tokio::time::sleep(wait).await;
                }
                // A public channel the bot is not in: it joins, then posts as a member, so
                // its post can be read back should the answer to it be lost. A refused
                // post posted nothing, so posting again cannot double it.
                Err(SlackCallError::Api(code))
                    if code == "not_in_channel" && !joined && is_public_channel(channel) =>
                {
                    joined = true;
                    if let Err(e) = self.slack.join_channel(channel).await {
                        tracing::info!(error = %e, "cannot join the channel");
                        return Err(SlackCallError::Api(code));
                    }
                }
                other => return other,
            }
        }
    }
}

/// Whether `channel` may be a public channel, which the bot can join on its own: a `C` id
/// (a `G` id is a private channel or group message, `D` a direct message, `U`/`W` a person).
/// Joining a private one is refused (`method_not_supported_for_channel_type`), no harm done.
fn is_public_channel(channel: &str) -> bool {
    channel.starts_with('C')
}

/// The message with metadata naming the job it tells of.
fn tagged(mut content: SlackMessageContent, job: &str) -> SlackMessageContent {
    content.metadata = Some(SlackMessageMetadata {
        event_type: JOB_EVENT.into(),
        event_payload: Some([("job".to_string(), job.to_string())].into()),
    });
    content
}

/// A private notice to the requester: something did not happen, and what to do.
pub fn notice(text: &str) -> SlackMessageContent {
    SlackMessageContent::new().with_text(mrkdwn::clip(text, limits::MESSAGE_TEXT))
}

/// A failure notice; with a job key, it carries a "Retry" button that runs the job again.
pub fn failure(text: &str, retry: Option<&str>) -> SlackMessageContent {
    let Some(key) = retry else {
        return notice(text);
    };
    let button = SlackBlockButtonElement::new("Retry".into())
        .with_action_id(RETRY_ACTION.into())
        .with_value(key.to_string())
        .with_style(SlackBlockButtonStyle::Primary);
    let section = mrkdwn::clip(text, limits::SECTION_TEXT);
    SlackMessageContent::new()
        .with_text(mrkdwn::clip(text, limits::MESSAGE_TEXT))
        .with_blocks(vec![
            SlackSectionBlock::new()
                .with_text(SlackBlockMarkDownText::new(section).into())
                .into(),
            SlackActionsBlock::new(vec![button.into()]).into(),
        ])
}

/// A message as a `response_url` body.
fn response_body(content: &SlackMessageContent, response_type: &str) -> serde_json::Value {
    let mut body = serde_json::to_value(content).unwrap_or_default();
    body["response_type"] = response_type.into();
    body
}
