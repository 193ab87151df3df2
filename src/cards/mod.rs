//! A posted card's whole life, from "posted" to "done". A card is the confirmation a job
//! posts where the work was asked for; the channel then sees the work get done on it.
//!
//! - [`follow`]: the one call a flow's job makes once the work exists: it posts the card
//!   and keeps everything the rest needs (what its buttons act on, where it went, what the
//!   Home tabs list, that the job was told).
//! - [`buttons`]: every button and menu on a card and their action ids: Mark done while a
//!   task is open, Reopen once it is done, Comment; a project's card offers the same for
//!   each of its lines.
//! - [`mod@press`]: the one way in for a press; [`turn`] carries out Mark done and Reopen
//!   (only for the task's assignees, from what Tallyfy says of the task now), [`comment`]
//!   the comment form. What a completion needs first, from Tallyfy's state at the press
//!   ([`complete`]): an approval's decision (Approve, Reject with a reason), the required
//!   form fields, asked in a form ([`form`]) or left to Tallyfy when Slack cannot ask.
//! - News, once, in the card's thread and on the card ([`news`]), from Tallyfy's webhook
//!   ([`webhook`]) or, without a public URL (Socket Mode), from reading the work
//!   ([`poll`]). A reopening made from a card is told with who made it.
//! - [`store`]: the card's keys with typed values.

pub mod buttons;
pub mod comment;
mod complete;
pub mod follow;
pub mod form;
mod news;
mod poll;
pub mod press;
pub mod store;
mod turn;
pub mod webhook;

pub use follow::{post, CardTask, NewCard, ProjectListing, Replaced, Reply};
pub use poll::poll;
pub use press::press;
pub use store::Followed;
pub use webhook::{webhook_for, Received, ROUTE};
