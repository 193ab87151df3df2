//! # tallyfy-slack
//!
//! A Slack app that turns a conversation into tracked work in Tallyfy. A tour, top to
//! bottom; each module imports only from the modules below it, and no two files name each
//! other's items (`scripts/check-layout` holds both).
//!
//! - `main.rs` parses the command line; [`startup`] builds the application from
//!   [`config`] ([`state`] makes every service once), hands the job engine the
//!   [`job_kinds::Performer`], and serves. [`check`] and [`manifest`] are the other commands.
//! - [`inbound`] is how requests arrive: [`inbound::http`] (signature check, body limit,
//!   routes, served by [`inbound::server`] with its timeouts and ceilings) and
//!   [`inbound::socket`] (Socket Mode) both hand what came to [`inbound::dispatch`], which
//!   refuses other workspaces and apps (and guests, unless allowed), answers within
//!   Slack's 3 s, and routes. [`inbound::monitoring`] serves `/healthz`, `/readyz` and
//!   `/metrics` (on `METRICS_ADDR` when set).
//! - [`job_kinds`] names the job kinds and which flow performs each (and the Retry button).
//! - The flows, each owning its form, its submission, its job and its messages:
//!   [`task`] (`/task` and the shortcuts: [`task::modal`], [`task::submit`], [`task::job`],
//!   [`task::message`], [`task::whois`]) and [`project`] (`/project`: the same four, and
//!   [`project::lines`]). [`modals`] is what both forms share (opening one within the
//!   trigger id's 3 s, reading common fields, claiming a submission), with
//!   [`modals::options`] (the Options part: Tallyfy's flags, start, most assignees, tags
//!   and fields to fill in) and [`modals::quick_text`] (quick-text `#tags` and `!type`).
//! - [`cards`] owns a posted card's whole life: a flow's job hands it over in one call
//!   ([`cards::post`]); every press of its buttons comes in through [`cards::press()`];
//!   Tallyfy's webhook and the poller tell its news once, in its thread and on the card.
//!   [`home`] is the App Home tab (`app_home_opened`: the viewer's open tasks and recent
//!   projects, and their work in Tallyfy), reading the lists in [`worklists`].
//! - The services the flows use: [`create_once`] sends a creation to Tallyfy exactly once
//!   (record, send, look up before resending, backoff); [`courier`] posts every message
//!   (channel, thread, response URL, ephemeral, direct message); [`directory`] maps Slack
//!   people to Tallyfy members, and lists the organization's groups and tags, cached;
//!   [`channel_projects`] is the projects a channel remembers; [`failures`] turns
//!   failures into words people can act on.
//! - [`jobs`] is the engine, which knows no job kinds: it consumes the [`jobs::queue`]
//!   (a Redis stream every replica reads, or an in-process channel), claims, heartbeats,
//!   redelivers, gives up, drains and hands back; [`jobs::ledger`] names the keys it keeps
//!   about a job.
//! - At the bottom, the outside world: [`slack`] (Web API client, payload types, typed
//!   ids, signature, mrkdwn, the one workspace served, which response URLs may be posted
//!   to), [`tallyfy`] (API client, models and a task's options, token renewal, rate
//!   budget, links, limits), [`store`] (Redis, or an in-process map, and the rate
//!   budget's rolling window), [`seal`] (what goes to Redis protected: tokens encrypted,
//!   jobs signed), [`deadline`] (date phrases), [`clock`] (the time of day, which tests
//!   set), [`telemetry`] (logs and metrics) and
//!   [`tls`] (one TLS policy for every outbound connection).
//!
//! The stand-ins for Slack and Tallyfy that the tests run against, and the sandbox that
//! runs this application against them, are crates of their own (`stand-ins/`,
//! `sandbox/`): nothing of theirs is in this crate. Every key the service stores is
//! listed in `docs/keys.md`.
//!
//! One `/task` submission, top-down: [`inbound::http`] verifies and parses ->
//! [`inbound::dispatch`] -> [`task::submit`] validates, claims and queues the job ->
//! [`jobs`] takes it -> [`job_kinds`] hands it to [`task::job`] -> [`create_once`] sends it
//! to Tallyfy once -> [`cards::post`] posts the card through [`courier`] and follows it.
//! A Mark done: [`inbound::dispatch`] -> [`cards::press()`] -> Tallyfy -> the card's thread.

// The tour names the crate's internals: `cargo doc --document-private-items` shows them.
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod alerts;
pub(crate) mod cards;
pub(crate) mod channel_projects;
pub mod check;
pub mod clock;
pub mod config;
pub(crate) mod courier;
pub(crate) mod create_once;
pub mod deadline;
pub mod directory;
pub(crate) mod failures;
pub(crate) mod home;
pub(crate) mod inbound;
pub(crate) mod job_kinds;
pub mod jobs;
pub mod manifest;
pub(crate) mod modals;
pub(crate) mod project;
pub mod seal;
pub mod slack;
pub mod startup;
pub(crate) mod state;
pub mod store;
pub mod tallyfy;
pub(crate) mod task;
pub mod telemetry;
pub mod tls;
pub(crate) mod worklists;
