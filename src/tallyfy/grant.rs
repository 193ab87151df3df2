//! Acting as each person, with client credentials (Tallyfy's documentation:
//! integrations/open-api/code-samples/authentication/client-credentials-flow):
//! - [`AppToken`]: `POST /oauth/token` with `grant_type=client_credentials` gives the
//!   application's own token, good for 7 days and with no refresh token: it is asked for
//!   again a day before it ends, or when Tallyfy refuses it.
//! - [`People`]: with that token, `POST /api/applications/{org}/users/{email}/token` gives a
//!   token that acts as that member for 3 months. Each is minted on first need, kept
//!   encrypted in the store (under `STORE_ENCRYPTION_KEY`) until a day before it ends, so
//!   that every replica and every restart reuses it, and minted again when Tallyfy refuses
//!   it (401).
//!
//! One grant or mint at a time: in this process behind a lock, across replicas behind a
//! lock in the store whose holder the others wait for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::budget::RateBudget;
use super::error::TallyfyError;
use crate::config::{ClientGrant, Secret};
use crate::seal::{JobMac, Key, Sealer};
use crate::store::Store;

/// A token is used until this long before it ends, then replaced.
const RENEW_BEFORE: Duration = Duration::from_secs(24 * 3600);
/// Held by the replica asking Tallyfy for a token.
const LOCK_TTL: Duration = Duration::from_secs(15);
/// How long a replica waits for another's grant before asking itself.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(10);
const APP_KEY: &str = "tallyfy:app-token";
/// What the key naming a person's stored token is derived for.
const PERSON_IDS: &str = "tallyfy person token ids";

/// A token and when it ends (seconds since the epoch).
#[derive(Clone, Serialize, Deserialize)]
struct Kept {
    access_token: String,
    ends: i64,
}

impl Kept {
    fn usable(&self) -> bool {
        let now = jiff::Timestamp::now().as_second();
        self.ends - RENEW_BEFORE.as_secs() as i64 > now
    }

    /// How long the store keeps it: until it stops being usable.
    fn keep_for(&self) -> Duration {
        let now = jiff::Timestamp::now().as_second();
        Duration::from_secs((self.ends - RENEW_BEFORE.as_secs() as i64 - now).max(1) as u64)
    }
}

/// The token endpoint's and the mint's answer.
#[derive(Deserialize)]
struct Granted {
    access_token: String,
    expires_in: u64,
}

impl From<Granted> for Kept {
    fn from(g: Granted) -> Self {
        Kept {
            access_token: g.access_token,
            ends: jiff::Timestamp::now().as_second() + g.expires_in as i64,
        }
    }
}

/// Tokens kept in the store, encrypted; without a key, kept in this process only.
struct Vault {
    store: Arc<dyn Store>,
    sealer: Option<Sealer>,
}

impl Vault {
    async fn get(&self, key: &str) -> Option<Kept> {
        let sealer = self.sealer.as_ref()?;
        let raw = self.store.get(key).await.ok()??;
        let kept: Kept = serde_json::from_str(&sealer.open(key, &raw)?).ok()?;
        kept.usable().then_some(kept)
    }

    async fn put(&self, key: &str, kept: &Kept) {
        let Some(sealer) = &self.sealer else {
            return;
        };
        let plain = serde_json::to_string(kept).expect("plain strings");
        if let Err(e) = self
            .store
            .set(key, &sealer.seal(key, &plain), kept.keep_for())
            .await
        {
            tracing::warn!(error = %e, "could not keep a Tallyfy token in the store; it is kept in this process");
        }
    }

    async fn forget(&self, key: &str) {
        let _ = self.store.delete(key).await;
    }

    /// Runs `ask` unless another replica is asking already; then waits (bounded) for what
    /// it keeps, and asks itself only if nothing comes.
    async fn once_across<F>(&self, key: &str, ask: F) -> Result<Kept, TallyfyError>
    where
        F: std::future::Future<Output = Result<Kept, TallyfyError>>,
    {
        let lock = format!("{key}:lock");
        if let Ok(false) = self.store.set_if_absent(&lock, "1", LOCK_TTL).await {
            let started = tokio::time::Instant::now();
            while started.elapsed() < WAIT_FOR_OTHERS {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Some(kept) = self.get(key).await {
                    return Ok(kept);
                }
                if let Ok(None) = self.store.get(&lock).await {
                    break;
                }
            }
        }
        let asked = ask.await;
        if let Ok(kept) = &asked {
            self.put(key, kept).await;
        }
        let _ = self.store.delete(&lock).await;
        asked
    }
}

/// The application's own token, from the client credentials grant.
pub struct AppToken {
    grant: ClientGrant,
    http: reqwest::Client,
    vault: Vault,
    current: Mutex<Option<Kept>>,
    gate: tokio::sync::Mutex<()>,
}

impl AppToken {
    pub fn new(
        grant: ClientGrant,
        http: reqwest::Client,
        store: Arc<dyn Store>,
        key: Option<&Key>,
    ) -> Self {
        Self {
            grant,
            http,
            vault: Vault {
                store,
                sealer: key.map(Sealer::new),
            },
            current: Mutex::new(None),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    fn usable(&self) -> Option<Secret> {
        let current = self.current.lock().unwrap();
        current
            .as_ref()
            .filter(|k| k.usable())
            .map(|k| Secret::new(&k.access_token))
    }

    /// The application token: the one in hand, the one another replica keeps, or a new one.
    pub async fn token(&self) -> Result<Secret, TallyfyError> {
        if let Some(token) = self.usable() {
            return Ok(token);
        }
        let _one_at_a_time = self.gate.lock().await;
        if let Some(token) = self.usable() {
            return Ok(token);
        }
        let kept = match self.vault.get(APP_KEY).await {
            Some(kept) => kept,
            None => self.vault.once_across(APP_KEY, self.ask()).await?,
        };
        let token = Secret::new(&kept.access_token);
        *self.current.lock().unwrap() = Some(kept);
        Ok(token)
    }

    /// Tallyfy refused `refused`: a new application token (unless one came meanwhile).
    pub async fn renew(&self, refused: &Secret) -> Result<Secret, TallyfyError> {
        {
            let _one_at_a_time = self.gate.lock().await;
            let mut current = self.current.lock().unwrap();
            match current.as_ref() {
                Some(k) if k.access_token != refused.expose() => {
                    return Ok(Secret::new(&k.access_token))
                }
                _ => *current = None,
            }
        }
        if let Some(kept) = self.vault.get(APP_KEY).await {
            if kept.access_token == refused.expose() {
                self.vault.forget(APP_KEY).await;
            }
        }
        self.token().await
    }

    /// `grant_type=client_credentials` at the token endpoint, form-encoded.
    async fn ask(&self) -> Result<Kept, TallyfyError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.grant.client_id.as_str()),
            ("client_secret", self.grant.client_secret.expose()),
            ("scope", "*"),
        ];
        let request = self
            .http
            .post(self.grant.token_url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form);
        let granted: Granted = answer(request, "token").await.inspect_err(|e| {
            tracing::error!(error = %e, "Tallyfy did not grant the application token: check TALLYFY_CLIENT_ID and TALLYFY_CLIENT_SECRET")
        })?;
        tracing::info!("Tallyfy application token granted");
        Ok(granted.into())
    }
}

/// A token for each person, minted with the application token.
pub struct People {
    app: Arc<AppToken>,
    http: reqwest::Client,
    base: Url,
    org_id: String,
    budget: Arc<RateBudget>,
    vault: Vault,
    /// Names each person's stored token without their email.
    ids: JobMac,
    /// The tokens in hand, by lowercased email.
    cache: Mutex<HashMap<String, Kept>>,
    /// One mint per person at a time in this process.
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl People {
    pub fn new(
        app: Arc<AppToken>,
        http: reqwest::Client,
        base: Url,
        org_id: String,
        budget: Arc<RateBudget>,
        store: Arc<dyn Store>,
        key: Option<&Key>,
    ) -> Self {
        // Without a key nothing is kept in the store; the names only name locks then.
        let ids = JobMac::new(
            &key.map(|k| k.derive_for(PERSON_IDS))
                .unwrap_or_else(|| Key::from_bytes([0; 32])),
        );
        Self {
            app,
            http,
            base,
            org_id,
            budget,
            vault: Vault {
                store,
                sealer: key.map(Sealer::new),
            },
            ids,
            cache: Mutex::default(),
            gates: Mutex::default(),
        }
    }

    /// Where `email`'s token is kept: named by a keyed hash, so the store never shows emails.
    pub fn key_for(&self, email: &str) -> String {
        let id = self.ids.sign(&email.trim().to_lowercase());
        format!("tallyfy:person:{}", &id[..32.min(id.len())])
    }

    fn in_hand(&self, email: &str) -> Option<Secret> {
        let cache = self.cache.lock().unwrap();
        cache
            .get(&email.trim().to_lowercase())
            .filter(|k| k.usable())
            .map(|k| Secret::new(&k.access_token))
    }

    /// The token that acts as `email`: in hand, kept in the store, or minted now.
    pub async fn token(&self, email: &str) -> Result<Secret, TallyfyError> {
        if let Some(token) = self.in_hand(email) {
            return Ok(token);
        }
        let gate = {
            let mut gates = self.gates.lock().unwrap();
            gates
                .entry(email.trim().to_lowercase())
                .or_default()
                .clone()
        };
        let _one_at_a_time = gate.lock().await;
        if let Some(token) = self.in_hand(email) {
            return Ok(token);
        }
        let key = self.key_for(email);
        let kept = match self.vault.get(&key).await {
            Some(kept) => kept,
            None => self.vault.once_across(&key, self.mint(email)).await?,
        };
        let token = Secret::new(&kept.access_token);
        self.cache
            .lock()
            .unwrap()
            .insert(email.trim().to_lowercase(), kept);
        Ok(token)
    }

    /// Tallyfy refused `refused` for `email`: forget it and mint another.
    pub async fn renew(&self, email: &str, refused: &Secret) -> Result<Secret, TallyfyError> {
        let lower = email.trim().to_lowercase();
        {
            let mut cache = self.cache.lock().unwrap();
            match cache.get(&lower) {
                Some(k) if k.access_token != refused.expose() && k.usable() => {
                    return Ok(Secret::new(&k.access_token))
                }
                _ => {
                    cache.remove(&lower);
                }
            }
        }
        let key = self.key_for(email);
        if let Some(kept) = self.vault.get(&key).await {
            if kept.access_token == refused.expose() {
                self.vault.forget(&key).await;
            }
        }
        self.token(email).await
    }

    /// `POST applications/{org}/users/{email}/token` with the application token.
    async fn mint(&self, email: &str) -> Result<Kept, TallyfyError> {
        let mut url = self
            .base
            .join(&format!("applications/{}/users/", self.org_id))
            .expect("a relative path");
        url.path_segments_mut()
            .expect("an http URL")
            .pop_if_empty()
            .push(email.trim())
            .push("token");
        let mut app_token = self.app.token().await?;
        for attempt in 0..2 {
            if let Err(super::budget::Full(wait)) = self.budget.acquire().await {
                return Err(TallyfyError::RateLimited {
                    retry_after: Some(wait),
                });
            }
            let request = self
                .http
                .post(url.clone())
                .bearer_auth(app_token.expose())
                .header("X-Tallyfy-Client", "APIClient")
                .header(reqwest::header::ACCEPT, "application/json");
            match answer::<Granted>(request, "mint").await {
                Ok(granted) => {
                    tracing::info!("Tallyfy token minted for a person");
                    return Ok(granted.into());
                }
                Err(TallyfyError::Unauthorized) if attempt == 0 => {
                    app_token = self.app.renew(&app_token).await?;
                }
                // Tallyfy has no member it will act as under this email.
                Err(TallyfyError::NotFound(_) | TallyfyError::Invalid { .. }) => {
                    return Err(TallyfyError::NoAccount)
                }
                Err(e) => return Err(e),
            }
        }
        Err(TallyfyError::Unauthorized)
    }
}

/// Sends `request` and reads its JSON answer, with Tallyfy's errors sorted.
async fn answer<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
    what: &'static str,
) -> Result<T, TallyfyError> {
    let response = request.send().await.map_err(TallyfyError::from_transport)?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(TallyfyError::from_transport)?;
    if !status.is_success() {
        // An OAuth refusal (`invalid_client`) is Tallyfy refusing the credentials.
        if what == "token" && matches!(status.as_u16(), 400 | 401) {
            return Err(TallyfyError::Unauthorized);
        }
        return Err(TallyfyError::from_status(status, &body, None));
    }
    serde_json::from_slice(&body)
        .map_err(|e| TallyfyError::Unexpected(format!("{what}: {:?} error", e.classify())))
}
