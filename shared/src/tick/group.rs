//! What a tick works on: the due items of its group's shards (docs/data-model.md, "Shards of
//! the due index"; docs/design/scale.md, 2.3), each shard leased for the tick's minute first
//! when the tick is one of the scheduler's own ([`TickConfig::lease_shards`]).

use chrono::{DateTime, DurationRound, Utc};

use super::{TickConfig, chrono, token};
use crate::store::layout::TableMeta;
use crate::store::{DueItem, ShardLease, Store, StoreError};

/// How long a lease is held when the tick has no deadline of its own (`serve`): a tick that
/// died keeps its shard and minute that long; the next minute's tick has a lease of its own.
const LEASE_WITHOUT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The due items of the group's shards that this tick may work on, and the leases it took.
pub(super) struct GroupWork {
    /// Oldest first.
    pub items: Vec<DueItem>,
    /// The leases taken, given back if the tick fails.
    pub leases: Vec<ShardLease>,
    /// Shards with due items that another invocation holds for this minute: left to it.
    pub busy: u64,
}

/// Reads each of `config.group`'s shards among `meta`'s (one `Query` each on DynamoDB). With
/// [`TickConfig::lease_shards`] (never in a dry run), a shard with due items is worked only
/// once its lease for the minute ([`TickConfig::lease_minute`], else `now`'s) is taken;
/// another invocation's live lease leaves the shard to it (a duplicate delivery of the same
/// group and minute), so that an app, whose items are in one shard, is called by one tick at
/// a time within its budget.
pub(super) async fn due_of_group(
    store: &dyn Store,
    config: &TickConfig,
    meta: &TableMeta,
    now: DateTime<Utc>,
) -> Result<GroupWork, StoreError> {
    let mut work = GroupWork {
        items: Vec::new(),
        leases: Vec::new(),
        busy: 0,
    };
    let minute = config.lease_minute.unwrap_or(now);
    let minute = minute
        .duration_trunc(chrono::TimeDelta::minutes(1))
        .unwrap_or(minute);
    let holder = token();
    let shards = config.group.shards(meta.shards);
    if shards.is_empty() {
        tracing::warn!(
            group = %config.group,
            shards = meta.shards,
            "this group has no shard of the due index: the table has fewer shards than groups (raise them: psu-sched table shards --set N)"
        );
    }
    for shard in shards {
        let items = store.due_in(now, &[shard]).await?;
        if items.is_empty() {
            continue;
        }
        if config.lease_shards && !config.dry_run {
            let wall = Utc::now();
            let held_for = config
                .deadline
                .map(|d| d.saturating_duration_since(std::time::Instant::now()))
                .unwrap_or(LEASE_WITHOUT_DEADLINE);
            let lease = ShardLease {
                shard,
                minute,
                holder: holder.clone(),
                until: wall + chrono(held_for),
            };
            if !store.lease_shard(&lease, wall).await? {
                tracing::info!(
                    shard,
                    minute = %minute,
                    due = items.len(),
                    "another tick is working this shard for this minute; leaving it to it"
                );
                work.busy += 1;
                continue;
            }
            work.leases.push(lease);
        }
        work.items.extend(items);
    }
    work.items.sort_by_key(due_instant);
    Ok(work)
}

/// Gives back the leases of a tick that failed, so that a retry works the shards at once.
pub(super) async fn release(store: &dyn Store, leases: &[ShardLease]) {
    for lease in leases {
        if let Err(e) = store.release_shard(lease).await {
            tracing::warn!(shard = lease.shard, error = %e, "could not give back the shard's lease; it lapses at its deadline");
        }
    }
}

fn due_instant(item: &DueItem) -> Option<DateTime<Utc>> {
    match item {
        DueItem::Job(job) => job.index_at(),
        DueItem::Execution(e) => e.index_at(),
    }
}
