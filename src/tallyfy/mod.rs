//! Tallyfy: the API client, its request and response shapes, and its errors.

mod auth;
pub mod budget;
mod client;
mod error;
pub mod fields;
mod grant;
pub mod limits;
pub mod links;
pub mod model;
pub mod options;
pub mod templates;

pub use client::TallyfyClient;
pub use error::TallyfyError;
pub use links::Links;
