//! `spawn_app()`: the real application on port 0, with its own fake Slack, fake Tallyfy and
//! Redis key prefix, and typed helpers to talk to it as Slack would.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tallyfy_slack::config::{Config, Secret};
use tallyfy_slack::slack::signature::Verifier;
use tallyfy_slack::startup::Application;
use tokio::sync::oneshot;

use crate::fake_slack::{self, FakeSlack, OpenView, Person};
use crate::fake_tallyfy::{self, FakeTallyfy};

pub const SIGNING_SECRET: &str = "test-signing-secret-0123456789";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
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
}

pub fn unique_prefix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test-{}-{}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
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

/// Like [`spawn_binary_instance`], with JSON logs (`RUST_LOG=info`) written to `logs`.
pub async fn spawn_binary_instance_logging_to(app: &TestApp, logs: &std::path::Path) -> TestApp {
    spawn_binary(app, Some(logs)).await
}

async fn spawn_binary(app: &TestApp, logs: Option<&std::path::Path>) -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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
        cmd.env("RUST_LOG", "info")
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
    }
}

/// The fakes, a key prefix and the environment a test application runs with.
pub async fn prepare(
    adjust: impl FnOnce(&mut HashMap<String, String>),
) -> (FakeSlack, FakeTallyfy, String, HashMap<String, String>) {
    let slack = FakeSlack::start().await;
    let tallyfy = FakeTallyfy::start().await;
    populate(&slack, &tallyfy);
    let prefix = unique_prefix();
    let mut env: HashMap<String, String> = [
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET.to_string()),
        ("SLACK_BOT_TOKEN", fake_slack::BOT_TOKEN.to_string()),
        ("SLACK_API_URL", slack.api_url()),
        ("TALLYFY_ORG_ID", fake_tallyfy::ORG.to_string()),
        ("TALLYFY_ACCESS_TOKEN", fake_tallyfy::TOKEN.to_string()),
        ("TALLYFY_API_URL", tallyfy.api_url()),
        ("TALLYFY_WEB_URL", "https://go.tallyfy.test".to_string()),
        ("TALLYFY_TIMEOUT_SECS", "3".to_string()),
        ("REDIS_URL", REDIS_URL.to_string()),
        ("REDIS_KEY_PREFIX", prefix.clone()),
        ("HOST", "127.0.0.1".to_string()),
        ("PORT", "0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    adjust(&mut env);
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

    /// The form body Slack sends for `command text`.
    pub fn command_body(
        &self,
        command: &str,
        text: &str,
        channel: &str,
        trigger_id: &str,
        hook: &str,
    ) -> String {
        serde_urlencoded::to_string([
            ("token", "deprecated-verification-token"),
            ("team_id", fake_slack::TEAM),
            ("team_domain", "test"),
            ("channel_id", channel),
            ("channel_name", "projects"),
            ("user_id", REQUESTER),
            ("user_name", "rita"),
            ("command", command),
            ("text", text),
            ("response_url", &self.slack.response_url(hook)),
            ("trigger_id", trigger_id),
            ("api_app_id", "A0TEST"),
        ])
        .unwrap()
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
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.kill();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The block `block_id` of a view.
pub fn block(view: &OpenView, block_id: &str) -> Value {
    view.view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == block_id)
        .unwrap_or_else(|| panic!("no block {block_id}"))
        .clone()
}

/// What a person fills in on the "New task" modal.
#[derive(Clone, Debug)]
pub struct TaskValues {
    pub title: Option<String>,
    pub assignees: Vec<String>,
    pub deadline: Option<i64>,
    pub summary: Option<String>,
    pub task_type: &'static str,
}

impl TaskValues {
    pub fn new(title: &str, assignees: &[&str]) -> Self {
        Self {
            title: Some(title.into()),
            assignees: assignees.iter().map(|a| a.to_string()).collect(),
            deadline: Some(now() + 3 * 24 * 3600),
            summary: None,
            task_type: "task",
        }
    }
}

/// A `view_submission` payload as Slack sends it.
pub fn submission(view_id: &str, hash: &str, metadata: &str, v: &TaskValues) -> Value {
    json!({
        "type": "view_submission",
        "team": {"id": fake_slack::TEAM, "domain": "test"},
        "user": {"id": REQUESTER, "username": "rita", "name": "rita", "team_id": fake_slack::TEAM},
        "api_app_id": "A0TEST",
        "token": "deprecated",
        "trigger_id": "123.456.abc",
        "view": {
            "id": view_id,
            "team_id": fake_slack::TEAM,
            "type": "modal",
            "callback_id": "task_create",
            "private_metadata": metadata,
            "hash": hash,
            "title": {"type": "plain_text", "text": "New task"},
            "blocks": [],
            "state": {"values": {
                "title": {"value": {"type": "plain_text_input", "value": v.title}},
                "assignees": {"value": {"type": "multi_users_select", "selected_users": v.assignees}},
                "deadline": {"value": {"type": "datetimepicker", "selected_date_time": v.deadline}},
                "summary": {"value": {"type": "plain_text_input", "value": v.summary}},
                "task_type": {"value": {"type": "static_select", "selected_option": {
                    "text": {"type": "plain_text", "text": v.task_type}, "value": v.task_type}}}
            }}
        },
        "response_urls": [],
        "is_enterprise_install": false
    })
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Polls `probe` until it yields a value (up to 10 s).
pub async fn eventually<T>(what: &str, probe: impl FnMut() -> Option<T>) -> T {
    eventually_within(Duration::from_secs(10), what, probe).await
}

/// Polls `probe` until it yields a value, for up to `limit`.
pub async fn eventually_within<T>(
    limit: Duration,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if started.elapsed() > limit {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to `within`) for the message posted to `CHANNEL`.
pub async fn announced(app: &TestApp, within: Duration) -> Value {
    posted_in(app, CHANNEL, within).await
}

/// Waits (up to `within`) for a message posted to `channel` (a user id: a direct message).
pub async fn posted_in(app: &TestApp, channel: &str, within: Duration) -> Value {
    eventually_within(within, "the message", || {
        app.slack
            .calls("chat.postMessage")
            .into_iter()
            .find(|c| c.body["channel"] == channel)
            .map(|c| c.body)
    })
    .await
}

/// Waits long enough for background work to have happened, for asserting that it did not.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

/// What a person fills in on the "New project" modal.
#[derive(Clone, Debug)]
pub struct ProjectValues {
    pub name: String,
    pub assignees: Vec<String>,
    pub deadline: i64,
    pub tasks: String,
}

impl ProjectValues {
    pub fn new(name: &str, assignees: &[&str], tasks: &str) -> Self {
        Self {
            name: name.into(),
            assignees: assignees.iter().map(|a| a.to_string()).collect(),
            deadline: now() + 10 * 24 * 3600,
            tasks: tasks.into(),
        }
    }
}

impl TestApp {
    /// Runs `/project text` and waits for the modal Slack opened for it.
    pub async fn open_project_modal(&self, text: &str) -> OpenView {
        let (response, trigger) = self.command("/project", text).await;
        assert_eq!(response.status(), 200);
        eventually("the project modal to open", || {
            self.slack.opened_view(&trigger)
        })
        .await
    }

    pub async fn submit_project(&self, view: &OpenView, v: &ProjectValues) -> reqwest::Response {
        let metadata = view.view["private_metadata"].as_str().unwrap_or_default();
        let payload = json!({
            "type": "view_submission",
            "team": {"id": fake_slack::TEAM, "domain": "test"},
            "user": {"id": REQUESTER, "username": "rita", "team_id": fake_slack::TEAM},
            "view": {
                "id": view.id, "team_id": fake_slack::TEAM, "type": "modal", "callback_id": "project_create",
                "private_metadata": metadata, "hash": view.hash, "blocks": [],
                "state": {"values": {
                    "name": {"value": {"type": "plain_text_input", "value": v.name}},
                    "summary": {"value": {"type": "plain_text_input", "value": null}},
                    "assignees": {"value": {"type": "multi_users_select", "selected_users": v.assignees}},
                    "deadline": {"value": {"type": "datetimepicker", "selected_date_time": v.deadline}},
                    "tasks": {"value": {"type": "plain_text_input", "value": v.tasks}}
                }}
            }
        });
        self.interact(&payload).await
    }

    /// Presses a button on a message, as Slack reports it.
    pub async fn press(&self, action_id: &str, value: &str, hook: &str) -> reqwest::Response {
        let payload = json!({
            "type": "block_actions",
            "team": {"id": fake_slack::TEAM, "domain": "test"},
            "user": {"id": REQUESTER, "username": "rita", "team_id": fake_slack::TEAM},
            "api_app_id": "A0TEST",
            "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": CHANNEL},
            "channel": {"id": CHANNEL, "name": "projects"},
            "message": {"type": "message", "ts": "1700000000.000001", "blocks": [{"type": "rich_text", "elements": []}]},
            "response_url": self.slack.response_url(hook),
            "trigger_id": "1.2.3",
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                          "text": {"type": "plain_text", "text": "Retry"}, "action_ts": "1700000001.000001"}]
        });
        self.interact(&payload).await
    }
}

/// A Redis server of a test's own, on a free port, that the test can pause and resume.
pub struct OwnRedis {
    pub url: String,
    port: u16,
    process: std::process::Child,
}

impl OwnRedis {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port).await
    }

    /// Stops the server and starts a new one on the same port: everything it held is gone.
    pub async fn restart(self) -> Self {
        let port = self.port;
        drop(self);
        Self::start_on(port).await
    }

    async fn start_on(port: u16) -> Self {
        let process = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        let url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(url.as_str()).unwrap();
        let started = Instant::now();
        while client.get_multiplexed_async_connection().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { url, port, process }
    }

    fn signal(&self, signal: &str) {
        std::process::Command::new("kill")
            .args([signal, &self.process.id().to_string()])
            .status()
            .unwrap();
    }

    /// Freezes the server: connections stay open and nothing answers, the hardest outage.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.resume();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
