//! Stand-ins for Slack's Web API and Tallyfy's API that behave as their owners document
//! them, each rule with its source: [`slack::FakeSlack`] and [`tallyfy::FakeTallyfy`].
//! The black-box tests run the application against them, and so does
//! `tallyfy-slack sandbox`, so there is one set of stand-ins and it stays faithful.
//!
//! Built with the `sandbox` cargo feature (on by default; the container image is built
//! without it).

pub mod slack;
pub mod tallyfy;
