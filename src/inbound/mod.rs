//! How requests arrive: Slack's HTTP calls ([`http`], served by [`server`]) and the Socket
//! Mode connection ([`socket`]). Both verify or authenticate, parse, and hand what arrived to [`dispatch`],
//! which answers within Slack's 3 s and hands slow work to the flows.

pub mod dispatch;
pub mod http;
pub mod monitoring;
pub mod server;
pub mod socket;
pub mod standing;
