//! # tallyfy-slack
//!
//! A Slack app that turns a conversation into tracked work in Tallyfy. A tour, top to
//! bottom; each module imports only from the modules below it.
//!
//! - `main.rs` parses the command line; [`startup`] builds the application from
//!   [`config`] ([`state`] makes every service once), hands the job engine the
//!   [`work::Performer`], and serves. [`check`] and [`manifest`] are the other commands.
//! - [`inbound`] is how requests arrive: [`inbound::http`] (signature check, body limit,
//!   routes, served by [`inbound::server`] with its timeouts and ceilings) and
//!   [`inbound::socket`] (Socket Mode) both hand what came to [`inbound::dispatch`], which
//!   refuses other workspaces and apps (and guests, unless allowed) and answers within
//!   Slack's 3 s. [`ops`] serves `/healthz`, `/readyz` and `/metrics` (on `METRICS_ADDR`
//!   when set).
//! - [`work`] names the job kinds and which flow performs each (and the Retry button).
//! - The flows, each owning its form, its submission, its job and its messages:
//!   [`task`] (`/task` and the shortcuts: [`task::modal`], [`task::submit`],
//!   [`task::work`], [`task::message`], [`task::whois`]) and [`project`] (`/project`: the
//!   same four, and [`project::lines`]). What a job kind does after the modal closes is in
//!   its flow's `work.rs`. [`home`] is the App Home tab (`app_home_opened`: the viewer's
//!   open tasks and recent projects). [`modals`] is what both forms share (opening one within the
//!   trigger id's 3 s, reading common fields, claiming a submission), with
//!   [`modals::options`] (the Options part: Tallyfy's flags, start, most assignees, tags
//!   and fields to fill in) and [`modals::marks`] (quick-text `#tags` and `!type`).
//! - The services the flows use: [`creation`] sends a creation to Tallyfy exactly once
//!   (record, send, look up before resending, backoff); [`courier`] posts every message
//!   (channel, thread, response URL, ephemeral, direct message); [`directory`] maps Slack
//!   people to Tallyfy members, and lists the organization's groups and tags, cached;
//!   [`runs`] is the projects a channel remembers; [`wording`] turns failures into words
//!   people can act on; [`visibility`] tells the channel as the work gets done (Tallyfy's
//!   webhooks, or reading the work, into the confirmation's thread), carries out the
//!   cards' Mark done, Reopen and Comment, and keeps what was made for whom.
//! - [`jobs`] is the engine, which knows no job kinds: it consumes the [`jobs::queue`]
//!   (a Redis stream every replica reads, or an in-process channel), claims, heartbeats,
//!   redelivers, gives up, drains and hands back; [`jobs::ledger`] names every key and
//!   value stored about a job.
//! - At the bottom, the outside world: [`slack`] (Web API client, payload types, typed
//!   ids, signature, mrkdwn, the one workspace served, which response URLs may be posted
//!   to), [`tallyfy`] (API client, models and a task's options, token renewal, rate
//!   budget, links, limits),
//!   [`store`] (Redis, or an in-process map) with [`schedule`] (the rate budget's rolling
//!   window), [`seal`] (what goes to Redis protected: tokens encrypted, jobs signed),
//!   [`deadline`] (date phrases), [`telemetry`] (logs and metrics) and [`tls`] (one TLS
//!   policy for every outbound connection).
//!
//! The stand-ins for Slack and Tallyfy and the sandbox are crates of their own.
//!
//! One `/task` submission, top-down: [`inbound::http`] verifies and parses ->
//! [`inbound::dispatch`] -> [`task::submit`] validates, claims and queues the job ->
//! [`jobs`] takes it -> [`work`] hands it to [`task::work`] -> [`creation`] sends it to
//! Tallyfy once -> [`courier`] tells the channel -> [`jobs::ledger`] records it was told.

pub mod check;
pub mod config;
pub mod courier;
pub mod creation;
pub mod deadline;
pub mod directory;
pub mod home;
pub mod inbound;
pub mod jobs;
pub mod manifest;
pub mod modals;
pub mod ops;
pub mod project;
pub mod runs;
pub mod schedule;
pub mod seal;
pub mod slack;
pub mod startup;
pub mod state;
pub mod store;
pub mod tallyfy;
pub mod task;
pub mod telemetry;
pub mod tls;
pub mod visibility;
pub mod wording;
pub mod work;
