//! The table's names, which the item codec, the table's creation and the requests share: the
//! due index and its key attributes, the TTL attribute, the app records' partition. Kept apart
//! so that `codec.rs` and `table.rs` each depend on it and not on each other.

/// The due index with projection `ALL`: what ticks read until `table upgrade` switches them
/// to [`DUE_KEYS_INDEX`] (`META.due_index`), and what tables made by the template before
/// format 3's index have.
pub const DUE_INDEX: &str = "due";
/// The due index with projection `KEYS_ONLY`, on the same key attributes: a write that leaves
/// an item's index key as it was writes no index entry (docs/data-model.md, "The due index").
pub const DUE_KEYS_INDEX: &str = "due-keys";
/// The due index's partition key attribute: [`DUE`] on every item the tick has to look at.
pub(super) const GSI_PK: &str = "gsi1pk";
/// The due index's sort key attribute: when the item is due (epoch milliseconds).
pub(super) const GSI_SK: &str = "gsi1sk";
/// The due index's one partition (shard 0's key once the index is sharded:
/// [`crate::store::layout::FIRST_SHARD_KEY`]).
pub(super) const DUE: &str = crate::store::layout::FIRST_SHARD_KEY;
/// The TTL attribute (epoch seconds) on executions.
pub const TTL_ATTRIBUTE: &str = "expires";
/// The one partition of every app record: `list_apps` is one Query of it. Job partitions are
/// `APP#<app>` and execution partitions `JOB#<id>`, so no other item can fall in it.
pub const APPS_PK: &str = "APPS";
