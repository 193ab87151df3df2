//! Real requests, replayed. Every payload under `tests/fixtures/slack/` was written by
//! someone else (Slack's SDKs and frameworks, and public apps: see the README there). Each
//! is signed and sent to the route Slack would use, then again to the one URL
//! (`/slack/events`), to the real binary logging JSON: every one gets 200, none is acted on
//! (their commands and callback ids are not this app's), and nothing is logged at WARN or
//! ERROR.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::helpers::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/slack");
const FORM: &str = "application/x-www-form-urlencoded";

/// One recorded request: `kind` is `command`, `interaction` or `event`; `body` is the raw
/// body as a string, or the JSON it was recorded as (a command's fields, an interaction's
/// payload, an event's document).
struct Fixture {
    name: String,
    kind: String,
    body: Value,
}

impl Fixture {
    fn load(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        for field in ["repository", "path", "commit"] {
            assert!(
                doc["source"][field].is_string(),
                "{path:?} names no source {field}"
            );
        }
        Self {
            name: path.strip_prefix(FIXTURES).unwrap().display().to_string(),
            kind: doc["kind"].as_str().unwrap_or_default().to_string(),
            body: doc["body"].clone(),
        }
    }

    /// The route Slack sends it to, its content type and its body.
    fn request(&self) -> (&'static str, &'static str, String) {
        let raw = self.body.as_str().map(str::to_string);
        match self.kind.as_str() {
            "command" => (
                "/slack/commands",
                FORM,
                raw.unwrap_or_else(|| {
                    let fields: Vec<(&String, &str)> = self
                        .body
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k, v.as_str().unwrap_or_default()))
                        .collect();
                    serde_urlencoded::to_string(fields).unwrap()
                }),
            ),
            "interaction" => (
                "/slack/interactions",
                FORM,
                raw.unwrap_or_else(|| {
                    serde_urlencoded::to_string([("payload", self.body.to_string())]).unwrap()
                }),
            ),
            "event" => (
                "/slack/events",
                "application/json",
                raw.unwrap_or_else(|| self.body.to_string()),
            ),
            other => panic!("{}: unknown kind {other:?}", self.name),
        }
    }
}

fn fixtures() -> Vec<Fixture> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "json") {
                found.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(Path::new(FIXTURES), &mut paths);
    paths.sort();
    paths.iter().map(|p| Fixture::load(p)).collect()
}

#[tokio::test]
async fn every_recorded_slack_request_gets_200_and_logs_no_warning() {
    let app = spawn_app().await;
    let logs = std::env::temp_dir().join(format!("{}-replay.log", app.prefix));
    let replica = spawn_binary_instance_logging_to(&app, &logs).await;

    let fixtures = fixtures();
    assert!(fixtures.len() >= 300, "{} fixtures", fixtures.len());
    let mut refused = Vec::new();
    // Each request's id, to name the fixture behind a log line.
    let mut request_ids = Vec::new();
    for fixture in &fixtures {
        let (route, content_type, body) = fixture.request();
        for path in [route, "/slack/events"] {
            let response = replica.post_signed(path, content_type, body.clone()).await;
            let status = response.status();
            if let Some(id) = response.headers().get("x-request-id") {
                request_ids.push((id.to_str().unwrap().to_string(), &fixture.name));
            }
            if status != 200 {
                let answer = response.text().await.unwrap_or_default();
                refused.push(format!("{} at {path}: {status} {answer}", fixture.name));
            }
        }
    }
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));

    // None was this app's, so nothing was opened, posted or created.
    for method in ["views.open", "chat.postMessage", "chat.postEphemeral"] {
        assert!(app.slack.calls(method).is_empty(), "{method} was called");
    }
    assert!(app.slack.responses().is_empty());
    assert!(app.tallyfy.creates().is_empty());

    // A body that is no request at all, so the log shows it can see a warning.
    let control = replica
        .post_signed("/slack/events", FORM, "nothing=here".into())
        .await;
    assert_eq!(control.status(), 400);
    let control = control.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();

    let log = std::fs::read_to_string(&logs).unwrap();
    assert!(log.contains("tallyfy-slack is listening"), "{log}");
    let complaints: Vec<String> = log
        .lines()
        .filter(|line| {
            let level = serde_json::from_str::<Value>(line)
                .map(|l| l["level"].as_str().unwrap_or_default().to_string())
                .unwrap_or_default();
            level == "WARN" || level == "ERROR"
        })
        .map(|line| {
            let culprit = request_ids
                .iter()
                .find(|(id, _)| line.contains(id.as_str()))
                .map(|(_, name)| name.as_str())
                .unwrap_or("?");
            format!("{culprit}: {line}")
        })
        .collect();
    let _ = std::fs::remove_file(&logs);
    let (seen, complaints): (Vec<_>, Vec<_>) = complaints
        .into_iter()
        .partition(|line| line.contains(&control));
    assert_eq!(seen.len(), 1, "the malformed control request: {seen:?}");
    assert!(complaints.is_empty(), "logged:\n{}", complaints.join("\n"));
}
