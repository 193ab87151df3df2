//! The stand-in's own shapes, against what Slack documents.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::json;

use super::*;

/// Calls `method` as the bot, with `query` and a JSON `body`, straight into the stand-in
/// (no HTTP client needed): its status, headers and JSON answer.
async fn call(
    slack: &FakeSlack,
    method: &str,
    query: &str,
    body: Value,
) -> (u16, HeaderMap, Value) {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {BOT_TOKEN}").parse().unwrap(),
    );
    headers.insert("content-type", "application/json".parse().unwrap());
    let query = Some(query.to_string()).filter(|q| !q.is_empty());
    let body = Bytes::from(body.to_string());
    let response = api::answer(slack.inner.clone(), method.into(), query, headers, body).await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status.as_u16(), parts.headers, json)
}

/// Posts `body` to the response URL hook `id`: its status.
async fn respond(slack: &FakeSlack, id: &str, body: Value) -> u16 {
    let body = Bytes::from(body.to_string());
    let response = api::hook(State(slack.inner.clone()), Path(id.to_string()), body).await;
    response.status().as_u16()
}

/// A member of another organization in a Slack Connect channel submits a modal: their
/// workspace is in `team.id`, `user.team_id` and `view.team_id`, the app's in
/// `view.app_installed_team_id` (slackapi/bolt-js issue 1614; Bolt's `extract_team_id`
/// in slackapi/bolt-python reads the latter first), and `users.info` names their own team.
#[tokio::test]
async fn a_slack_connect_submission_names_the_submitters_team_and_the_installing_one() {
    let slack = FakeSlack::start().await;
    slack.add_person(Person {
        id: "UEXT".into(),
        name: "erin".into(),
        team: Some("T0PARTNER".into()),
        ..Person::default()
    });
    let view = OpenView {
        trigger_id: "t".into(),
        id: "V1".into(),
        hash: "1.a".into(),
        view: json!({"type": "modal", "callback_id": "cb", "private_metadata": "m", "blocks": []}),
        updates: 0,
    };
    let sent = slack.view_submission(&view, "UEXT", json!({}));
    assert_eq!(sent["team"]["id"], "T0PARTNER");
    assert_eq!(sent["user"]["team_id"], "T0PARTNER");
    assert_eq!(sent["view"]["team_id"], "T0PARTNER");
    assert_eq!(sent["view"]["app_installed_team_id"], TEAM);
    let ours = slack.view_submission(&view, "UNOBODY", json!({}));
    assert_eq!(ours["team"]["id"], TEAM);

    let (_, _, info) = call(&slack, "users.info", "user=UEXT", json!({})).await;
    assert_eq!(info["user"]["team_id"], "T0PARTNER", "{info}");
}

/// A `response_url` from a message's button replaces that message when asked to
/// (`replace_original`), and leaves it as it is otherwise.
#[tokio::test]
async fn a_message_buttons_response_url_replaces_that_message() {
    let slack = FakeSlack::start().await;
    slack.join_channel("C1");
    let (_, _, posted) = call(
        &slack,
        "chat.postMessage",
        "",
        json!({"channel": "C1", "text": "first"}),
    )
    .await;
    let ts = posted["ts"].as_str().unwrap();
    let url = slack.message_response_url("C1", ts);
    let hook = url.rsplit('/').next().unwrap().to_string();
    for (body, reads) in [
        (json!({"text": "aside", "replace_original": false}), "first"),
        (
            json!({"text": "second", "replace_original": true}),
            "second",
        ),
    ] {
        assert_eq!(respond(&slack, &hook, body).await, 200);
        let now = slack.posted().into_iter().find(|m| m["ts"] == ts).unwrap();
        assert_eq!(now["text"], reads);
    }
}

/// `users.list` is Tier 2: the 21st call in a minute is answered 429 with `Retry-After`.
#[tokio::test]
async fn users_list_answers_429_past_twenty_calls_a_minute() {
    let slack = FakeSlack::start().await;
    slack.cap_users_list_page(1);
    for n in 1..=21 {
        let (status, headers, _) = call(&slack, "users.list", "limit=200", json!({})).await;
        if n <= 20 {
            assert_eq!(status, 200, "call {n}");
        } else {
            assert_eq!(status, 429);
            let after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=61).contains(&after), "{after}");
        }
    }
}
