//! Without a public URL (Socket Mode) there are no webhooks: one replica at a time (it
//! holds a lease in the store) reads the tasks and projects the app created (with a public
//! URL, only the runs launched from templates, which carry no webhook of the app's), every
//! `TALLYFY_POLL_SECS`, within the shared rate budget, and tells the same news the same
//! way, once: a completion, and a reopening of a task last told done. Work a day old is
//! read a tenth as often; work a month old, no more.

use serde_json::Value;

use super::news::{holding, tell, News, Progress};
use super::store::{self, Followed, FOLLOW_TTL};
use crate::state::{AppState, Services};
use crate::tallyfy::model::{decision, MemberId, Run};
use crate::worklists;

const DAY: i64 = 24 * 3600;
/// How long a round waits for a card another teller holds before leaving it to the next.
const HOLD_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads the work listed for reading (see the module) for completions, every
/// `TALLYFY_POLL_SECS`, while this replica holds the poller's lease; until `stop` completes.
pub async fn poll(app: AppState, stop: impl std::future::Future<Output = ()>) {
    let every = app.config.jobs.poll_every;
    let me = crate::store::instance_name();
    tokio::pin!(stop);
    let mut round: u64 = 0;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(every) => {}
        }
        round += 1;
        if store::of(&app).hold_lease(&me, every * 3).await {
            poll_once(&app, round).await;
        }
    }
}

/// One round: young work every round, work a day old every tenth, older work no more.
async fn poll_once(app: &Services, round: u64) {
    let now = jiff::Timestamp::now().as_second();
    let cards = store::of(app);
    let mut seen = Vec::new();
    for entry in cards.polled().await {
        let age = now - entry.since;
        if seen.contains(&entry.followed)
            || age > 30 * DAY
            || (age > DAY && !round.is_multiple_of(10))
        {
            continue;
        }
        seen.push(entry.followed.clone());
        // One replica polls at a time: news is marked told only once Slack took it, and
        // what Slack refused, or a card held by another teller, is told on a later round.
        let tell_all = async {
            for news in read(app, &entry.followed).await.unwrap_or_default() {
                let key = news.key.clone();
                if !cards.was_told(&key).await && tell(app, &entry.job, news).await.is_ok() {
                    cards.mark_told(&key, FOLLOW_TTL).await;
                }
            }
        };
        holding(app, &entry.job, HOLD_WAIT, tell_all).await;
    }
}

/// The completions in a piece of work not told yet (and its reopenings), as news; an
/// error when Tallyfy could not be read.
pub(super) async fn read(app: &Services, followed: &Followed) -> Result<Vec<News>, ()> {
    match followed {
        Followed::Task(id) => match app.tallyfy.get_task(id).await {
            Ok(task) if task.status.as_deref() == Some("completed") => Ok(vec![News {
                key: News::key(&id.0, true, task.completed_at.as_deref()),
                task: id.0.clone(),
                by: None,
                at: task.completed_at.clone(),
                title: task.title.clone(),
                who: completer(app, &task.completed_by, &task.completer_id).await,
                done: true,
                approved: decision(task.task_type.as_deref(), task.is_approved),
                progress: Progress::Task { done: true },
                process: None,
            }]),
            Ok(task) => Ok(reopenings(app, &[(id.0.clone(), task.title.clone())], None)
                .await
                .into_iter()
                .map(|mut news| {
                    news.progress = Progress::Task { done: false };
                    news
                })
                .collect()),
            Err(e) => {
                tracing::info!(error = %e, "could not read a task for its completion");
                Err(())
            }
        },
        Followed::Run(id) => match app.tallyfy.get_run(id).await {
            Ok(run) => {
                let progress = run_progress(&run);
                let name = run.name.clone();
                let tasks = run.tasks.map(|t| t.data).unwrap_or_default();
                let open: Vec<(String, Option<String>)> = tasks
                    .iter()
                    .filter(|t| !t.is_completed())
                    .map(|t| (t.id.0.clone(), t.title.clone()))
                    .collect();
                let process = Some((id.0.clone(), name.clone()));
                let mut news = reopenings(app, &open, process).await;
                for reopened in &mut news {
                    reopened.progress = progress.clone();
                }
                let cards = store::of(app);
                for t in tasks.into_iter().filter(|t| t.is_completed()) {
                    let key = News::key(&t.id.0, true, t.completed_at.as_deref());
                    // Who completed a task told already is not looked up again: a big
                    // project read after each of its lines would spend Tallyfy's budget.
                    if cards.was_told(&key).await {
                        continue;
                    }
                    news.push(News {
                        key,
                        task: t.id.0.clone(),
                        by: None,
                        at: t.completed_at.clone(),
                        title: t.title.clone(),
                        who: completer(app, &t.completed_by, &t.completer_id).await,
                        done: true,
                        approved: decision(t.task_type.as_deref(), t.is_approved),
                        progress: progress.clone(),
                        process: Some((id.0.clone(), name.clone())),
                    });
                }
                Ok(news)
            }
            Err(e) => {
                tracing::info!(error = %e, "could not read a project for its completions");
                Err(())
            }
        },
    }
}

/// How far a project is, from the run itself: its lines counted from its tasks, else the
/// percentage Tallyfy gives; complete only when Tallyfy says the run is. Never assumed.
fn run_progress(run: &Run) -> Progress {
    let complete = run.is_complete();
    match (run.lines(), run.percent()) {
        (Some((done, total)), _) if total > 0 => Progress::Project {
            done: done as u64,
            total: total as u64,
            complete,
        },
        (_, Some(percent)) => Progress::Percent { percent, complete },
        _ => Progress::Project {
            done: 0,
            total: 0,
            complete,
        },
    }
}

/// Who completed a task: the name Tallyfy gives with it, else the member its
/// `completer_id` names (Tallyfy's reads carry only the id), looked up.
async fn completer(app: &Services, by: &Option<Value>, id: &Option<Value>) -> Option<String> {
    let named = by
        .as_ref()
        .and_then(|b| b.get("full_name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if named.is_some() {
        return named;
    }
    let id = id.as_ref().and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })?;
    match app.tallyfy.get_member(MemberId(id)).await {
        Ok(member) => member.full_name.filter(|n| !n.trim().is_empty()),
        Err(e) => {
            tracing::info!(error = %e, "could not look up who completed a task");
            None
        }
    }
}

/// Tasks read open that were last told done: reopened in Tallyfy, as news (keyed by the
/// completion they undid, as a reopening from a card is).
async fn reopenings(
    app: &Services,
    open: &[(String, Option<String>)],
    process: Option<(String, Option<String>)>,
) -> Vec<News> {
    let ids: Vec<String> = open.iter().map(|(id, _)| id.clone()).collect();
    let told = worklists::of(app).done(&ids).await;
    open.iter()
        .zip(told)
        .filter_map(|((id, title), at)| {
            let at = at?;
            Some(News {
                key: News::key(id, false, Some(&at)),
                task: id.clone(),
                by: None,
                at: None,
                title: title.clone(),
                who: None,
                done: false,
                approved: None,
                progress: Progress::Task { done: false },
                process: process.clone(),
            })
        })
        .collect()
}
