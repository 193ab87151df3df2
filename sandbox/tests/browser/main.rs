//! The sandbox in a real browser: Debian's headless Chromium, driven over WebDriver, works
//! through `/task` and `/project` as a person would, from the message box to the reply in
//! the thread. Screenshots of each step are written to `target/screenshots/{test}/`.

mod webdriver;

use std::time::Duration;

use serde_json::json;
use tallyfy_slack_sandbox as sandbox;

use webdriver::Browser;

const PATIENCE: Duration = Duration::from_secs(30);

async fn open(name: &str) -> (sandbox::Sandbox, Browser) {
    let sandbox = sandbox::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("the sandbox starts with no settings");
    let browser = Browser::start(name).await;
    browser.goto(&sandbox.address).await;
    browser.find("#person option").await;
    (sandbox, browser)
}

/// Types `text` in the message box and sends it.
async fn say(browser: &Browser, text: &str) {
    browser.type_into("#composer", text).await;
    browser.click("#send").await;
}

/// The value of the modal's input in block `block`.
async fn field(browser: &Browser, block: &str) -> serde_json::Value {
    browser
        .eval(
            "const e = document.getElementById('in-' + arguments[0]);
             if (!e) return null;
             return e.multiple ? [...e.selectedOptions].map(o => o.value) : e.value;",
            json!([block]),
        )
        .await
}

#[tokio::test]
async fn a_task_typed_in_the_channel_is_created_confirmed_and_its_completion_told_in_the_thread() {
    let (sandbox, browser) = open("task").await;
    browser.screenshot("channel").await;

    say(&browser, "/task Review the Q4 report @alice friday 5pm").await;
    browser
        .wait_for_text("#modal-title", PATIENCE, |t| t == "New task")
        .await;
    assert_eq!(
        field(&browser, "title").await,
        json!("Review the Q4 report")
    );
    assert_eq!(field(&browser, "assignees").await, json!(["U0ALICE"]));
    let deadline = field(&browser, "deadline").await;
    assert!(
        deadline.as_str().is_some_and(|d| d.ends_with("T17:00")),
        "the deadline is Friday 5pm in the browser's time: {deadline}"
    );
    browser.screenshot("form-filled-from-the-text").await;

    browser.click("#modal-submit").await;
    let channel = browser
        .wait_for_text("#timeline", PATIENCE, |t| {
            t.contains("Review the Q4 report") && t.contains("@alice") && t.contains("APP")
        })
        .await;
    let hidden = browser
        .eval(
            "return document.getElementById('modal-layer').hidden;",
            json!([]),
        )
        .await;
    assert_eq!(hidden, json!(true), "the modal closed");
    assert!(channel.contains("Tallyfy"), "{channel}");
    let panel = browser
        .wait_for_text("#tallyfy-runs", PATIENCE, |t| {
            t.contains("Review the Q4 report")
        })
        .await;
    assert!(
        panel.contains("Alice"),
        "the task is Alice's in Tallyfy: {panel}"
    );
    let panel = browser
        .wait_for_text("#tallyfy-runs", PATIENCE, |t| t.contains("started by"))
        .await;
    assert!(
        panel.contains("started by Sam"),
        "Tallyfy records who asked, not an integration account: {panel}"
    );
    let tasks = sandbox.room.tallyfy.all_runs();
    assert_eq!(tasks.len(), 1, "one task was created");
    browser.screenshot("confirmed-in-the-channel").await;

    // Alice completes it in Tallyfy: Tallyfy calls the app's webhook.
    browser.click("#tallyfy-runs .task .complete").await;
    let thread = browser
        .wait_for_text("#timeline .thread", PATIENCE, |t| {
            t.contains("completed") && t.contains("Review the Q4 report")
        })
        .await;
    assert!(
        thread.contains("Alice"),
        "the reply names who completed it: {thread}"
    );
    browser
        .wait_for_text("#tallyfy-runs", PATIENCE, |t| t.contains("Reopen"))
        .await;
    browser.screenshot("completion-in-the-thread").await;
    browser.close().await;
}

#[tokio::test]
async fn a_mistake_in_the_form_is_shown_inline_and_nothing_is_created() {
    let (sandbox, browser) = open("inline-errors").await;
    say(&browser, "/task").await;
    browser
        .wait_for_text("#modal-title", PATIENCE, |t| t == "New task")
        .await;
    browser.click("#modal-submit").await;
    let error = browser
        .wait_for_text("[data-input=title] .error", PATIENCE, |t| !t.is_empty())
        .await;
    assert!(!error.is_empty());
    assert!(
        browser.text("#modal-layer").await.contains("New task"),
        "the modal stays open"
    );
    browser.screenshot("inline-error").await;
    assert!(
        sandbox.room.tallyfy.all_runs().is_empty(),
        "nothing was created"
    );
    browser.close().await;
}

#[tokio::test]
async fn a_project_with_three_lines_lands_in_order_and_the_thread_hears_of_each_completion() {
    let (sandbox, browser) = open("project").await;
    say(&browser, "/project Launch the website @alice @bob").await;
    browser
        .wait_for_text("#modal-title", PATIENCE, |t| t == "New project")
        .await;
    assert_eq!(field(&browser, "name").await, json!("Launch the website"));
    browser
        .type_into(
            "#in-tasks",
            "Draft the copy @alice\nDesign the pages @bob\nGo live",
        )
        .await;
    browser.screenshot("project-form").await;
    browser.click("#modal-submit").await;

    browser
        .wait_for_text("#timeline", PATIENCE, |t| t.contains("Launch the website"))
        .await;
    let panel = browser
        .wait_for_text("#tallyfy-runs", PATIENCE, |t| {
            t.contains("Draft the copy") && t.contains("Design the pages") && t.contains("Go live")
        })
        .await;
    let order: Vec<usize> = ["Draft the copy", "Design the pages", "Go live"]
        .iter()
        .map(|title| panel.find(title).unwrap())
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "the lines keep their order: {panel}"
    );
    let runs = sandbox.room.tallyfy.all_runs();
    assert_eq!(
        runs.iter()
            .filter(|(id, _)| !id.starts_with("oneoff-"))
            .count(),
        1,
        "one process"
    );
    browser.screenshot("project-confirmed").await;

    // Bob completes his line.
    browser
        .eval(
            "const task = [...document.querySelectorAll('#tallyfy-runs .task')]
                .find(t => t.innerText.includes('Design the pages'));
             task.querySelector('.complete').click();",
            json!([]),
        )
        .await;
    let thread = browser
        .wait_for_text("#timeline .thread", PATIENCE, |t| {
            t.contains("Design the pages")
        })
        .await;
    assert!(thread.contains("Bob"), "{thread}");
    let card = browser
        .wait_for_text("#timeline", PATIENCE, |t| {
            t.contains("1 of ") && t.contains(" done")
        })
        .await;
    assert!(
        !card.contains("0 of "),
        "the card's progress was updated in place: {card}"
    );
    browser.screenshot("line-completed").await;

    // Alice marks her line done from the card's menu.
    play_as(&browser, "U0ALICE").await;
    browser
        .eval(
            "const menu = document.querySelector('#timeline select[data-action=line_done]');
             const option = [...menu.options].find(o => o.text.includes('Draft the copy'));
             menu.value = option.value;
             menu.dispatchEvent(new Event('change'));",
            json!([]),
        )
        .await;
    let thread = browser
        .wait_for_text("#timeline .thread", PATIENCE, |t| {
            t.contains("Draft the copy")
        })
        .await;
    assert!(
        thread.contains("@alice completed Draft the copy"),
        "the reply names who pressed, not the service's Tallyfy user: {thread}"
    );
    let panel = browser
        .wait_for_text("#tallyfy-runs", PATIENCE, |t| {
            t.contains("completed by Alice")
        })
        .await;
    assert!(panel.contains("started by Sam"), "{panel}");
    browser.screenshot("line-done-from-the-menu").await;
    browser.close().await;
}

/// The binary itself, with no settings, no `.env` and no Redis: one line, the address,
/// and the page is there.
#[tokio::test]
async fn the_sandbox_command_needs_no_settings_and_prints_the_address_to_open() {
    use std::io::{BufRead, BufReader};
    // Its own HTTP client needs the TLS provider, whichever test runs first.
    tallyfy_slack::tls::init();
    let port = stand_ins::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tallyfy-slack-sandbox"))
        .env_clear()
        .current_dir(std::env::temp_dir())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let address = format!("http://127.0.0.1:{port}");
    assert_eq!(line.trim(), format!("Open {address} (Ctrl-C stops it)"));
    let page = reqwest::get(&address).await.unwrap();
    assert!(page.status().is_success());
    assert!(page.text().await.unwrap().contains("id=\"composer\""));
    let help: serde_json::Value = reqwest::Client::new()
        .post(format!("{address}/api/say"))
        .json(&json!({"user": "U0SAM", "channel": "C0PROJECTS", "text": "/task help"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(help["ok"], true, "{help}");
    let state: serde_json::Value = reqwest::get(format!("{address}/api/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        state["lines"]
            .to_string()
            .contains("turns a request into a tracked Tallyfy task"),
        "the application answered the command: {state}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `/task …`, submits the form as it was filled in, and waits for the card.
async fn create_task(browser: &Browser, command: &str) {
    say(browser, command).await;
    browser
        .wait_for_text("#modal-title", PATIENCE, |t| t == "New task")
        .await;
    browser.click("#modal-submit").await;
    browser
        .wait_for_text("#timeline", PATIENCE, |t| t.contains("Mark done"))
        .await;
}

/// Chooses who the person at the browser is.
async fn play_as(browser: &Browser, user: &str) {
    browser
        .eval(
            "const s = document.getElementById('person'); s.value = arguments[0];
             s.dispatchEvent(new Event('change'));",
            json!([user]),
        )
        .await;
}

#[tokio::test]
async fn mark_done_on_the_card_works_for_the_assignee_and_is_refused_privately_to_anyone_else() {
    let (sandbox, browser) = open("mark-done").await;
    // Only its assignees may complete it: Tallyfy, acting on Sam's own token, says no.
    say(&browser, "/task Send the invoice @bob tomorrow").await;
    browser
        .wait_for_text("#modal-title", PATIENCE, |t| t == "New task")
        .await;
    browser
        .eval(
            "document.querySelector('#modal-layer input[value=can_complete_only_assignees]').click();",
            json!([]),
        )
        .await;
    browser.click("#modal-submit").await;
    browser
        .wait_for_text("#timeline", PATIENCE, |t| t.contains("Mark done"))
        .await;

    // Sam asked for it but is not an assignee.
    browser
        .click("#timeline button[data-action=task_done]")
        .await;
    let refused = browser
        .wait_for_text("#timeline", PATIENCE, |t| {
            t.contains("Only visible to you") && t.contains("assignees")
        })
        .await;
    assert!(refused.contains("assignees"), "{refused}");
    let completed = || {
        sandbox
            .room
            .tallyfy
            .all_runs()
            .into_iter()
            .flat_map(|(_, tasks)| tasks)
            .filter(|t| t["status"] == "completed")
            .count()
    };
    assert_eq!(completed(), 0, "nothing was completed");
    browser.screenshot("refused-to-someone-else").await;

    // Bob, the assignee, marks it done.
    play_as(&browser, "U0BOB").await;
    browser
        .wait_for_text("#timeline", PATIENCE, |t| {
            !t.contains("Only visible to you")
        })
        .await;
    browser
        .click("#timeline button[data-action=task_done]")
        .await;
    let thread = browser
        .wait_for_text("#timeline .thread", PATIENCE, |t| t.contains("completed"))
        .await;
    assert!(thread.contains("Send the invoice"), "{thread}");
    assert_eq!(completed(), 1, "completed once in Tallyfy");
    browser.screenshot("marked-done-by-the-assignee").await;
    browser.close().await;
}

#[tokio::test]
async fn the_home_tab_shows_the_person_at_the_browser_their_open_tasks() {
    let (_sandbox, browser) = open("home").await;
    create_task(&browser, "/task Pay the rent @bob tomorrow").await;

    play_as(&browser, "U0BOB").await;
    browser.click("#app-dm").await;
    let home = browser
        .wait_for_text("#home", PATIENCE, |t| t.contains("Pay the rent"))
        .await;
    assert!(!home.contains("Opening"), "{home}");
    browser.screenshot("bobs-home-tab").await;

    // Alice has nothing assigned.
    play_as(&browser, "U0ALICE").await;
    let home = browser
        .wait_for_text("#home", PATIENCE, |t| {
            !t.is_empty() && !t.contains("Opening")
        })
        .await;
    assert!(!home.contains("Pay the rent"), "{home}");
    browser.close().await;
}

#[tokio::test]
async fn a_comment_from_the_card_reaches_the_task_in_tallyfy() {
    let (sandbox, browser) = open("comment").await;
    create_task(&browser, "/task Check the figures @alice tomorrow").await;
    browser
        .click("#timeline button[data-action=task_comment]")
        .await;
    let title = browser
        .wait_for_text("#modal-title", PATIENCE, |t| {
            !t.is_empty() && t != "New task"
        })
        .await;
    browser
        .type_into(
            "#modal-blocks textarea, #modal-blocks input[type=text]",
            "The totals in row 12 look off",
        )
        .await;
    browser.screenshot("comment-form").await;
    browser.click("#modal-submit").await;
    let panel = browser
        .wait_for_text("#tallyfy-runs", PATIENCE, |t| {
            t.contains("The totals in row 12 look off")
        })
        .await;
    assert!(panel.contains("Comment"), "{panel}");
    let comments = sandbox.room.tallyfy.all_comments();
    assert_eq!(
        comments.len(),
        1,
        "one comment, from the form titled {title}"
    );
    assert!(
        comments[0]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("/archives/C0PROJECTS/p"),
        "the comment links back to the thread: {}",
        comments[0]
    );
    browser.screenshot("comment-in-tallyfy").await;
    browser.close().await;
}

#[tokio::test]
async fn a_person_picked_in_the_form_is_looked_up_while_it_is_filled_in() {
    let (sandbox, browser) = open("pick").await;
    say(&browser, "/task Write the launch post").await;
    browser
        .wait_for_text("#modal-title", PATIENCE, |t| t == "New task")
        .await;
    let tallyfy = &sandbox.room.tallyfy;
    assert!(tallyfy.member_searches().is_empty(), "nobody named yet");
    let bob = tallyfy
        .members()
        .into_iter()
        .find(|m| m.id == 2003)
        .expect("Bob is a Tallyfy member")
        .email;

    // Choosing Bob in the Assignees picker: Slack sends the pick, the app looks him up.
    browser.click("#in-assignees option[value=U0BOB]").await;
    let started = std::time::Instant::now();
    while !tallyfy.member_searches().iter().any(|s| {
        s.query
            .get("q")
            .is_some_and(|q| q.eq_ignore_ascii_case(&bob))
    }) {
        assert!(
            started.elapsed() < PATIENCE,
            "Bob was never looked up after the pick"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(field(&browser, "assignees").await, json!(["U0BOB"]));
    browser.screenshot("bob-picked").await;
    browser.close().await;
}

/// The id of the `n`th kick-off field of the sandbox's "Employee onboarding" template.
fn kick_off(n: usize) -> String {
    stand_ins::tallyfy::employee_onboarding()["prerun"][n - 1]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_template_found_from_the_project_form_is_launched_and_its_card_posted() {
    let (sandbox, browser) = open("template").await;
    say(&browser, "/project Onboard Ada").await;
    browser
        .wait_for_text("#modal-title", PATIENCE, |t| t == "New project")
        .await;

    // "Start from a template" asks the app for templates as one types.
    browser
        .type_into(".external-select .suggest", "Employee")
        .await;
    browser
        .wait_for_text(".external-select select", PATIENCE, |t| {
            t.contains("Employee onboarding")
        })
        .await;
    browser.screenshot("templates-found-as-you-type").await;
    browser
        .eval(
            "const menu = document.querySelector('.external-select select');
             const option = [...menu.options].find(o => o.text === 'Employee onboarding');
             menu.value = option.value;
             menu.dispatchEvent(new Event('change'));",
            json!([]),
        )
        .await;
    browser
        .wait_for_text("#modal-title", PATIENCE, |t| t == "Launch a template")
        .await;
    let name = field(&browser, "run_name").await;
    assert!(
        name.as_str()
            .is_some_and(|n| n.starts_with("Employee onboarding - ")),
        "the name takes Tallyfy's format: {name}"
    );
    // The required kick-off fields: a name, a start date, an office, a department.
    browser
        .eval(
            "const [text, date, radio, select] = arguments;
             document.getElementById('in-kf.' + text).value = 'Ada Lovelace';
             document.getElementById('in-kf.' + date).value = '2026-12-01';
             document.querySelector('[data-block=\"kf.' + radio + '\"] input[value=\"3\"]').checked = true;
             document.getElementById('in-kf.' + select).value = '1';",
            json!([kick_off(1), kick_off(3), kick_off(4), kick_off(5)]),
        )
        .await;
    browser.screenshot("kick-off-form").await;
    browser.click("#modal-submit").await;

    let card = browser
        .wait_for_text("#timeline", PATIENCE, |t| {
            t.contains("launched from the template") && t.contains("Employee onboarding")
        })
        .await;
    assert!(card.contains("Open in Tallyfy"), "{card}");
    browser
        .wait_for_text("#tallyfy-runs", PATIENCE, |t| {
            t.contains("Prepare the desk")
        })
        .await;
    let launches = sandbox.room.tallyfy.launches();
    assert_eq!(launches.len(), 1, "one launch");
    let prerun = &launches[0].body["prerun"];
    assert_eq!(prerun[kick_off(1)], "Ada Lovelace");
    assert_eq!(prerun[kick_off(4)], "Remote");
    assert_eq!(prerun[kick_off(5)]["text"], "Engineering");
    browser.screenshot("template-launched").await;
    browser.close().await;
}
