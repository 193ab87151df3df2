//! Who may press Mark done or Reopen is decided by what Tallyfy says of the task at the
//! moment of the press, never by a copy kept from when the card was posted: someone
//! removed from the task in Tallyfy since is refused, someone added since may, and so may
//! a member of a group that owns it.

use serde_json::Value;

use crate::helpers::*;
use crate::visibility::{answer_on, app_with_public_url, card, mark_done_key, press_as};

/// A task for `assignee`, its card's Mark done value (the job's key), and its Tallyfy id.
async fn task_for(app: &TestApp, title: &str, assignee: &str) -> (String, String) {
    let view = app.open_task_modal("").await;
    app.submit_task(&view, &TaskValues::new(title, &[assignee]))
        .await;
    let card: Value = card(app).await;
    let key = mark_done_key(&card);
    let task = app
        .tallyfy
        .task_id_titled(title)
        .expect("the task in Tallyfy");
    (key, task)
}

#[tokio::test]
async fn someone_removed_from_a_task_in_tallyfy_is_refused_and_someone_added_is_not() {
    let app = app_with_public_url().await;
    let (key, task) = task_for(&app, "Sign the lease", BOB).await;
    // In Tallyfy, the task moves from Bob (1002) to Alice (1001).
    app.tallyfy.set_owners(&task, &[1001], &[]);

    press_as(&app, BOB, "task_done", &key, "bob-press").await;
    assert!(
        answer_on(&app, "bob-press")
            .await
            .contains("Only the task's assignees"),
        "Bob is no longer an assignee"
    );
    app.idle().await;
    assert!(app.tallyfy.completions().is_empty(), "nothing completed");

    press_as(&app, ALICE, "task_done", &key, "alice-press").await;
    assert_eq!(
        answer_on(&app, "alice-press").await,
        "Marked done in Tallyfy."
    );
    app.idle().await;
    assert_eq!(app.tallyfy.completions(), [task]);
}

#[tokio::test]
async fn a_member_of_a_group_that_owns_the_task_may_mark_it_done() {
    let app = app_with_public_url().await;
    app.tallyfy.add_group("g-legal", "Legal");
    app.tallyfy.add_group_members("g-legal", &[1001]);
    let (key, task) = task_for(&app, "Review the contract", BOB).await;
    // In Tallyfy, the task is given to the Legal group instead of Bob.
    app.tallyfy.set_owners(&task, &[], &["g-legal"]);

    press_as(&app, BOB, "task_done", &key, "bob-press").await;
    assert!(answer_on(&app, "bob-press")
        .await
        .contains("Only the task's assignees"));

    press_as(&app, ALICE, "task_done", &key, "alice-press").await;
    assert_eq!(
        answer_on(&app, "alice-press").await,
        "Marked done in Tallyfy."
    );
    app.idle().await;
    assert_eq!(app.tallyfy.completions(), [task]);
}
