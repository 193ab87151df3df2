//! The stand-in's own shapes, against what Slack documents.

use serde_json::json;

use super::*;

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

    let info: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/users.info?user=UEXT", slack.api_url()))
        .bearer_auth(BOT_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["user"]["team_id"], "T0PARTNER", "{info}");
}

/// A `response_url` from a message's button replaces that message when asked to
/// (`replace_original`), and leaves it as it is otherwise.
#[tokio::test]
async fn a_message_buttons_response_url_replaces_that_message() {
    let slack = FakeSlack::start().await;
    slack.join_channel("C1");
    let http = reqwest::Client::new();
    let posted: serde_json::Value = http
        .post(format!("{}/chat.postMessage", slack.api_url()))
        .bearer_auth(BOT_TOKEN)
        .json(&json!({"channel": "C1", "text": "first"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ts = posted["ts"].as_str().unwrap();
    let url = slack.message_response_url("C1", ts);
    for (body, reads) in [
        (json!({"text": "aside", "replace_original": false}), "first"),
        (
            json!({"text": "second", "replace_original": true}),
            "second",
        ),
    ] {
        let answer = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let now = slack.posted().into_iter().find(|m| m["ts"] == ts).unwrap();
        assert_eq!(now["text"], reads);
    }
}

/// `users.list` is Tier 2: the 21st call in a minute is answered 429 with `Retry-After`.
#[tokio::test]
async fn users_list_answers_429_past_twenty_calls_a_minute() {
    let slack = FakeSlack::start().await;
    slack.cap_users_list_page(1);
    let http = reqwest::Client::new();
    for call in 1..=21 {
        let answer = http
            .get(format!("{}/users.list?limit=200", slack.api_url()))
            .bearer_auth(BOT_TOKEN)
            .send()
            .await
            .unwrap();
        if call <= 20 {
            assert_eq!(answer.status(), 200, "call {call}");
        } else {
            assert_eq!(answer.status(), 429);
            let after: u64 = answer.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=61).contains(&after), "{after}");
        }
    }
}
