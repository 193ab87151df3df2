//! Slack: request signing, the shapes of commands and interactions, the Web API client,
//! mrkdwn escaping, and the HTTP routes Slack calls.

pub mod api;
pub mod command;
pub mod interaction;
pub mod mrkdwn;
pub mod routes;
pub mod signature;
pub mod socket;
