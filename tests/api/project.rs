//! `/project`: an empty run, tasks appended at their positions, the channel's memory of
//! its projects, and honest reporting (and retrying) of tasks that could not be added.

use std::collections::BTreeSet;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::{json, Value};

use crate::fake_slack::OpenView;
use crate::fake_tallyfy::{Fault, ORG};
use crate::helpers::*;

/// Creates a project through the modal; returns Slack's answer to the submission.
async fn start_project(app: &TestApp, values: &ProjectValues) -> Value {
    let view = app.open_project_modal(&values.name).await;
    let response = app.submit_project(&view, values).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

async fn posted(app: &TestApp) -> Message {
    announced(app, std::time::Duration::from_secs(10)).await
}

/// The run the project's appends went to.
fn run_of(app: &TestApp) -> String {
    let appended = app
        .tallyfy
        .creates()
        .into_iter()
        .find(|c| c.body.get("run_id").is_some());
    appended
        .map(|a| a.body["run_id"].as_str().unwrap().to_string())
        .expect("an append")
}

fn block_with(view: &OpenView, id: &str) -> Option<Value> {
    view.view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == id)
        .cloned()
}

#[tokio::test]
async fn the_project_modal_opens_prefilled() {
    let app = spawn_app().await;
    let view = app
        .open_project_modal("Onboard Globex <@UALICE> dec 15")
        .await;
    assert_eq!(view.view["callback_id"], "project_create");
    assert_eq!(view.view["title"]["text"], "New project");
    assert_eq!(
        block(&view, "name")["element"]["initial_value"],
        "Onboard Globex"
    );
    assert_eq!(
        block(&view, "assignees")["element"]["initial_users"],
        json!([ALICE])
    );
    assert_eq!(block(&view, "tasks")["element"]["multiline"], true);
    let secs = block(&view, "deadline")["element"]["initial_date_time"]
        .as_i64()
        .unwrap();
    let due = Timestamp::from_second(secs)
        .unwrap()
        .to_zoned(TimeZone::get("America/New_York").unwrap());
    assert_eq!((due.month(), due.day(), due.hour()), (12, 15, 17));
}

#[tokio::test]
async fn a_project_is_a_run_with_its_tasks_appended_in_order() {
    let app = spawn_app().await;
    let values = ProjectValues::new(
        "Onboard Globex",
        &[ALICE],
        "Kickoff call\n- Send welcome pack @bob friday\nCollect contract",
    );
    assert_eq!(start_project(&app, &values).await, Value::Null);
    let message = posted(&app).await;

    let creates = app.tallyfy.creates();
    assert_eq!(creates.len(), 4, "the run, then one append per line");
    let first = &creates[0].body;
    assert_eq!(first["title"], "Onboard Globex");
    assert_eq!(first["separate_task_for_each_assignee"], true);
    assert_eq!(first["owners"]["users"], json!([1001]));
    assert!(first.get("run_id").is_none());

    let run = run_of(&app);
    let appends: Vec<&Value> = creates[1..].iter().map(|c| &c.body).collect();
    assert!(
        appends.iter().all(|a| a["run_id"] == run.as_str()),
        "every append names the run"
    );
    let positions: BTreeSet<u64> = appends
        .iter()
        .map(|a| a["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, BTreeSet::from([2, 3, 4]));
    let by_title = |t: &str| {
        appends
            .iter()
            .find(|a| a["title"] == t)
            .copied()
            .unwrap()
            .clone()
    };
    assert_eq!(by_title("Kickoff call")["position"], 2);
    assert_eq!(by_title("Collect contract")["position"], 4);

    // Line 2 names its own person and day; the others take the project's.
    let welcome = by_title("Send welcome pack");
    assert_eq!(welcome["position"], 3);
    assert_eq!(welcome["owners"]["users"], json!([1002]));
    let due =
        jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", welcome["deadline"].as_str().unwrap())
            .unwrap()
            .to_zoned(TimeZone::UTC)
            .unwrap()
            .with_time_zone(TimeZone::get("America/New_York").unwrap());
    assert_eq!(
        (due.weekday(), due.hour()),
        (jiff::civil::Weekday::Friday, 17)
    );
    assert_eq!(by_title("Kickoff call")["owners"]["users"], json!([1001]));
    assert_eq!(by_title("Kickoff call")["deadline"], first["deadline"]);

    assert_eq!(app.tallyfy.run_tasks(&run).len(), 4);
    let text = message.body();
    let link = format!("https://go.tallyfy.test/{ORG}/processes/{run}");
    assert!(text.contains(&format!("<{link}|Onboard Globex>")), "{text}");
    for line in [
        "• Kickoff call - <@UALICE>",
        "• Send welcome pack - <@UBOB>",
        "• Collect contract - <@UALICE>",
    ] {
        assert!(text.contains(line), "{line} missing from {text}");
    }
    assert_eq!(
        message.buttons().len(),
        1,
        "no retry button when nothing is missing"
    );
    assert_eq!(message.link(), link);
}

#[tokio::test]
async fn lines_with_unknown_people_or_past_dates_are_named_inline() {
    let app = spawn_app().await;
    let values = ProjectValues::new(
        "Launch",
        &[ALICE],
        "Write copy @zed\nShip 2020-01-05\nFine line",
    );
    let answer = start_project(&app, &values).await;
    assert_eq!(answer["response_action"], "errors");
    let text = answer["errors"]["tasks"].as_str().unwrap();
    assert!(
        text.contains("Line 2 (\u{201c}Ship 2020-01-05\u{201d}): its date is in the past"),
        "{text}"
    );

    let values = ProjectValues::new("Launch", &[ALICE], "Write copy @zed\nFine line");
    let answer = start_project(&app, &values).await;
    let text = answer["errors"]["tasks"].as_str().unwrap();
    assert!(
        text.contains(
            "Line 1 (\u{201c}Write copy @zed\u{201d}): nobody in this workspace goes by @zed"
        ),
        "{text}"
    );

    let values = ProjectValues::new("Launch", &[ALICE], "Fine line\nPlan party @carol");
    let answer = start_project(&app, &values).await;
    let text = answer["errors"]["tasks"].as_str().unwrap();
    assert!(
        text.contains("Line 2") && text.contains("has no Tallyfy account"),
        "{text}"
    );
    assert!(
        !text.contains("carol@example.com"),
        "an email on the form: {text}"
    );

    app.idle().await;
    assert!(app.tallyfy.creates().is_empty());
}

#[tokio::test]
async fn missing_tasks_are_reported_and_the_retry_adds_only_them() {
    let app = spawn_app().await;
    // Refused once (a request Tallyfy turns down is not retried by itself).
    app.tallyfy.fault_create_titled(
        "Collect contract",
        Fault::Status {
            status: 422,
            body: json!({"error": true, "errors": {"owners": ["The owners are locked for this process."]}}),
            retry_after: None,
        },
    );
    let values = ProjectValues::new(
        "Onboard Initech",
        &[ALICE],
        "Kickoff call\nSend welcome pack\nCollect contract",
    );
    start_project(&app, &values).await;
    let message = posted(&app).await;
    let run = run_of(&app);
    assert_eq!(
        app.tallyfy.run_tasks(&run).len(),
        3,
        "the run and two of three lines"
    );

    let text = message.body();
    assert!(text.contains(":x: Collect contract"), "{text}");
    let warning = message.sections()[1];
    assert!(
        warning.contains("1 of 3 tasks could not be added"),
        "{warning}"
    );
    assert_eq!(message.retry_button()["action_id"], "project_retry");
    let key = message.retry_key();
    // The first run has finished (a Retry pressed while it still runs is told to wait).
    app.idle().await;

    let pressed = app.press("project_retry", key, "retry-hook").await;
    assert_eq!(pressed.status(), 200);
    let replaced = reply_through(&app, "retry-hook").await;
    assert_eq!(replaced["replace_original"], true);
    let text = replaced.body();
    assert!(text.contains("• Collect contract"), "{text}");
    assert_eq!(
        replaced["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["block_id"] != "lines")
            .count(),
        2,
        "no warning or retry once complete (beside the lines' menus)"
    );

    let tasks = app.tallyfy.run_tasks(&run);
    assert_eq!(tasks.len(), 4);
    let titles: Vec<&str> = tasks.iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles.iter().filter(|t| **t == "Kickoff call").count(),
        1,
        "nothing was created twice"
    );
    assert_eq!(tasks.last().unwrap()["position"], 4);
    assert_eq!(
        app.tallyfy
            .creates()
            .iter()
            .filter(|c| c.body["separate_task_for_each_assignee"] == true)
            .count(),
        1
    );

    // A second press finds nothing missing and creates nothing.
    let before = app.tallyfy.creates().len();
    app.press("project_retry", key, "retry-hook-2").await;
    reply_through(&app, "retry-hook-2").await;
    assert_eq!(app.tallyfy.creates().len(), before);
}

#[tokio::test]
async fn a_task_can_be_added_to_the_channels_project() {
    let app = spawn_app().await;
    start_project(
        &app,
        &ProjectValues::new("Website relaunch", &[ALICE], "Design\nBuild\nTest"),
    )
    .await;
    posted(&app).await;
    let run = run_of(&app);

    let view = app.open_task_modal("Write launch post").await;
    let choice = block_with(&view, "project").expect("an Add to project choice");
    let options = choice["element"]["options"].as_array().unwrap();
    assert_eq!(options[0]["value"], "standalone");
    assert_eq!(options[1]["value"], run.as_str());
    assert_eq!(options[1]["text"]["text"], "Website relaunch");

    let mut payload = submission(
        &view.id,
        &view.hash,
        view.view["private_metadata"].as_str().unwrap(),
        &TaskValues::new("Write launch post", &[BOB]),
    );
    payload["view"]["state"]["values"]["project"] = json!({"value": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "Website relaunch"}, "value": run}}});
    let response = app.interact(&payload).await;
    assert_eq!(response.status(), 200);
    let confirmation = eventually("the task confirmation", || {
        app.slack
            .calls("chat.postMessage")
            .into_iter()
            .filter(|c| c.body["channel"] == CHANNEL)
            .nth(1)
            .map(|c| Message::new(c.body))
    })
    .await;
    let added = app.tallyfy.creates().last().unwrap().body.clone();
    assert_eq!(added["title"], "Write launch post");
    assert_eq!(added["run_id"], run.as_str());
    assert_eq!(
        added["position"], 5,
        "after the run's own task and its three lines"
    );
    let text = confirmation.body();
    assert!(
        text.contains(&format!(
            "<https://go.tallyfy.test/{ORG}/processes/{run}|Write launch post>"
        )),
        "{text}"
    );
    assert!(text.contains("in project _Website relaunch_"), "{text}");
    assert_eq!(app.tallyfy.run_tasks(&run).len(), 5);
}

#[tokio::test]
async fn adding_to_a_project_deleted_in_tallyfy_is_explained() {
    let app = spawn_app().await;
    start_project(&app, &ProjectValues::new("Old plan", &[ALICE], "One")).await;
    posted(&app).await;
    let run = run_of(&app);
    app.tallyfy.delete_run(&run);

    let view = app.open_task_modal("Late addition").await;
    let mut payload = submission(
        &view.id,
        &view.hash,
        view.view["private_metadata"].as_str().unwrap(),
        &TaskValues::new("Late addition", &[BOB]),
    );
    payload["view"]["state"]["values"]["project"] = json!({"value": {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "Old plan"}, "value": run}}});
    app.interact(&payload).await;
    let (_, notice) = first_reply(&app, "the notice").await;
    let text = notice.text();
    assert!(
        text.contains("Old plan") && text.contains("no longer exists"),
        "{text}"
    );
    // Tallyfy refused the run on the field (422 on `run_id`): that is final.
    assert!(
        notice.button("job_retry").is_none(),
        "no Retry on a final refusal: {text}"
    );
    assert_eq!(
        app.tallyfy.creates().last().unwrap().body["run_id"],
        run.as_str()
    );
}

#[tokio::test]
async fn the_project_list_shows_progress_and_survives_a_restart() {
    let app = spawn_app().await;
    let (response, _) = app.command("/project", "list").await;
    let body: Value = response.json().await.unwrap();
    assert!(
        body["text"].as_str().unwrap().contains("No projects"),
        "{body}"
    );

    // Two people own the project: its own first line is a task for each of them in
    // Tallyfy, and it counts as one line, done once both are.
    start_project(
        &app,
        &ProjectValues::new("Quarter close", &[ALICE, BOB], "Reconcile\nReport\nFile"),
    )
    .await;
    posted(&app).await;
    let run = run_of(&app);
    assert_eq!(app.tallyfy.run_tasks(&run).len(), 5);
    app.tallyfy.complete(&run, 0);
    app.tallyfy.complete(&run, 1);

    let app = app.restart().await;
    let (response, _) = app.command("/project", "list").await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["response_type"], "ephemeral");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "<https://go.tallyfy.test/{ORG}/processes/{run}|Quarter close> - 1 of 4 tasks done"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn project_help_explains_lines_and_list() {
    let app = spawn_app().await;
    let (response, _) = app.command("/project", "help").await;
    let body: Value = response.json().await.unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("Draft contract @bob friday") && text.contains("/project list"),
        "{text}"
    );
}

#[tokio::test]
async fn a_project_can_be_owned_by_a_group_and_guests() {
    let app = spawn_app().await;
    app.tallyfy
        .add_group("0f1e2d3c4b5a69788796a5b4c3d2e1f0", "Finance");
    app.tallyfy
        .add_group_members("0f1e2d3c4b5a69788796a5b4c3d2e1f0", &[1001, 1002]);
    let view = app.open_project_modal("Audit prep").await;
    assert!(block_with(&view, "groups").is_some() && block_with(&view, "guests").is_some());
    let values = ProjectValues::new("Audit prep", &[CAROL], "Gather receipts");
    let metadata = view.view["private_metadata"].as_str().unwrap();
    let payload = json!({
        "type": "view_submission",
        "team": {"id": crate::fake_slack::TEAM},
        "user": {"id": REQUESTER},
        "view": {"id": view.id, "hash": view.hash, "callback_id": "project_create", "private_metadata": metadata,
            "state": {"values": {
                "name": {"value": {"type": "plain_text_input", "value": values.name}},
                "assignees": {"value": {"type": "multi_users_select", "selected_users": values.assignees}},
                "groups": {"value": {"type": "multi_static_select", "selected_options": [
                    {"text": {"type": "plain_text", "text": "Finance"}, "value": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}]}},
                "guests": {"value": {"type": "checkboxes", "selected_options": [{"value": "guests_ok"}]}},
                "deadline": {"value": {"type": "datetimepicker", "selected_date_time": values.deadline}},
                "tasks": {"value": {"type": "plain_text_input", "value": values.tasks}}
            }}}
    });
    let response = app.interact(&payload).await;
    assert_eq!(response.text().await.unwrap(), "");
    let message = posted(&app).await;
    let first = app.tallyfy.creates()[0].body.clone();
    assert_eq!(first["owners"]["guests"], json!(["carol@example.com"]));
    assert_eq!(
        first["owners"]["groups"],
        json!(["0f1e2d3c4b5a69788796a5b4c3d2e1f0"])
    );
    let text = message.body();
    assert!(text.contains("the _Finance_ group"), "{text}");
    // Tallyfy gave each of the group's members and the guest a task of their own.
    assert_eq!(app.tallyfy.tasks_titled("Audit prep"), 3);
    assert_eq!(app.tallyfy.runs_titled("Audit prep"), 1);
}

/// A project of `n` lines, each titled after its place: "Step 01", "Step 02", ...
fn numbered_lines(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("Step {i:02}")).collect()
}

/// Creates a 20-line project with Tallyfy taking `latency` to answer each call; answers
/// the lines and the run they went to.
async fn big_project(app: &TestApp, latency: std::time::Duration) -> (Vec<String>, String) {
    let titles = numbered_lines(20);
    app.tallyfy.set_create_latency(latency);
    let values = ProjectValues::new("Twenty steps", &[ALICE], &titles.join("\n"));
    start_project(app, &values).await;
    posted(app).await;
    (titles, run_of(app))
}

#[tokio::test]
async fn a_big_projects_lines_keep_their_order_by_position_whatever_order_they_land_in() {
    let app = spawn_app().await;
    // Long enough that every line is sent before the first is answered.
    let (titles, run) = big_project(&app, std::time::Duration::from_millis(800)).await;

    let creates = app.tallyfy.creates();
    assert_eq!(creates.len(), 21, "the run, then each line once");
    assert_eq!(
        app.tallyfy.creates_at_once(),
        20,
        "the lines go out together, and no more than 20 at once"
    );
    for append in &creates[1..] {
        let title = append.body["title"].as_str().unwrap();
        let line = titles.iter().position(|t| t == title).unwrap();
        assert_eq!(
            append.body["position"],
            line as u64 + 2,
            "{title} is sent with its line's position"
        );
    }
    // Read back by position, the run holds the lines in the order they were typed.
    let mut tasks = app.tallyfy.run_tasks(&run);
    tasks.sort_by_key(|t| t["position"].as_u64().unwrap_or(1));
    let read: Vec<&str> = tasks[1..]
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(read, titles.iter().map(String::as_str).collect::<Vec<_>>());
}

/// How many of Tallyfy's round trips a 20-line project takes, from its submission to its
/// announcement, with every Tallyfy call answered in 150 ms. Made as a person makes it: the
/// form opened, its owner picked (looked up while the lines are typed, a second here), then
/// submitted; again with the people known already; and with a person named for the first
/// time only at submission (a line's `@bob`, never picked, looked up then). Printed, not
/// asserted (timing belongs to the benchmark); `bench/run` runs it:
/// `cargo test --test api project_round_trips -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement for the benchmark"]
async fn project_round_trips() {
    let latency = std::time::Duration::from_millis(150);
    let typing = std::time::Duration::from_secs(1);
    let app = spawn_app().await;
    let titles = numbered_lines(20);
    let mut naming_bob = titles.clone();
    naming_bob[19].push_str(" @bob");
    let cases = [
        (
            1,
            "people picked in the form 1 s before submitting",
            true,
            &titles,
        ),
        (2, "people known", false, &titles),
        (
            3,
            "a person named first at submission (a line's @bob)",
            false,
            &naming_bob,
        ),
    ];
    for (round, people, picked, lines) in cases {
        let name = format!("Twenty steps {round}");
        let values = ProjectValues::new(&name, &[ALICE], &lines.join("\n"));
        let view = app.open_project_modal(&values.name).await;
        // From here every Tallyfy call takes the round trip: the lookup of the people
        // named, the run, and its lines.
        app.tallyfy.set_list_delay(latency);
        app.tallyfy.set_create_latency(latency);
        if picked {
            // The owner is picked first, then the lines are typed.
            let pick = app.pick_assignees(&view, &[ALICE]).await;
            assert_eq!(pick.status(), 200);
            tokio::time::sleep(typing).await;
        }
        let before = app.tallyfy.requests().len();
        let started = std::time::Instant::now();
        let response = app.submit_project(&view, &values).await;
        assert_eq!(response.status(), 200);
        eventually_within(
            std::time::Duration::from_secs(10),
            "the announcement",
            || {
                let posts = app.slack.calls("chat.postMessage");
                posts
                    .iter()
                    .any(|c| c.body.to_string().contains(&name))
                    .then_some(())
            },
        )
        .await;
        let wall = started.elapsed();
        // Tallyfy calls sent within half a round trip of the one before go out together.
        let mut waves = 0;
        let mut last: Option<std::time::Instant> = None;
        for at in app.tallyfy.requests()[before..].iter().map(|r| r.at) {
            if last.is_none_or(|l| at.duration_since(l) > latency / 2) {
                waves += 1;
            }
            last = Some(at);
        }
        println!(
            "project_round_trips: 20 lines, {people}, Tallyfy answering in {} ms: submitted to announced in {:.0} ms = {:.2} round trips; {} waves of Tallyfy calls; {} creates at most at once",
            latency.as_millis(),
            wall.as_secs_f64() * 1000.0,
            wall.as_secs_f64() / latency.as_secs_f64(),
            waves,
            app.tallyfy.creates_at_once()
        );
        app.tallyfy.set_list_delay(std::time::Duration::ZERO);
        app.tallyfy.set_create_latency(std::time::Duration::ZERO);
    }
}

#[tokio::test]
async fn a_line_tallyfy_refuses_on_its_run_is_not_offered_again() {
    let app = spawn_app().await;
    app.tallyfy.fault_create_titled(
        "Send invites",
        crate::fake_tallyfy::Fault::Status {
            status: 422,
            body: json!({"error": true, "errors": {"run_id": ["The selected run id is invalid."]}}),
            retry_after: None,
        },
    );
    start_project(
        &app,
        &ProjectValues::new("Party", &[ALICE], "Book venue\nSend invites"),
    )
    .await;
    let message = posted(&app).await;
    let text = message.body().to_string();
    assert!(text.contains(":x: Send invites"), "{text}");
    assert!(
        message.button("project_retry").is_none(),
        "no Retry for a refusal that cannot pass: {text}"
    );
    app.idle().await;
    assert_eq!(app.tallyfy.tasks_titled("Send invites"), 0);
}
