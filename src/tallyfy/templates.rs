//! Templates ("checklists" in Tallyfy's API) and launching them: listing and searching
//! them, reading one's kick-off fields (`prerun`), and `POST /organizations/{org}/runs`
//! (Tallyfy's documentation: code-samples/templates/list-templates, get-template and
//! code-samples/processes/launch-process; shared/docs/tallyfy-api.md, "Templates").

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::TallyfyClient;
use super::error::TallyfyError;
use super::model::{Data, OneOrFirst, Page, RunId};

/// How many templates a search shows at most (Slack's menus show 100 options).
pub const MAX_FOUND: u32 = 100;

/// A template as it is listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSummary {
    pub id: String,
    #[serde(default)]
    pub title: String,
}

/// A template with its kick-off fields.
#[derive(Clone, Debug, Deserialize)]
pub struct Template {
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default, deserialize_with = "or_default")]
    pub prerun: Vec<KickoffField>,
}

/// One kick-off field: `id` is its timeline id, the key its value is launched under.
#[derive(Clone, Debug, Deserialize)]
pub struct KickoffField {
    pub id: String,
    #[serde(default, deserialize_with = "or_default")]
    pub alias: String,
    #[serde(default, deserialize_with = "or_default")]
    pub label: String,
    #[serde(default, deserialize_with = "or_default")]
    pub field_type: String,
    #[serde(default, deserialize_with = "or_default")]
    pub required: bool,
    #[serde(default, deserialize_with = "or_default")]
    pub guidance: String,
    /// The choices of a radio, dropdown or multiselect field.
    #[serde(default, deserialize_with = "or_default")]
    pub options: Vec<FieldOption>,
    /// The columns of a table field.
    #[serde(default, deserialize_with = "or_default")]
    pub columns: Vec<FieldOption>,
}

impl KickoffField {
    /// What the form calls the field: its label, else its alias.
    pub fn name(&self) -> &str {
        if self.label.trim().is_empty() {
            &self.alias
        } else {
            &self.label
        }
    }
}

/// A choice (`{id, text}`) or a table column (`{id, label}`). Tallyfy's ids are numbers;
/// kept as sent, to be sent back the same.
#[derive(Clone, Debug, Deserialize)]
pub struct FieldOption {
    #[serde(default)]
    pub id: Value,
    #[serde(default, deserialize_with = "or_default")]
    pub text: String,
    #[serde(default, deserialize_with = "or_default")]
    pub label: String,
}

/// A launch: the template, the run's name, and kick-off values keyed by field id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    pub checklist_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub prerun: Map<String, Value>,
}

/// A launched run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launched {
    pub id: RunId,
    #[serde(default)]
    pub name: Option<String>,
}

/// A field that is missing or `null` reads as its default.
fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl TallyfyClient {
    /// `GET /organizations/{org}/checklists?q=`: templates whose title contains `q`.
    pub async fn find_templates(&self, q: &str) -> Result<Vec<TemplateSummary>, TallyfyError> {
        let path = format!("organizations/{}/checklists", self.org_id());
        let mut query = vec![("per_page", MAX_FOUND.to_string())];
        if !q.trim().is_empty() {
            query.push(("q", q.trim().to_string()));
        }
        let req = self.request(Method::GET, &path).query(&query);
        let found: Page<TemplateSummary> = self.send("list_templates", req).await?;
        Ok(found.data)
    }

    /// `GET /organizations/{org}/checklists/{id}`: a template with its kick-off fields.
    pub async fn get_template(&self, id: &str) -> Result<Template, TallyfyError> {
        let path = format!("organizations/{}/checklists/{id}", self.org_id());
        let req = self.request(Method::GET, &path);
        let found: Data<Template> = self.send("get_template", req).await?;
        Ok(found.data)
    }

    /// `POST /organizations/{org}/runs`: launches a template.
    pub async fn launch(&self, launch: &Launch) -> Result<Launched, TallyfyError> {
        let path = format!("organizations/{}/runs", self.org_id());
        let req = self.request(Method::POST, &path).json(launch);
        let made: Data<OneOrFirst<Launched>> = self.send("launch", req).await?;
        made.data
            .into_first()
            .ok_or_else(|| TallyfyError::Unexpected("launch: an empty data array".into()))
    }

    /// The run a launch whose answer was lost made, if any: the template's runs with
    /// exactly that name (`GET /organizations/{org}/runs?q=&checklist_id=`).
    pub async fn find_launched(&self, launch: &Launch) -> Result<Option<Launched>, TallyfyError> {
        let path = format!("organizations/{}/runs", self.org_id());
        let req = self.request(Method::GET, &path).query(&[
            ("q", launch.name.as_str()),
            ("checklist_id", launch.checklist_id.as_str()),
            ("per_page", "100"),
        ]);
        let found: Page<Launched> = self.send("find_launched", req).await?;
        Ok(found
            .data
            .into_iter()
            .find(|r| r.name.as_deref() == Some(launch.name.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_template_reads_with_its_kick_off_fields() {
        let raw = include_str!("../../tests/fixtures/tallyfy/documentation/get-template.json");
        let template: Data<Template> = serde_json::from_str(raw).unwrap();
        let field = &template.data.prerun[0];
        assert_eq!(field.id, "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6");
        assert_eq!(field.name(), "Customer name");
        assert_eq!(field.field_type, "text");
        assert!(!field.required);
        let raw = include_str!("../../tests/fixtures/tallyfy/documentation/list-templates.json");
        let list: Page<TemplateSummary> = serde_json::from_str(raw).unwrap();
        assert_eq!(list.data[0].title, "Customer Onboarding Process");
    }
}
