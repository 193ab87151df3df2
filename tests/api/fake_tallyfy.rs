//! The stand-in for Tallyfy's API: `tallyfy_slack::sandbox::tallyfy`.
pub use tallyfy_slack::sandbox::tallyfy::*;
