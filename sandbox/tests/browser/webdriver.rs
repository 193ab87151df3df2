//! Just enough of the W3C WebDriver protocol (w3.org/TR/webdriver2) to drive Debian's
//! headless Chromium through its ChromeDriver: open a page, find, click, type, read, run a
//! script, take a screenshot.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    profile: PathBuf,
    shots: PathBuf,
    taken: std::sync::atomic::AtomicUsize,
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium; screenshots go to
    /// `target/screenshots/{name}/`.
    pub async fn start(name: &str) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
            "the browser tests need Debian's chromium and chromium-driver packages \
             (scripts/test installs them)"
        );
        let port = stand_ins::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("sandbox-browser-{port}"));
        // The flags Chromium needs here: no sandbox as root, and none of its own network
        // traffic (this machine reaches nothing outside).
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,900",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_string();
        // The workspace's target directory, above this crate's.
        let shots = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("screenshots")
            .join(name);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            http,
            session: format!("{base}/session/{session}"),
            driver,
            profile,
            shots,
            taken: Default::default(),
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        answer["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Runs `script` in the page (its arguments as `arguments[i]`) and answers its result.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    async fn element(&self, css: &str) -> Option<String> {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().map(String::from)
    }

    /// Waits (up to 10 s) for `css` to match an element.
    pub async fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(id) = self.element(css).await {
                return id;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nothing on the page matches {css}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Types `text` into the field `css`, as a person types.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// The text a person sees in the first element `css` matches ("" when none does).
    pub async fn text(&self, css: &str) -> String {
        self.eval(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            json!([css]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits (up to `within`) until the text of `css` satisfies `check`; answers it.
    pub async fn wait_for_text(
        &self,
        css: &str,
        within: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let started = Instant::now();
        loop {
            let text = self.text(css).await;
            if check(&text) {
                return text;
            }
            if started.elapsed() > within {
                self.screenshot("timed-out").await;
                panic!("{css} never showed what was expected; it shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Saves what the page shows as `NN-{step}.png` in the test's screenshot folder.
    pub async fn screenshot(&self, step: &str) -> PathBuf {
        let n = 1 + self
            .taken
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a PNG screenshot");
        let path = self.shots.join(format!("{n:02}-{step}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Browser {
    /// Ends the session: Chromium quits.
    pub async fn close(self) {
        self.command(reqwest::Method::DELETE, "", None).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
