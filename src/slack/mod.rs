//! Slack: the Web API client, the shapes of commands and interactions, typed ids, request
//! signing and mrkdwn escaping. It imports nothing above it: how requests arrive lives in
//! [`crate::inbound`].

pub mod api;
pub mod command;
pub mod ids;
pub mod interaction;
pub mod mrkdwn;
pub mod signature;
