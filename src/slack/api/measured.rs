//! Every Web API call through slack-morphism: timed, counted, bounded, and waiting out
//! Slack's rate limits.

use std::time::{Duration, Instant};

use slack_morphism::errors::SlackClientError;

use super::{SlackApi, SlackCallError, CALL_TIMEOUT};

/// The most a call waits in all for Slack's rate limits (each `Retry-After`, at most this).
const RATE_LIMIT_PATIENCE: Duration = Duration::from_secs(30);

impl SlackApi {
    /// A Web API call, timed, counted and bounded by [`CALL_TIMEOUT`], waiting out Slack's
    /// rate limits: every method Slack has can answer 429 with `Retry-After`
    /// (api.slack.com/apis/rate-limits), and the call is made again after that wait, for
    /// up to [`RATE_LIMIT_PATIENCE`] of waiting in all. The call is kept on the heap:
    /// slack-morphism's futures are large, and a caller holding one inline would grow by
    /// its size (and copy it at every move) for as long as it runs.
    pub(super) fn measured<'a, T, F, Fut>(
        &'a self,
        method: &'static str,
        call: F,
    ) -> futures::future::BoxFuture<'a, Result<T, SlackCallError>>
    where
        T: Send + 'a,
        F: Fn() -> Fut + Send + 'a,
        Fut: std::future::Future<Output = Result<T, SlackClientError>> + Send + 'a,
    {
        Box::pin(async move {
            let mut waited = Duration::ZERO;
            loop {
                match self.measured_once(method, call()).await {
                    Err(SlackCallError::RateLimited(after)) => {
                        let wait = after
                            .unwrap_or(Duration::from_secs(1))
                            .min(RATE_LIMIT_PATIENCE);
                        if waited + wait > RATE_LIMIT_PATIENCE {
                            return Err(SlackCallError::RateLimited(after));
                        }
                        tracing::info!(
                            method,
                            wait_secs = wait.as_secs(),
                            "Slack asked to wait (429)"
                        );
                        waited += wait;
                        tokio::time::sleep(wait).await;
                    }
                    other => return other,
                }
            }
        })
    }

    /// One call of a Web API method, timed and counted.
    async fn measured_once<T>(
        &self,
        method: &'static str,
        fut: impl std::future::Future<Output = Result<T, SlackClientError>>,
    ) -> Result<T, SlackCallError> {
        let started = Instant::now();
        // Every Web API call has a deadline: a Slack that stops answering must not hold
        // work (and its memory) for ever.
        let result = match tokio::time::timeout(CALL_TIMEOUT, fut).await {
            Ok(result) => result.map_err(SlackCallError::from),
            Err(_) => Err(SlackCallError::Transport("no answer in time".into())),
        };
        let status = match &result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        self.metrics.slack_call(method, status, started.elapsed());
        match &result {
            Err(SlackCallError::RateLimited(_)) | Ok(_) => {}
            Err(e) => tracing::warn!(method, error = %e, "Slack API call failed"),
        }
        result
    }
}
