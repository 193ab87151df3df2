//! Launching one of the organization's templates: `/project from <name>` opens the
//! template's kick-off form (the best match by title, a picker when several match, a word
//! when none does); the New project form's "Start from a template" menu searches the
//! templates as one types (Slack's `block_suggestion`) and, once one is chosen, becomes
//! its kick-off form. The submission is checked within Slack's 3 s and the launch queued
//! ([`super::template_job`]).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{json, Value};

use super::template_form::{self, FormMetadata};
use super::template_job::TemplateJob;
use crate::deadline;
use crate::modals::{self, ModalRequest, SubmitAnswer};
use crate::slack::api::OpenedView;
use crate::slack::ids::{TeamId, UserId};
use crate::slack::interaction::ViewSubmission;
use crate::state::AppState;
use crate::tallyfy::templates::{Template, TemplateSummary};

/// How long opening a form waits for each of Tallyfy's answers (the search, the
/// template): the trigger id lives 3 s.
const OPEN_WAIT: Duration = Duration::from_millis(1100);
/// How long type-ahead waits for the search: Slack waits 3 s for the options.
const SUGGEST_WAIT: Duration = Duration::from_millis(2000);
/// How long a submission waits for the template, to read its answers by.
const SUBMIT_WAIT: Duration = Duration::from_millis(1800);
/// How long a submission may take, from its start, before the people its assignee
/// fields name are left for the job to find (Slack waits 3 s).
const PEOPLE_DEADLINE: Duration = Duration::from_millis(2600);
/// How long choosing a template waits for it before the form says Tallyfy is slow.
const CHOOSE_WAIT: Duration = Duration::from_secs(10);

/// The template `/project from <name>` names, if the text says that.
pub fn named(text: &str) -> Option<&str> {
    let text = text.trim();
    let head = text.get(..5)?;
    (head.eq_ignore_ascii_case("from ") && !text[5..].trim().is_empty()).then(|| text[5..].trim())
}

/// Which of `found` the name means: one whose title is exactly the name (ignoring
/// case), else the only one; `None` when several are as good.
pub fn best_match<'a>(found: &'a [TemplateSummary], name: &str) -> Option<&'a TemplateSummary> {
    let exact: Vec<&TemplateSummary> = found
        .iter()
        .filter(|t| t.title.trim().eq_ignore_ascii_case(name.trim()))
        .collect();
    match (exact.as_slice(), found) {
        ([one], _) => Some(one),
        ([], [one]) => Some(one),
        _ => None,
    }
}

/// `/project from <name>`: the template's form, a picker, or a word that none matched.
pub async fn open(state: &AppState, request: ModalRequest, name: String) {
    let tell = |text: String| {
        let (user, url) = (request.user_id.clone(), request.response_url.clone());
        async move {
            state
                .courier
                .tell_person(&user, url.as_deref(), &text)
                .await
        }
    };
    let found = match tokio::time::timeout(OPEN_WAIT, state.tallyfy.find_templates(&name)).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "templates could not be searched");
            return tell(format!(
                "I couldn't search Tallyfy's templates just now ({}). Please try {} again.",
                crate::failures::tallyfy(&e),
                request.via
            ))
            .await;
        }
        Err(_) => {
            return tell(format!(
                "Tallyfy was too slow to search its templates just now. Please try {} again.",
                request.via
            ))
            .await;
        }
    };
    state
        .metrics
        .slack_request("template", if found.is_empty() { "none" } else { "found" });
    if found.is_empty() {
        let text = format!(
            "No template in Tallyfy is called anything like \u{201c}{}\u{201d}. Check its name in Tallyfy, or run `{}` and use \u{201c}Start from a template\u{201d} to search them.",
            crate::slack::mrkdwn::escape(&crate::slack::mrkdwn::shorten(&name, 100)),
            request.via
        );
        return tell(text).await;
    }
    let Some(best) = best_match(&found, &name) else {
        let mut found = found;
        let lower = name.to_lowercase();
        found.sort_by_key(|t| !t.title.to_lowercase().starts_with(&lower));
        let build = |o: &modals::Opening| template_form::picker(&found, &name, &o.metadata);
        return Box::pin(modals::open_for_command(state, &request, Vec::new(), build)).await;
    };
    let template = match tokio::time::timeout(OPEN_WAIT, state.tallyfy.get_template(&best.id)).await
    {
        Ok(Ok(template)) => template,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "a template could not be read");
            return tell(format!(
                "I couldn't read that template from Tallyfy ({}). Please try again.",
                crate::failures::tallyfy(&e)
            ))
            .await;
        }
        Err(_) => {
            return tell(format!(
                "Tallyfy was too slow to send the template just now. Please try {} again.",
                request.via
            ))
            .await;
        }
    };
    let build = |o: &modals::Opening| template_form::view(&template, &o.metadata, &o.now);
    Box::pin(modals::open_for_command(state, &request, Vec::new(), build)).await;
}

/// A template chosen in a form (the type-ahead menu, or the picker): the form becomes
/// its kick-off form. `view` is the form as Slack sent it with the choice.
pub fn chosen(state: &AppState, user: UserId, view: &Value, template_id: String) {
    let text = |key: &str| {
        view.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let opened = OpenedView {
        id: text("id"),
        hash: text("hash"),
    };
    let metadata = FormMetadata::decode(&text("private_metadata")).base;
    state
        .metrics
        .slack_request("block_actions", "template_chosen");
    let app = state.clone();
    let handed = state.jobs.hand_off(async move {
        let got = tokio::time::timeout(CHOOSE_WAIT, app.tallyfy.get_template(&template_id)).await;
        let template: Template = match got {
            Ok(Ok(template)) => template,
            _ => {
                let text =
                    "I couldn't read that template from Tallyfy just now. Please choose it again.";
                return app.courier.tell_person(&user, None, text).await;
            }
        };
        let now = Timestamp::now().to_zoned(deadline::timezone(metadata.tz.as_deref()));
        let form = template_form::view(&template, &metadata, &now);
        if let Err(e) = app.slack.update_view(&opened, form).await {
            tracing::info!(error = %e, "the form could not become the template's");
        }
    });
    if handed.is_err() {
        tracing::warn!("too much work is running: a chosen template's form was not shown");
    }
}

/// The options of the "Start from a template" menu for what has been typed so far.
pub async fn suggestions(state: &AppState, typed: &str) -> Value {
    let found = match tokio::time::timeout(SUGGEST_WAIT, state.tallyfy.find_templates(typed)).await
    {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::info!(error = %e, "templates could not be searched for type-ahead");
            Vec::new()
        }
        Err(_) => Vec::new(),
    };
    state.metrics.slack_request("block_suggestion", "templates");
    let options: Vec<Value> = found
        .iter()
        .take(100)
        .map(|t| {
            let title = crate::slack::mrkdwn::shorten(&t.title, 75);
            json!({"text": {"type": "plain_text", "text": title}, "value": t.id})
        })
        .collect();
    json!({ "options": options })
}

/// Checks a kick-off form's submission against its template and queues the launch.
pub async fn submit(state: &AppState, sub: ViewSubmission) -> SubmitAnswer {
    let started = tokio::time::Instant::now();
    let metadata = FormMetadata::decode(&sub.view.private_metadata);
    let template =
        match tokio::time::timeout(SUBMIT_WAIT, state.tallyfy.get_template(&metadata.template))
            .await
        {
            Ok(Ok(template)) => template,
            _ => {
                let errors = [(
                    template_form::NAME.to_string(),
                    "Tallyfy didn't answer in time, so nothing was launched. Press Launch again."
                        .to_string(),
                )];
                return SubmitAnswer::Errors(errors.into_iter().collect());
            }
        };
    let answers = match template_form::read(&sub.view.state, &template) {
        Ok(answers) => answers,
        Err(errors) => return SubmitAnswer::Errors(errors),
    };
    let team = sub.team_id();
    let left = PEOPLE_DEADLINE.saturating_sub(started.elapsed());
    let problems = Box::pin(people_problems(state, &team, &answers, left)).await;
    if !problems.is_empty() {
        return SubmitAnswer::Errors(problems);
    }
    let claim = modals::claim_submission(state, &team, &sub.view).await;
    if !claim.first {
        return SubmitAnswer::Close;
    }
    let origin = modals::origin(&sub, metadata.base);
    let job = TemplateJob {
        key: claim.key,
        origin,
        template_id: template.id,
        template_title: template.title,
        answers,
    };
    state.jobs.submit(job.stored()).await;
    SubmitAnswer::Close
}

/// What is wrong with the people the assignee fields name (someone without a Tallyfy
/// account, say), by block, as far as they can be found within `left`; the rest is left
/// to the job, which finds them again.
async fn people_problems(
    state: &AppState,
    team: &TeamId,
    answers: &template_form::Answers,
    left: Duration,
) -> BTreeMap<String, String> {
    let mut problems = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + left;
    for (field, people) in &answers.people {
        let lookup = state.directory.resolve_all(team, people);
        let Ok(Ok(resolved)) = tokio::time::timeout_at(deadline, lookup).await else {
            continue;
        };
        if let Err(problem) = crate::directory::owners(&resolved, false) {
            problems.insert(template_form::block_of(field), problem);
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str, title: &str) -> TemplateSummary {
        TemplateSummary {
            id: id.into(),
            title: title.into(),
        }
    }

    #[test]
    fn the_command_names_a_template_after_from() {
        assert_eq!(
            named("from Employee onboarding"),
            Some("Employee onboarding")
        );
        assert_eq!(named("FROM  onboarding "), Some("onboarding"));
        assert_eq!(named("from"), None);
        assert_eq!(named("Fromage tasting"), None);
        assert_eq!(named("Onboard Globex"), None);
    }

    #[test]
    fn an_exact_title_wins_and_several_others_ask() {
        let found = [
            t("1", "Employee onboarding"),
            t("2", "Employee onboarding (EMEA)"),
        ];
        assert_eq!(best_match(&found, "employee onboarding").unwrap().id, "1");
        assert!(best_match(&found, "onboarding").is_none());
        assert_eq!(best_match(&found[1..], "onboarding").unwrap().id, "2");
    }
}
