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
