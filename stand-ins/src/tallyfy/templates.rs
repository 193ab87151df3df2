//! Templates ("checklists" in the API) and launching them, as Tallyfy documents it:
//!
//! - `GET /organizations/{org}/checklists` lists templates in Tallyfy's page shape; `q`
//!   searches titles, case-insensitive, by partial match; `per_page` defaults to 10
//!   (documentation: code-samples/templates/list-templates).
//! - `GET /organizations/{org}/checklists/{id}` answers `{data: {id, title, ..., prerun:
//!   [...]}}`: the kick-off fields (`prerun`) are always included, each `{id (32 hex, the
//!   field's timeline id), checklist_id, alias, label, field_type, required, options}`;
//!   `steps` only with `with=steps`; an unknown template is a 404 (documentation:
//!   code-samples/templates/get-template; Tallyfy's CLI `pkg/tallyfy/types.go`
//!   `KickoffField`, choices `{id, text}`).
//! - `POST /organizations/{org}/runs` launches one: `checklist_id` is required, `name` at
//!   most 550 characters, `prerun` an object keyed by kick-off field id. A key that is not
//!   a field's id (an alias, a label) matches nothing and is DROPPED without an error
//!   (documentation: get-template's tip and code-samples/processes/launch-process; CLI
//!   `internal/cli/kickoff.go`, `RunRequestValidator::validatePrerun`). A required field
//!   left blank is refused with 422 "<label> is required" (CLI `kickoff.go`). Each value
//!   is checked for its type's shape (`FormValuesValidator`, as the CLI and the MCP
//!   server's `utils/field_value_encoding.py` describe it): text a scalar; textarea a
//!   string; date a parseable date string; radio the text of one of its options;
//!   dropdown `{id, text}` naming the same option; multiselect a list of those (without
//!   `selected: true` it is kept, but shows empty: it is kept as sent, so a test can
//!   tell); table one string per column; assignees `{users, guests, groups}`; file a
//!   list of objects carrying `id`, `url` or `full_url`. A wrong shape is a 422. A
//!   launch answers 201 with the run under `data` (documentation: launch-process).
//!   The run's tasks are the template's steps.

// Handlers answer early with a whole `Response`, as axum handlers do.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::access::{read_request, write_request};
use super::lists::page_of;
use super::tasks::hex_id;
use super::{FakeTallyfy, Inner};

/// What the stand-in keeps about templates and the runs launched from them.
#[derive(Default)]
pub(super) struct Templates {
    /// Each template in Tallyfy's shape, with its `prerun` and `steps`.
    list: Vec<Value>,
    /// The name of each launched run.
    pub(super) run_names: HashMap<String, String>,
    /// The template each launched run came from.
    launched_from: HashMap<String, String>,
    /// The kick-off values Tallyfy kept for each launched run, by field id.
    kept: HashMap<String, Value>,
    /// Scripted answers to the next launches.
    faults: std::collections::VecDeque<super::Fault>,
}

/// The template "Employee onboarding", with a kick-off field of every type Tallyfy's API
/// has (shared/docs/tallyfy-api.md, "Form-field types") and three steps.
pub fn employee_onboarding() -> Value {
    let field = |n: u64, alias: &str, label: &str, field_type: &str, required: bool| {
        json!({"id": hex_id(n, "f0"), "checklist_id": ONBOARDING, "alias": alias, "label": label,
               "field_type": field_type, "required": required, "position": n, "options": []})
    };
    let mut fields = vec![
        field(1, "new_hire_name", "New hire's name", "text", true),
        field(2, "about", "About them", "textarea", false),
        field(3, "start_date", "Start date", "date", true),
        field(4, "office", "Office", "radio", true),
        field(5, "department", "Department", "dropdown", true),
        field(6, "equipment", "Equipment", "multiselect", false),
        field(7, "buddy", "Onboarding buddy", "assignees_form", false),
        field(8, "email", "Personal email", "email", false),
        field(9, "desk", "Desk", "table", false),
        field(10, "contract", "Signed contract", "file", false),
    ];
    let options = |texts: &[&str]| -> Value {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"id": i + 1, "text": t}))
            .collect()
    };
    fields[3]["options"] = options(&["London", "New York", "Remote"]);
    fields[4]["options"] = options(&["Engineering", "Sales", "People"]);
    fields[5]["options"] = options(&["Laptop", "Phone", "Badge"]);
    fields[8]["columns"] = json!([{"id": 1, "label": "Building"}, {"id": 2, "label": "Floor"}]);
    let step = |n: u64, title: &str| json!({"id": hex_id(n, "5e"), "checklist_id": ONBOARDING, "alias": format!("step_{n}"), "title": title, "position": n});
    json!({
        "id": ONBOARDING, "title": "Employee onboarding", "summary": "Everything a new hire needs.",
        "status": "active", "type": "procedure", "starred": false, "alias": "employee-onboarding",
        "default_process_name_format": null, "prerun": fields,
        "steps": [step(1, "Prepare the desk"), step(2, "Set up accounts"), step(3, "First-day welcome")],
    })
}

/// The id of [`employee_onboarding`].
pub const ONBOARDING: &str = "c15bf2be31c3a7fbded5d13fce7aaab9";

/// A template with no kick-off fields and one step, titled `title`.
pub fn plain_template(id: &str, title: &str) -> Value {
    json!({"id": id, "title": title, "summary": null, "status": "active", "type": "procedure",
           "starred": false, "prerun": [],
           "steps": [{"id": hex_id(1, "5f"), "checklist_id": id, "title": format!("{title}: first step"), "position": 1}]})
}

impl FakeTallyfy {
    /// Adds a template, in Tallyfy's shape (see [`employee_onboarding`]).
    pub fn add_template(&self, template: Value) {
        self.inner.lock().unwrap().templates.list.push(template);
    }

    /// The next launch gets `fault`: `Status` answers it without launching,
    /// `CommitThenFail` launches and answers with that status (an answer lost on the way).
    pub fn fault_next_launch(&self, fault: super::Fault) {
        self.inner.lock().unwrap().templates.faults.push_back(fault);
    }

    /// Every launch sent (`POST /runs`), accepted or refused.
    pub fn launches(&self) -> Vec<super::Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/runs"))
            .collect()
    }

    /// The kick-off values Tallyfy kept for the run `run`, by field id: a key that
    /// named no field is not among them.
    pub fn kept_prerun(&self, run: &str) -> Option<Value> {
        self.inner.lock().unwrap().templates.kept.get(run).cloned()
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(
            json!({"error": true, "message": "Checklist not found", "code": "RESOURCE_NOT_FOUND"}),
        ),
    )
        .into_response()
}

fn invalid(field: &str, message: String) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"message": message.clone(), "errors": {field: [message]}})),
    )
        .into_response()
}

/// `GET /organizations/{org}/checklists?q=`: the templates whose title contains `q`.
pub(super) async fn list_templates(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(org): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/organizations/{org}/checklists");
    if let Err(r) = read_request(&inner, &org, path, &query, &headers) {
        return r;
    }
    let q = query.get("q").map(|q| q.to_lowercase()).unwrap_or_default();
    let found: Vec<Value> = inner
        .lock()
        .unwrap()
        .templates
        .list
        .iter()
        .filter(|t| {
            t["title"]
                .as_str()
                .is_some_and(|title| title.to_lowercase().contains(&q))
        })
        .map(|t| {
            let mut listed = t.clone();
            let o = listed.as_object_mut().unwrap();
            o.remove("prerun");
            o.remove("steps");
            listed
        })
        .collect();
    page_of(found, &query)
}

/// `GET /organizations/{org}/checklists/{id}`: one template with its kick-off fields.
pub(super) async fn get_template(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((org, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/organizations/{org}/checklists/{id}");
    if let Err(r) = read_request(&inner, &org, path, &query, &headers) {
        return r;
    }
    let found = inner
        .lock()
        .unwrap()
        .templates
        .list
        .iter()
        .find(|t| t["id"] == id.as_str())
        .cloned();
    let Some(mut template) = found else {
        return not_found();
    };
    let with_steps = query
        .get("with")
        .is_some_and(|w| w.split(',').any(|x| x == "steps"));
    if !with_steps {
        template.as_object_mut().unwrap().remove("steps");
    }
    Json(json!({ "data": template })).into_response()
}

/// `POST /organizations/{org}/runs`: launches a template (see the module's rules).
pub(super) async fn launch(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(org): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/organizations/{org}/runs");
    let body = match write_request(&inner, &org, path, &headers, &body) {
        Ok(body) => body,
        Err(r) => return r,
    };
    let Some(checklist) = body["checklist_id"].as_str().filter(|c| !c.is_empty()) else {
        return invalid("checklist_id", "The checklist id field is required.".into());
    };
    let mut s = inner.lock().unwrap();
    let fault = s.templates.faults.pop_front();
    if let Some(super::Fault::Status { status, body, .. }) = &fault {
        return (StatusCode::from_u16(*status).unwrap(), Json(body.clone())).into_response();
    }
    let Some(template) = s
        .templates
        .list
        .iter()
        .find(|t| t["id"] == checklist)
        .cloned()
    else {
        return not_found();
    };
    let title = template["title"].as_str().unwrap_or_default();
    let name = match &body["name"] {
        Value::Null => format!("{title} - {}", jiff::Zoned::now().date()),
        Value::String(n) if n.chars().count() <= 550 => n.clone(),
        _ => {
            return invalid(
                "name",
                "The name may not be greater than 550 characters.".into(),
            )
        }
    };
    let given = match &body["prerun"] {
        Value::Null => serde_json::Map::new(),
        Value::Object(o) => o.clone(),
        _ => return invalid("prerun", "The prerun must be an object.".into()),
    };
    let fields = template["prerun"].as_array().cloned().unwrap_or_default();
    let mut kept = serde_json::Map::new();
    for field in &fields {
        let id = field["id"].as_str().unwrap_or_default();
        let label = field["label"].as_str().unwrap_or(id);
        let value = given.get(id).cloned().unwrap_or(Value::Null);
        if blank(&value) {
            if field["required"] == true {
                return invalid(&format!("prerun.{id}"), format!("{label} is required"));
            }
            continue;
        }
        if let Err(problem) = shape_fits(field, &value) {
            return invalid(&format!("prerun.{id}"), format!("{label}: {problem}"));
        }
        kept.insert(id.to_string(), value);
    }
    s.next_id += 1;
    let run = hex_id(s.next_id, "3a");
    let steps = template["steps"].as_array().cloned().unwrap_or_default();
    // Each step falls due a week after the one before, as a template's deadlines do.
    let due = |i: usize| {
        let at = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 7 * (i as i64 + 1));
        at.strftime("%Y-%m-%d %H:%M:%S").to_string()
    };
    let tasks: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            json!({"id": hex_id(s.next_id * 100 + i as u64, "7b"), "title": step["title"],
                   "status": "not-started", "task_type": "task", "step_id": step["id"], "deadline": due(i),
                   "owners": {"users": [], "guests": [], "groups": []}, "position": i + 1,
                   "run": {"id": run, "name": name}})
        })
        .collect();
    s.runs.insert(run.clone(), tasks);
    s.templates.run_names.insert(run.clone(), name.clone());
    s.templates
        .launched_from
        .insert(run.clone(), checklist.to_string());
    s.templates
        .kept
        .insert(run.clone(), Value::Object(kept.clone()));
    let data = json!({"id": run, "name": name, "checklist_id": checklist, "checklist_title": title,
                      "status": "active", "prerun": kept,
                      "progress": {"complete": 0, "total": steps.len(), "percent": 0}});
    if let Some(super::Fault::CommitThenFail(status)) = fault {
        return (
            StatusCode::from_u16(status).unwrap(),
            Json(json!({"error": true, "message": "Bad Gateway"})),
        )
            .into_response();
    }
    (StatusCode::CREATED, Json(json!({ "data": data }))).into_response()
}

/// Blank as Tallyfy's required check reads it (`preRunValueIsBlank`): nothing, an empty
/// string, an empty list or object.
fn blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Whether `value` has the shape the field's type takes (`FormValuesValidator`).
fn shape_fits(field: &Value, value: &Value) -> Result<(), String> {
    let options: Vec<(Value, String)> = field["options"]
        .as_array()
        .map(|o| {
            o.iter()
                .map(|o| {
                    (
                        o["id"].clone(),
                        o["text"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let names_option = |v: &Value| {
        options
            .iter()
            .any(|(id, text)| v["id"] == *id && v["text"].as_str() == Some(text.as_str()))
    };
    match field["field_type"].as_str().unwrap_or_default() {
        "text" | "email" if value.is_string() || value.is_number() || value.is_boolean() => Ok(()),
        "textarea" if value.is_string() => Ok(()),
        "date" => match value.as_str() {
            Some(d)
                if d.parse::<jiff::Timestamp>().is_ok()
                    || d.parse::<jiff::civil::Date>().is_ok() =>
            {
                Ok(())
            }
            _ => Err("must be a date".into()),
        },
        "radio" => match value.as_str() {
            Some(t) if options.iter().any(|(_, text)| text == t) => Ok(()),
            _ => Err("Invalid radio choice selected.".into()),
        },
        "dropdown" if value.is_object() && names_option(value) => Ok(()),
        "dropdown" => Err("Invalid dropdown choice selected.".into()),
        "multiselect" => match value.as_array() {
            Some(chosen) if chosen.iter().all(names_option) => Ok(()),
            _ => Err("Invalid multiselect choice selected.".into()),
        },
        "table" => {
            let columns = field["columns"].as_array().map(Vec::len).unwrap_or(0);
            match value.as_array() {
                Some(cells) if cells.len() == columns => Ok(()),
                _ => Err("Number of columns does not match required columns".into()),
            }
        }
        "assignees_form" => {
            let lists = ["users", "guests", "groups"];
            match value.as_object() {
                Some(o)
                    if o.keys().all(|k| lists.contains(&k.as_str()))
                        && o.values().all(Value::is_array) =>
                {
                    Ok(())
                }
                _ => Err("must name users, guests and groups".into()),
            }
        }
        "file" => match value.as_array() {
            Some(files)
                if files
                    .iter()
                    .all(|f| ["id", "url", "full_url"].iter().any(|k| !f[*k].is_null())) =>
            {
                Ok(())
            }
            _ => Err("must be a list of uploaded files".into()),
        },
        _ => Err("is not in the shape its type takes".into()),
    }
}

/// `GET /organizations/{org}/runs?q=&checklist_id=`: launched runs whose name contains `q`,
/// of that template (documentation: code-samples/processes/list-processes).
pub(super) async fn list_runs(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(org): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/organizations/{org}/runs");
    if let Err(r) = read_request(&inner, &org, path, &query, &headers) {
        return r;
    }
    let q = query.get("q").map(|q| q.to_lowercase()).unwrap_or_default();
    let template = query.get("checklist_id").or(query.get("blueprint_id"));
    let s = inner.lock().unwrap();
    let found: Vec<Value> = s
        .templates
        .run_names
        .iter()
        .filter(|(_, name)| name.to_lowercase().contains(&q))
        .filter_map(|(run, name)| {
            let from = s.templates.launched_from.get(run)?;
            template
                .is_none_or(|t| t == from)
                .then(|| json!({"id": run, "name": name, "checklist_id": from, "status": "active"}))
        })
        .collect();
    drop(s);
    page_of(found, &query)
}
