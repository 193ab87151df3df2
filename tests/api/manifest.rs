//! The Slack app manifest matches the service: every URL in it is a route this service
//! serves, it asks for every scope the code uses, and it subscribes to no event the app
//! would ignore.

use crate::helpers::*;

const MANIFEST: &str = include_str!("../../manifests/slack-app.yaml");

fn urls() -> Vec<String> {
    MANIFEST
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("https://YOUR-PUBLIC-URL"))
        .filter(|p| p.starts_with('/'))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn every_url_in_the_manifest_is_a_route_that_checks_signatures() {
    let app = spawn_app().await;
    let paths = urls();
    // The two slash commands and interactivity.
    assert!(paths.len() >= 3, "{paths:?}");
    for path in paths {
        let response = reqwest::Client::new()
            .post(app.url(&path))
            .body("x=1")
            .send()
            .await
            .unwrap();
        // 401 (not 404 or 405): the route exists, takes POST, and wants Slack's signature.
        assert_eq!(response.status(), 401, "{path}");
    }
}

#[test]
fn the_manifest_asks_for_every_scope_the_code_uses() {
    // chat.postMessage and chat.postEphemeral: chat:write; users.info and users.list:
    // users:read; profile.email: users:read.email; slash commands: commands;
    // conversations.history and .replies (finding a post whose answer was lost):
    // channels:history and groups:history; conversations.join (joining a public channel
    // before posting there, so the post can be read back): channels:join.
    for scope in [
        "commands",
        "chat:write",
        "chat:write.public",
        "users:read",
        "users:read.email",
        "channels:history",
        "groups:history",
        "channels:join",
    ] {
        assert!(
            MANIFEST.lines().any(|l| l.trim() == format!("- {scope}")),
            "scope {scope} missing"
        );
    }
    for command in ["/task", "/project"] {
        assert!(
            MANIFEST.contains(&format!("command: {command}\n")),
            "{command} missing"
        );
    }
    assert_eq!(MANIFEST.matches("should_escape: true").count(), 2);
}

#[test]
fn the_manifest_subscribes_to_the_home_tab_only() {
    // The app acts on one Events API event, `app_home_opened` (its Home tab), so it
    // subscribes to that one alone: each subscription is a signed request per occurrence.
    let events: Vec<&str> = MANIFEST
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "bot_events:")
        .skip(1)
        .take_while(|l| l.starts_with("- "))
        .collect();
    assert_eq!(events, ["- app_home_opened"]);
    assert!(!MANIFEST.contains("user_events"));
    assert!(MANIFEST.contains("home_tab_enabled: true"));
    assert!(MANIFEST.contains("request_url: https://YOUR-PUBLIC-URL/slack/events"));
}
