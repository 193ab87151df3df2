//! Slack: the Web API client, the shapes of commands and interactions, typed ids, request
//! signing and mrkdwn escaping. It imports nothing above it: how requests arrive lives in
//! [`crate::inbound`].

pub mod api;
pub mod command;
pub mod ids;
pub mod interaction;
pub mod mrkdwn;
pub mod response_url;
pub mod signature;
pub mod workspace;

/// Block Kit's limits this app sizes its messages to, stated once (Slack's Block Kit
/// reference pages).
pub mod limits {
    /// A section block's `text`, counted as posted (escaped).
    pub const SECTION_TEXT: usize = 3000;
    /// Blocks in one message.
    pub const MESSAGE_BLOCKS: usize = 50;
    /// A message's top-level `text`.
    pub const MESSAGE_TEXT: usize = 40_000;
    /// How much of a title a message shows; Tallyfy has the whole of it.
    pub const SHOWN_TITLE: usize = 200;
}
