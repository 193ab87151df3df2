//! The stand-in for Tallyfy's API: `stand_ins::tallyfy`.
pub use stand_ins::tallyfy::*;
