//! The stand-in for Slack's Web API: `stand_ins::slack`.
pub use stand_ins::slack::*;
