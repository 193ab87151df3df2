//! The App Home tab: when someone opens it (`app_home_opened`, over HTTP or Socket Mode),
//! it is published for them with `views.publish`: the tasks made from Slack that are
//! assigned to them and not done (from the app's own records, [`crate::worklists`]), their
//! open tasks from all of Tallyfy (the task list filtered to their member id) each with a
//! card's buttons, their recent projects, the alerts they can turn on or off
//! ([`crate::alerts`]), and buttons that tell how to use `/task` and `/project`. Each
//! event is taken once (its `event_id`), however often Slack delivers it.

use serde_json::Value;
use slack_morphism::prelude::*;

use crate::alerts::{self, message as work, Alert};
use crate::slack::ids::UserId;
use crate::slack::interaction::{Action, BlockActions};
use crate::slack::{limits, mrkdwn};
use crate::state::{AppState, Services};
use crate::worklists::{self as store, AssignedTask, RecentProject};

/// The Home tab's buttons; each opens a short guide.
pub const HELP_TASK_ACTION: &str = "home_help_task";
pub const HELP_PROJECT_ACTION: &str = "home_help_project";
/// How many open tasks the tab lists (one block each; a view holds at most 100 blocks).
const TASKS_SHOWN: usize = 40;
/// How many recent projects the tab lists.
const PROJECTS_SHOWN: usize = 10;
/// How many open tasks from Tallyfy the tab lists (two blocks each).
const TALLYFY_SHOWN: usize = 12;
/// The buttons that turn an alert on or off; the value is `on` or `off`.
pub const ASSIGNED_ACTION: &str = "home_alert_assigned";
pub const DIGEST_ACTION: &str = "home_alert_digest";

/// Takes an `event_callback`: an `app_home_opened` on the Home tab is published for its
/// user, once per event id; other events are ignored.
pub fn event(state: &AppState, callback: &Value) {
    let event = &callback["event"];
    if event["type"] != "app_home_opened" {
        return;
    }
    // The Messages tab also says it was opened; only the Home tab shows this view.
    if event["tab"].as_str().is_some_and(|tab| tab != "home") {
        return;
    }
    let Some(user) = event["user"].as_str().map(str::to_string) else {
        return;
    };
    let event_id = callback["event_id"].as_str().map(str::to_string);
    let team = callback["team_id"].as_str().unwrap_or_default().to_string();
    state.metrics.slack_request("event", "app_home_opened");
    let app = state.clone();
    let handed = state.jobs.hand_off(async move {
        if let Some(id) = &event_id {
            if !store::of(&app).first_event(id).await {
                return;
            }
        }
        publish(&app, &team, &user).await;
    });
    if handed.is_err() {
        tracing::warn!("too much work is running: a Home tab was not published");
    }
}

/// Takes a press of a Home tab's alert button: the alert is turned on or off and the tab
/// published again; false for any other action.
pub fn toggle(state: &AppState, actions: &BlockActions, action: &Action) -> bool {
    let alert = match action.action_id.as_str() {
        ASSIGNED_ACTION => Alert::Assigned,
        DIGEST_ACTION => Alert::Digest,
        _ => return false,
    };
    let on = action.value.as_deref() == Some("on");
    state.metrics.slack_request("block_actions", "home_alert");
    let (app, team, user) = (state.clone(), actions.team_id(), actions.user.id.clone());
    let handed = state.jobs.hand_off(async move {
        if !alerts::turn(&app, team.as_str(), &user, alert, on).await {
            let text = "I couldn't save that just now. Please press the button again.";
            app.courier.tell_person(&user, None, text).await;
        }
        publish(&app, team.as_str(), user.as_str()).await;
    });
    if handed.is_err() {
        tracing::warn!("too much work is running: an alert was not turned on or off");
    }
    true
}

/// Publishes `user`'s Home tab.
pub async fn publish(app: &Services, team: &str, user: &str) {
    let home = store::of(app);
    let tasks = home.open_tasks(user).await;
    let projects = home.recent_projects(user).await;
    let made: Vec<&str> = tasks.iter().map(|t| t.task.as_str()).collect();
    let mine = tallyfy_work(app, team, &UserId::new(user), &made).await;
    let view = view(&tasks, &projects, mine);
    if let Err(e) = app.slack.publish_home(user, view).await {
        tracing::warn!(error = %e, "could not publish a Home tab");
    }
}

fn section(text: String) -> SlackBlock {
    SlackSectionBlock::new()
        .with_text(SlackBlockMarkDownText::new(mrkdwn::clip(&text, limits::SECTION_TEXT)).into())
        .into()
}

/// `user`'s open tasks from all of Tallyfy (but those listed above as `made` from Slack),
/// each with its buttons, and their alerts with the buttons that turn them on or off.
async fn tallyfy_work(app: &Services, team: &str, user: &UserId, made: &[&str]) -> Vec<SlackBlock> {
    let mut blocks = vec![
        SlackDividerBlock::new().into(),
        section("*Your open tasks in Tallyfy*".into()),
    ];
    let now = app.clock.now();
    let open = alerts::open_work(app, team, user).await.map(|mut tasks| {
        tasks.retain(|t| !made.contains(&t.id.0.as_str()));
        tasks
    });
    match open {
        None => blocks.push(section(
            "Your tasks in Tallyfy could not be read just now, or Tallyfy has no member \
             with your Slack email."
                .into(),
        )),
        Some(tasks) if tasks.is_empty() => blocks.push(section("Nothing open in Tallyfy.".into())),
        Some(tasks) => {
            for task in tasks.iter().take(TALLYFY_SHOWN) {
                let shown = alerts::actionable(app, task).await;
                blocks.extend(work::task_blocks(app, &shown, now));
            }
            if tasks.len() > TALLYFY_SHOWN {
                let more = tasks.len() - TALLYFY_SHOWN;
                blocks.push(section(format!("and {more} more in Tallyfy.")));
            }
        }
    }
    let settings = alerts::settings(app, user).await;
    let state = |on: bool| if on { "on" } else { "off" };
    blocks.push(section(format!(
        "*Alerts*\nTask alerts: *{}* (a direct message when a task is assigned to you in \
         Tallyfy)\nMorning digest: *{}* (at 9:00 your time, what is due today or overdue)",
        state(settings.assigned),
        state(settings.digest)
    )));
    let toggle = |on: bool, what: &str, action: &str| {
        let (label, value) = if on {
            ("Turn off", "off")
        } else {
            ("Turn on", "on")
        };
        SlackBlockButtonElement::new(format!("{label} {what}").into())
            .with_action_id(action.into())
            .with_value(value.into())
            .into()
    };
    blocks.push(
        SlackActionsBlock::new(vec![
            toggle(settings.assigned, "task alerts", ASSIGNED_ACTION),
            toggle(settings.digest, "morning digest", DIGEST_ACTION),
        ])
        .into(),
    );
    blocks
}

/// The Home tab for these open tasks and recent projects, with `mine`: the person's work
/// in Tallyfy and their alerts.
fn view(tasks: &[AssignedTask], projects: &[RecentProject], mine: Vec<SlackBlock>) -> SlackView {
    let mut blocks: Vec<SlackBlock> = vec![
        SlackHeaderBlock::new("Your Tallyfy work".into()).into(),
        section("*Open tasks assigned to you*".into()),
    ];
    if tasks.is_empty() {
        blocks.push(section(
            "Nothing open. Tasks made for you with `/task` or `/project` show up here.".into(),
        ));
    }
    for task in tasks.iter().take(TASKS_SHOWN) {
        let title = mrkdwn::shorten(&task.title, limits::SHOWN_TITLE);
        let due = jiff::Timestamp::from_second(task.deadline)
            .map(|at| {
                format!(
                    " \u{b7} due {}",
                    mrkdwn::date(task.deadline, &crate::deadline::utc_label(at))
                )
            })
            .unwrap_or_default();
        let place = task
            .channel
            .as_deref()
            .filter(|c| c.starts_with('C') || c.starts_with('G'))
            .map(|c| format!(" \u{b7} in <#{c}>"))
            .unwrap_or_default();
        blocks.push(section(format!(
            "\u{2022} {}{due}{place}",
            mrkdwn::link(&task.link, &title)
        )));
    }
    if tasks.len() > TASKS_SHOWN {
        let more = tasks.len() - TASKS_SHOWN;
        blocks.push(section(format!("and {more} more in Tallyfy.")));
    }
    blocks.extend(mine);
    blocks.push(SlackDividerBlock::new().into());
    blocks.push(section("*Your recent projects*".into()));
    let lines: Vec<String> = projects
        .iter()
        .take(PROJECTS_SHOWN)
        .map(|p| {
            let name = mrkdwn::shorten(&p.name, limits::SHOWN_TITLE);
            format!("\u{2022} {}", mrkdwn::link(&p.link, &name))
        })
        .collect();
    blocks.push(section(if lines.is_empty() {
        "None yet. `/project` makes one, with its tasks, from any channel.".into()
    } else {
        lines.join("\n")
    }));
    blocks.push(SlackDividerBlock::new().into());
    blocks.push(section(
        "Make work from any channel: `/task` for one task, `/project` for a project with its tasks.".into(),
    ));
    let task_help = SlackBlockButtonElement::new("How to use /task".into())
        .with_action_id(HELP_TASK_ACTION.into())
        .with_value("task".into());
    let project_help = SlackBlockButtonElement::new("How to use /project".into())
        .with_action_id(HELP_PROJECT_ACTION.into())
        .with_value("project".into());
    blocks.push(SlackActionsBlock::new(vec![task_help.into(), project_help.into()]).into());
    SlackView::Home(SlackHomeView::new(blocks))
}

/// A short guide (the help text of a command) in a modal, for a Home tab button.
pub fn guide(title: &str, text: &str) -> SlackView {
    SlackView::Modal(
        SlackModalView::new(title.into(), vec![section(text.to_string())])
            .with_close("Close".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_home_tab_escapes_titles_and_stays_within_slacks_limits() {
        let task = AssignedTask {
            task: "t1".into(),
            title: "<!channel> & co".into(),
            link: "https://go.tallyfy.com/o/processes/r".into(),
            deadline: 1_796_162_400,
            channel: Some("C1".into()),
        };
        let tasks = vec![task; 120];
        let mine: Vec<SlackBlock> = (0..2 * TALLYFY_SHOWN + 5)
            .map(|_| SlackDividerBlock::new().into())
            .collect();
        let json = serde_json::to_value(view(&tasks, &[], mine)).unwrap();
        assert_eq!(json["type"], "home");
        let blocks = json["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 100, "{}", blocks.len());
        let text = json.to_string();
        assert!(!text.contains("<!channel>"));
        assert!(text.contains("&lt;!channel&gt; &amp; co"));
        assert!(text.contains("and 80 more"));
    }
}
