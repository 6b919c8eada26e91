//! The retention the tick keeps executions for, recorded in the table's layout so that a
//! CLI's backfill knows how deep the history is (docs/cli.md, "Backfill").

use super::TickConfig;
use crate::store::Store;
use crate::store::layout::TableMeta;

/// Records the tick's retention in the table's layout when it differs from what is recorded
/// (one conditional write, on a change only), so that a CLI's backfill knows how long the
/// history is kept. A store without a layout item (SQLite, memory) keeps none. Best effort:
/// a failure or a lost race is left to the next tick.
pub(super) async fn record(store: &dyn Store, config: &TickConfig, meta: &TableMeta) {
    let days = u32::try_from(config.retention.as_secs() / 86_400).unwrap_or(u32::MAX);
    if !store.has_app_directory() || days == 0 || meta.retention_days == Some(days) {
        return;
    }
    let recorded = TableMeta {
        retention_days: Some(days),
        version: meta.version + 1,
        ..*meta
    };
    if let Err(e) = store.put_table_meta(&recorded, meta.version).await {
        tracing::warn!(error = %e, "could not record the retention in the table's layout; the next tick tries again");
    }
}
