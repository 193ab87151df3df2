//! Tallyfy's request and response shapes, with newtype ids so a run id can never be passed
//! where a task id is expected. Member ids are integers; everything else is a string.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

pub use super::options::{Choice, FieldType, FormField, Tag, TagId, TaskOptions};

macro_rules! string_id {
    ($name:ident) => {
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(RunId);
string_id!(TaskId);

/// A Tallyfy member (user) id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MemberId(pub u64);

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    #[default]
    Task,
    Approval,
    Expiring,
    Email,
    ExpiringEmail,
}

impl TaskType {
    pub const ALL: [TaskType; 5] = [
        TaskType::Task,
        TaskType::Approval,
        TaskType::Expiring,
        TaskType::Email,
        TaskType::ExpiringEmail,
    ];

    /// The API's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::Task => "task",
            TaskType::Approval => "approval",
            TaskType::Expiring => "expiring",
            TaskType::Email => "email",
            TaskType::ExpiringEmail => "expiring_email",
        }
    }

    /// How the modal names it.
    pub fn label(self) -> &'static str {
        match self {
            TaskType::Task => "Task",
            TaskType::Approval => "Approval",
            TaskType::Expiring => "Expiring",
            TaskType::Email => "Email",
            TaskType::ExpiringEmail => "Expiring email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Who a task is for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owners {
    pub users: Vec<MemberId>,
    #[serde(default)]
    pub guests: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Owners {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.guests.is_empty() && self.groups.is_empty()
    }
}

/// The body of `POST /organizations/{org}/tasks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub task_type: TaskType,
    pub owners: Owners,
    /// `YYYY-MM-DD HH:MM:SS` in UTC.
    pub deadline: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub separate_task_for_each_assignee: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// A URL Tallyfy calls when the task is completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// Flags, start, tags and form fields; each left out of the body when unset.
    #[serde(flatten)]
    pub options: TaskOptions,
}

/// The run a created task belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    pub id: RunId,
    #[serde(default)]
    pub name: Option<String>,
}

/// The first task of a creation, as Tallyfy answers it (`data` of the response).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedTask {
    pub id: TaskId,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "run_ref")]
    pub run: Option<RunRef>,
    #[serde(default)]
    pub run_id: Option<RunId>,
}

impl CreatedTask {
    /// The run this task lives in, whichever way the answer names it.
    pub fn run_id(&self) -> Option<&RunId> {
        self.run.as_ref().map(|r| &r.id).or(self.run_id.as_ref())
    }
}

/// `run` may be an object, `{"data": {...}}`, or null.
fn run_ref<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RunRef>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        Plain(RunRef),
        Wrapped { data: RunRef },
        Other(serde::de::IgnoredAny),
    }
    Ok(match Option::<Shape>::deserialize(d)? {
        Some(Shape::Plain(r)) | Some(Shape::Wrapped { data: r }) => Some(r),
        _ => None,
    })
}

/// A task as Tallyfy lists it (`GET /tasks`, `GET /runs/{id}/tasks`): enough to recognise
/// a creation whose answer was lost.
#[derive(Clone, Debug, Deserialize)]
pub struct ListedTask {
    pub id: TaskId,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub deadline: Option<String>,
    #[serde(default, deserialize_with = "run_ref")]
    pub run: Option<RunRef>,
    #[serde(default)]
    pub run_id: Option<RunId>,
    #[serde(default)]
    pub owners: Option<ListedOwners>,
    #[serde(default)]
    pub position: Option<u32>,
    #[serde(default)]
    pub completed_at: Option<String>,
    /// Who completed it: a member object with `full_name`, when Tallyfy says.
    #[serde(default)]
    pub completed_by: Option<serde_json::Value>,
    /// Who completed it, as Tallyfy's reads name them: a member id (documentation,
    /// open-api/code-samples/tasks/get-task and complete-task).
    #[serde(default)]
    pub completer_id: Option<serde_json::Value>,
    /// `task`, `approval`, `expiring`, ... (an approval is completed with a decision).
    #[serde(default)]
    pub task_type: Option<String>,
    /// Whether only its assignees may complete it.
    #[serde(default)]
    pub can_complete_only_assignees: Option<bool>,
    /// A completed approval's decision (`complete-task.mdx`: true approves).
    #[serde(default)]
    pub is_approved: Option<bool>,
    /// Its form fields, when read with `with=form_fields`.
    #[serde(default, deserialize_with = "super::fields::form_fields")]
    pub form_fields: Vec<super::fields::TaskField>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ListedOwners {
    /// Member ids, or member objects with an `id`.
    #[serde(default)]
    pub users: Vec<serde_json::Value>,
    /// Guests: emails, or guest objects with an `email`.
    #[serde(default)]
    pub guests: Vec<serde_json::Value>,
    /// Group ids.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl ListedOwners {
    /// Whether `member` is named among the owners (not through a group).
    pub fn names(&self, member: MemberId) -> bool {
        self.users
            .iter()
            .filter_map(member_id)
            .any(|id| id == member.0)
    }
}

/// A group as Tallyfy lists it, with its members (ids, or member objects with an `id`).
#[derive(Clone, Debug, Deserialize)]
pub struct GroupMembers {
    pub id: String,
    #[serde(default)]
    pub members: Vec<serde_json::Value>,
}

impl GroupMembers {
    pub fn has(&self, member: MemberId) -> bool {
        self.members
            .iter()
            .filter_map(member_id)
            .any(|id| id == member.0)
    }
}

impl ListedTask {
    /// Whether this is the task `request` would create: same title, same deadline, same
    /// run (when the request names one, or asks for a run of its own), same member owners.
    /// Fields Tallyfy left out of the listing are not held against it.
    pub fn is_made_by(&self, request: &NewTask) -> bool {
        if self.title.as_deref().map(str::trim) != Some(request.title.trim()) {
            return false;
        }
        let run = self.run.as_ref().map(|r| &r.id).or(self.run_id.as_ref());
        if let Some(wanted) = &request.run_id {
            if run.is_some_and(|r| r != wanted) {
                return false;
            }
        }
        if request.separate_task_for_each_assignee == Some(true) && run.is_none() {
            return false;
        }
        // Two lines of one project may share a title: their positions tell them apart.
        if let (Some(listed), Some(wanted)) = (self.position, request.position) {
            if listed != wanted {
                return false;
            }
        }
        if let Some(listed) = self.deadline.as_deref() {
            if same_instant(listed, &request.deadline) == Some(false) {
                return false;
            }
        }
        if let Some(owners) = &self.owners {
            let mut listed: Vec<u64> = owners.users.iter().filter_map(member_id).collect();
            let mut wanted: Vec<u64> = request.owners.users.iter().map(|m| m.0).collect();
            listed.sort_unstable();
            wanted.sort_unstable();
            let readable = listed.len() == owners.users.len() && !listed.is_empty();
            let split = request.separate_task_for_each_assignee == Some(true);
            if readable && split {
                // Tallyfy made one task per assignee, each owned by one of them (or by a
                // member of a requested group, whom this app cannot tell apart).
                let part = listed.iter().all(|id| wanted.contains(id));
                if !part && request.owners.groups.is_empty() {
                    return false;
                }
            } else if readable && listed != wanted {
                return false;
            }
        }
        true
    }

    pub fn into_created(self) -> CreatedTask {
        CreatedTask {
            id: self.id,
            title: self.title,
            status: self.status,
            run: self.run,
            run_id: self.run_id,
        }
    }
}

/// An owner as listed: a bare id, or a member object with one.
pub(crate) fn member_id(v: &serde_json::Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.get("id").and_then(serde_json::Value::as_u64))
}

/// Whether two deadlines name the same second; `None` when either cannot be read. Tallyfy
/// is sent `YYYY-MM-DD HH:MM:SS` (UTC) and lists ISO 8601.
fn same_instant(a: &str, b: &str) -> Option<bool> {
    fn read(s: &str) -> Option<jiff::Timestamp> {
        s.parse::<jiff::Timestamp>().ok().or_else(|| {
            jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", s)
                .ok()?
                .to_zoned(jiff::tz::TimeZone::UTC)
                .ok()
                .map(|z| z.timestamp())
        })
    }
    Some(read(a)?.as_second() == read(b)?.as_second())
}

#[cfg(test)]
mod lookup_tests {
    use super::*;

    fn listed(owner: u64) -> ListedTask {
        serde_json::from_value(serde_json::json!({
            "id": "t", "title": "Launch", "deadline": "2030-01-01T17:00:00.000Z",
            "run": {"id": "r1"}, "owners": {"users": [owner]}
        }))
        .unwrap()
    }

    fn project(users: &[u64]) -> NewTask {
        NewTask {
            title: "Launch".into(),
            summary: None,
            task_type: TaskType::Task,
            owners: Owners {
                users: users.iter().map(|u| MemberId(*u)).collect(),
                ..Owners::default()
            },
            deadline: "2030-01-01 17:00:00".into(),
            separate_task_for_each_assignee: Some(true),
            run_id: None,
            position: None,
            webhook: None,
            options: TaskOptions::default(),
        }
    }

    #[test]
    fn a_split_create_is_recognised_by_any_one_of_its_per_person_tasks() {
        assert!(listed(1001).is_made_by(&project(&[1001, 1002])));
        assert!(listed(1002).is_made_by(&project(&[1001, 1002])));
        assert!(!listed(1003).is_made_by(&project(&[1001, 1002])));
    }

    #[test]
    fn members_of_every_status_but_disabled_can_be_assigned() {
        let member = |status: &str, active: bool| Member {
            id: MemberId(1),
            email: "a@x.io".into(),
            full_name: None,
            status: Some(status.into()),
            is_active: Some(active),
        };
        assert!(member("active", true).is_assignable());
        assert!(member("invited", false).is_assignable());
        assert!(!member("disabled", false).is_assignable());
        assert!(!member("active", false).is_assignable());
    }
}

/// A run (process) as `GET /organizations/{org}/runs/{id}?with=tasks` answers it.
#[derive(Clone, Debug, Deserialize)]
pub struct Run {
    pub id: RunId,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// A whole-number percentage (the webhook's and some reads' form) or an object with
    /// `complete`, `total` and `percent` (the list's form): Tallyfy's documentation shows
    /// both (integrations/webhooks/webhook-payload-structure, open-api/code-samples/processes).
    #[serde(default)]
    pub progress: Option<serde_json::Value>,
    #[serde(default)]
    pub tasks: Option<TaskList>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TaskList {
    #[serde(default)]
    pub data: Vec<TaskSummary>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TaskSummary {
    pub id: TaskId,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub completed_at: Option<String>,
    /// Who completed it: a member object with `full_name`, when Tallyfy says.
    #[serde(default)]
    pub completed_by: Option<serde_json::Value>,
    /// Who completed it, as a member id.
    #[serde(default)]
    pub completer_id: Option<serde_json::Value>,
    /// Its place in the run: a project's line. Tallyfy's split first create gives each
    /// person a task at the same place.
    #[serde(default)]
    pub position: Option<u32>,
    #[serde(default)]
    pub task_type: Option<String>,
    #[serde(default)]
    pub is_approved: Option<bool>,
}

impl TaskSummary {
    pub fn is_completed(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("completed"))
    }
}

/// An approval's decision, approved or rejected, as a task read tells it; `None` for a
/// task of another type, or an approval read without one.
pub fn decision(task_type: Option<&str>, is_approved: Option<bool>) -> Option<bool> {
    is_approved.filter(|_| task_type == Some("approval"))
}

impl Run {
    /// (completed, total) lines, when the run came with its tasks: tasks at one place are
    /// one line (a split first create), done when all of them are.
    pub fn lines(&self) -> Option<(usize, usize)> {
        let tasks = &self.tasks.as_ref()?.data;
        let mut lines: Vec<(String, bool)> = Vec::new();
        for t in tasks {
            let place = t
                .position
                .map_or_else(|| format!("task {}", t.id), |p| format!("place {p}"));
            match lines.iter_mut().find(|(p, _)| *p == place) {
                Some((_, done)) => *done &= t.is_completed(),
                None => lines.push((place, t.is_completed())),
            }
        }
        let done = lines.iter().filter(|(_, done)| *done).count();
        Some((done, lines.len()))
    }

    /// The whole-number percentage Tallyfy gives, in whichever form it gives it.
    pub fn percent(&self) -> Option<u64> {
        let progress = self.progress.as_ref()?;
        progress.as_u64().or_else(|| {
            progress
                .get("percent")
                .and_then(serde_json::Value::as_u64)
                .or_else(|| {
                    let complete = progress.get("complete")?.as_u64()?;
                    let total = progress.get("total")?.as_u64().filter(|t| *t > 0)?;
                    Some(complete * 100 / total)
                })
        })
    }

    /// Whether Tallyfy says the run is complete (its status `complete`).
    pub fn is_complete(&self) -> bool {
        self.status.as_deref().is_some_and(|s| {
            s.eq_ignore_ascii_case("complete") || s.eq_ignore_ascii_case("completed")
        })
    }
}

/// A group of members, assignable as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
}

/// A member of the organization.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub email: String,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
}

impl Member {
    /// Active and invited members can be assigned work; disabled (or suspended, or
    /// deactivated) ones cannot. An invited member is not active yet, whatever
    /// `is_active` says.
    pub fn is_assignable(&self) -> bool {
        match self
            .status
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("invited") => true,
            None | Some("active") => self.is_active != Some(false),
            Some(_) => false,
        }
    }
}

/// A `data` that is one object, or (as some answers have it) an array of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrFirst<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrFirst<T> {
    pub fn into_first(self) -> Option<T> {
        match self {
            OneOrFirst::One(one) => Some(one),
            OneOrFirst::Many(many) => many.into_iter().next(),
        }
    }
}

/// `{"data": T}`
#[derive(Debug, Deserialize)]
pub struct Data<T> {
    pub data: T,
}

/// `{"data": [...], "meta": {"pagination": {...}}}`
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub meta: Option<Meta>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Pagination {
    #[serde(default)]
    pub current_page: Option<u32>,
    #[serde(default)]
    pub total_pages: Option<u32>,
}

impl<T> Page<T> {
    /// Whether a page follows this one.
    pub fn has_next(&self) -> bool {
        match self.meta.as_ref().and_then(|m| m.pagination.as_ref()) {
            Some(Pagination {
                current_page: Some(c),
                total_pages: Some(t),
            }) => c < t,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
