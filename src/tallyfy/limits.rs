//! Tallyfy's own limits, stated once.

/// A task's or a process's `title`: at most this many characters.
pub const MAX_TITLE_CHARS: usize = 600;
/// Rows in one page of a list (`per_page`).
pub const MAX_PER_PAGE: u32 = 100;
