//! What the black-box tests share, by what it helps with:
//!
//! - [`app`]: `spawn_app()` and its variants start the real application on port 0, with its
//!   own fake Slack, fake Tallyfy and Redis key prefix; [`TestApp`] talks to it as Slack
//!   would.
//! - [`payloads`]: what Slack sends: modal submissions, slash-command bodies, button presses.
//! - [`messages`]: what the app shows in Slack: [`Message`] reads a message it sent by what
//!   it means (`body()`, `link()`, `retry_key()`), and [`block`] finds a modal's block.
//! - [`waiting`]: waiting for something to happen (`eventually`, `announced`) rather than
//!   for a length of time; `TestApp::idle` waits until a replica has done everything it was
//!   asked, before a test checks that nothing else happened.
//! - [`redis`]: the shared Redis every test uses under a key prefix of its own, and
//!   [`OwnRedis`], a Redis process a test can pause and restart.
//! - [`redis_ha`]: a Redis Cluster ([`OwnCluster`]) and a primary with a replica behind
//!   three sentinels ([`OwnSentinels`]), started by the test on free ports.
//! - [`shared_redis`]: which Redis the suite shares (one server, a cluster or sentinels,
//!   chosen by `TEST_REDIS_*`), and [`shared_conn`], a test's own connection to it.
//!
//! Test files import what they need with `use crate::helpers::*;`.

mod app;
mod messages;
mod payloads;
mod redis;
mod redis_ha;
mod shared_redis;
mod waiting;

pub use self::app::*;
pub use self::messages::*;
pub use self::payloads::*;
pub use self::redis::*;
pub use self::redis_ha::*;
pub use self::shared_redis::*;
pub use self::waiting::*;
