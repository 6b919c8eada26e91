//! The table's layout, for operators (`psu-sched table`): its format and the due index's
//! shards (docs/data-model.md, "Shards of the due index"; docs/design/scale.md, 2.1 and 2.7).
//!
//! Raising the shard count is two-phase so that every item a writer indexes is in a shard
//! some tick reads: readers (ticks) query every shard of the new count at once, writers move
//! to it only at `shards_from`, [`SWITCH_AFTER`] later. The count never goes down. Items
//! already indexed stay where they are (a tick still reads them there) until their next write
//! or [`Ops::reshard`] moves them.

use chrono::{DateTime, Duration, Utc};

use super::Ops;
use super::error::{FieldError, OpsError};
use crate::store::layout::{MAX_SHARDS, ShardsError, TableMeta};
use crate::store::{DueIndexSwitch, NEW_TABLE_FORMAT, Resharded, SHARDED_FORMAT, rules};

/// How long after a raise writers start using the new shards: longer than a tick takes from
/// reading the layout to querying the due index, so that no tick that read the old count
/// queries after a writer used a new shard.
pub const SWITCH_AFTER: Duration = Duration::minutes(2);

/// How many times a raise re-reads the layout after losing a race with another raise.
const RAISE_ATTEMPTS: usize = 5;

/// What a raise did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardsRaised {
    /// The layout before.
    pub before: TableMeta,
    /// The layout after (the same when the count asked for was already the table's).
    pub after: TableMeta,
}

impl ShardsRaised {
    /// True when the table already had the count asked for.
    pub fn unchanged(&self) -> bool {
        self.before == self.after
    }
}

/// The layout as `table show --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableView {
    /// The format of the table's items.
    pub format: u64,
    /// The shards ticks read.
    pub shards: u32,
    /// The shards writers use now (until `shards_from`, when a raise is to take effect).
    pub shards_before: u32,
    /// When writers start using `shards` (RFC 3339), while a raise takes effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards_from: Option<String>,
    /// The layout's version (one more at every raise).
    pub version: u64,
    /// The due index ticks read on DynamoDB: `due` (projection ALL) or `due-keys` (keys
    /// only); absent for a store of one index ([`TableView::one_index`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_index: Option<&'static str>,
    /// The days executions are kept, as the table's ticks record it (DynamoDB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
}

/// What [`Ops::upgrade_table`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgraded {
    /// The apps the directory names.
    pub apps: usize,
    /// The layout after.
    pub meta: TableMeta,
    /// Where the ticks' due index stands.
    pub index: DueIndexSwitch,
}

impl TableView {
    /// The layout as it is at `now`: `shards_from` (and the writers' old count) only while
    /// the raise is still to take effect.
    pub fn at(meta: &TableMeta, now: DateTime<Utc>) -> Self {
        let pending = meta.shards_from.filter(|from| now < *from);
        Self {
            format: meta.format,
            shards: meta.shards,
            shards_before: meta.writer_shards(now),
            shards_from: pending.map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            version: meta.version,
            due_index: Some(if meta.keys_index { "due-keys" } else { "due" }),
            retention_days: meta.retention_days,
        }
    }

    /// The same view for a store of one index (SQLite): no due index named.
    pub fn one_index(self) -> Self {
        Self {
            due_index: None,
            ..self
        }
    }
}

/// Parses a shard count as typed.
pub fn parse_shards(text: &str) -> Result<u32, FieldError> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_SHARDS).contains(n))
        .ok_or_else(|| {
            FieldError::plain(
                "shards",
                format!("`{text}` is not accepted; use a whole number from 1 to {MAX_SHARDS}"),
            )
        })
}

impl Ops {
    /// The table's layout: its format and its due index's shards.
    pub async fn table_layout(&self) -> Result<TableMeta, OpsError> {
        self.store()
            .await?
            .table_meta()
            .await
            .map_err(OpsError::store("read the table's layout"))
    }

    /// Raises the due index's shard count to `shards` (typed), with writers switching
    /// `switch_after` after `now` (the wall clock: [`SWITCH_AFTER`] from the CLI). A table of
    /// more than one shard is [`SHARDED_FORMAT`], so that a version that reads only the first
    /// shard refuses it rather than leave the other shards' jobs uncalled. Refused, writing
    /// nothing, when the count is lower than the table's (it never goes down) or out of range;
    /// the table's own count again changes nothing.
    pub async fn raise_shards(
        &self,
        shards: &str,
        now: DateTime<Utc>,
        switch_after: Duration,
    ) -> Result<ShardsRaised, OpsError> {
        let to = parse_shards(shards)?;
        let store = self.store().await?;
        for _ in 0..RAISE_ATTEMPTS {
            let before = store
                .table_meta()
                .await
                .map_err(OpsError::store("read the table's layout"))?;
            // A later version's layout may mean more than this one knows: leave it alone.
            rules::check_table_format(before.format)
                .map_err(OpsError::store("raise the shard count"))?;
            if before.shards == to {
                return Ok(ShardsRaised {
                    before,
                    after: before,
                });
            }
            let mut after = before
                .raise(to, now + switch_after, now)
                .map_err(|e| match e {
                    ShardsError::Lower { .. } | ShardsError::OutOfRange(_) => {
                        FieldError::plain("shards", e.to_string())
                    }
                })?;
            if to > 1 {
                after.format = after.format.max(SHARDED_FORMAT);
            }
            let written = store
                .put_table_meta(&after, before.version)
                .await
                .map_err(OpsError::store("raise the shard count"))?;
            if written {
                return Ok(ShardsRaised { before, after });
            }
        }
        Err(OpsError::TableConflict)
    }

    /// Lets listings of every job read the app directory instead of scanning the table: raises
    /// the table to [`NEW_TABLE_FORMAT`] first (so that a version that writes no directory
    /// entries stops creating jobs), then writes an entry for every app with jobs (one Scan,
    /// once) and the directory's completion mark ([`Store::write_app_directory`]); last,
    /// switches ticks to the `KEYS_ONLY` due index if it is built ([`Store::switch_due_index`]).
    /// Re-runnable.
    ///
    /// [`Store::write_app_directory`]: crate::store::Store::write_app_directory
    /// [`Store::switch_due_index`]: crate::store::Store::switch_due_index
    /// `None` for a store that lists without a Scan anyway (SQLite).
    pub async fn upgrade_table(&self) -> Result<Option<Upgraded>, OpsError> {
        let store = self.store().await?;
        if !store.has_app_directory() {
            return Ok(None);
        }
        self.change_layout(|meta| TableMeta {
            format: meta.format.max(NEW_TABLE_FORMAT),
            ..*meta
        })
        .await?;
        let apps = store
            .write_app_directory()
            .await
            .map_err(OpsError::store("write the app directory"))?;
        let index = store
            .switch_due_index()
            .await
            .map_err(OpsError::store("switch the due index"))?;
        let meta = store
            .table_meta()
            .await
            .map_err(OpsError::store("read the table's layout"))?;
        Ok(Some(Upgraded { apps, meta, index }))
    }

    /// Writes `change` of the layout, conditional on the version read, reading again after
    /// losing a race; the layout as written (or as found, when `change` changes nothing).
    async fn change_layout(
        &self,
        change: impl Fn(&TableMeta) -> TableMeta,
    ) -> Result<TableMeta, OpsError> {
        let store = self.store().await?;
        for _ in 0..RAISE_ATTEMPTS {
            let before = store
                .table_meta()
                .await
                .map_err(OpsError::store("read the table's layout"))?;
            rules::check_table_format(before.format)
                .map_err(OpsError::store("change the table's layout"))?;
            let mut after = change(&before);
            if after == before {
                return Ok(before);
            }
            after.version = before.version + 1;
            let written = store
                .put_table_meta(&after, before.version)
                .await
                .map_err(OpsError::store("change the table's layout"))?;
            if written {
                return Ok(after);
            }
        }
        Err(OpsError::TableConflict)
    }

    /// Moves every indexed item that is not in its app's shard to it ([`Store::reshard`]);
    /// re-runnable. Returns what it did and the layout it moved items by.
    ///
    /// [`Store::reshard`]: crate::store::Store::reshard
    pub async fn reshard(&self) -> Result<(Resharded, TableMeta), OpsError> {
        let store = self.store().await?;
        let moved = store
            .reshard()
            .await
            .map_err(OpsError::store("move items to their shards"))?;
        let meta = store
            .table_meta()
            .await
            .map_err(OpsError::store("read the table's layout"))?;
        Ok((moved, meta))
    }
}
