//! A job: its page, its form (new and edit), its delete, the page's buttons (pause,
//! resume, run now), its backfill, and the overview's bulk actions on several jobs.

pub(crate) mod actions;
pub(crate) mod backfill;
pub(crate) mod bulk;
pub(crate) mod delete;
pub(crate) mod edit;
pub(crate) mod new;
pub(crate) mod show;
