//! The stand-in for Slack's Web API: `tallyfy_slack::sandbox::slack`.
pub use tallyfy_slack::sandbox::slack::*;
