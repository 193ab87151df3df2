//! A person's work as Tallyfy lists it: the task list's `owners` and `status` filters, and
//! work assigned in Tallyfy itself (its web app, another integration), not through the
//! app under test.
//!
//! Source: tallyfy/documentation (commit 7f1f2c2a66d99aafb6c26bf82a5ab0e00b9647b4),
//! `src/content/docs/pro/integrations/open-api/code-samples/tasks/list-org-tasks.mdx`:
//! `owners` is "comma-separated User IDs to filter tasks assigned to *any* of these
//! users"; `status` is one of `active`, `complete`, `incomplete`, `inprogress`, `overdue`,
//! `due_soon`, `hasproblem`. Tallyfy's organization event webhooks are not documented
//! there, and Tallyfy's own n8n trigger node reads "Task Assigned To Me" by polling this
//! list (tallyfy/n8n `nodes/Tallyfy/TallyfyTrigger.node.ts`: "polling, no webhooks"), so
//! the stand-in offers the list, and no event webhooks.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::tasks::{hex_id, iso_millis};
use super::FakeTallyfy;

/// How far ahead `due_soon` looks. The page names the filter without saying how soon;
/// the stand-in takes a day.
const SOON: i64 = 24 * 3600;

/// Whether `task` passes the list's `owners` and `status` filters in `query`.
pub(super) fn passes(task: &Value, query: &HashMap<String, String>) -> bool {
    if let Some(owners) = query.get("owners").filter(|o| !o.is_empty()) {
        let wanted: Vec<u64> = owners
            .split(',')
            .filter_map(|id| id.trim().parse().ok())
            .collect();
        let users = task["owners"]["users"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let owned = users.iter().any(|u| {
            u.as_u64()
                .or_else(|| u["id"].as_u64())
                .is_some_and(|id| wanted.contains(&id))
        });
        if !owned {
            return false;
        }
    }
    let done = task["status"] == "completed";
    let deadline = task["deadline"]
        .as_str()
        .and_then(|d| d.parse::<jiff::Timestamp>().ok())
        .map(|d| d.as_second());
    let now = jiff::Timestamp::now().as_second();
    match query.get("status").map(String::as_str) {
        None | Some("") => true,
        Some("complete") | Some("completed") => done,
        Some("overdue") => !done && deadline.is_some_and(|d| d < now),
        Some("due_soon") => !done && deadline.is_some_and(|d| d >= now && d < now + SOON),
        // `active`, `incomplete`, `inprogress`: not done.
        Some(_) => !done,
    }
}

impl FakeTallyfy {
    /// A one-off task assigned to `owners` in Tallyfy itself (not through the app), due at
    /// `deadline` (RFC 3339), in the documented list shape. Answers its id.
    pub fn assign_in_tallyfy(&self, title: &str, owners: &[u64], deadline: &str) -> String {
        let mut s = self.inner.lock().unwrap();
        s.next_id += 1;
        let id = hex_id(s.next_id, "5e");
        let now = iso_millis(jiff::Timestamp::now());
        let deadline: jiff::Timestamp = deadline.parse().expect("an RFC 3339 deadline");
        let users: Vec<Value> = owners
            .iter()
            .map(|id| {
                let name = s
                    .members
                    .iter()
                    .find(|m| m.id == *id)
                    .map(|m| m.first_name.clone());
                json!({"id": id, "full_name": name})
            })
            .collect();
        let task = json!({
            "id": id, "increment_id": s.next_id, "title": title, "run_id": null,
            "checklist_id": null, "step_id": null, "alias": null, "status": "active",
            "status_label": "Active", "task_type": "task", "position": 1,
            "is_oneoff_task": true, "run": null,
            "owners": {"users": users, "guests": [], "groups": []},
            "deadline": iso_millis(deadline), "started_at": now, "created_at": now,
            "last_updated": now, "completed_at": null, "is_completable": true,
            "everyone_must_complete": false,
        });
        s.runs.entry(format!("oneoff-{id}")).or_default().push(task);
        id
    }
}
