//! Stand-ins for the services tallyfy-slack talks to: [`slack::FakeSlack`] for Slack's Web
//! API and [`tallyfy::FakeTallyfy`] for Tallyfy's API. Each behaves as its owner documents
//! it, each rule with its source. The black-box tests and the benchmark run the application
//! against them, and so does the sandbox, so there is one set of stand-ins and it stays
//! faithful.
//!
//! This crate knows nothing of tallyfy-slack: it speaks only HTTP (and Socket Mode's
//! WebSocket) on loopback, as Slack and Tallyfy do. `bench-upstream` is the benchmark's
//! lighter stand-in (`bench/run`).

pub mod slack;
pub mod tallyfy;
