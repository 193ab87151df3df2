//! What can go wrong in a call to Tallyfy, sorted by what a caller does about it.

use std::time::Duration;

/// What can go wrong talking to Tallyfy, sorted by what the caller does about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TallyfyError {
    /// 400/422: the request itself is wrong; retrying will not help.
    // Logs see the field names, never Tallyfy's words: they can quote what was sent.
    #[error("Tallyfy rejected the request (fields: {})", field_names(fields))]
    Invalid {
        message: String,
        fields: Vec<(String, String)>,
    },
    /// 401: the token expired or was revoked.
    #[error("Tallyfy did not accept the app's access token")]
    Unauthorized,
    /// 403: the token's user may not do this.
    #[error("Tallyfy refused permission")]
    Forbidden(String),
    /// 403 to a call made as a person: Tallyfy does not let that person do this.
    #[error("Tallyfy refused the person permission")]
    PersonForbidden(String),
    /// Tallyfy would not give a token acting as this person: no member of the
    /// organization has their email.
    #[error("Tallyfy has no member to act as")]
    NoAccount,
    #[error("not found in Tallyfy")]
    NotFound(String),
    /// 429: wait `retry_after`, then try again.
    #[error("Tallyfy's rate limit was reached")]
    RateLimited { retry_after: Option<Duration> },
    /// Any other 4xx (405, 409, 410, 413...): Tallyfy will not do this as asked;
    /// retrying will not help. `code` is Tallyfy's own (`SEAT_POOL_EXHAUSTED`, say).
    #[error("Tallyfy refused the request (HTTP {status}, code {})", code.as_deref().unwrap_or("none"))]
    Refused {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// 5xx (and 408): Tallyfy is not serving right now.
    #[error("Tallyfy answered HTTP {status}")]
    Server { status: u16, message: String },
    /// The request never left: safe to send again.
    #[error("could not connect to Tallyfy: {0}")]
    Unreachable(String),
    /// The request left but no answer came back: it may or may not have taken effect.
    #[error("no answer from Tallyfy: {0}")]
    NoAnswer(String),
    #[error("unexpected answer from Tallyfy: {0}")]
    Unexpected(String),
}

/// The names of the fields Tallyfy found fault with, for the logs (not what it said of them).
fn field_names(fields: &[(String, String)]) -> String {
    if fields.is_empty() {
        return "none named".into();
    }
    let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
    names.join(", ")
}

impl TallyfyError {
    /// Whether trying again later may succeed: Tallyfy unavailable, or no answer.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TallyfyError::Server { .. }
                | TallyfyError::Unreachable(_)
                | TallyfyError::NoAnswer(_)
                | TallyfyError::Unexpected(_)
        )
    }

    /// Whether a creation that failed this way may have been made all the same: the
    /// request was sent, and what came back does not say it was refused. A 503 says
    /// Tallyfy is not serving, and a refused connection means nothing was sent.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            TallyfyError::NoAnswer(_) | TallyfyError::Unexpected(_) => true,
            TallyfyError::Server { status, .. } => *status != 503,
            _ => false,
        }
    }

    /// The label this error carries in metrics.
    pub fn metric_label(&self) -> String {
        match self {
            TallyfyError::Invalid { .. } => "422".into(),
            TallyfyError::Unauthorized => "401".into(),
            TallyfyError::Forbidden(_) | TallyfyError::PersonForbidden(_) => "403".into(),
            TallyfyError::NoAccount => "no_account".into(),
            TallyfyError::NotFound(_) => "404".into(),
            TallyfyError::RateLimited { .. } => "429".into(),
            TallyfyError::Server { status, .. } | TallyfyError::Refused { status, .. } => {
                status.to_string()
            }
            TallyfyError::Unreachable(_) => "unreachable".into(),
            TallyfyError::NoAnswer(_) => "no_answer".into(),
            TallyfyError::Unexpected(_) => "unexpected".into(),
        }
    }
}
