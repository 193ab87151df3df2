//! The app posts only to response URLs under `SLACK_RESPONSE_URL_BASE` (in these tests, the
//! fake Slack's `/hooks/`), whatever brought the URL: a command, a button press, or a job
//! read back from the store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::*;

const FORM: &str = "application/x-www-form-urlencoded";

/// A server on another loopback port that counts the connections made to it.
async fn elsewhere() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/stolen", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (url, seen)
}

#[tokio::test]
async fn a_command_whose_response_url_points_elsewhere_gets_nothing_posted_there() {
    let app = spawn_app().await;
    let (url, seen) = elsewhere().await;
    // A trigger id Slack never issued: the form cannot open, and the app says so.
    let body = command_body("/task", "Review", CHANNEL, "1.2.never-issued", &url);
    let response = app.post_signed("/slack/commands", FORM, body).await;
    assert_eq!(response.status(), 200);
    // The requester is told another way: a direct message.
    posted_in(&app, REQUESTER, Duration::from_secs(10)).await;
    app.idle().await;
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "something was posted elsewhere"
    );
}

#[tokio::test]
async fn a_retry_press_whose_response_url_points_elsewhere_gets_nothing_posted_there() {
    let app = spawn_app().await;
    let (url, seen) = elsewhere().await;
    let payload = button_press("job_retry", "task:no-such-job", &url);
    assert_eq!(app.interact(&payload).await.status(), 200);
    app.idle().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "something was posted elsewhere"
    );
}

#[tokio::test]
async fn a_response_url_that_redirects_is_not_followed() {
    let app = spawn_app().await;
    let (elsewhere, seen) = elsewhere().await;
    app.slack.redirect_hook("moved", &elsewhere);
    let payload = button_press(
        "job_retry",
        "task:no-such-job",
        &app.slack.response_url("moved"),
    );
    assert_eq!(app.interact(&payload).await.status(), 200);
    app.idle().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen.load(Ordering::SeqCst), 0, "the redirect was followed");
}

#[tokio::test]
async fn a_job_read_back_from_redis_whose_response_url_points_elsewhere_gets_nothing_posted_there()
{
    let app = spawn_app().await;
    let (url, seen) = elsewhere().await;
    let deadline = jiff::Timestamp::from_second(now() + 3 * 24 * 3600).unwrap();
    // A private channel the bot is not in (it cannot join one): the confirmation falls
    // back to the response URL.
    let job = include_str!("../fixtures/stored_jobs/task.json")
        .replace("{{response_url}}", &url)
        .replace("{{deadline}}", &deadline.to_string())
        .replace("C0PROJECTS", "G0NOTJOINED");
    let mut conn = shared_conn().await;
    let _: String = redis::cmd("XADD")
        .arg(format!("{}:jobs", app.prefix))
        .arg("*")
        .arg("job")
        .arg(&job)
        .arg("mac")
        .arg(job_mac().sign(&job))
        .query_async(&mut conn)
        .await
        .unwrap();
    // The requester is told by direct message instead.
    posted_in(&app, REQUESTER, Duration::from_secs(10)).await;
    app.idle().await;
    assert_eq!(app.tallyfy.creates().len(), 1);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "something was posted elsewhere"
    );
}
