//! `--group g/G` of `tick` and `serve`: the share of the due index's shards a process works on
//! (docs/data-model.md, "Shards of the due index"), so that several `serve` processes can
//! share one DynamoDB table.

use clap::Args;
use shared::store::layout::Group;

use crate::{Failure, Result};

/// `--group`.
#[derive(Debug, Args)]
pub struct GroupArgs {
    /// Work on group g of G of the due index's shards (the shards k with k mod G = g), e.g.
    /// 0/2 and 1/2 for two processes on one table; default: every shard (0/1).
    #[arg(long, value_name = "g/G", env = "PSU_SCHED_GROUP")]
    pub group: Option<String>,
}

impl GroupArgs {
    /// The group asked for, or every shard.
    pub fn group(&self) -> Result<Group> {
        match self.group.as_deref() {
            None => Ok(Group::ALL),
            Some(text) => Group::parse(text).map_err(|e| Failure::Input(e.to_string())),
        }
    }
}
