//! The Slack Web API client (through slack-morphism), with a base URL from configuration
//! and a connector that speaks plain HTTP as well as HTTPS, so tests can point it at a
//! local server. `response_url` posts go through a plain HTTP client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use crate::config::SlackConfig;
use crate::telemetry::Metrics;

mod measured;
mod views;

/// The longest a Web API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a `response_url` post may take.
const RESPONSE_URL_TIMEOUT: Duration = Duration::from_secs(5);

/// A Slack Web API failure, sorted by what the caller does about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SlackCallError {
    /// `{"ok": false, "error": code}`.
    #[error("Slack answered {0}")]
    Api(String),
    /// HTTP 429: wait `Retry-After` (when given), then try again once.
    #[error("Slack rate limit reached")]
    RateLimited(Option<Duration>),
    #[error("could not reach Slack: {0}")]
    Transport(String),
    /// Slack answered `ok`, but in a shape this client could not read.
    #[error("unreadable answer from Slack: {0}")]
    Unreadable(String),
}

impl SlackCallError {
    pub fn code(&self) -> &str {
        match self {
            SlackCallError::Api(code) => code,
            SlackCallError::RateLimited(_) => "ratelimited",
            SlackCallError::Transport(_) => "transport",
            SlackCallError::Unreadable(_) => "unreadable",
        }
    }
}

impl From<SlackClientError> for SlackCallError {
    fn from(e: SlackClientError) -> Self {
        match e {
            SlackClientError::ApiError(api) => SlackCallError::Api(api.code),
            SlackClientError::RateLimitError(limit) => {
                SlackCallError::RateLimited(limit.retry_after)
            }
            // Slack's bodies carry people's profiles and messages: an error keeps where the
            // answer went wrong, never what it said.
            SlackClientError::ProtocolError(e) => SlackCallError::Unreadable(format!(
                "{:?} error at line {} column {}",
                e.json_error.classify(),
                e.json_error.line(),
                e.json_error.column()
            )),
            SlackClientError::HttpError(e) => {
                SlackCallError::Transport(format!("HTTP {}", e.status_code.as_u16()))
            }
            SlackClientError::HttpProtocolError(_) => {
                SlackCallError::Transport("an HTTP protocol error".into())
            }
            SlackClientError::EndOfStream(_) => {
                SlackCallError::Transport("the connection closed early".into())
            }
            SlackClientError::SystemError(_) | SlackClientError::SocketModeProtocolError(_) => {
                SlackCallError::Transport("the request could not be made".into())
            }
        }
    }
}

/// `views.open` calls in flight at once. Each holds a connection, its buffers and the
/// form's JSON until Slack answers: past this many, the next waits for one to end (its
/// trigger's clock running, so a slow Slack turns into "too slow, try again" rather than
/// into memory). At Slack's usual 100 to 300 ms this is 200 to 600 forms a second for
/// each replica; each call in flight holds about 40 KB (its connection's buffers and
/// channel, and the form's JSON), so the bound is also what the form path's memory
/// peaks at.
pub const OPENING_AT_ONCE: usize = 64;

/// Who the bot token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub team_id: String,
    /// `None` when `bots.info` would not say: then only the team is checked.
    pub app_id: Option<String>,
    /// The workspace's address (`auth.test`'s `url`, e.g. `https://acme.slack.com/`), for
    /// links to messages.
    pub url: Option<String>,
}

/// The id and hash of an open view, for a later `views.update`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedView {
    pub id: String,
    pub hash: String,
}

/// What `users.info` tells about a person.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlackPerson {
    pub id: String,
    pub email: Option<String>,
    pub tz: Option<String>,
    pub name: Option<String>,
    pub deleted: bool,
    pub is_bot: bool,
    /// A Slack guest (`is_restricted` or `is_ultra_restricted`); `None` in a profile
    /// cached before this was read, which is then looked up again.
    #[serde(default)]
    pub guest: Option<bool>,
}

#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackClient<SlackClientHyperHttpsConnector>>,
    token: SlackApiToken,
    http: reqwest::Client,
    metrics: Metrics,
    /// Web API base, ending in `/`.
    api_url: url::Url,
    /// Response URLs are posted to only under this base.
    response_url_base: url::Url,
    /// Forms being opened at once (see [`OPENING_AT_ONCE`]).
    opening: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlackApi")
    }
}

impl SlackApi {
    pub fn new(config: &SlackConfig, metrics: Metrics) -> std::io::Result<Self> {
        crate::tls::init();
        // slack-morphism's own constructor is HTTPS-only; `https_or_http` lets the base URL
        // be a plain-HTTP local server as well. TCP_NODELAY: over TLS with HTTP/2 a call is
        // several small writes (headers, then the body), and with Nagle's algorithm the
        // second waits for the ACK of the first, which the server delays: every Slack call
        // took 25-50 ms longer (the benchmark's chat.postMessage: 43 ms on average, against
        // 0.4 ms for Tallyfy's create, whose reqwest client sets it already).
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        // slack-morphism joins method names with its own `/`.
        let api_url = config.api_url.as_str().trim_end_matches('/');
        let connector =
            SlackClientHyperConnector::with_connector(https).with_slack_api_url(api_url);
        // A redirect could send a post (or the bot token) somewhere else: none is followed.
        let http = reqwest::Client::builder()
            .timeout(RESPONSE_URL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Self {
            client: Arc::new(SlackClient::new(connector)),
            token: SlackApiToken::new(config.bot_token.expose().to_string().into()),
            http,
            metrics,
            api_url: config.api_url.clone(),
            response_url_base: config.response_url_base.clone(),
            opening: Arc::new(tokio::sync::Semaphore::new(OPENING_AT_ONCE)),
        })
    }

    /// `apps.connections.open` with the app-level token: the WebSocket URL of a new
    /// Socket Mode connection.
    pub async fn open_socket(
        &self,
        app_token: &crate::config::Secret,
    ) -> Result<String, SlackCallError> {
        #[derive(serde::Deserialize)]
        struct Opened {
            ok: bool,
            #[serde(default)]
            url: Option<String>,
            #[serde(default)]
            error: Option<String>,
        }
        let started = Instant::now();
        let result = async {
            let url = self
                .api_url
                .join("apps.connections.open")
                .expect("a method name joins a base URL");
            let response = self
                .http
                .post(url)
                .bearer_auth(app_token.expose())
                .send()
                .await
                .map_err(|e| SlackCallError::Transport(e.without_url().to_string()))?;
            if let Some(limited) = rate_limited(&response) {
                return Err(limited);
            }
            let opened: Opened = response
                .json()
                .await
                .map_err(|e| SlackCallError::Unreadable(e.to_string()))?;
            match (opened.ok, opened.url) {
                (true, Some(url)) => Ok(url),
                _ => Err(SlackCallError::Api(
                    opened.error.unwrap_or_else(|| "no_url".into()),
                )),
            }
        }
        .await;
        let status = match &result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        self.metrics
            .slack_call("apps.connections.open", status, started.elapsed());
        result
    }

    /// `views.publish`: `user`'s App Home tab now shows `view`.
    pub async fn publish_home(&self, user: &str, view: SlackView) -> Result<(), SlackCallError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiViewsPublishRequest::new(user.to_string().into(), view);
        self.measured("views.publish", || session.views_publish(&req))
            .await
            .map(|_| ())
    }

    /// Replaces an open view; `hash` makes Slack refuse if the view changed meanwhile.
    pub async fn update_view(
        &self,
        opened: &OpenedView,
        view: SlackView,
    ) -> Result<OpenedView, SlackCallError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiViewsUpdateRequest::new(view)
            .with_view_id(opened.id.clone().into())
            .with_hash(opened.hash.clone());
        let updated = self
            .measured("views.update", || session.views_update(&req))
            .await?;
        Ok(OpenedView {
            id: updated.view.state_params.id.to_string(),
            hash: updated.view.state_params.hash,
        })
    }

    /// `chat.postMessage`; `channel` may be a user id, which posts to the bot's DM with them.
    /// Answers the message's `ts` when Slack's answer could be read.
    pub async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        content: SlackMessageContent,
    ) -> Result<Option<String>, SlackCallError> {
        let session = self.client.open_session(&self.token);
        let mut req = SlackApiChatPostMessageRequest::new(channel.to_string().into(), content);
        req.thread_ts = thread_ts.map(|ts| ts.to_string().into());
        req.unfurl_links = Some(false);
        match self
            .measured("chat.postMessage", || session.chat_post_message(&req))
            .await
        {
            Ok(posted) => Ok(Some(posted.ts.to_string())),
            // Slack said ok: the message is posted, whatever else its answer held. Treating
            // this as a failure would post it a second time through a fallback.
            Err(SlackCallError::Unreadable(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `conversations.join` (scope `channels:join`): the bot becomes a member of the public
    /// channel `channel`, so it can post there and read back what it posted.
    pub async fn join_channel(&self, channel: &str) -> Result<(), SlackCallError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiConversationsJoinRequest::new(channel.to_string().into());
        match self
            .measured("conversations.join", || session.conversations_join(&req))
            .await
        {
            // Slack said ok; the channel's description in its answer is not needed.
            Ok(_) | Err(SlackCallError::Unreadable(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `chat.update`: the message at `ts` in `channel` now reads `content`.
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        content: SlackMessageContent,
    ) -> Result<(), SlackCallError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatUpdateRequest::new(
            channel.to_string().into(),
            content,
            ts.to_string().into(),
        );
        self.measured("chat.update", || session.chat_update(&req))
            .await
            .map(|_| ())
    }

    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        content: SlackMessageContent,
    ) -> Result<(), SlackCallError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatPostEphemeralRequest::new(
            channel.to_string().into(),
            user.to_string().into(),
            content,
        );
        self.measured("chat.postEphemeral", || session.chat_post_ephemeral(&req))
            .await
            .map(|_| ())
    }

    pub async fn user_info(&self, user: &str) -> Result<SlackPerson, SlackCallError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiUsersInfoRequest::new(user.to_string().into());
        let info = self
            .measured("users.info", || session.users_info(&req))
            .await?;
        let u = info.user;
        let profile = u.profile.as_ref();
        Ok(SlackPerson {
            id: u.id.to_string(),
            email: profile
                .and_then(|p| p.email.as_ref())
                .map(|e| e.to_string()),
            tz: u.tz.clone(),
            name: profile
                .and_then(|p| {
                    p.display_name
                        .clone()
                        .filter(|n| !n.is_empty())
                        .or_else(|| p.real_name.clone())
                })
                .or(u.real_name.clone())
                .or(u.name.clone()),
            deleted: u.deleted.unwrap_or(false),
            is_bot: u.flags.is_bot.unwrap_or(false),
            guest: Some(
                u.flags.is_restricted.unwrap_or(false)
                    || u.flags.is_ultra_restricted.unwrap_or(false),
            ),
        })
    }

    /// One page of the workspace's people (`users.list`): the active ones, each with the
    /// names they go by, and the cursor of the next page (`None` after the last).
    #[allow(clippy::type_complexity)]
    pub async fn people_page(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<(String, Vec<String>)>, Option<String>), SlackCallError> {
        let session = self.client.open_session(&self.token);
        let mut req = SlackApiUsersListRequest::new().with_limit(200);
        req.cursor = cursor.map(|c| SlackCursorId(c.to_string()));
        let page = self
            .measured("users.list", || session.users_list(&req))
            .await?;
        let mut people = Vec::new();
        for u in page.members {
            if u.deleted.unwrap_or(false) || u.flags.is_bot.unwrap_or(false) {
                continue;
            }
            let mut names: Vec<String> = Vec::new();
            names.extend(u.name.clone());
            if let Some(p) = &u.profile {
                names.extend(p.display_name.clone());
                names.extend(p.real_name.clone());
            }
            names.extend(u.real_name.clone());
            names.retain(|n| !n.trim().is_empty());
            people.push((u.id.to_string(), names));
        }
        let next = page
            .response_metadata
            .and_then(|m| m.next_cursor)
            .map(|c| c.to_string())
            .filter(|c| !c.is_empty());
        Ok((people, next))
    }

    /// `auth.test`: proves the bot token works; answers the team and bot user.
    pub async fn auth_test(&self) -> Result<(String, String), SlackCallError> {
        let session = self.client.open_session(&self.token);
        let me = self.measured("auth.test", || session.auth_test()).await?;
        Ok((me.team_id.to_string(), me.user_id.to_string()))
    }

    /// Whose the bot token is: its team (`auth.test`) and its app (`bots.info` on the
    /// bot `auth.test` names; left unknown when Slack will not say).
    pub async fn installation(&self) -> Result<Identity, SlackCallError> {
        let session = self.client.open_session(&self.token);
        let me = self.measured("auth.test", || session.auth_test()).await?;
        let app_id = match &me.bot_id {
            Some(bot) => {
                let req = SlackApiBotsInfoRequest::new().with_bot(bot.to_string());
                match self.measured("bots.info", || session.bots_info(&req)).await {
                    Ok(info) => Some(info.bot.app_id).filter(|a| !a.is_empty()),
                    Err(_) => None,
                }
            }
            None => None,
        };
        Ok(Identity {
            team_id: me.team_id.to_string(),
            app_id,
            url: Some(me.url.0.to_string()).filter(|u| u.starts_with("https://")),
        })
    }

    /// The `ts` of the message, if `channel` (or, with `thread_ts`, that thread) holds one posted since
    /// `since` (unix seconds) whose metadata is `event_type` with `field` = `value`: how a
    /// post whose answer was lost is found before it is made again. Reads
    /// `conversations.history` (or `conversations.replies`) with `include_all_metadata`,
    /// which needs the `channels:history` / `groups:history` scopes.
    pub async fn find_tagged_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        since: i64,
        event_type: &str,
        (field, value): (&str, &str),
    ) -> Result<Option<String>, SlackCallError> {
        #[derive(serde::Deserialize)]
        struct Page {
            ok: bool,
            #[serde(default)]
            error: Option<String>,
            #[serde(default)]
            messages: Vec<serde_json::Value>,
        }
        let method = if thread_ts.is_some() {
            "conversations.replies"
        } else {
            "conversations.history"
        };
        let started = Instant::now();
        let result = async {
            let url = self
                .api_url
                .join(method)
                .expect("a method name joins a base URL");
            let mut query = vec![
                ("channel", channel.to_string()),
                ("oldest", since.to_string()),
                ("include_all_metadata", "true".to_string()),
                ("limit", "200".to_string()),
            ];
            if let Some(ts) = thread_ts {
                query.push(("ts", ts.to_string()));
            }
            let response = self
                .http
                .get(url)
                .bearer_auth(self.token.token_value.0.as_str())
                .query(&query)
                .send()
                .await
                .map_err(|e| SlackCallError::Transport(e.without_url().to_string()))?;
            if response.status().as_u16() == 429 {
                return Err(SlackCallError::RateLimited(None));
            }
            let page: Page = response
                .json()
                .await
                .map_err(|e| SlackCallError::Unreadable(e.to_string()))?;
            if !page.ok {
                return Err(SlackCallError::Api(page.error.unwrap_or_default()));
            }
            Ok(page
                .messages
                .iter()
                .find(|m| {
                    m["metadata"]["event_type"] == event_type
                        && m["metadata"]["event_payload"][field] == value
                })
                .map(|m| m["ts"].as_str().unwrap_or_default().to_string()))
        }
        .await;
        let status = match &result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        self.metrics.slack_call(method, status, started.elapsed());
        result
    }

    /// Posts to a `response_url` (valid 30 minutes, five uses), if it lies under
    /// `SLACK_RESPONSE_URL_BASE`; any other address is refused without being reached (and
    /// the warning does not repeat it).
    pub async fn respond(
        &self,
        response_url: &str,
        body: &serde_json::Value,
    ) -> Result<(), SlackCallError> {
        if !super::response_url::is_under(&self.response_url_base, response_url) {
            tracing::warn!("refused to post to a response URL outside SLACK_RESPONSE_URL_BASE");
            self.metrics
                .slack_call("response_url", "refused", Duration::ZERO);
            return Err(SlackCallError::Api("response_url_refused".into()));
        }
        let started = Instant::now();
        let result = async {
            let response = self
                .http
                .post(response_url)
                .json(body)
                .send()
                .await
                .map_err(|e| SlackCallError::Transport(e.without_url().to_string()))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(SlackCallError::Api(format!(
                    "response_url HTTP {}",
                    response.status().as_u16()
                )))
            }
        }
        .await;
        let status = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .slack_call("response_url", status, started.elapsed());
        result
    }
}

/// Slack's 429, with the wait its `Retry-After` asks for; `None` for any other answer.
fn rate_limited(response: &reqwest::Response) -> Option<SlackCallError> {
    (response.status().as_u16() == 429).then(|| {
        let after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs);
        SlackCallError::RateLimited(after)
    })
}
