//! An app record: its page, its form (new and edit), its pause and resume, its delete.

pub(crate) mod delete;
pub(crate) mod edit;
pub(crate) mod new;
pub(crate) mod pause;
pub(crate) mod show;
