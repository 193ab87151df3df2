//! `views.open`, sent and read here rather than through slack-morphism.

use std::borrow::Borrow;
use std::time::Instant;

use slack_morphism::prelude::SlackView;

use super::{rate_limited, OpenedView, SlackApi, SlackCallError, CALL_TIMEOUT};

impl SlackApi {
    /// Opens `view` with `trigger_id`; answers its id and hash, for a later update.
    pub async fn open_view(
        &self,
        trigger_id: &str,
        view: &SlackView,
    ) -> Result<OpenedView, SlackCallError> {
        self.open_built_view(trigger_id, || Some(view))
            .await?
            .ok_or_else(|| SlackCallError::Transport("the view was not sent".into()))
    }

    /// Opens the view `build` makes, made only once its turn among the calls in flight has
    /// come and dropped once it is sent: a form waiting for its turn, or for Slack's
    /// answer, holds what it is made from, not the view. Answers its id and hash, or
    /// nothing when `build` made nothing (its turn came too late to be worth a call).
    pub async fn open_built_view<V: Borrow<SlackView>>(
        &self,
        trigger_id: &str,
        build: impl FnOnce() -> Option<V>,
    ) -> Result<Option<OpenedView>, SlackCallError> {
        // Sent and read here rather than through slack-morphism, which reads the whole
        // view Slack echoes back into its types: of that answer only the id and hash are
        // kept, and reading just them makes opening a form a third cheaper.
        #[derive(serde::Serialize)]
        struct Open<'a> {
            trigger_id: &'a str,
            view: &'a SlackView,
        }
        #[derive(serde::Deserialize)]
        struct Opened {
            ok: bool,
            #[serde(default)]
            error: Option<String>,
            view: Option<OpenedIds>,
        }
        #[derive(serde::Deserialize)]
        struct OpenedIds {
            id: String,
            hash: String,
        }
        let started = Instant::now();
        let call = async {
            let _turn = self
                .opening
                .acquire()
                .await
                .map_err(|_| SlackCallError::Transport("shutting down".into()))?;
            let body = {
                let Some(built) = build() else {
                    return Ok(None);
                };
                let open = Open {
                    trigger_id,
                    view: built.borrow(),
                };
                // Kept at its length while Slack answers, not at the buffer's doubled size.
                serde_json::to_vec(&open)
                    .map(|json| bytes::Bytes::from(json.into_boxed_slice()))
                    .map_err(|e| {
                        SlackCallError::Transport(format!("the form could not be written: {e}"))
                    })?
            };
            let url = self
                .api_url
                .join("views.open")
                .expect("a method name joins a base URL");
            let response = self
                .http
                .post(url)
                .timeout(CALL_TIMEOUT)
                .bearer_auth(&self.token.token_value.0)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| SlackCallError::Transport(e.without_url().to_string()))?;
            let status = response.status();
            if let Some(limited) = rate_limited(&response) {
                return Err(limited);
            }
            if !status.is_success() {
                return Err(SlackCallError::Transport(format!(
                    "HTTP {}",
                    status.as_u16()
                )));
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| SlackCallError::Transport(e.without_url().to_string()))?;
            // Only where the answer went wrong is kept, never what it said.
            let opened: Opened = serde_json::from_slice(&body).map_err(|e| {
                SlackCallError::Unreadable(format!(
                    "{:?} error at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ))
            })?;
            match (opened.ok, opened.view) {
                (true, Some(v)) => Ok(Some(OpenedView {
                    id: v.id,
                    hash: v.hash,
                })),
                (true, None) => Err(SlackCallError::Unreadable("no view in the answer".into())),
                (false, _) => Err(SlackCallError::Api(
                    opened.error.unwrap_or_else(|| "unknown_error".into()),
                )),
            }
        };
        let result = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(result) => result,
            Err(_) => Err(SlackCallError::Transport("no answer in time".into())),
        };
        let status = match &result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        self.metrics
            .slack_call("views.open", status, started.elapsed());
        if let Err(e) = &result {
            tracing::warn!(method = "views.open", error = %e, "Slack API call failed");
        }
        result
    }
}
