//! The one call a flow's job makes once its work exists in Tallyfy: [`post`] keeps what
//! the card's buttons act on and what the Home tabs list, posts the card (or replaces the
//! one whose Retry was pressed), keeps where it went so the news can reach it, lists the
//! work for the poller when there are no webhooks, and records that the job was told.

use jiff::Timestamp;
use slack_morphism::prelude::SlackMessageContent;

use super::news;
use super::store::{self, Card, Followed, Polled, Target};
use crate::courier::{notice, Origin, Posted};
use crate::slack::ids::UserId;
use crate::state::Services;
use crate::tallyfy::model::CreatedTask;
use crate::worklists::{self, AssignedTask, RecentProject};

/// A card about to be posted for job `job`.
pub struct NewCard<'a> {
    pub job: &'a str,
    pub origin: &'a Origin,
    pub content: SlackMessageContent,
    /// What its news comes from in Tallyfy.
    pub followed: Followed,
    /// The tasks its buttons (or a project's line menus) act on.
    pub tasks: Vec<CardTask>,
    /// A project, for the Home tabs of the people in it.
    pub project: Option<ProjectListing>,
}

/// One task a card acts on, and whose Home tab lists it.
pub struct CardTask {
    /// Its line in a project; `None` for a task's own card.
    pub line: Option<u32>,
    pub title: String,
    /// The Slack people it was assigned to, whose Home tabs list it.
    pub assignees: Vec<UserId>,
    pub created: CreatedTask,
    pub link: String,
    pub deadline: Timestamp,
}

/// A project among its people's recent projects.
pub struct ProjectListing {
    pub people: Vec<UserId>,
    pub project: RecentProject,
}

/// Where the card goes.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A new message where the request came from.
    New,
    /// In place of the message whose Retry button was pressed, through its `response_url`.
    Replace(Replaced),
}

/// The message a Retry replaces: its `response_url`, and where it is (channel and `ts`)
/// when it is a message in a conversation (not an ephemeral one).
#[derive(Clone, Debug)]
pub struct Replaced {
    pub response_url: String,
    pub message: Option<(String, String)>,
}

/// Keeps what the card acts on, posts it, follows it, and records the job as told; false
/// when no way to tell the requester worked (the job is then tried again).
///
/// Writes that do not wait on one another go out together (one round trip to Redis, not
/// one each): what the buttons and Home tabs read with the check that the job was not told
/// yet, and where the card went with the record that it was told.
pub async fn post(app: &Services, card: NewCard<'_>, reply: Reply) -> bool {
    let tell = async {
        match reply {
            Reply::Replace(replaced) => {
                let told = replace(app, &card, &replaced).await;
                if told {
                    // A Retry's job, if its first run still comes, has nothing left to say.
                    app.ledger.mark_told(card.job).await;
                }
                told
            }
            Reply::New => match app
                .courier
                .announce(card.job, card.origin, card.content.clone())
                .await
            {
                Ok(posted) => {
                    tokio::join!(follow(app, &card, posted), app.ledger.mark_told(card.job));
                    true
                }
                Err(_) => false,
            },
        }
    };
    let (_, told) = tokio::join!(remember(app, &card), tell);
    told
}

/// Keeps what the card's buttons act on and lists its work on its people's Home tabs.
async fn remember(app: &Services, card: &NewCard<'_>) {
    let (cards, home) = (store::of(app), worklists::of(app));
    let channel = card.origin.channel_id.as_ref().map(|c| c.to_string());
    let tasks = card.tasks.iter().map(|task| {
        let target = Target {
            key: card.job.to_string(),
            title: task.title.clone(),
            created: task.created.clone(),
        };
        let listed = AssignedTask {
            task: task.created.id.0.clone(),
            title: task.title.clone(),
            link: task.link.clone(),
            deadline: task.deadline.as_second(),
            channel: channel.clone(),
        };
        let (cards, home) = (&cards, &home);
        async move {
            tokio::join!(
                cards.keep_target(&target, task.line),
                home.remember_task(&task.assignees, &listed)
            );
        }
    });
    let project = async {
        if let Some(listing) = &card.project {
            home.remember_project(&listing.people, &listing.project)
                .await;
        }
    };
    tokio::join!(futures::future::join_all(tasks), project);
}

/// Replaces the message whose Retry was pressed with the card, which is then the card
/// recorded: later news updates this content, where it is, never the earlier one. A
/// message that cannot be followed (an ephemeral notice, or one Slack would not replace)
/// gives way to a new card in the conversation, followed as any card is.
async fn replace(app: &Services, card: &NewCard<'_>, replaced: &Replaced) -> bool {
    // The card's news waits while it is replaced, and news being told finishes first: an
    // update made from the earlier content never lands on the new card.
    news::holding(app, card.job, news::HOLD, replace_held(app, card, replaced))
        .await
        .unwrap_or(false)
}

async fn replace_held(app: &Services, card: &NewCard<'_>, replaced: &Replaced) -> bool {
    let cards = store::of(app);
    let kept = cards.card(card.job).await;
    let followable = kept.is_some() || replaced.message.is_some();
    if followable
        && app
            .courier
            .replace(&replaced.response_url, &card.content)
            .await
            .is_ok()
    {
        match (kept, &replaced.message) {
            (Some(mut kept), _) => {
                kept.content = card.content.clone();
                cards.keep_card(card.job, &kept).await;
            }
            (None, Some((channel, ts))) => {
                let posted = Posted::InChannel {
                    channel: channel.clone(),
                    ts: ts.clone(),
                };
                follow(app, card, posted).await;
            }
            (None, None) => {}
        }
        return true;
    }
    match app
        .courier
        .announce(card.job, card.origin, card.content.clone())
        .await
    {
        Ok(posted) => {
            follow(app, card, posted).await;
            let note = notice(RETRIED);
            let _ = app.courier.replace(&replaced.response_url, &note).await;
            true
        }
        Err(_) => false,
    }
}

/// What an ephemeral notice whose Retry worked says once the card is posted.
const RETRIED: &str = "Done: it is all in the conversation now.";

/// Keeps where a card went, when it went to a channel; without a public URL, also lists
/// what it follows, for the poller.
async fn follow(app: &Services, card: &NewCard<'_>, posted: Posted) {
    let Posted::InChannel { channel, ts } = posted else {
        return;
    };
    let cards = store::of(app);
    let kept = Card {
        channel,
        ts,
        content: card.content.clone(),
        followed: Some(card.followed.clone()),
    };
    let polled = async {
        if app.config.public_url.is_none() {
            let entry = Polled {
                job: card.job.to_string(),
                followed: card.followed.clone(),
                since: Timestamp::now().as_second(),
            };
            cards.list_polled(&entry).await;
        }
    };
    tokio::join!(cards.keep_card(card.job, &kept), polled);
}

/// Lists posted work that no webhook of this app's tells about (a launched template's
/// run: its steps are the template's), for the poller, with a public URL too (without
/// one, [`post`] has listed it already). Work whose card went nowhere to follow is left.
pub async fn read_instead(app: &Services, job: &str, followed: Followed) {
    let cards = store::of(app);
    if app.config.public_url.is_none() || cards.card(job).await.is_none() {
        return;
    }
    let entry = Polled {
        job: job.to_string(),
        followed,
        since: Timestamp::now().as_second(),
    };
    cards.list_polled(&entry).await;
}
