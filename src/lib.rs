//! # tallyfy-slack
//!
//! A Slack app that turns a conversation into tracked work in Tallyfy. A tour:
//!
//! - [`startup`] builds the application from [`config`] and serves it; `main.rs` only
//!   parses the command line and calls it.
//! - [`slack`] is everything Slack: [`slack::signature`] checks every request,
//!   [`slack::routes`] answers Slack's HTTP calls within its 3 s (through [`dispatch`],
//!   which the Socket Mode connection shares), [`slack::command`] and
//!   [`slack::interaction`] parse what Slack sends, [`slack::api`] calls the Web API, and
//!   [`slack::mrkdwn`] escapes user text before it is posted.
//! - [`task`] is the `/task` flow and [`project`] the `/project` flow: their modals, their
//!   validation, their messages. [`modals`] opens either from a command within Slack's 3 s.
//!   They are transport-free, so HTTP and Socket Mode can share them.
//! - [`jobs`] does the work after the modal closes: the one place that creates work in
//!   Tallyfy, exactly once, and reports the outcome to the channel or the requester. Jobs
//!   travel on the [`queue`] (a Redis stream every replica reads, or an in-process channel).
//! - [`tallyfy`] is the Tallyfy API client and its typed requests and responses.
//! - [`directory`] maps Slack users to Tallyfy members, cached in the [`store`] (Redis, or
//!   an in-process map for a single replica).
//! - [`deadline`] reads date phrases and writes Tallyfy's deadline format.
//! - [`check`] and [`manifest`] are the `check` and `manifest` sub-commands.
//! - [`ops`] serves `/healthz`, `/readyz` and `/metrics`; [`telemetry`] sets up logs and
//!   metrics.

pub mod check;
pub mod config;
pub mod courier;
pub mod creation;
pub mod deadline;
pub mod directory;
pub mod inbound;
pub mod jobs;
pub mod manifest;
pub mod modals;
pub mod ops;
pub mod project;
pub mod runs;
pub mod slack;
pub mod startup;
pub mod state;
pub mod store;
pub mod tallyfy;
pub mod task;
pub mod telemetry;
pub mod wording;
pub mod work;
