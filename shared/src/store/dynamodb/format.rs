//! The table-format marker: one item, `pk = META`, `sk = FORMAT`, whose `format` names the
//! format of the table's items ([`TABLE_FORMAT`]); docs/data-model.md, "The table's format".

use aws_sdk_dynamodb::types::AttributeValue as AV;

use super::DynamoStore;
use super::codec::{Item, n, s};
use crate::store::{StoreError, TABLE_FORMAT};

/// The marker's partition: no job (`APP#`), execution (`JOB#`) or app record (`APPS`) shares it.
pub(super) const META_PK: &str = "META";
/// The marker's sort key.
pub(super) const FORMAT_SK: &str = "FORMAT";

impl DynamoStore {
    /// `Store::table_format`: one consistent GetItem of the marker; 1 without one.
    pub(super) async fn read_table_format(&self) -> Result<u64, StoreError> {
        match self
            .get_item(META_PK.to_owned(), FORMAT_SK.to_owned())
            .await?
        {
            None => Ok(1),
            Some(item) => format_of(&item),
        }
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
        Some(AV::N(value)) => value.parse().map_err(|_| {
            StoreError::Malformed(format!(
                "the table-format marker's format `{value}` is not a whole number"
            ))
        }),
        _ => Err(StoreError::Malformed(
            "the table-format marker (pk META, sk FORMAT) has no numeric `format`".to_owned(),
        )),
    }
}
