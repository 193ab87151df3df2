//! `tallyfy-slack check`: reaches every dependency with the configured credentials and
//! says, one line each, what works and what to fix.

use std::sync::Arc;

use crate::config::Config;
use crate::slack::api::{SlackApi, SlackCallError};
use crate::store::{MemoryStore, RedisStore, Store};
use crate::tallyfy::{TallyfyClient, TallyfyError};
use crate::telemetry::Metrics;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok: true,
            detail: detail.into(),
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok: false,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<5} {}: {}",
            if self.ok { "ok" } else { "FAIL" },
            self.name,
            self.detail
        )
    }
}

/// Every check; with client credentials and `person` (an email), also a token minted for
/// that member.
pub async fn run(config: &Config, person: Option<&str>) -> Vec<Check> {
    let metrics = Metrics::default();
    let mut checks = Vec::new();
    // The Tallyfy check shares the service's store: a token it renews must reach the
    // service, whose refresh token would otherwise be used up.
    let mut shared: Arc<dyn Store> = Arc::new(MemoryStore::default());

    checks.push(match &config.store.redis {
        None => Check::ok(
            "redis",
            "REDIS_URL is not set: in-process store, run a single replica",
        ),
        Some(target) => match RedisStore::connect(
            target,
            &config.store.key_prefix,
            metrics.clone(),
            Default::default(),
        ) {
            Err(e) => Check::fail("redis", format!("{} is not usable ({e})", target.setting())),
            Ok(store) => match store.ping().await {
                Ok(()) => {
                    shared = Arc::new(store);
                    Check::ok("redis", "PING answered")
                }
                Err(e) => Check::fail(
                    "redis",
                    format!(
                        "no answer from {} ({e}): is Redis running and reachable?",
                        target.setting()
                    ),
                ),
            },
        },
    });

    match SlackApi::new(&config.slack, metrics.clone()) {
        Err(e) => checks.push(Check::fail("slack", format!("cannot set up HTTPS ({e})"))),
        Ok(slack) => {
            checks.push(match slack.auth_test().await {
                Ok((team, bot)) => Check::ok("slack", format!("auth.test: team {team}, bot user {bot}")),
                Err(SlackCallError::Api(code)) if code == "invalid_auth" || code == "not_authed" || code == "token_revoked" => {
                    Check::fail("slack", format!("Slack refused SLACK_BOT_TOKEN ({code}): copy the Bot User OAuth Token again"))
                }
                Err(e) => Check::fail("slack", format!("auth.test failed ({e}): check SLACK_API_URL and the network")),
            });
            if let Some(token) = &config.slack.app_token {
                checks.push(match slack.open_socket(token).await {
                    Ok(_) => Check::ok("slack socket mode", "apps.connections.open gave a WebSocket URL"),
                    Err(e) => Check::fail(
                        "slack socket mode",
                        format!("apps.connections.open failed ({e}): SLACK_APP_TOKEN needs connections:write and Socket Mode turned on"),
                    ),
                });
            }
        }
    }

    let tallyfy = TallyfyClient::new(&config.tallyfy, metrics, shared);
    let mode = match (&config.tallyfy.client_grant, &config.tallyfy.refresh) {
        (Some(_), _) => "client credentials, each person acting as themselves",
        (None, Some(_)) => "one access token, renewed with the refresh token",
        (None, None) => "one access token",
    };
    checks.push(match tallyfy.me().await {
        Ok(_) => Check::ok("tallyfy", format!("GET /me answered for organization {} ({mode})", config.tallyfy.org_id)),
        Err(TallyfyError::Unauthorized) if config.tallyfy.access_token.is_none() => {
            Check::fail("tallyfy", "Tallyfy did not grant an application token: check TALLYFY_CLIENT_ID and TALLYFY_CLIENT_SECRET with Tallyfy Support")
        }
        Err(TallyfyError::Unauthorized) => {
            Check::fail("tallyfy", "Tallyfy refused TALLYFY_ACCESS_TOKEN (401): create a new token in Settings > Integrations > REST API")
        }
        Err(e) => Check::fail("tallyfy", format!("{e}: check TALLYFY_API_URL and the network")),
    });
    if tallyfy.acts_as_people() {
        checks.push(as_person(&tallyfy, person).await);
    }
    checks
}

/// With client credentials: a token minted for `person`, proved with `GET /me`.
async fn as_person(tallyfy: &TallyfyClient, person: Option<&str>) -> Check {
    const NAME: &str = "tallyfy as a person";
    let Some(email) = person else {
        return Check::ok(
            NAME,
            "not tried: `tallyfy-slack check --as you@example.com` mints a token for that member",
        );
    };
    match tallyfy.acting_as(email).me().await {
        Ok(_) => Check::ok(NAME, format!("a token acting as {email} was minted and GET /me answered")),
        Err(TallyfyError::NoAccount) => Check::fail(
            NAME,
            format!("Tallyfy has no member {email} to act as: invite them, or check the email"),
        ),
        Err(TallyfyError::Unauthorized) => Check::fail(
            NAME,
            "Tallyfy refused the application token: check TALLYFY_CLIENT_ID and TALLYFY_CLIENT_SECRET",
        ),
        Err(e) => Check::fail(NAME, format!("{e}: check TALLYFY_API_URL and the network")),
    }
}
