//! The one workspace and app this installation serves: the bot token's team (from
//! `auth.test`) and app (from `bots.info`), learned at start. A request from any other
//! team or app is refused before anything is looked up for it.

use std::sync::{Arc, OnceLock};

pub use super::api::Identity;
use super::api::{SlackApi, SlackCallError};

/// What to do with a request that names a team and (perhaps) an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Another workspace's or another app's request.
    Refused,
    /// Slack has not yet said whose the bot token is: nothing is served until it has.
    NotYetKnown,
}

/// The installation's identity, once known; shared by every clone.
#[derive(Clone, Default)]
pub struct Workspace(Arc<OnceLock<Identity>>);

impl Workspace {
    /// A workspace already known (for tests of what depends on it).
    pub fn known(identity: Identity) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(identity);
        Self(Arc::new(cell))
    }

    /// A link to the message at `ts` in `channel` (its thread, for a thread's parent), as
    /// Slack writes permalinks: `{workspace url}archives/{channel}/p{ts without its dot}`.
    pub fn permalink(&self, channel: &str, ts: &str) -> Option<String> {
        let base = self.0.get()?.url.as_deref()?;
        Some(format!(
            "{}/archives/{channel}/p{}",
            base.trim_end_matches('/'),
            ts.replace('.', "")
        ))
    }

    pub fn identity(&self) -> Option<&Identity> {
        self.0.get()
    }

    /// Asks Slack whose the bot token is, and remembers it.
    pub async fn learn(&self, slack: &SlackApi) -> Result<&Identity, SlackCallError> {
        if let Some(known) = self.0.get() {
            return Ok(known);
        }
        let identity = slack.installation().await?;
        tracing::info!(team = %identity.team_id, app = ?identity.app_id, "serving this Slack workspace only");
        Ok(self.0.get_or_init(|| identity))
    }

    /// Whether a request from `team` (and, when it says, `app`) is served.
    pub fn admits(&self, team: &str, app: Option<&str>) -> Admission {
        let Some(me) = self.0.get() else {
            return Admission::NotYetKnown;
        };
        if team != me.team_id {
            return Admission::Refused;
        }
        match (app.filter(|a| !a.is_empty()), &me.app_id) {
            (Some(theirs), Some(mine)) if theirs != mine => Admission::Refused,
            _ => Admission::Admitted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tokens_team_and_app_are_admitted() {
        assert_eq!(
            Workspace::default().admits("T1", None),
            Admission::NotYetKnown
        );
        let ours = Workspace::known(Identity {
            team_id: "T1".into(),
            app_id: Some("A1".into()),
            url: Some("https://acme.slack.com/".into()),
        });
        assert_eq!(ours.admits("T1", Some("A1")), Admission::Admitted);
        assert_eq!(ours.admits("T1", None), Admission::Admitted);
        assert_eq!(ours.admits("T2", Some("A1")), Admission::Refused);
        assert_eq!(ours.admits("", None), Admission::Refused);
        assert_eq!(ours.admits("T1", Some("A2")), Admission::Refused);
        let team_only = Workspace::known(Identity {
            team_id: "T1".into(),
            app_id: None,
            url: None,
        });
        assert_eq!(team_only.admits("T1", Some("A9")), Admission::Admitted);
    }

    #[test]
    fn a_permalink_names_the_channel_and_the_ts_without_its_dot() {
        let ours = Workspace::known(Identity {
            team_id: "T1".into(),
            app_id: None,
            url: Some("https://acme.slack.com/".into()),
        });
        assert_eq!(
            ours.permalink("C123", "1700000000.000100").as_deref(),
            Some("https://acme.slack.com/archives/C123/p1700000000000100")
        );
        assert_eq!(Workspace::default().permalink("C1", "1.2"), None);
    }
}
