//! The Tallyfy tokens each call carries ([`Auth`]): the integration's access token, and
//! renewing it when Tallyfy refuses it (401); or, with client credentials, the application's
//! token for the service's own calls and each person's token for what they do
//! ([`super::grant`]).
//!
//! With `TALLYFY_REFRESH_TOKEN` and the client credentials configured, a refused token is
//! exchanged at the token endpoint for a new one. One refresh runs at a time: in this
//! process behind a lock, across replicas behind a lock in the store. The new tokens are
//! kept in the store, so the other replicas pick them up instead of refreshing again, and
//! so that a restarted replica starts with them (a refresh token may be good only once).
//!
//! The stored tokens are encrypted under `STORE_ENCRYPTION_KEY` ([`Sealer`]): Redis never
//! holds them in the clear. A stored value that does not open under the key (written
//! under another key, or altered) is treated as absent, and the configured tokens are
//! used. Without the key, renewed tokens stay in this process and are not shared.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::budget::RateBudget;
use super::error::TallyfyError;
use super::grant::{AppToken, People};
use crate::config::{Secret, TallyfyConfig, TallyfyRefresh};
use crate::seal::{Key, Sealer};
use crate::store::Store;

/// Where the current tokens are kept for every replica.
const TOKENS_KEY: &str = "tallyfy:tokens";
/// Held by the replica that is refreshing.
const LOCK_KEY: &str = "tallyfy:refresh-lock";
const LOCK_TTL: Duration = Duration::from_secs(15);
/// How long a replica waits for another's refresh before giving up on it.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(10);
/// Kept long: a refresh token lasts until it is used.
const TOKENS_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

#[derive(Clone, Serialize, Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct Granted {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

pub struct Credentials {
    access: RwLock<Secret>,
    refresh: Option<Refresh>,
    store: Arc<dyn Store>,
    /// Encrypts the tokens kept in the store; without it they are not kept there.
    sealer: Option<Sealer>,
    http: reqwest::Client,
    /// One refresh at a time in this process.
    gate: tokio::sync::Mutex<()>,
    /// Whether the store's tokens have been read (once, at the first call).
    loaded: AtomicBool,
    /// Whether "the token cannot be renewed" has been logged.
    warned: AtomicBool,
}

struct Refresh {
    settings: TallyfyRefresh,
    /// The refresh token in use: the configured one, until Tallyfy hands out another.
    token: RwLock<Secret>,
}

impl Credentials {
    pub fn new(
        access: Secret,
        refresh: Option<TallyfyRefresh>,
        store: Arc<dyn Store>,
        key: Option<&Key>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            access: RwLock::new(access),
            refresh: refresh.map(|settings| Refresh {
                token: RwLock::new(settings.refresh_token.clone()),
                settings,
            }),
            store,
            sealer: key.map(Sealer::new),
            http,
            gate: tokio::sync::Mutex::new(()),
            loaded: AtomicBool::new(false),
            warned: AtomicBool::new(false),
        }
    }

    /// The token to send now.
    pub async fn token(&self) -> Secret {
        if self.refresh.is_some() && !self.loaded.load(Ordering::Relaxed) {
            // Tokens an earlier refresh kept in the store are newer than the configured ones.
            if let Ok(stored) = self.stored().await {
                self.loaded.store(true, Ordering::Relaxed);
                if let Some(tokens) = stored {
                    self.adopt(&tokens);
                }
            }
        }
        self.current()
    }

    /// The tokens kept in the store, when there are any this replica can open.
    async fn stored(&self) -> Result<Option<Tokens>, crate::store::StoreError> {
        let Some(sealer) = &self.sealer else {
            return Ok(None);
        };
        let raw = self.store.get(TOKENS_KEY).await?;
        Ok(raw
            .and_then(|raw| sealer.open(TOKENS_KEY, &raw))
            .and_then(|plain| serde_json::from_str(&plain).ok()))
    }

    /// Keeps `tokens` in the store, encrypted, for the other replicas and the next start.
    async fn share(&self, tokens: &Tokens) {
        let Some(sealer) = &self.sealer else {
            return;
        };
        let plain = serde_json::to_string(tokens).expect("plain strings");
        let sealed = sealer.seal(TOKENS_KEY, &plain);
        if let Err(e) = self.store.set(TOKENS_KEY, &sealed, TOKENS_TTL).await {
            tracing::warn!(error = %e, "could not share the renewed Tallyfy token; other replicas will renew their own");
        }
    }

    fn current(&self) -> Secret {
        self.access.read().unwrap().clone()
    }

    fn adopt(&self, tokens: &Tokens) {
        *self.access.write().unwrap() = Secret::new(&tokens.access_token);
        if let (Some(refresh), Some(token)) = (&self.refresh, &tokens.refresh_token) {
            *refresh.token.write().unwrap() = Secret::new(token);
        }
    }

    /// Tallyfy refused `refused`: the token to try instead, if there is one. Logs loudly,
    /// once, when there is none.
    pub async fn renew(&self, refused: &Secret) -> Option<Secret> {
        let renewed = self.try_renew(refused).await;
        if renewed.is_none() && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::error!(
                refresh_configured = self.refresh.is_some(),
                "Tallyfy refused the access token and it could not be renewed: set a new \
                 TALLYFY_ACCESS_TOKEN, or TALLYFY_REFRESH_TOKEN with the client credentials"
            );
        }
        if renewed.is_some() {
            self.warned.store(false, Ordering::Relaxed);
        }
        renewed
    }

    async fn try_renew(&self, refused: &Secret) -> Option<Secret> {
        let refresh = self.refresh.as_ref()?;
        let _one_at_a_time = self.gate.lock().await;
        // Renewed meanwhile, here or by another replica.
        if let Some(newer) = self.newer_than(refused).await {
            return Some(newer);
        }
        // Unless another replica holds the lock, refresh from here: the lock is ours, or
        // the store is down and cannot say.
        if let Ok(false) = self.store.set_if_absent(LOCK_KEY, "1", LOCK_TTL).await {
            return self.wait_for_another(refused).await;
        }
        let granted = self.exchange(refresh).await;
        if let Some(tokens) = &granted {
            self.adopt(tokens);
            self.share(tokens).await;
        }
        let _ = self.store.delete(LOCK_KEY).await;
        granted.map(|_| self.current())
    }

    /// The current token, here or in the store, when it is not `refused`.
    async fn newer_than(&self, refused: &Secret) -> Option<Secret> {
        if self.current().expose() != refused.expose() {
            return Some(self.current());
        }
        let stored: Tokens = self.stored().await.ok().flatten()?;
        if stored.access_token == refused.expose() {
            return None;
        }
        self.adopt(&stored);
        Some(self.current())
    }

    /// Another replica holds the refresh lock: wait (bounded) for the token it gets.
    async fn wait_for_another(&self, refused: &Secret) -> Option<Secret> {
        let started = tokio::time::Instant::now();
        while started.elapsed() < WAIT_FOR_OTHERS {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(newer) = self.newer_than(refused).await {
                return Some(newer);
            }
            if let Ok(None) = self.store.get(LOCK_KEY).await {
                // The other refresh ended without a token to share.
                return self.newer_than(refused).await;
            }
        }
        None
    }

    /// `grant_type=refresh_token` at the token endpoint, form-encoded as Tallyfy requires.
    async fn exchange(&self, refresh: &Refresh) -> Option<Tokens> {
        let token = refresh.token.read().unwrap().clone();
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", token.expose()),
            ("client_id", refresh.settings.client_id.as_str()),
            ("client_secret", refresh.settings.client_secret.expose()),
        ];
        let response = match self
            .http
            .post(refresh.settings.token_url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => {
                tracing::error!(error = %e, "could not reach Tallyfy's token endpoint");
                return None;
            }
        };
        let status = response.status();
        if !status.is_success() {
            // `{"error":"invalid_grant",...}`: the code says why; the body holds no secret.
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            tracing::error!(
                status = status.as_u16(),
                error = body.get("error").and_then(|e| e.as_str()).unwrap_or(""),
                "Tallyfy refused to renew the access token"
            );
            return None;
        }
        match response.json::<Granted>().await {
            Ok(granted) => {
                tracing::info!("Tallyfy access token renewed");
                Some(Tokens {
                    access_token: granted.access_token,
                    refresh_token: granted
                        .refresh_token
                        .or_else(|| Some(token.expose().to_string())),
                })
            }
            Err(e) => {
                tracing::error!(error = %e, "unreadable answer from Tallyfy's token endpoint");
                None
            }
        }
    }
}

/// Every token the client can send, and which one a call carries.
pub struct Auth {
    /// The integration's token (`TALLYFY_ACCESS_TOKEN`), renewed with a refresh token.
    integration: Option<Credentials>,
    /// The application's token, with client credentials.
    app: Option<Arc<AppToken>>,
    /// Each person's token, with client credentials.
    people: Option<People>,
}

impl Auth {
    pub fn new(
        config: &TallyfyConfig,
        store: Arc<dyn Store>,
        http: reqwest::Client,
        budget: Arc<RateBudget>,
    ) -> Self {
        let key = config.token_key.as_ref();
        let integration = config.access_token.clone().map(|access| {
            Credentials::new(
                access,
                config.refresh.clone(),
                store.clone(),
                key,
                http.clone(),
            )
        });
        let app = config
            .client_grant
            .clone()
            .map(|grant| Arc::new(AppToken::new(grant, http.clone(), store.clone(), key)));
        let people = app.clone().map(|app| {
            People::new(
                app,
                http.clone(),
                config.api_url.clone(),
                config.org_id.clone(),
                budget,
                store.clone(),
                key,
            )
        });
        Self {
            integration,
            app,
            people,
        }
    }

    /// Whether what a person does is done with their own token.
    pub fn acts_as_people(&self) -> bool {
        self.people.is_some()
    }

    /// The token for a call made as `person` (an email), or as the service itself.
    pub async fn token(&self, person: Option<&str>) -> Result<Secret, TallyfyError> {
        if let (Some(email), Some(people)) = (person, &self.people) {
            return people.token(email).await;
        }
        match (&self.integration, &self.app) {
            (Some(integration), _) => Ok(integration.token().await),
            (None, Some(app)) => app.token().await,
            (None, None) => Err(TallyfyError::Unauthorized),
        }
    }

    /// Tallyfy refused `refused` on a call made as `person`: the token to try instead.
    pub async fn renew(&self, person: Option<&str>, refused: &Secret) -> Option<Secret> {
        if let (Some(email), Some(people)) = (person, &self.people) {
            return people.renew(email, refused).await.ok();
        }
        match (&self.integration, &self.app) {
            (Some(integration), _) => integration.renew(refused).await,
            (None, Some(app)) => app.renew(refused).await.ok(),
            (None, None) => None,
        }
    }
}
