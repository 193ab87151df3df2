//! Words for people about what went wrong. The Tallyfy client and the directory say what
//! happened as types; this is where that becomes something a person in Slack can act on.

use crate::directory::DirectoryError;
use crate::tallyfy::TallyfyError;

/// Why some work was not done, as the requester reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    /// Whether trying the same job again can help: then the notice has a Retry button.
    pub retry: bool,
}

impl Failure {
    /// A failure that the same request may get past later (an outage, a lookup).
    pub fn retryable(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry: true,
        }
    }

    /// A failure only a new request can fix (someone who cannot be assigned, say).
    pub fn final_(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retry: false,
        }
    }
}

/// Why nothing can be done as someone Tallyfy does not know.
pub const NO_ACCOUNT: &str = "You don't have a Tallyfy account in this organization under the email on your Slack profile, so this can't be done as you. Ask a teammate who has one to do it, or ask your Tallyfy admin to invite you.";

/// Why a job that kept dying was given up.
pub const GIVEN_UP: &str = "It kept failing before it could finish. Press Retry to try again; nothing that was already created is created twice.";

/// Why Tallyfy did not take some work, and what to do next.
pub fn tallyfy(e: &TallyfyError) -> String {
    match e {
        TallyfyError::Invalid { message, fields } if fields.is_empty() => {
            format!("Tallyfy did not accept it: {message}")
        }
        TallyfyError::Invalid { fields, .. } => {
            let reasons: Vec<&str> = fields.iter().map(|(_, m)| m.as_str()).collect();
            format!("Tallyfy did not accept it: {}", reasons.join(" "))
        }
        TallyfyError::Unauthorized => {
            "This app's Tallyfy credentials need attention: Tallyfy refused its access token. Ask the admin who runs the app to renew it, then press Retry.".into()
        }
        TallyfyError::Forbidden(_) => {
            "The Tallyfy account this app uses is not allowed to do that. Ask your Tallyfy admin to check its role.".into()
        }
        TallyfyError::PersonForbidden(_) => {
            "Tallyfy does not let you do that: it may be assigned to someone else, or hidden from you. Ask whoever owns it in Tallyfy.".into()
        }
        TallyfyError::NoAccount => NO_ACCOUNT.into(),
        TallyfyError::Refused { message, .. } => format!("Tallyfy refused it: {message}"),
        TallyfyError::NotFound(_) => {
            "Tallyfy could not find what this refers to; it may have been deleted.".into()
        }
        TallyfyError::RateLimited { .. } => {
            "Tallyfy is busy right now (rate limit). Please try again in a minute.".into()
        }
        TallyfyError::Server { .. } | TallyfyError::Unreachable(_) | TallyfyError::Unexpected(_) => {
            "Tallyfy could not be reached or had a problem, and kept failing. Press Retry when it is back; nothing is created twice.".into()
        }
        TallyfyError::NoAnswer(_) => {
            "Tallyfy did not answer in time. Press Retry to try again: it checks Tallyfy first, so nothing is created twice.".into()
        }
    }
}

/// A refusal by Tallyfy as a failure of the requester's work: final when only a new
/// request (or someone else) can get past it, retryable otherwise.
pub fn of_tallyfy(e: &TallyfyError) -> Failure {
    match e {
        TallyfyError::NoAccount | TallyfyError::PersonForbidden(_) => Failure::final_(tallyfy(e)),
        _ => Failure::retryable(tallyfy(e)),
    }
}

/// Why the requester cannot be acted as (no Tallyfy account, or the look-up failed).
pub fn as_requester(e: &DirectoryError) -> Failure {
    match e {
        DirectoryError::Tallyfy(e @ TallyfyError::NoAccount) => Failure::final_(tallyfy(e)),
        e => Failure::retryable(lookup(e, "your")),
    }
}

/// Whether Tallyfy refused a task because of the run it names (a 422 on `run_id`: the
/// run is gone, or cannot take tasks): the same request cannot pass later.
pub fn refuses_run(e: &TallyfyError) -> bool {
    matches!(e, TallyfyError::Invalid { fields, .. } if fields.iter().any(|(f, _)| f == "run_id"))
}

/// Why people could not be looked up; `whose` is "assignees'" or "people's".
pub fn lookup(e: &DirectoryError, whose: &str) -> String {
    match e {
        DirectoryError::Tallyfy(
            e @ (TallyfyError::Unauthorized | TallyfyError::Forbidden(_) | TallyfyError::NoAccount),
        ) => {
            tallyfy(e)
        }
        _ => format!(
            "I couldn't look up the {whose} Tallyfy accounts just now. Press Retry in a few minutes."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_told_in_tallyfys_own_words() {
        let e = TallyfyError::Invalid {
            message: "The given data was invalid.".into(),
            fields: vec![(
                "deadline".into(),
                "The deadline must be a date after now.".into(),
            )],
        };
        assert_eq!(
            tallyfy(&e),
            "Tallyfy did not accept it: The deadline must be a date after now."
        );
    }

    #[test]
    fn a_lookup_refused_for_credentials_says_so() {
        let e = DirectoryError::Tallyfy(TallyfyError::Unauthorized);
        assert!(lookup(&e, "assignees'").contains("credentials need attention"));
        let e = DirectoryError::Tallyfy(TallyfyError::Unreachable("x".into()));
        assert!(lookup(&e, "assignees'").contains("look up the assignees'"));
    }
}
