//! Hearing about your own work in Slack. Each person turns on, from the Home tab, a direct
//! message when a Tallyfy task is assigned to them (whoever assigned it, wherever in
//! Tallyfy), a morning digest at 9:00 in their Slack time zone of what is due that day or
//! overdue, or both. Each item carries the card's buttons and a link into Tallyfy.
//!
//! Tallyfy documents no organization event webhook for an assignment, and its own n8n
//! trigger reads "Task Assigned To Me" by polling the task list; so does this: one
//! replica at a time (it holds a lease in the store), every `ALERTS_POLL_SECS`, reads
//! the open tasks of each person who turned an alert on (one list call each, within the
//! shared rate budget). Each alert is claimed in the store before it is sent, so it is
//! sent once per person and task across replicas and restarts; one Slack refused is given
//! back and sent on a later round. Tasks already theirs when they turned alerts on are
//! set aside, not alerted. A digest is claimed once per person per day of theirs.

pub mod message;
pub mod store;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::cards::store::{self as cards_store, Target};
use crate::directory::Assignee;
use crate::slack::ids::UserId;
use crate::state::{AppState, Services};
use crate::tallyfy::model::ListedTask;
use message::Shown;
use store::{Claim, Settings};

/// The hour of a person's day their digest is sent from.
const DIGEST_HOUR: i8 = 9;

/// Which alert a person turns on or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alert {
    Assigned,
    Digest,
}

/// Reads for alerts every `ALERTS_POLL_SECS` while this replica holds the lease; until
/// `stop` completes.
pub async fn poll(app: AppState, stop: impl std::future::Future<Output = ()>) {
    let every = app.config.jobs.alerts_every;
    let me = crate::store::instance_name();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(every) => {}
        }
        if store::of(&app).hold_lease(&me, every * 3).await {
            round(&app).await;
        }
    }
}

/// One round: each person who turned an alert on, their open tasks read once.
async fn round(app: &Services) {
    let alerts = store::of(app);
    for user in alerts.people().await {
        let mut settings = alerts.settings(&user).await;
        if !settings.assigned && !settings.digest {
            continue;
        }
        let Some(tasks) = open_work(app, &settings.team, &user).await else {
            continue;
        };
        if settings.assigned && !settings.seeded {
            set_aside(app, &user, &tasks).await;
            settings.seeded = true;
            alerts.keep_settings(&user, &settings).await;
        } else if settings.assigned {
            for task in &tasks {
                tell_assigned(app, &user, task).await;
            }
        }
        if settings.digest {
            tell_digest(app, &settings.team, &user, &tasks).await;
        }
    }
}

/// `user`'s open tasks from all of Tallyfy, soonest deadline first; `None` when they have
/// no Tallyfy account or Tallyfy could not be read.
pub async fn open_work(app: &Services, team: &str, user: &UserId) -> Option<Vec<ListedTask>> {
    let (resolved, _) = app.directory.whois(team, user.as_str()).await.ok()?;
    let Assignee::Member { id, email, .. } = resolved.assignee else {
        return None;
    };
    // Read with their own token when the service acts as each person: what Tallyfy lets
    // them see.
    match app.tallyfy.acting_as(&email).open_tasks_of(id).await {
        Ok(tasks) => Some(tasks),
        Err(e) => {
            tracing::info!(error = %e, "could not read a person's tasks");
            None
        }
    }
}

/// Keeps what `task`'s buttons act on, as a card's are kept; answers the key they carry.
pub async fn actionable<'a>(app: &Services, task: &'a ListedTask) -> Shown<'a> {
    let key = format!("mine-{}", task.id);
    let target = Target {
        key: key.clone(),
        title: task.title.clone().unwrap_or_default(),
        created: task.clone().into_created(),
    };
    cards_store::of(app).keep_target(&target, None).await;
    Shown { task, key }
}

async fn set_aside(app: &Services, user: &UserId, tasks: &[ListedTask]) {
    let alerts = store::of(app);
    for task in tasks {
        alerts.set_aside(user, &task.id.0).await;
    }
}

/// Tells `user` that `task` is theirs, once.
async fn tell_assigned(app: &Services, user: &UserId, task: &ListedTask) {
    let alerts = store::of(app);
    let claim = Claim::Assigned {
        user,
        task: &task.id.0,
    };
    if !alerts.claim(&claim).await {
        return;
    }
    let shown = actionable(app, task).await;
    let content = message::assigned(app, &shown, app.clock.now());
    match app.courier.message_person(user, &content, "alert").await {
        Ok(()) => {
            app.metrics.job("alert", "sent");
            alerts.sent(&claim).await;
        }
        Err(_) => alerts.give_back(&claim).await,
    }
}

/// From 9:00 of `user`'s day on, tells them once that day what is due by its end or
/// overdue (nothing when nothing is).
async fn tell_digest(app: &Services, team: &str, user: &UserId, tasks: &[ListedTask]) {
    let now = app.clock.now();
    let zone = match app.directory.person(team, user.as_str()).await {
        Ok(person) => person.tz.and_then(|tz| TimeZone::get(&tz).ok()),
        Err(e) => {
            tracing::info!(error = %e, "could not read a person's time zone");
            return;
        }
    }
    .unwrap_or(TimeZone::UTC);
    let Some((day, ends)) = morning(now, &zone) else {
        return;
    };
    let alerts = store::of(app);
    let claim = Claim::Digest { user, day: &day };
    if !alerts.claim(&claim).await {
        return;
    }
    let due: Vec<&ListedTask> = tasks
        .iter()
        .filter(|t| message::deadline(t).is_some_and(|at| at < ends))
        .collect();
    if due.is_empty() {
        return alerts.sent(&claim).await;
    }
    let mut shown = Vec::new();
    for task in due {
        shown.push(actionable(app, task).await);
    }
    let content = message::digest(app, &shown, now);
    match app.courier.message_person(user, &content, "digest").await {
        Ok(()) => {
            app.metrics.job("digest", "sent");
            alerts.sent(&claim).await;
        }
        Err(_) => alerts.give_back(&claim).await,
    }
}

/// When it is 9:00 or later in `zone` at `now`: that day, and when it ends.
fn morning(now: Timestamp, zone: &TimeZone) -> Option<(String, Timestamp)> {
    let local = now.to_zoned(zone.clone());
    if local.hour() < DIGEST_HOUR {
        return None;
    }
    let day = local.date();
    let ends = day
        .tomorrow()
        .ok()?
        .to_zoned(zone.clone())
        .ok()?
        .timestamp();
    Some((day.to_string(), ends))
}

/// Turns `alert` on or off for `user` of `team`. Turning assignment alerts on sets aside
/// the tasks already theirs (or leaves it to the next round when Tallyfy cannot be read).
/// False when the store could not keep it.
pub async fn turn(app: &Services, team: &str, user: &UserId, alert: Alert, on: bool) -> bool {
    let alerts = store::of(app);
    let mut settings = alerts.settings(user).await;
    settings.team = team.to_string();
    match alert {
        Alert::Assigned if on && !settings.assigned => {
            settings.assigned = true;
            settings.seeded = match open_work(app, team, user).await {
                Some(tasks) => {
                    set_aside(app, user, &tasks).await;
                    true
                }
                None => false,
            };
        }
        Alert::Assigned => settings.assigned = on,
        Alert::Digest => settings.digest = on,
    }
    alerts.keep_settings(user, &settings).await
}

/// `user`'s settings, for the Home tab.
pub async fn settings(app: &Services, user: &UserId) -> Settings {
    store::of(app).settings(user).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_morning_begins_at_nine_in_the_persons_zone() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let before: Timestamp = "2030-01-15T07:59:00Z".parse().unwrap();
        assert_eq!(morning(before, &berlin), None);
        let at: Timestamp = "2030-01-15T08:00:00Z".parse().unwrap();
        let (day, ends) = morning(at, &berlin).unwrap();
        assert_eq!(day, "2030-01-15");
        assert_eq!(ends, "2030-01-15T23:00:00Z".parse::<Timestamp>().unwrap());
        // Early on the 16th in UTC is still the 15th in California.
        let pacific = TimeZone::get("America/Los_Angeles").unwrap();
        let early: Timestamp = "2030-01-16T01:00:00Z".parse().unwrap();
        assert_eq!(morning(early, &pacific).unwrap().0, "2030-01-15");
    }
}
