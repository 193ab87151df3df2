//! The request and response shapes, read and written as Tallyfy has them.

use super::*;
use serde_json::json;

#[test]
fn new_task_serialises_with_integer_owner_ids_and_no_empty_optionals() {
    let task = NewTask {
        title: "Review".into(),
        summary: None,
        task_type: TaskType::ExpiringEmail,
        owners: Owners {
            users: vec![MemberId(1001), MemberId(7)],
            ..Default::default()
        },
        deadline: "2026-12-01 22:00:00".into(),
        separate_task_for_each_assignee: None,
        run_id: None,
        position: None,
        webhook: None,
        options: TaskOptions::default(),
    };
    assert_eq!(
        serde_json::to_value(&task).unwrap(),
        json!({
            "title": "Review",
            "task_type": "expiring_email",
            "owners": {"users": [1001, 7], "guests": [], "groups": []},
            "deadline": "2026-12-01 22:00:00"
        })
    );
}

#[test]
fn created_task_reads_the_run_in_every_shape() {
    let plain: Data<CreatedTask> = serde_json::from_value(
        json!({"data": {"id": "t1", "title": "x", "run": {"id": "r1", "name": "x"}}}),
    )
    .unwrap();
    assert_eq!(plain.data.run_id().unwrap().0, "r1");
    let wrapped: Data<CreatedTask> =
        serde_json::from_value(json!({"data": {"id": "t1", "run": {"data": {"id": "r2"}}}}))
            .unwrap();
    assert_eq!(wrapped.data.run_id().unwrap().0, "r2");
    let flat: Data<CreatedTask> = serde_json::from_value(
        json!({"data": {"id": "t1", "run": null, "run_id": "r3", "extra": [1]}}),
    )
    .unwrap();
    assert_eq!(flat.data.run_id().unwrap().0, "r3");
    let none: Data<CreatedTask> = serde_json::from_value(json!({"data": {"id": "t1"}})).unwrap();
    assert_eq!(none.data.run_id(), None);
}

#[test]
fn inactive_members_are_not_assignable() {
    let m = |status: Option<&str>, active: Option<bool>| Member {
        id: MemberId(1),
        email: "a@b.c".into(),
        full_name: None,
        status: status.map(String::from),
        is_active: active,
    };
    assert!(m(Some("active"), Some(true)).is_assignable());
    assert!(m(None, None).is_assignable());
    assert!(!m(Some("disabled"), None).is_assignable());
    assert!(!m(Some("suspended"), Some(true)).is_assignable());
    assert!(!m(Some("active"), Some(false)).is_assignable());
}

#[test]
fn pagination_tolerates_missing_and_odd_links() {
    let page: Page<Member> = serde_json::from_value(json!({
        "data": [],
        "meta": {"pagination": {"total": 150, "count": 100, "per_page": 100, "current_page": 1, "total_pages": 2, "links": []}}
    }))
    .unwrap();
    assert!(page.has_next());
    let page: Page<Member> = serde_json::from_value(json!({"data": []})).unwrap();
    assert!(!page.has_next());
}

fn append(title: &str, position: u32) -> NewTask {
    NewTask {
        title: title.into(),
        summary: None,
        task_type: TaskType::Task,
        owners: Owners {
            users: vec![MemberId(1001)],
            ..Owners::default()
        },
        deadline: "2026-12-01 17:00:00".into(),
        separate_task_for_each_assignee: None,
        run_id: Some(RunId("run1".into())),
        position: Some(position),
        webhook: None,
        options: TaskOptions::default(),
    }
}

fn listed(v: serde_json::Value) -> ListedTask {
    serde_json::from_value(v).unwrap()
}

#[test]
fn a_listed_task_is_recognised_by_title_deadline_people_run_and_position() {
    let request = append("Sign contract", 3);
    let same = json!({"id": "t1", "title": "Sign contract", "deadline": "2026-12-01T17:00:00.000Z",
                      "run_id": "run1", "position": 3, "owners": {"users": [1001]}});
    assert!(listed(same.clone()).is_made_by(&request));
    // What the listing leaves out is not held against it.
    assert!(listed(json!({"id": "t1", "title": " Sign contract "})).is_made_by(&request));
    for (field, other) in [
        ("title", json!("Sign the contract")),
        ("deadline", json!("2026-12-02T17:00:00Z")),
        ("run_id", json!("run2")),
        ("position", json!(4)),
        ("owners", json!({"users": [1002]})),
    ] {
        let mut changed = same.clone();
        changed[field] = other;
        assert!(!listed(changed).is_made_by(&request), "{field}");
    }
}

#[test]
fn a_new_project_is_only_recognised_in_a_run_of_its_own() {
    let mut request = append("Onboard", 1);
    request.run_id = None;
    request.position = None;
    request.separate_task_for_each_assignee = Some(true);
    assert!(!listed(json!({"id": "t1", "title": "Onboard", "run": null})).is_made_by(&request));
    assert!(
        listed(json!({"id": "t1", "title": "Onboard", "run": {"id": "r9"}})).is_made_by(&request)
    );
}

#[test]
fn options_sit_beside_the_other_fields_of_the_body() {
    let mut task = append("Sign", 2);
    task.options.everyone_must_complete = Some(true);
    task.options.started_at = Some("2026-11-30 09:00:00".into());
    let body = serde_json::to_value(&task).unwrap();
    assert_eq!(body["everyone_must_complete"], true);
    assert_eq!(body["started_at"], "2026-11-30 09:00:00");
    assert!(body.get("options").is_none() && body.get("tags").is_none());
}
