//! The `check` and `manifest` sub-commands, run as the real binary.

use std::process::Command;

use crate::fake_slack::{self, FakeSlack};
use crate::fake_tallyfy::{self, FakeTallyfy};

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tallyfy-slack"));
    // No inherited settings, and no .env from the working directory.
    cmd.env_clear().current_dir(std::env::temp_dir());
    cmd
}

fn configured(slack: &FakeSlack, tallyfy: &FakeTallyfy, tallyfy_token: &str) -> Command {
    let mut cmd = binary();
    cmd.arg("check").envs([
        ("SLACK_SIGNING_SECRET", "secret"),
        ("SLACK_BOT_TOKEN", fake_slack::BOT_TOKEN),
        ("SLACK_API_URL", &slack.api_url()),
        ("TALLYFY_ORG_ID", fake_tallyfy::ORG),
        ("TALLYFY_ACCESS_TOKEN", tallyfy_token),
        ("TALLYFY_API_URL", &tallyfy.api_url()),
        ("JOB_SIGNING_KEY", crate::helpers::JOB_SIGNING_KEY),
    ]);
    cmd.envs(crate::helpers::shared_redis().settings());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reaches_every_dependency() {
    let (slack, tallyfy) = (FakeSlack::start().await, FakeTallyfy::start().await);
    let cmd = configured(&slack, &tallyfy, fake_tallyfy::TOKEN);
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::process::Command::from(cmd).output(),
    )
    .await
    .expect("check finishes")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for line in [
        "ok    configuration",
        "ok    redis: PING answered",
        "ok    slack: auth.test",
        "ok    tallyfy: GET /me",
    ] {
        assert!(stdout.contains(line), "{line} missing from:\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_what_to_fix_and_fails() {
    let (slack, tallyfy) = (FakeSlack::start().await, FakeTallyfy::start().await);
    let mut cmd = configured(&slack, &tallyfy, "an-expired-token");
    cmd.env_remove("REDIS_CLUSTER_NODES")
        .env_remove("REDIS_SENTINELS")
        .env("REDIS_URL", "redis://127.0.0.1:1");
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::process::Command::from(cmd).output(),
    )
    .await
    .expect("check finishes")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  tallyfy: Tallyfy refused TALLYFY_ACCESS_TOKEN"),
        "{stdout}"
    );
    assert!(stdout.contains("FAIL  redis"), "{stdout}");
    assert!(stdout.contains("ok    slack"), "{stdout}");
    assert!(!stdout.contains("an-expired-token"), "a secret was printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_client_credentials_check_says_so_and_proves_a_persons_token() {
    let (slack, tallyfy) = (FakeSlack::start().await, FakeTallyfy::start().await);
    tallyfy.add_member(1001, "alice@example.com", "Alice", "active");
    let run = |person: &str| {
        let mut cmd = configured(&slack, &tallyfy, "");
        cmd.env_remove("TALLYFY_ACCESS_TOKEN")
            .env("TALLYFY_CLIENT_ID", fake_tallyfy::CLIENT_ID)
            .env("TALLYFY_CLIENT_SECRET", fake_tallyfy::CLIENT_SECRET)
            .args(["--as", person]);
        async move {
            let output = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                tokio::process::Command::from(cmd).output(),
            )
            .await
            .expect("check finishes")
            .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout).to_string();
            (output.status.code(), stdout)
        }
    };
    let (code, stdout) = run("alice@example.com").await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("ok    tallyfy: GET /me answered") && stdout.contains("client credentials"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok    tallyfy as a person: a token acting as alice@example.com"),
        "{stdout}"
    );
    assert_eq!(tallyfy.mints_for("alice@example.com"), 1);
    assert!(
        !stdout.contains(fake_tallyfy::CLIENT_SECRET),
        "a secret was printed"
    );

    let (code, stdout) = run("nobody@example.com").await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  tallyfy as a person: Tallyfy has no member nobody@example.com"),
        "{stdout}"
    );
}

#[test]
fn missing_settings_stop_the_start_with_one_line_each() {
    let output = binary().arg("serve").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for name in [
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
        "TALLYFY_ORG_ID",
        "TALLYFY_ACCESS_TOKEN",
    ] {
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with(name)).count(),
            1,
            "{name} in:\n{stderr}"
        );
    }
}

#[test]
fn manifest_prints_the_app_manifest_for_this_host() {
    let output = binary()
        .args(["manifest", "--public-url", "https://slack.example.com"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("url: https://slack.example.com/slack/commands"),
        "{text}"
    );
    assert!(!text.contains("YOUR-PUBLIC-URL"));

    let output = binary()
        .args(["manifest", "--socket-mode"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("socket_mode_enabled: true") && !text.contains("url:"),
        "{text}"
    );

    let output = binary().arg("manifest").output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "no URL and no Socket Mode is a usage error"
    );
}
