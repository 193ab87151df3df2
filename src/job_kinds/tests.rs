//! Jobs keep their stored shape: what a flow queues reads back as the same job, and jobs
//! written by earlier releases still read.

use super::*;

/// A task job exactly as earlier releases wrote it into the queue.
const TASK_JOB: &str = r#"{"kind":"task","key":"submission:T1:V1:h1","origin":{"team_id":"T1","user_id":"UREQ","channel_id":"C1","response_url":"https://hooks.slack.com/commands/T1/1/x","thread_ts":null,"request_id":"req-1"},"draft":{"title":"Draft the contract","assignees":["UALICE"],"deadline":"2030-01-01T17:00:00Z","summary":null,"task_type":"task","project":null,"groups":[],"guests_ok":false},"owners":{"users":[1001],"guests":[],"groups":[]}}"#;

/// A project job exactly as earlier releases wrote it, its people not yet resolved.
const PROJECT_JOB: &str = r#"{"kind":"project","key":"submission:T1:V2:h2","origin":{"team_id":"T1","user_id":"UREQ","channel_id":"C1","response_url":null,"thread_ts":null},"form":{"name":"Launch","summary":null,"assignees":["UALICE"],"deadline":"2030-01-01T17:00:00Z","lines":[{"number":1,"source":"Book the venue @bob","title":"Book the venue","handles":["bob"],"mentions":[],"deadline":null}],"groups":[],"guests_ok":false},"plan":null}"#;

const RETRY_JOB: &str = r#"{"kind":"retry","key":"submission:T1:V1:h1","response_url":"https://hooks.slack.com/actions/T1/2/y"}"#;
/// A template launch as this release writes it: its answers keyed by kick-off field id.
const TEMPLATE_JOB: &str = r#"{"kind":"template","key":"submission:T1:V3:h3","origin":{"team_id":"T1","user_id":"UREQ","channel_id":"C1","response_url":null,"thread_ts":null},"template_id":"c15bf2be31c3a7fbded5d13fce7aaab9","template_title":"Employee onboarding","answers":{"name":"Onboarding Ada","prerun":{"f1":"Ada","f5":{"id":1,"text":"Engineering","value":null}},"people":[["f7",["UBOB"]]]}}"#;
const WEBHOOK_JOB: &str = r#"{"kind":"webhook","key":"webhook:submission:T1:V1:h1:t1","job":"submission:T1:V1:h1","task":"t1"}"#;

#[test]
fn jobs_written_by_earlier_releases_still_read() {
    let Job::Task(task) = serde_json::from_str::<Job>(TASK_JOB).unwrap() else {
        panic!("not a task job")
    };
    assert_eq!(task.key, "submission:T1:V1:h1");
    assert_eq!(task.origin.request_id.as_deref(), Some("req-1"));
    assert_eq!(
        task.draft.assignees,
        vec!["UALICE".into()] as Vec<crate::slack::ids::UserId>
    );
    let Job::Project(project) = serde_json::from_str::<Job>(PROJECT_JOB).unwrap() else {
        panic!("not a project job")
    };
    assert_eq!(project.form.lines[0].handles, vec!["bob".to_string()]);
    assert!(project.plan.is_none() && project.origin.request_id.is_none());
    let Job::Retry(retry) = serde_json::from_str::<Job>(RETRY_JOB).unwrap() else {
        panic!("not a retry job")
    };
    assert_eq!(retry.key, "submission:T1:V1:h1");
}

#[test]
fn what_a_flow_queues_is_the_job_it_reads_back_in_the_same_shape() {
    for raw in [TASK_JOB, PROJECT_JOB, TEMPLATE_JOB, RETRY_JOB, WEBHOOK_JOB] {
        let job: Job = serde_json::from_str(raw).unwrap();
        let stored = match &job {
            Job::Task(task) => task.stored(),
            Job::Project(project) => project.stored(),
            Job::Template(launch) => launch.stored(),
            Job::Retry(retry) => retry.stored(),
            Job::Webhook(call) => call.stored(),
        };
        // The enum's own shape is the one earlier releases wrote.
        let as_written = serde_json::to_value(&job).unwrap();
        let as_queued: serde_json::Value = serde_json::from_str(&stored.json).unwrap();
        assert_eq!(as_queued, as_written, "the stored shape changed");
        assert_eq!(serde_json::from_str::<Job>(&stored.json).unwrap(), job);
        assert_eq!(stored.key, as_written["key"]);
    }
}
