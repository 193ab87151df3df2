//! Who a call acts as: the integration's token, an application token from the client
//! credentials grant, or a token minted for one member. As Tallyfy documents it
//! (tallyfy/documentation at 7f1f2c2a, `src/content/docs/pro/integrations/open-api/
//! code-samples/authentication/client-credentials-flow.mdx`):
//! - `POST /oauth/token`, form-encoded, `grant_type=client_credentials`, `client_id`,
//!   `client_secret` (`scope=*` optional) answers `{"token_type": "Bearer", "expires_in":
//!   604800, "access_token"}`: an application token for 7 days, with no refresh token ("Request
//!   a new one before it expires by repeating the same POST request").
//! - `POST /api/applications/{orgID}/users/{email}/token`, with the application token and
//!   `X-Tallyfy-Client: APIClient`, no body, answers `{"token_type": "Bearer", "expires_in":
//!   7776000, "access_token"}`: a token that acts as that member for 3 months. "The user
//!   must already exist in your organization." How Tallyfy refuses an email it does not know
//!   is not published: the stand-in answers 404 in Tallyfy's not-found shape, as it does for
//!   any unknown resource.
//! - A token acts as its user: "Completion records the token's user" (complete-task), the
//!   user making a create "becomes the process owner" (the launch-without-a-template page),
//!   a comment is the token's user's. With `can_complete_only_assignees` only the task's
//!   assignees may complete it; Tallyfy's API is a Laravel application (its 401 body
//!   "Unauthenticated." and 429 body "Too Many Attempts." are Laravel's), and a refused
//!   authorization there answers 403 "This action is unauthorized.".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::access::{check_auth, record};
use super::{Inner, ORG};

/// An application token's life, in seconds.
pub const APP_TOKEN_SECS: u64 = 604_800;
/// A member token's life, in seconds.
pub const MEMBER_TOKEN_SECS: u64 = 7_776_000;

/// Who a call acted as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acting {
    /// The integration's own access token (its user is the organization's owner).
    Integration,
    /// An application token from the client credentials grant.
    Application,
    /// A token minted for this member.
    Member(u64),
    /// No token the stand-in gave out.
    Unknown,
}

/// The tokens the stand-in gave out.
#[derive(Default)]
pub(super) struct Identities {
    app_tokens: Vec<String>,
    member_tokens: HashMap<String, u64>,
    /// Application tokens granted.
    pub(super) grants: usize,
    /// Member tokens minted, by member id.
    pub(super) mints: HashMap<u64, usize>,
    issued: u64,
}

impl Identities {
    /// A new application token.
    pub(super) fn grant(&mut self) -> String {
        self.grants += 1;
        self.issued += 1;
        let token = format!("tallyfy-app-{}", self.issued);
        self.app_tokens.push(token.clone());
        token
    }

    /// Every member token stops working (expired, or revoked in Tallyfy).
    pub(super) fn revoke_members(&mut self) {
        self.member_tokens.clear();
    }

    /// Every application token stops working.
    pub(super) fn revoke_apps(&mut self) {
        self.app_tokens.clear();
    }
}

impl Inner {
    /// Who a call with this `Authorization` header acts as.
    pub(super) fn acting(&self, authorization: &str) -> Acting {
        let Some(token) = authorization.strip_prefix("Bearer ") else {
            return Acting::Unknown;
        };
        if token == self.access_token {
            Acting::Integration
        } else if self.identities.app_tokens.iter().any(|t| t == token) {
            Acting::Application
        } else if let Some(id) = self.identities.member_tokens.get(token) {
            Acting::Member(*id)
        } else {
            Acting::Unknown
        }
    }

    /// Who a call with these headers acts as.
    pub(super) fn acting_of(&self, headers: &HeaderMap) -> Acting {
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        self.acting(authorization)
    }

    /// The user a call with these headers acts as, in the shape Tallyfy names a person:
    /// a member for a member token, the organization's owner for the integration's token
    /// and for an application's.
    pub(super) fn actor(&self, headers: &HeaderMap) -> Value {
        match self.acting_of(headers) {
            Acting::Member(id) => match self.members.iter().find(|m| m.id == id) {
                Some(m) => {
                    json!({"id": m.id, "email": m.email, "full_name": format!("{} Example", m.first_name)})
                }
                None => Value::Null,
            },
            _ => json!({"id": 1, "email": "owner@example.com", "full_name": "Org Owner"}),
        }
    }
}

fn unauthorized_action() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"error": true, "message": "This action is unauthorized."})),
    )
        .into_response()
}

/// `POST /api/applications/{org}/users/{email}/token`: a token acting as that member.
pub(super) async fn mint_member_token(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((org, email)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    record(
        &inner,
        "POST",
        format!("/applications/{org}/users/{email}/token"),
        HashMap::new(),
        &headers,
        Value::Null,
    );
    if let Err(r) = check_auth(&headers, &org, false) {
        return r;
    }
    let mut s = inner.lock().unwrap();
    // Only the application's own token mints: a member's or the integration's may not.
    if s.acting_of(&headers) != Acting::Application || org != ORG {
        return unauthorized_action();
    }
    let Some(member) = s
        .members
        .iter()
        .find(|m| m.email.eq_ignore_ascii_case(&email) && m.status != "disabled")
        .map(|m| m.id)
    else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": true, "message": "User not found", "code": "RESOURCE_NOT_FOUND"})),
        )
            .into_response();
    };
    s.identities.issued += 1;
    let token = format!("tallyfy-member-{member}-{}", s.identities.issued);
    s.identities.member_tokens.insert(token.clone(), member);
    *s.identities.mints.entry(member).or_default() += 1;
    Json(json!({"token_type": "Bearer", "expires_in": MEMBER_TOKEN_SECS, "access_token": token}))
        .into_response()
}

/// Whether the call may complete `task`: with `can_complete_only_assignees`, a member's
/// token must be one of the task's assigned members. `None` when it may.
pub(super) fn completion_refused(s: &Inner, headers: &HeaderMap, task: &Value) -> Option<Response> {
    if task["can_complete_only_assignees"] != true {
        return None;
    }
    let assigned = |id: u64| {
        task["owners"]["users"]
            .as_array()
            .is_some_and(|users| users.iter().any(|u| u.as_u64() == Some(id)))
    };
    match s.acting_of(headers) {
        Acting::Member(id) if assigned(id) => None,
        // The integration's token acts as the organization's owner, member 1.
        Acting::Integration | Acting::Application if assigned(1) => None,
        _ => Some(unauthorized_action()),
    }
}
