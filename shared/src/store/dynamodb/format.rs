//! The table-format marker: one item, `pk = META`, `sk = FORMAT`, whose `format` names the
//! format of the table's items ([`TABLE_FORMAT`]); docs/data-model.md, "The table's format".

use std::sync::PoisonError;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue as AV;

use super::DynamoStore;
use super::codec::{Item, n, s};
use crate::store::{StoreError, TABLE_FORMAT, rules};

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
        let found = match self
            .get_item(META_PK.to_owned(), FORMAT_SK.to_owned())
            .await?
        {
            None => 1,
            Some(item) => format_of(&item)?,
        };
        *self
            .format_known_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (found <= TABLE_FORMAT).then(Instant::now);
        Ok(found)
    }

    /// Before a write: refuses a table of a newer format ([`rules::check_table_format`]), from
    /// the marker read at most [`FORMAT_RECHECK`] ago or read now. An older CLI, admin or
    /// `run` thus writes nothing to a table a later version upgraded, as an older tick does.
    pub(super) async fn ensure_format(&self) -> Result<(), StoreError> {
        let fresh = self
            .format_known_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < FORMAT_RECHECK);
        if fresh {
            return Ok(());
        }
        rules::check_table_format(self.read_table_format().await?)
    }

    /// Writes the marker at [`TABLE_FORMAT`]: a new table's, written by `create_table`.
    pub(super) async fn write_table_format(&self) -> Result<(), StoreError> {
        let format = i64::try_from(TABLE_FORMAT).unwrap_or(i64::MAX);
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(META_PK))
            .item("sk", s(FORMAT_SK))
            .item("kind", s("meta"))
            .item("format", n(format))
            .send()
            .await
            .map_err(|e| self.failed("PutItem", e))?;
        Ok(())
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
