//! Checking a "New task" submission and queueing its job, within Slack's 3 s.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use super::job::TaskJob;
use super::modal;
use crate::modals::{self, AnswerBy, GuestCheck, Metadata, SubmitAnswer};
use crate::slack::interaction::ViewSubmission;
use crate::state::AppState;

/// How long a submission may spend resolving assignees before the modal must close.
const RESOLVE_BUDGET: Duration = Duration::from_millis(1800);

/// Checks a "New task" submission and hands it off. Always answers within Slack's 3 s: the
/// assignee lookup is bounded, and work that needs longer continues after the modal closes.
/// The guest check runs beside the assignee lookup; nothing is kept before it passes.
pub async fn submit(
    state: &AppState,
    sub: ViewSubmission,
    answer_by: AnswerBy,
    guest: GuestCheck<'_>,
) -> SubmitAnswer {
    let draft = match modal::read(&sub.view.state, Timestamp::now()) {
        Ok(draft) => draft,
        Err(errors) => return modals::unless_refused(guest, SubmitAnswer::Errors(errors)).await,
    };
    let team = sub.team_id();

    let (resolved, refused) = tokio::join!(
        tokio::time::timeout(
            answer_by.at_most(RESOLVE_BUDGET),
            state.directory.resolve_all(&team, &draft.assignees),
        ),
        guest
    );
    if refused {
        return SubmitAnswer::Refused;
    }
    let owners = match resolved {
        Ok(Ok(resolved)) => match super::draft::draft_owners(&draft, &resolved) {
            Ok(owners) => Some(owners),
            Err(problem) => {
                return SubmitAnswer::Errors(BTreeMap::from([(
                    modal::ASSIGNEES.to_string(),
                    problem,
                )]))
            }
        },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "assignee lookup failed; it is retried after the modal closes");
            None
        }
        Err(_) => {
            tracing::info!("assignee lookup is slow; it continues after the modal closes");
            None
        }
    };

    let claim = modals::claim_submission(state, &team, &sub.view).await;
    if !claim.first {
        return SubmitAnswer::Close;
    }
    let key = claim.key;
    let origin = modals::origin(&sub, Metadata::decode(&sub.view.private_metadata));
    let job = TaskJob {
        key,
        origin,
        draft,
        owners,
    };
    state.jobs.submit(job.stored()).await;
    SubmitAnswer::Close
}
