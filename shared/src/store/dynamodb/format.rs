//! The table-format marker: one item, `pk = META`, `sk = FORMAT`, whose `format` names the
//! format of the table's items ([`TABLE_FORMAT`]); docs/data-model.md, "The table's format".

use std::sync::PoisonError;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue as AV;

use chrono::Utc;

use super::codec::{Item, n, s, ts};
use super::keys::{DUE_INDEX, DUE_KEYS_INDEX};
use super::{DynamoStore, is_condition_failure};
use crate::model::AppName;
use crate::store::layout::{DEFAULT_RETENTION_DAYS, MAX_SHARDS, TableMeta, shard_key, shard_of};
use crate::store::{NEW_TABLE_FORMAT, StoreError, TABLE_FORMAT, rules};

/// How long a process trusts a format it read before its next write reads the marker again:
/// a long-lived admin or `serve` notices an upgrade within a minute.
const FORMAT_RECHECK: Duration = Duration::from_secs(60);

/// The marker's partition: no job (`APP#`), execution (`JOB#`) or app record (`APPS`) shares it.
pub(super) const META_PK: &str = "META";
/// The marker's sort key.
pub(super) const FORMAT_SK: &str = "FORMAT";

impl DynamoStore {
    /// `Store::table_format`: one consistent GetItem of the marker; 1 without one. A format
    /// this version knows is remembered for [`FORMAT_RECHECK`], so the writes that follow (a
    /// tick's) read it no second time.
    pub(super) async fn read_table_format(&self) -> Result<u64, StoreError> {
        Ok(self.read_table_meta().await?.format)
    }

    /// `Store::table_meta`: the table's layout as its `META` item records it, one consistent
    /// GetItem; [`TableMeta::LEGACY`] without the item (docs/design/scale.md, 2.1). A layout of
    /// a format this version knows is kept for the writes of the next [`FORMAT_RECHECK`].
    pub(super) async fn read_table_meta(&self) -> Result<TableMeta, StoreError> {
        let meta = match self
            .get_item(META_PK.to_owned(), FORMAT_SK.to_owned())
            .await?
        {
            None => TableMeta::LEGACY,
            Some(item) => meta_of(&item)?,
        };
        *self
            .meta_known
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            (meta.format <= TABLE_FORMAT).then(|| (Instant::now(), meta));
        Ok(meta)
    }

    /// The layout read at most [`FORMAT_RECHECK`] ago (a tick reads it first), or read now:
    /// which due index to query.
    pub(super) async fn recent_meta(&self) -> Result<TableMeta, StoreError> {
        let known = *self
            .meta_known
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match known {
            Some((at, meta)) if at.elapsed() < FORMAT_RECHECK => Ok(meta),
            _ => self.read_table_meta().await,
        }
    }

    /// Before a write: refuses a table of a newer format ([`rules::check_table_format`]), from
    /// the marker read at most [`FORMAT_RECHECK`] ago or read now. An older CLI, admin or
    /// `run` thus writes nothing to a table a later version upgraded, as an older tick does.
    /// Also what [`DynamoStore::index_key`] reads the shard count from.
    pub(super) async fn ensure_format(&self) -> Result<(), StoreError> {
        let fresh = self
            .meta_known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|(at, _)| at.elapsed() < FORMAT_RECHECK);
        if fresh {
            return Ok(());
        }
        rules::check_table_format(self.read_table_format().await?)
    }

    /// The due index's partition key for an item of `app` written now: its app's shard among
    /// the shards writers use at this instant ([`TableMeta::writer_shards`]), by the layout
    /// last read ([`DynamoStore::ensure_format`], before every write); `DUE` when none was
    /// read. A layout read before a raise gives the old, smaller count: readers query every
    /// shard of the new one, so the item is found either way.
    pub(super) fn index_key(&self, app: &AppName) -> String {
        let meta = self
            .meta_known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map_or(TableMeta::LEGACY, |(_, meta)| meta);
        shard_key(shard_of(app, meta.writer_shards(Utc::now())))
    }

    /// Writes the marker at [`NEW_TABLE_FORMAT`], ticks reading [`DUE_KEYS_INDEX`]: a new
    /// table's, written by `create_table` (which makes that index alone).
    pub(super) async fn write_table_format(&self) -> Result<(), StoreError> {
        let format = i64::try_from(NEW_TABLE_FORMAT).unwrap_or(i64::MAX);
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(META_PK))
            .item("sk", s(FORMAT_SK))
            .item("kind", s("meta"))
            .item("format", n(format))
            .item("due_index", s(DUE_KEYS_INDEX))
            // The default retention, which a tick configured otherwise records over.
            .item("retention_days", n(i64::from(DEFAULT_RETENTION_DAYS)))
            .send()
            .await
            .map_err(|e| self.failed("PutItem", e))?;
        Ok(())
    }

    /// `Store::put_table_meta`: one UpdateItem of the `META` item, conditional on its version
    /// (an item without one, or no item, is version 0). Attributes it does not name (a later
    /// version's) are kept.
    pub(super) async fn write_table_meta(
        &self,
        meta: &TableMeta,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let number = |v: u64| n(i64::try_from(v).unwrap_or(i64::MAX));
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(META_PK))
            .key("sk", s(FORMAT_SK))
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#format", "format")
            .expression_attribute_names("#shards", "shards")
            .expression_attribute_names("#before", "shards_before")
            .expression_attribute_names("#from", "shards_from")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#index", "due_index")
            .expression_attribute_values(":kind", s("meta"))
            .expression_attribute_values(":index", s(index_name(meta)))
            .expression_attribute_values(":format", number(meta.format))
            .expression_attribute_values(":shards", number(u64::from(meta.shards)))
            .expression_attribute_values(":before", number(u64::from(meta.shards_before)))
            .expression_attribute_values(":version", number(meta.version))
            .expression_attribute_values(":read", number(expected_version));
        let mut set = "SET #kind = :kind, #format = :format, #shards = :shards, \
                       #before = :before, #version = :version, #index = :index"
            .to_owned();
        if let Some(days) = meta.retention_days {
            set.push_str(", #retention = :retention");
            update = update
                .expression_attribute_names("#retention", "retention_days")
                .expression_attribute_values(":retention", number(u64::from(days)));
        }
        match meta.shards_from {
            Some(from) => {
                set.push_str(", #from = :from");
                update = update.expression_attribute_values(":from", ts(from));
            }
            None => set.push_str(" REMOVE #from"),
        }
        let condition = if expected_version == 0 {
            "attribute_not_exists(#version) OR #version = :read"
        } else {
            "#version = :read"
        };
        let result = update
            .update_expression(set)
            .condition_expression(condition)
            .send()
            .await;
        match result {
            Ok(_) => {
                *self
                    .meta_known
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), *meta));
                Ok(true)
            }
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(self.failed("UpdateItem", e)),
        }
    }
}

/// The `META` item as a [`TableMeta`]: absent shard attributes are one shard, no raise.
fn meta_of(item: &Item) -> Result<TableMeta, StoreError> {
    let malformed = |what: &str| StoreError::Malformed(format!("the table's META item: {what}"));
    let number = |name: &str| -> Result<Option<u64>, StoreError> {
        match item.get(name) {
            None => Ok(None),
            Some(AV::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| malformed(&format!("`{name}` = `{v}` is not a whole number"))),
            Some(_) => Err(malformed(&format!("`{name}` is not a number"))),
        }
    };
    let count = |name: &str| -> Result<Option<u32>, StoreError> {
        number(name)?
            .map(|n| {
                u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=MAX_SHARDS).contains(n))
                    .ok_or_else(|| {
                        malformed(&format!("`{name}` = {n} is not from 1 to {MAX_SHARDS}"))
                    })
            })
            .transpose()
    };
    let shards = count("shards")?.unwrap_or(1);
    let shards_before = count("shards_before")?.unwrap_or(shards);
    if shards_before > shards {
        return Err(malformed("`shards_before` is more than `shards`"));
    }
    let shards_from = match item.get("shards_from") {
        None => None,
        Some(AV::S(text)) => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| malformed(&format!("`shards_from` = `{text}` is not RFC 3339")))?
                .with_timezone(&chrono::Utc),
        ),
        Some(_) => return Err(malformed("`shards_from` is not a string")),
    };
    let keys_index = match item.get("due_index") {
        None => false,
        Some(AV::S(name)) if name == DUE_INDEX => false,
        Some(AV::S(name)) if name == DUE_KEYS_INDEX => true,
        Some(other) => {
            let found = match other {
                AV::S(name) => format!("`{name}`"),
                _ => "not a string".to_owned(),
            };
            return Err(malformed(&format!(
                "`due_index` is {found}, not `{DUE_INDEX}` or `{DUE_KEYS_INDEX}`"
            )));
        }
    };
    let retention_days = number("retention_days")?
        .map(|days| {
            u32::try_from(days).ok().filter(|d| *d >= 1).ok_or_else(|| {
                malformed(&format!(
                    "`retention_days` = {days} is not a number of days"
                ))
            })
        })
        .transpose()?;
    Ok(TableMeta {
        format: format_of(item)?,
        shards,
        shards_before,
        shards_from,
        version: number("version")?.unwrap_or(0),
        keys_index,
        retention_days,
    })
}

/// The name of the due index ticks read by `meta`.
pub(super) fn index_name(meta: &TableMeta) -> &'static str {
    if meta.keys_index {
        DUE_KEYS_INDEX
    } else {
        DUE_INDEX
    }
}

fn format_of(item: &Item) -> Result<u64, StoreError> {
    match item.get("format") {
        Some(AV::N(value)) => value.parse().ok().filter(|f| *f >= 1).ok_or_else(|| {
            StoreError::Malformed(format!(
                "the table-format marker's format `{value}` is not a format: a whole number from 1 to {}",
                u64::MAX
            ))
        }),
        _ => Err(StoreError::Malformed(
            "the table-format marker (pk META, sk FORMAT) has no numeric `format`".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(format: AV) -> Item {
        Item::from([("format".to_owned(), format)])
    }

    #[test]
    fn the_meta_item_reads_as_one_shard_unless_it_says_more() {
        let mut item = marker(AV::N("1".into()));
        assert_eq!(meta_of(&item).ok(), Some(TableMeta::LEGACY));
        item.insert("shards".into(), AV::N("8".into()));
        item.insert("shards_before".into(), AV::N("4".into()));
        item.insert("shards_from".into(), AV::S("2027-01-10T09:02:00Z".into()));
        item.insert("version".into(), AV::N("7".into()));
        let meta = meta_of(&item).expect("a layout");
        assert_eq!((meta.shards, meta.shards_before, meta.version), (8, 4, 7));
        assert_eq!(
            meta.shards_from.map(|t| t.to_rfc3339()).as_deref(),
            Some("2027-01-10T09:02:00+00:00")
        );
        assert!(!meta.keys_index, "no `due_index`: the `ALL` index");
        item.insert("due_index".into(), AV::S("due-keys".into()));
        assert!(meta_of(&item).expect("a layout").keys_index);
        for (name, bad) in [
            ("shards", AV::N("0".into())),
            ("shards", AV::N("2000".into())),
            ("shards_before", AV::N("9".into())),
            ("shards_from", AV::S("soon".into())),
            ("version", AV::S("7".into())),
            ("due_index", AV::S("due-values".into())),
        ] {
            let mut broken = item.clone();
            broken.insert(name.into(), bad);
            let err = meta_of(&broken).expect_err(name);
            assert!(err.to_string().contains("META item"), "{name}: {err}");
        }
        // The value found is named.
        let mut broken = item.clone();
        broken.insert("due_index".into(), AV::S("due-values".into()));
        let err = meta_of(&broken).expect_err("bogus index").to_string();
        assert!(err.contains("`due-values`"), "{err}");
    }

    #[test]
    fn a_marker_names_a_format_from_1_or_it_is_malformed() {
        assert_eq!(format_of(&marker(AV::N("1".into()))).ok(), Some(1));
        assert_eq!(format_of(&marker(AV::N("1000".into()))).ok(), Some(1000));
        for bad in ["0", "-1", "1.5", "99999999999999999999999999"] {
            let err = format_of(&marker(AV::N(bad.into()))).expect_err(bad);
            assert!(
                err.to_string()
                    .contains("is not a format: a whole number from 1"),
                "{bad}: {err}"
            );
        }
        assert!(format_of(&marker(AV::S("2".into()))).is_err());
        assert!(format_of(&Item::new()).is_err());
    }
}
