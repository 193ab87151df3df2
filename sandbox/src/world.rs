//! The sandbox's workspace and organization: a few people (most of them Tallyfy members),
//! two channels the app is in, a group, some tags and two templates (one with a kick-off
//! field of every type), and the application itself started
//! against the stand-ins with an in-process store and no settings from outside.

use std::collections::HashMap;

use serde::Serialize;
use stand_ins::slack::{self as fake_slack, FakeSlack, Person};
use stand_ins::tallyfy::{self as fake_tallyfy, FakeTallyfy};
use tallyfy_slack::config::Config;
use tallyfy_slack::startup::Application;

/// The signing secret the sandbox signs every request to the application with.
pub const SIGNING_SECRET: &str = "sandbox-signing-secret-0123456789";

/// A person to play as. `member` is their Tallyfy member id, when they have one.
#[derive(Clone, Debug, Serialize)]
pub struct Player {
    pub id: &'static str,
    pub name: &'static str,
    pub full_name: &'static str,
    pub member: Option<u64>,
}

pub const PLAYERS: [Player; 4] = [
    Player {
        id: "U0SAM",
        name: "sam",
        full_name: "Sam Rivera",
        member: Some(2001),
    },
    Player {
        id: "U0ALICE",
        name: "alice",
        full_name: "Alice Chen",
        member: Some(2002),
    },
    Player {
        id: "U0BOB",
        name: "bob",
        full_name: "Bob Builder",
        member: Some(2003),
    },
    Player {
        id: "U0CAROL",
        name: "carol",
        full_name: "Carol Diaz",
        member: None,
    },
];

/// A channel the app is a member of.
#[derive(Clone, Debug, Serialize)]
pub struct Channel {
    pub id: &'static str,
    pub name: &'static str,
}

pub const CHANNELS: [Channel; 2] = [
    Channel {
        id: "C0PROJECTS",
        name: "projects",
    },
    Channel {
        id: "C0GENERAL",
        name: "general",
    },
];

/// Fills the stand-ins with the players, the channels, a group and tags.
pub fn populate(slack: &FakeSlack, tallyfy: &FakeTallyfy) {
    for p in &PLAYERS {
        let (first, _) = p.full_name.split_once(' ').unwrap_or((p.full_name, ""));
        let email = format!("{}@example.com", p.name);
        slack.add_person(Person {
            id: p.id.into(),
            name: p.name.into(),
            email: Some(email.clone()),
            tz: "Europe/London".into(),
            ..Person::default()
        });
        if let Some(member) = p.member {
            tallyfy.add_member(member, &email, first, "active");
        }
    }
    for c in &CHANNELS {
        slack.join_channel(c.id);
    }
    tallyfy.add_group("9f1d0c2b3a4e5f60718293a4b5c6d7e8", "Design team");
    tallyfy.add_group_members("9f1d0c2b3a4e5f60718293a4b5c6d7e8", &[2002, 2003]);
    tallyfy.add_tag("1a2b3c4d5e6f708192a3b4c5d6e7f801", "urgent");
    tallyfy.add_tag("1a2b3c4d5e6f708192a3b4c5d6e7f802", "finance");
    tallyfy.add_tag("1a2b3c4d5e6f708192a3b4c5d6e7f803", "customer");
    tallyfy.add_template(fake_tallyfy::employee_onboarding());
    tallyfy.add_template(fake_tallyfy::plain_template(
        "2b3c4d5e6f708192a3b4c5d6e7f80910",
        "Quarterly close",
    ));
}

/// The settings the application runs with in the sandbox: the stand-ins' addresses,
/// their client credentials, no Redis (the in-process store and queue) and `PUBLIC_URL` on loopback,
/// so Tallyfy's webhooks reach it. Links to Tallyfy open the page's Tallyfy panel.
pub fn settings(
    slack: &FakeSlack,
    tallyfy: &FakeTallyfy,
    page: &str,
) -> anyhow::Result<HashMap<String, String>> {
    // The application's own listener: its address must be known before it starts, as
    // Tallyfy's webhooks are addressed to it.
    let port = stand_ins::free_port();
    Ok([
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_string()),
        ("SLACK_BOT_TOKEN", fake_slack::BOT_TOKEN.to_string()),
        ("SLACK_API_URL", slack.api_url()),
        ("SLACK_RESPONSE_URL_BASE", slack.response_url("")),
        ("TALLYFY_ORG_ID", fake_tallyfy::ORG.to_string()),
        // Client credentials: each person acts with their own token, so the Tallyfy panel
        // shows who started and who completed each task.
        ("TALLYFY_CLIENT_ID", fake_tallyfy::CLIENT_ID.to_string()),
        (
            "TALLYFY_CLIENT_SECRET",
            fake_tallyfy::CLIENT_SECRET.to_string(),
        ),
        ("TALLYFY_API_URL", tallyfy.api_url()),
        ("TALLYFY_WEB_URL", format!("{page}/tallyfy/")),
        ("HOST", "127.0.0.1".to_string()),
        ("PORT", port.to_string()),
        ("PUBLIC_URL", format!("http://127.0.0.1:{port}")),
        ("RUST_LOG", "warn".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect())
}

/// The application, built from `settings` and serving until the process ends. Answers
/// its address.
pub async fn start_app(settings: HashMap<String, String>) -> anyhow::Result<String> {
    let config = Config::from_lookup(move |k| settings.get(k).cloned())
        .map_err(|e| anyhow::anyhow!("the sandbox's settings: {e}"))?;
    let app = Application::build(config).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(async move {
        if let Err(e) = app.run_until_stopped(std::future::pending()).await {
            tracing::error!(error = %e, "the application stopped");
        }
    });
    Ok(address)
}
