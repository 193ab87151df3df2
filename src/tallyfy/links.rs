//! Links to things in Tallyfy's web app, built in one place.

use super::model::{CreatedTask, RunId, TaskId};

#[derive(Clone, Debug)]
pub struct Links {
    /// The web app's base, without a trailing `/`.
    web_url: String,
    org: String,
}

impl Links {
    pub fn new(web_url: &str, org: &str) -> Self {
        Self {
            web_url: web_url.trim_end_matches('/').to_string(),
            org: org.to_string(),
        }
    }

    /// A process (run).
    pub fn run(&self, run: &RunId) -> String {
        format!("{}/{}/processes/{run}", self.web_url, self.org)
    }

    /// A one-off task.
    pub fn task(&self, task: &TaskId) -> String {
        format!("{}/{}/tasks/{task}", self.web_url, self.org)
    }

    /// Created work: its process when it has one (or was added to `run`), else the task.
    pub fn created(&self, created: &CreatedTask, run: Option<&RunId>) -> String {
        match created.run_id().or(run) {
            Some(run) => self.run(run),
            None => self.task(&created.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_name_the_organization_and_the_thing() {
        let links = Links::new("https://go.tallyfy.com/", "org1");
        assert_eq!(
            links.run(&RunId("r1".into())),
            "https://go.tallyfy.com/org1/processes/r1"
        );
        assert_eq!(
            links.task(&TaskId("t1".into())),
            "https://go.tallyfy.com/org1/tasks/t1"
        );
    }
}
