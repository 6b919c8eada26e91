//! `--group g/G` of `tick` and `serve`: the share of the due index's shards a process works on
//! (docs/data-model.md, "Shards of the due index"), so that several `serve` processes can
//! share one DynamoDB table.

use clap::Args;
use shared::ops::StoreSpec;
use shared::store::layout::Group;

use crate::{Failure, Result};

/// `--group`.
#[derive(Debug, Args)]
pub struct GroupArgs {
    /// Work on group g of G of the due index's shards (the shards k with k mod G = g), e.g.
    /// 0/2 and 1/2 for two processes on one table; default: every shard (0/1).
    #[arg(
        long,
        value_name = "g/G",
        env = "PSU_SCHED_GROUP",
        allow_hyphen_values = true
    )]
    pub group: Option<String>,
}

impl GroupArgs {
    /// The group asked for, or every shard. A SQLite store has one shard, group 0/1's: any
    /// other group of it would never call anything, so it is refused.
    pub fn group(&self, store: &StoreSpec) -> Result<Group> {
        let group = match self.group.as_deref() {
            None => Group::ALL,
            Some(text) => Group::parse(text)
                .map_err(|e| Failure::Input(format!("{e} (--group or PSU_SCHED_GROUP)")))?,
        };
        if group != Group::ALL && matches!(store, StoreSpec::Sqlite(_)) {
            return Err(Failure::Input(format!(
                "group `{group}`: a SQLite store has one shard, worked by group 0/1 (every process); groups split a DynamoDB table's shards"
            )));
        }
        Ok(group)
    }
}
