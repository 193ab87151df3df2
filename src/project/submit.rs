//! Checking a "New project" submission: every person it names resolved (within Slack's
//! 3 s when possible), mistakes shown on the form, and the job queued.

use std::time::Duration;

use jiff::Timestamp;

use super::job::ProjectJob;
use super::modal;
use super::plan::{self, PlanError};
use crate::deadline;
use crate::modals::{self, AnswerBy, GuestCheck, Metadata, SubmitAnswer};
use crate::slack::interaction::ViewSubmission;
use crate::state::AppState;

/// How long a submission may spend on lookups before the modal must close.
const RESOLVE_BUDGET: Duration = Duration::from_millis(1800);
/// How long a submission waits for the organization's tags (usually cached).
const TAGS_WAIT: Duration = Duration::from_millis(500);

/// Checks a "New project" submission and hands it off, within Slack's 3 s.
/// Every wait is bounded by `answer_by`, counted from Slack's send: with everything cold the
/// form still closes in time, and what was not checked is checked by the job.
pub async fn submit(
    state: &AppState,
    sub: ViewSubmission,
    answer_by: AnswerBy,
    guest: GuestCheck<'_>,
) -> SubmitAnswer {
    let metadata = Metadata::decode(&sub.view.private_metadata);
    let now = Timestamp::now().to_zoned(deadline::timezone(metadata.tz.as_deref()));
    // The tags lines may name; cached, and left unmatched when Tallyfy will not list them.
    let tags_wait = answer_by.at_most(TAGS_WAIT);
    let tags = match tokio::time::timeout(tags_wait, state.directory.tags()).await {
        Ok(Ok(tags)) => tags,
        _ => Vec::new(),
    };
    let form = match modal::read(&sub.view.state, &now, &tags) {
        Ok(form) => form,
        Err(errors) => return modals::unless_refused(guest, SubmitAnswer::Errors(errors)).await,
    };
    let team = sub.team_id();
    // The guest check runs beside the lookups; nothing is kept before it passes.
    let (planned, refused) = tokio::join!(
        tokio::time::timeout(
            answer_by.at_most(RESOLVE_BUDGET),
            plan::plan(&state.directory, &team, &form),
        ),
        guest
    );
    if refused {
        return SubmitAnswer::Refused;
    }
    let plan = match planned {
        Ok(Ok(plan)) => Some(plan),
        Ok(Err(PlanError::Problems(errors))) => return SubmitAnswer::Errors(errors),
        Ok(Err(PlanError::Lookup(e))) => {
            tracing::warn!(error = %e, "project lookups failed; they are retried after the modal closes");
            None
        }
        Err(_) => None,
    };
    let claim = modals::claim_submission(state, &team, &sub.view).await;
    if !claim.first {
        return SubmitAnswer::Close;
    }
    let key = claim.key;
    let origin = modals::origin(&sub, metadata);
    let job = ProjectJob {
        key,
        origin,
        form,
        plan,
    };
    state.jobs.submit(job.stored()).await;
    SubmitAnswer::Close
}
