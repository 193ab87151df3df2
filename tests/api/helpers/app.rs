//! `spawn_app()`: the real application on port 0, with its own fake Slack, fake Tallyfy and
//! Redis key prefix, and typed helpers to talk to it as Slack would.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use tallyfy_slack::clock::Clock;
use tallyfy_slack::config::{Config, Secret};
// The one place the helpers name the job engine's module.
use tallyfy_slack::jobs::Jobs;
use tallyfy_slack::slack::signature::Verifier;
use tallyfy_slack::startup::Application;
use tokio::sync::oneshot;

use super::payloads::{
    button_press, command_body, now, people_picked, project_submission, submission, ProjectValues,
    TaskValues,
};
use super::redis::{free_port, unique_prefix, JOB_SIGNING_KEY, REDIS_URL, STORE_ENCRYPTION_KEY};
use super::waiting::eventually;
use crate::fake_slack::{self, FakeSlack, OpenView, Person};
use crate::fake_tallyfy::{self, FakeTallyfy};

pub const SIGNING_SECRET: &str = "test-signing-secret-0123456789";
pub const CHANNEL: &str = "C0PROJECTS";
pub const REQUESTER: &str = "UREQUESTER";
pub const ALICE: &str = "UALICE";
pub const BOB: &str = "UBOB";
/// Has a Slack account but no Tallyfy account.
pub const CAROL: &str = "UCAROL";

pub struct TestApp {
    pub address: String,
    /// The replica's own process, when it runs as the real binary.
    process: Option<std::process::Child>,
    pub slack: FakeSlack,
    pub tallyfy: FakeTallyfy,
    pub prefix: String,
    pub env: HashMap<String, String>,
    http: reqwest::Client,
    verifier: Verifier,
    stop: Option<oneshot::Sender<()>>,
    finished: Option<tokio::task::JoinHandle<()>>,
    /// The replica's job engine, when it runs in this process: what [`TestApp::idle`] asks.
    pub(super) jobs: Option<Jobs>,
    /// The replica's clock, when it runs in this process: a test sets the time of day.
    pub clock: Option<Clock>,
}

/// The people every test workspace has.
fn populate(slack: &FakeSlack, tallyfy: &FakeTallyfy) {
    let person = |id: &str, name: &str, email: Option<&str>, tz: &str| Person {
        id: id.into(),
        name: name.into(),
        email: email.map(String::from),
        tz: tz.into(),
        deleted: false,
        is_bot: false,
        ..Person::default()
    };
    slack.add_person(person(
        REQUESTER,
        "rita",
        Some("rita@example.com"),
        "America/New_York",
    ));
    slack.add_person(person(
        ALICE,
        "alice",
        Some("Alice@Example.com"),
        "Europe/Berlin",
    ));
    slack.add_person(person(BOB, "bob", Some("bob@example.com"), "UTC"));
    slack.add_person(person(CAROL, "carol", Some("carol@example.com"), "UTC"));
    slack.join_channel(CHANNEL);
    tallyfy.add_member(1000, "rita@example.com", "Rita", "active");
    tallyfy.add_member(1001, "alice@example.com", "Alice", "active");
    tallyfy.add_member(1002, "bob@example.com", "Bob", "active");
    // A partial match for carol's search that is not her.
    tallyfy.add_member(1003, "carol.smith@example.com", "Carol", "active");
}

/// The application with Redis as its store.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The application with the in-process store.
pub async fn spawn_app_in_memory() -> TestApp {
    spawn_app_with(|env| {
        env.remove("REDIS_URL");
    })
    .await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    let (slack, tallyfy, prefix, env) = prepare(adjust).await;
    start(slack, tallyfy, prefix, env).await
}

/// Another replica of `app`: the same fakes, the same Redis and key prefix, the same settings.
pub async fn spawn_second_instance(app: &TestApp) -> TestApp {
    start(
        app.slack.clone(),
        app.tallyfy.clone(),
        app.prefix.clone(),
        app.env.clone(),
    )
    .await
}

/// A replica of `app` run as the real binary, in a process of its own that a test can kill.
pub async fn spawn_binary_instance(app: &TestApp) -> TestApp {
    spawn_binary(app, None).await
}

/// Like [`spawn_binary_instance`], with JSON logs written to `logs` (`RUST_LOG=info`, or
/// the app's own `RUST_LOG` setting).
pub async fn spawn_binary_instance_logging_to(app: &TestApp, logs: &std::path::Path) -> TestApp {
    spawn_binary(app, Some(logs)).await
}

/// The application run as the real binary, in a process of its own, with its own fakes and
/// settings (for a setting that acts on the whole process, such as `SSL_CERT_FILE`).
pub async fn spawn_binary_app_with(adjust: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    let (slack, tallyfy, prefix, env) = prepare(adjust).await;
    let template = TestApp {
        address: String::new(),
        process: None,
        slack,
        tallyfy,
        prefix,
        env,
        http: reqwest::Client::new(),
        verifier: Verifier::new(Secret::new(SIGNING_SECRET)),
        stop: None,
        finished: None,
        jobs: None,
        clock: None,
    };
    spawn_binary(&template, None).await
}

async fn spawn_binary(app: &TestApp, logs: Option<&std::path::Path>) -> TestApp {
    let port = free_port();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tallyfy-slack"));
    // Run away from the project's own `.env`, which the binary would read.
    cmd.env_clear()
        .current_dir(std::env::temp_dir())
        .envs(&app.env)
        .env("PORT", port.to_string())
        .env(
            "RUST_LOG",
            std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into()),
        )
        .stdout(std::process::Stdio::null())
        .arg("serve");
    if std::env::var("TEST_LOG").is_err() {
        cmd.stderr(std::process::Stdio::null());
    }
    if let Some(path) = logs {
        // The app's own RUST_LOG (when a test sets one) decides how much is written.
        let filter = app.env.get("RUST_LOG").map_or("info", String::as_str);
        cmd.env("RUST_LOG", filter)
            .env("LOG_FORMAT", "json")
            .stdout(std::fs::File::create(path).unwrap());
    }
    let child = cmd.spawn().expect("the binary starts");
    let address = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{address}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the binary did not start serving"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    TestApp {
        address,
        process: Some(child),
        slack: app.slack.clone(),
        tallyfy: app.tallyfy.clone(),
        prefix: app.prefix.clone(),
        env: app.env.clone(),
        http,
        verifier: Verifier::new(Secret::new(SIGNING_SECRET)),
        stop: None,
        finished: None,
        jobs: None,
        clock: None,
    }
}

/// The fakes, a key prefix and the environment a test application runs with.
pub async fn prepare(
    adjust: impl FnOnce(&mut HashMap<String, String>),
) -> (FakeSlack, FakeTallyfy, String, HashMap<String, String>) {
    // The test's own HTTP clients need the process's TLS provider, as the app's do.
    tallyfy_slack::tls::init();
    let slack = FakeSlack::start().await;
    let tallyfy = FakeTallyfy::start().await;
    populate(&slack, &tallyfy);
    let prefix = unique_prefix();
    let mut env: HashMap<String, String> = [
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_string()),
        ("SLACK_BOT_TOKEN", fake_slack::BOT_TOKEN.to_string()),
        ("SLACK_API_URL", slack.api_url()),
        ("SLACK_RESPONSE_URL_BASE", slack.response_url("")),
        ("TALLYFY_ORG_ID", fake_tallyfy::ORG.to_string()),
        ("TALLYFY_ACCESS_TOKEN", fake_tallyfy::TOKEN.to_string()),
        ("TALLYFY_API_URL", tallyfy.api_url()),
        ("TALLYFY_WEB_URL", "https://go.tallyfy.test".to_string()),
        ("TALLYFY_TIMEOUT_SECS", "3".to_string()),
        ("REDIS_URL", REDIS_URL.to_string()),
        ("REDIS_KEY_PREFIX", prefix.clone()),
        ("JOB_SIGNING_KEY", JOB_SIGNING_KEY.to_string()),
        ("STORE_ENCRYPTION_KEY", STORE_ENCRYPTION_KEY.to_string()),
        ("HOST", "127.0.0.1".to_string()),
        ("PORT", "0".to_string()),
        // Metrics beside the routes, where the tests read them; replicas of one test
        // process would otherwise all want the default monitoring address.
        ("METRICS_ADDR", "public".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    adjust(&mut env);
    super::shared_redis::point_at_shared_redis(&mut env);
    (slack, tallyfy, prefix, env)
}

async fn start(
    slack: FakeSlack,
    tallyfy: FakeTallyfy,
    prefix: String,
    env: HashMap<String, String>,
) -> TestApp {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    let lookup = env.clone();
    let config =
        Config::from_lookup(move |k| lookup.get(k).cloned()).expect("test configuration is valid");
    let app = Application::build(config)
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let jobs = app.state().jobs.clone();
    let clock = app.state().clock.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let finished = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
        .expect("the application runs");
    });
    TestApp {
        address,
        process: None,
        slack,
        tallyfy,
        prefix,
        env,
        http: reqwest::Client::new(),
        verifier: Verifier::new(Secret::new(SIGNING_SECRET)),
        stop: Some(stop),
        finished: Some(finished),
        jobs: Some(jobs),
        clock: Some(clock),
    }
}

impl TestApp {
    /// Stops this instance and starts a new one with the same fakes and the same store.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let (slack, tallyfy, prefix, env) = (
            self.slack.clone(),
            self.tallyfy.clone(),
            self.prefix.clone(),
            std::mem::take(&mut self.env),
        );
        start(slack, tallyfy, prefix, env).await
    }

    /// Kills the replica's process at once (SIGKILL): nothing is finished or handed back.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks the replica's process to stop (SIGTERM) and waits for it to exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.process.take().expect("a replica run as the binary");
        let pid = child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap()
    }

    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(finished) = self.finished.take() {
            let _ = finished.await;
        }
    }

    /// The process id of the replica, when it runs as the real binary.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(std::process::Child::id)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// Posts `body` signed as Slack signs it, at `timestamp`.
    pub async fn post_signed_at(
        &self,
        path: &str,
        content_type: &str,
        body: String,
        timestamp: i64,
    ) -> reqwest::Response {
        let ts = timestamp.to_string();
        let signature = self.verifier.sign(&ts, body.as_bytes());
        self.http
            .post(self.url(path))
            .header("content-type", content_type)
            .header("X-Slack-Request-Timestamp", ts)
            .header("X-Slack-Signature", signature)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_signed(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> reqwest::Response {
        self.post_signed_at(path, content_type, body, now()).await
    }

    /// The form body Slack sends for `command text`, its response URL at this app's fake
    /// Slack under `hook`.
    pub fn command_body(
        &self,
        command: &str,
        text: &str,
        channel: &str,
        trigger_id: &str,
        hook: &str,
    ) -> String {
        command_body(
            command,
            text,
            channel,
            trigger_id,
            &self.slack.response_url(hook),
        )
    }

    /// Runs a slash command in `CHANNEL` as the requester. Returns the response and the
    /// trigger id Slack issued for it.
    pub async fn command(&self, command: &str, text: &str) -> (reqwest::Response, String) {
        self.command_in(command, text, CHANNEL).await
    }

    pub async fn command_in(
        &self,
        command: &str,
        text: &str,
        channel: &str,
    ) -> (reqwest::Response, String) {
        let trigger = self.slack.issue_trigger();
        let body = self.command_body(command, text, channel, &trigger, "cmd-hook");
        let response = self
            .post_signed("/slack/commands", "application/x-www-form-urlencoded", body)
            .await;
        (response, trigger)
    }

    /// Posts an interaction payload as Slack does (`payload=<json>`).
    pub async fn interact(&self, payload: &Value) -> reqwest::Response {
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        self.post_signed(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            body,
        )
        .await
    }

    /// Runs `/task text` and waits for the modal Slack opened for it.
    pub async fn open_task_modal(&self, text: &str) -> OpenView {
        let (response, trigger) = self.command("/task", text).await;
        assert_eq!(response.status(), 200);
        eventually("the task modal to open", || {
            self.slack.opened_view(&trigger)
        })
        .await
    }

    /// Submits a modal the way Slack does: it waits 3 s for the answer, then gives up.
    pub async fn submit_task_within_slack_deadline(
        &self,
        view: &OpenView,
        values: &TaskValues,
    ) -> reqwest::Response {
        let metadata = view.view["private_metadata"].as_str().unwrap_or_default();
        let payload = submission(&view.id, &view.hash, metadata, values);
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        let ts = now().to_string();
        let signature = self.verifier.sign(&ts, body.as_bytes());
        self.http
            .post(self.url("/slack/interactions"))
            .timeout(Duration::from_secs(3))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Slack-Request-Timestamp", ts)
            .header("X-Slack-Signature", signature)
            .body(body)
            .send()
            .await
            .expect("answered within Slack's 3 s")
    }

    /// Submits an open "New task" modal with these values.
    pub async fn submit_task(&self, view: &OpenView, values: &TaskValues) -> reqwest::Response {
        let metadata = view.view["private_metadata"].as_str().unwrap_or_default();
        self.interact(&submission(&view.id, &view.hash, metadata, values))
            .await
    }

    /// Runs `/project text` and waits for the modal Slack opened for it.
    pub async fn open_project_modal(&self, text: &str) -> OpenView {
        let (response, trigger) = self.command("/project", text).await;
        assert_eq!(response.status(), 200);
        eventually("the project modal to open", || {
            self.slack.opened_view(&trigger)
        })
        .await
    }

    /// Submits an open "New project" modal with these values.
    pub async fn submit_project(&self, view: &OpenView, v: &ProjectValues) -> reqwest::Response {
        let metadata = view.view["private_metadata"].as_str().unwrap_or_default();
        self.interact(&project_submission(&view.id, &view.hash, metadata, v))
            .await
    }

    /// Picks `users` in the open form's Assignees picker, as Slack reports the pick.
    pub async fn pick_assignees(&self, view: &OpenView, users: &[&str]) -> reqwest::Response {
        let payload = people_picked(&view.id, &view.hash, &view.view, "assignees", users);
        self.interact(&payload).await
    }

    /// Presses a button on a message, as Slack reports it; Slack's response URL for the
    /// press is this app's fake Slack under `hook`.
    pub async fn press(&self, action_id: &str, value: &str, hook: &str) -> reqwest::Response {
        let payload = button_press(action_id, value, &self.slack.response_url(hook));
        self.interact(&payload).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.kill();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
