//! An execution: its page, and its status for the page's script.

pub(crate) mod show;
pub(crate) mod status;
