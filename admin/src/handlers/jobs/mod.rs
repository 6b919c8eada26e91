//! A job: its page, its form (new and edit), its delete, and the page's buttons (pause,
//! resume, run now).

pub(crate) mod actions;
pub(crate) mod delete;
pub(crate) mod edit;
pub(crate) mod new;
pub(crate) mod show;
