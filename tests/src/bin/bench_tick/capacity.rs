//! What DynamoDB requests would consume on DynamoDB itself: item sizes, read and write
//! units, and a replay of a tick's requests that works out each write's item before and
//! after it.
//!
//! The rules, from the DynamoDB Developer Guide (docs.aws.amazon.com/amazondynamodb, pages
//! named below):
//! - item size ("DynamoDB item sizes and formats", `CapacityUnitCalculations.html`): the sum
//!   over attributes of the name's UTF-8 length plus the value's size. S: UTF-8 bytes;
//!   N: about one byte per two significant digits (leading and trailing zeros trimmed) plus
//!   one; B: raw bytes (not base64); BOOL and NULL: 1; L and M: 3 bytes plus their elements,
//!   plus 1 byte per element (a map element's size includes its name).
//! - units ("DynamoDB read and write operations", `read-write-operations.html`): a write is
//!   one unit per started 1 KB of the item, PutItem and UpdateItem counting the larger of
//!   the item before and after; a failed conditional write still consumes (the existing
//!   item's size, at least one unit); a transactional write costs twice. A read is one unit
//!   per started 4 KB (half for an eventually consistent one); a Query adds up the sizes of
//!   the items it reads and rounds once per request; a BatchGetItem rounds each item, as
//!   that many GetItems. Global secondary indexes are always
//!   read eventually consistently.
//! - index writes ("Global secondary indexes", `GSI.html#GSI.Writes`): a table write that
//!   changes an item the index holds also writes the index; an item entering or leaving a
//!   sparse index is one index write, a change of the index key two (a delete and a put).
//!   The index entry's size is that of its projected attributes: with projection ALL, the
//!   whole item. An entry changed in place is charged on the larger of its two images, an
//!   entry left as it was costs nothing (rules captured against DynamoDB by the dynoxide
//!   emulator's conformance suite, `src/actions/index_capacity.rs`).
//! - Assumed, not documented: the index writes caused by a transaction are not doubled
//!   (the guide says a transaction's changes propagate to the indexes after it commits).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue as AV;
use serde_json::Value;

/// A DynamoDB item.
pub type Item = HashMap<String, AV>;

/// A write unit covers 1 KB of item.
pub const WRITE_UNIT_BYTES: usize = 1024;
/// A read unit covers 4 KB of item.
pub const READ_UNIT_BYTES: usize = 4096;

/// The size of an item in bytes, by DynamoDB's published rules (see the module docs).
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AV) -> usize {
    match value {
        AV::S(s) => s.len(),
        AV::N(n) => number_size(n),
        AV::B(b) => b.as_ref().len(),
        AV::Bool(_) | AV::Null(_) => 1,
        AV::Ss(set) => set.iter().map(String::len).sum(),
        AV::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AV::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        AV::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AV::M(map) => {
            3 + map
                .iter()
                .map(|(name, v)| 1 + name.len() + value_size(v))
                .sum::<usize>()
        }
        // A type added to the SDK after this was written: not sized.
        _ => 0,
    }
}

/// A number's size: one byte per two significant digits, rounded up, plus one. Leading and
/// trailing zeros are trimmed; sign, decimal point and exponent are not digits. DynamoDB
/// calls this approximate: it stores base-100 digits aligned on the decimal point, so an
/// odd run of digits can take one byte more (120 is stored as 01|20).
fn number_size(n: &str) -> usize {
    let mantissa = n.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

/// Write units for one write of an item of `size` bytes (at least one).
pub fn write_units(size: usize) -> u64 {
    size.max(1).div_ceil(WRITE_UNIT_BYTES) as u64
}

/// Read units for reading `size` bytes in one request (at least one 4 KB step): 1 per 4 KB
/// strongly consistent, half that eventually consistent.
pub fn read_units(size: usize, consistent: bool) -> f64 {
    let steps = size.max(1).div_ceil(READ_UNIT_BYTES) as f64;
    if consistent { steps } else { steps / 2.0 }
}

/// A global secondary index: which attributes make its key, and whether it projects the keys
/// only (`KEYS_ONLY`: an entry is the table's and the index's key attributes) or every
/// attribute (`ALL`: an entry is the whole item).
#[derive(Debug, Clone, Copy)]
pub struct Index {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub keys_only: bool,
}

/// The index writes one table write causes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexWrite {
    /// Index operations: 0, 1 (entering, leaving, changing in place) or 2 (key changed:
    /// delete and put).
    pub writes: u64,
    /// Write units they consume.
    pub units: u64,
}

impl Index {
    fn key<'a>(&self, item: &'a Item) -> Option<(&'a AV, &'a AV)> {
        Some((item.get(self.partition_key)?, item.get(self.sort_key)?))
    }

    /// The entry `item` has in the index: `None` outside it (sparse), else its projected
    /// image.
    fn entry(&self, item: Option<&Item>) -> Option<Item> {
        let item = item.filter(|i| self.key(i).is_some())?;
        let mut entry = item.clone();
        if self.keys_only {
            entry.retain(|name, _| {
                name == "pk" || name == "sk" || name == self.partition_key || name == self.sort_key
            });
        }
        Some(entry)
    }

    /// The index partition keys a table write charges, with the units of each: a delete is
    /// charged to the old entry's key, a put to the new one's, a change in place to its key.
    pub fn charges(&self, before: Option<&Item>, after: Option<&Item>) -> Vec<(String, u64)> {
        let partition = |item: &Item| {
            item.get(self.partition_key)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let units = |item: &Item| write_units(item_size(item));
        match (self.entry(before), self.entry(after)) {
            (None, None) => Vec::new(),
            (None, Some(new)) => vec![(partition(&new), units(&new))],
            (Some(old), None) => vec![(partition(&old), units(&old))],
            (Some(old), Some(new)) if self.key(&old) != self.key(&new) => {
                vec![
                    (partition(&old), units(&old)),
                    (partition(&new), units(&new)),
                ]
            }
            (Some(old), Some(new)) if old == new => Vec::new(),
            (Some(old), Some(new)) => vec![(partition(&new), units(&old).max(units(&new)))],
        }
    }

    /// The index writes of a table write that turns `before` into `after` (`None`: no item).
    pub fn write(&self, before: Option<&Item>, after: Option<&Item>) -> IndexWrite {
        let one = |item: &Item| IndexWrite {
            writes: 1,
            units: write_units(item_size(item)),
        };
        match (self.entry(before), self.entry(after)) {
            (None, None) => IndexWrite::default(),
            (None, Some(new)) => one(&new),
            (Some(old), None) => one(&old),
            (Some(old), Some(new)) if self.key(&old) != self.key(&new) => IndexWrite {
                writes: 2,
                units: write_units(item_size(&old)) + write_units(item_size(&new)),
            },
            (Some(old), Some(new)) if old == new => IndexWrite::default(),
            (Some(old), Some(new)) => IndexWrite {
                writes: 1,
                units: write_units(item_size(&old)).max(write_units(item_size(&new))),
            },
        }
    }
}

/// An attribute value from DynamoDB's JSON wire format (`{"S": "..."}`).
pub fn av_from_json(value: &Value) -> Result<AV, String> {
    let object = value
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| format!("not an attribute value: {value}"))?;
    let (tag, inner) = object.iter().next().ok_or("empty attribute value")?;
    let string = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{tag}: expected a string, got {v}"))
    };
    let array = |v: &Value| {
        v.as_array()
            .cloned()
            .ok_or_else(|| format!("{tag}: expected an array, got {v}"))
    };
    let blob = |v: &Value| {
        let text = string(v)?;
        aws_smithy_types::base64::decode(&text)
            .map(Blob::new)
            .map_err(|e| format!("{tag}: bad base64: {e}"))
    };
    Ok(match tag.as_str() {
        "S" => AV::S(string(inner)?),
        "N" => AV::N(string(inner)?),
        "B" => AV::B(blob(inner)?),
        "BOOL" => AV::Bool(inner.as_bool().ok_or("BOOL: expected a boolean")?),
        "NULL" => AV::Null(inner.as_bool().ok_or("NULL: expected a boolean")?),
        "SS" => AV::Ss(array(inner)?.iter().map(string).collect::<Result<_, _>>()?),
        "NS" => AV::Ns(array(inner)?.iter().map(string).collect::<Result<_, _>>()?),
        "BS" => AV::Bs(array(inner)?.iter().map(blob).collect::<Result<_, _>>()?),
        "L" => AV::L(
            array(inner)?
                .iter()
                .map(av_from_json)
                .collect::<Result<_, _>>()?,
        ),
        "M" => AV::M(item_from_json(inner)?),
        other => return Err(format!("unknown attribute type {other}")),
    })
}

/// An item (or a key, or expression values) from DynamoDB's JSON wire format.
pub fn item_from_json(value: &Value) -> Result<Item, String> {
    value
        .as_object()
        .ok_or_else(|| format!("not an item: {value}"))?
        .iter()
        .map(|(name, v)| Ok((name.clone(), av_from_json(v)?)))
        .collect()
}

/// `before` with an update expression applied. Supports what the adapter sends:
/// `SET a = :v, #b = :w, #c = if_not_exists(#c, :x)` and `REMOVE c, #d` on top-level
/// attributes.
pub fn apply_update(
    before: &Item,
    expression: &str,
    names: &HashMap<String, String>,
    values: &Item,
) -> Result<Item, String> {
    let mut clauses: Vec<(String, String)> = Vec::new();
    for token in expression.split_whitespace() {
        let upper = token.to_ascii_uppercase();
        if matches!(upper.as_str(), "SET" | "REMOVE" | "ADD" | "DELETE") {
            clauses.push((upper, String::new()));
        } else {
            let (_, body) = clauses
                .last_mut()
                .ok_or_else(|| format!("update expression starts with `{token}`"))?;
            body.push_str(token);
            body.push(' ');
        }
    }
    let name = |path: &str| -> Result<String, String> {
        let path = path.trim();
        if path.contains(['.', '[', '(']) {
            return Err(format!("nested or computed path `{path}` not supported"));
        }
        match path.strip_prefix('#') {
            Some(_) => names
                .get(path)
                .cloned()
                .ok_or_else(|| format!("no attribute name for `{path}`")),
            None => Ok(path.to_owned()),
        }
    };
    // The clause's parts, split at the commas outside parentheses.
    let parts = |body: &str| -> Vec<String> {
        let (mut parts, mut part, mut depth) = (Vec::new(), String::new(), 0usize);
        for c in body.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    parts.push(std::mem::take(&mut part));
                    continue;
                }
                _ => {}
            }
            part.push(c);
        }
        parts.push(part);
        parts
            .into_iter()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    };
    let mut after = before.clone();
    for (clause, body) in clauses {
        for part in parts(&body) {
            let part = part.as_str();
            match clause.as_str() {
                "SET" => {
                    let (path, operand) = part
                        .split_once('=')
                        .ok_or_else(|| format!("SET `{part}` has no `=`"))?;
                    let operand = operand.trim().replace(' ', "");
                    let (kept, operand) = match operand
                        .strip_prefix("if_not_exists(")
                        .and_then(|o| o.strip_suffix(')'))
                    {
                        Some(args) => {
                            let (of, value) = args.split_once(',').ok_or_else(|| {
                                format!("if_not_exists(`{args}`) needs two operands")
                            })?;
                            (before.get(&name(of)?).cloned(), value.to_owned())
                        }
                        None => (None, operand),
                    };
                    if !operand.starts_with(':') || operand.contains(['+', '-', '(']) {
                        return Err(format!("SET operand `{operand}` not supported"));
                    }
                    let value = match kept {
                        Some(kept) => kept,
                        None => values
                            .get(&operand)
                            .cloned()
                            .ok_or_else(|| format!("no value for `{operand}`"))?,
                    };
                    after.insert(name(path)?, value);
                }
                "REMOVE" => {
                    after.remove(&name(part)?);
                }
                other => return Err(format!("{other} clauses not supported")),
            }
        }
    }
    Ok(after)
}

/// One HTTP exchange with DynamoDB, as recorded during the tick.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The operation (`X-Amz-Target` without the service prefix).
    pub operation: String,
    /// HTTP status (0: no response).
    pub status: u16,
    pub request: Vec<u8>,
    pub response: Vec<u8>,
}

/// What a kind of write did to one kind of item, summed over a tick.
#[derive(Debug, Clone, Default)]
pub struct Stage {
    pub count: u64,
    /// Item sizes before (absent items are not counted) and after.
    pub before: SizeRange,
    pub after: SizeRange,
    pub table_units: u64,
    pub index: IndexWrite,
}

/// Smallest and largest size seen.
#[derive(Debug, Clone, Copy, Default)]
pub struct SizeRange {
    pub min: Option<usize>,
    pub max: Option<usize>,
}

impl SizeRange {
    fn add(&mut self, size: usize) {
        self.min = Some(self.min.map_or(size, |m| m.min(size)));
        self.max = Some(self.max.map_or(size, |m| m.max(size)));
    }
}

/// The units consumed by one operation's requests, summed over a tick.
#[derive(Debug, Clone, Default)]
pub struct OperationCost {
    pub count: u64,
    pub failed: u64,
    /// Requests whose consumption could not be worked out (see [`Ledger::problems`]).
    pub uncosted: u64,
    pub table_write_units: u64,
    pub index_writes: u64,
    pub index_write_units: u64,
    pub table_read_units: f64,
    pub index_read_units: f64,
    /// Bytes of items read (reads) or the larger image written (writes).
    pub item_bytes: u64,
}

/// The write units one partition key took, under the two assumptions about the index writes a
/// transaction causes: not doubled (`units`, the model's usual one), or doubled like the
/// transaction's table writes (`units_doubled`, the pessimistic one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyLoad {
    pub units: u64,
    pub units_doubled: u64,
}

/// One write to one item, for following a single job through the tick.
#[derive(Debug, Clone)]
pub struct Event {
    pub operation: String,
    pub action: &'static str,
    pub key: (String, String),
    pub kind: String,
    pub before: Option<usize>,
    pub after: Option<usize>,
    pub table_units: u64,
    pub index: IndexWrite,
}

/// Replays a tick's exchanges in completion order against the items as they were before
/// it, and adds up what each request would consume.
#[derive(Debug)]
pub struct Ledger {
    index: Index,
    /// Items by (pk, sk), as the replay has them.
    pub items: HashMap<(String, String), Item>,
    pub operations: BTreeMap<String, OperationCost>,
    /// By (operation, action, item kind).
    pub stages: BTreeMap<(String, &'static str, String), Stage>,
    pub events: Vec<Event>,
    /// Keys written during the replay.
    pub touched: Vec<(String, String)>,
    /// Write units by partition key: `table <pk>` and `index <gsi1pk>`.
    pub keys: BTreeMap<String, KeyLoad>,
    /// What could not be costed, and why.
    pub problems: Vec<String>,
}

fn key_of(item: &Item) -> Option<(String, String)> {
    let text = |name: &str| item.get(name)?.as_s().ok().cloned();
    Some((text("pk")?, text("sk")?))
}

fn names_of(request: &Value) -> HashMap<String, String> {
    request
        .get("ExpressionAttributeNames")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn values_of(request: &Value) -> Result<Item, String> {
    match request.get("ExpressionAttributeValues") {
        Some(v) => item_from_json(v),
        None => Ok(Item::new()),
    }
}

impl Ledger {
    /// A ledger whose replay starts from `items` (the items as they were before the tick).
    pub fn new(index: Index, items: impl IntoIterator<Item = Item>) -> Self {
        Self {
            index,
            items: items
                .into_iter()
                .filter_map(|i| Some((key_of(&i)?, i)))
                .collect(),
            operations: BTreeMap::new(),
            stages: BTreeMap::new(),
            events: Vec::new(),
            touched: Vec::new(),
            keys: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    /// Adds one exchange (exchanges must come in the order DynamoDB applied them; for
    /// requests on one item, completion order is that order).
    pub fn add(&mut self, exchange: &Exchange) {
        let op = exchange.operation.clone();
        let cost = self.operations.entry(op.clone()).or_default();
        cost.count += 1;
        let ok = exchange.status == 200;
        if !ok {
            cost.failed += 1;
        }
        let request: Value = match serde_json::from_slice(&exchange.request) {
            Ok(v) => v,
            Err(e) => return self.problem(&op, format!("request is not JSON: {e}")),
        };
        let result = match op.as_str() {
            "Query" | "Scan" | "GetItem" | "BatchGetItem" => self.read(&op, &request, exchange),
            "PutItem" | "UpdateItem" | "DeleteItem" => self.write(&op, &op, &request, ok, 1),
            "TransactWriteItems" => self.transaction(&op, &request, ok),
            "BatchWriteItem" => self.batch(&op, &request, exchange),
            _ => Err(format!("{op} is not costed")),
        };
        if let Err(e) = result {
            self.problem(&op, e);
        }
    }

    fn problem(&mut self, op: &str, message: String) {
        self.operations.entry(op.to_owned()).or_default().uncosted += 1;
        if self.problems.len() < 20 {
            self.problems.push(format!("{op}: {message}"));
        }
    }

    fn read(&mut self, op: &str, request: &Value, exchange: &Exchange) -> Result<(), String> {
        if exchange.status != 200 {
            return Err(format!("failed read (HTTP {}) not costed", exchange.status));
        }
        let response: Value = serde_json::from_slice(&exchange.response)
            .map_err(|e| format!("response is not JSON: {e}"))?;
        let items: Vec<Item> = match op {
            "GetItem" => response
                .get("Item")
                .map(item_from_json)
                .transpose()?
                .into_iter()
                .collect(),
            // One table's items, with the one table's ConsistentRead.
            "BatchGetItem" => response
                .get("Responses")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|tables| tables.values())
                .filter_map(Value::as_array)
                .flatten()
                .map(item_from_json)
                .collect::<Result<_, _>>()?,
            _ => response
                .get("Items")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(item_from_json).collect::<Result<_, _>>())
                .transpose()?
                .unwrap_or_default(),
        };
        let bytes: usize = items.iter().map(item_size).sum();
        let on_index = request.get("IndexName").is_some();
        let batch_consistent = request
            .get("RequestItems")
            .and_then(Value::as_object)
            .and_then(|tables| tables.values().next())
            .and_then(|t| t.get("ConsistentRead"))
            .and_then(Value::as_bool);
        let consistent = !on_index
            && batch_consistent
                .or_else(|| request.get("ConsistentRead").and_then(Value::as_bool))
                .unwrap_or(false);
        // A Query rounds its items' total once; a batch read each item, as a GetItem.
        let units = if op == "BatchGetItem" {
            items
                .iter()
                .map(|item| read_units(item_size(item), consistent))
                .sum()
        } else {
            read_units(bytes, consistent)
        };
        let cost = self.operations.entry(op.to_owned()).or_default();
        cost.item_bytes += bytes as u64;
        if on_index {
            cost.index_read_units += units;
        } else {
            cost.table_read_units += units;
        }
        // What a read returns is the item as it is now: a before-image for later writes (not
        // a keys-only index's entry, which is not the item).
        if on_index && self.index.keys_only {
            return Ok(());
        }
        for item in items {
            if let Some(key) = key_of(&item) {
                self.items.entry(key).or_insert(item);
            }
        }
        Ok(())
    }

    /// One write of `operation` (PutItem, UpdateItem, DeleteItem, or an action of a
    /// transaction or batch: `action`), costing `factor` times the units on the table.
    fn write(
        &mut self,
        operation: &str,
        action: &str,
        write: &Value,
        ok: bool,
        factor: u64,
    ) -> Result<(), String> {
        let (action, key, after): (&'static str, _, _) = match action {
            "PutItem" | "Put" => {
                let item = item_from_json(write.get("Item").ok_or("no Item")?)?;
                let key = key_of(&item).ok_or("item without pk/sk")?;
                ("Put", key, Some(item))
            }
            "UpdateItem" | "Update" => {
                let key = key_of(&item_from_json(write.get("Key").ok_or("no Key")?)?)
                    .ok_or("key without pk/sk")?;
                let Some(before) = self.items.get(&key) else {
                    return Err(format!("no before-image of {key:?} for an update"));
                };
                let expression = write
                    .get("UpdateExpression")
                    .and_then(Value::as_str)
                    .ok_or("no UpdateExpression")?;
                let after = apply_update(before, expression, &names_of(write), &values_of(write)?)?;
                ("Update", key, Some(after))
            }
            "DeleteItem" | "Delete" => {
                let key = key_of(&item_from_json(write.get("Key").ok_or("no Key")?)?)
                    .ok_or("key without pk/sk")?;
                ("Delete", key, None)
            }
            other => return Err(format!("{other} actions are not costed")),
        };
        let before = self.items.get(&key).cloned();
        let before_size = before.as_ref().map(item_size);
        let after_size = after.as_ref().map(item_size);
        let (table_units, index) = if ok {
            let larger = before_size.unwrap_or(0).max(after_size.unwrap_or(0));
            (
                factor * write_units(larger),
                self.index.write(before.as_ref(), after.as_ref()),
            )
        } else {
            // A failed condition consumes the existing item's size (at least one unit) and
            // writes no index.
            (
                factor * write_units(before_size.unwrap_or(0)),
                IndexWrite::default(),
            )
        };
        let kind = after
            .as_ref()
            .or(before.as_ref())
            .and_then(|i| i.get("kind")?.as_s().ok().cloned())
            .unwrap_or_else(|| "?".to_owned());
        let cost = self.operations.entry(operation.to_owned()).or_default();
        cost.table_write_units += table_units;
        cost.index_writes += index.writes;
        cost.index_write_units += index.units;
        cost.item_bytes += before_size.unwrap_or(0).max(after_size.unwrap_or(0)) as u64;
        let stage = self
            .stages
            .entry((operation.to_owned(), action, kind.clone()))
            .or_default();
        stage.count += 1;
        if let Some(size) = before_size {
            stage.before.add(size);
        }
        if let Some(size) = after_size {
            stage.after.add(size);
        }
        stage.table_units += table_units;
        stage.index.writes += index.writes;
        stage.index.units += index.units;
        self.events.push(Event {
            operation: operation.to_owned(),
            action,
            key: key.clone(),
            kind,
            before: before_size,
            after: after_size,
            table_units,
            index,
        });
        let table = self.keys.entry(format!("table {}", key.0)).or_default();
        table.units += table_units;
        table.units_doubled += table_units;
        if ok {
            for (partition, units) in self.index.charges(before.as_ref(), after.as_ref()) {
                let load = self.keys.entry(format!("index {partition}")).or_default();
                load.units += units;
                load.units_doubled += units * factor;
            }
        }
        if ok {
            match after {
                Some(item) => {
                    self.items.insert(key.clone(), item);
                }
                None => {
                    self.items.remove(&key);
                }
            }
            self.touched.push(key);
        }
        Ok(())
    }

    fn transaction(&mut self, op: &str, request: &Value, ok: bool) -> Result<(), String> {
        if !ok {
            return Err("a cancelled transaction is not costed".to_owned());
        }
        let actions = request
            .get("TransactItems")
            .and_then(Value::as_array)
            .ok_or("no TransactItems")?;
        for action in actions {
            let object = action.as_object().ok_or("action is not an object")?;
            let (kind, body) = object.iter().next().ok_or("empty action")?;
            if let Err(e) = self.write(op, kind, body, true, 2) {
                self.problem(op, e);
            }
        }
        Ok(())
    }

    fn batch(&mut self, op: &str, request: &Value, exchange: &Exchange) -> Result<(), String> {
        if exchange.status != 200 {
            return Err(format!(
                "failed batch (HTTP {}) not costed",
                exchange.status
            ));
        }
        let response: Value = serde_json::from_slice(&exchange.response).unwrap_or_default();
        let unprocessed = response
            .get("UnprocessedItems")
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty());
        if unprocessed {
            return Err("a batch with unprocessed items is not costed".to_owned());
        }
        let tables = request
            .get("RequestItems")
            .and_then(Value::as_object)
            .ok_or("no RequestItems")?;
        for requests in tables.values() {
            for request in requests.as_array().ok_or("requests are not an array")? {
                let result = if let Some(put) = request.get("PutRequest") {
                    self.write(op, "PutItem", put, true, 1)
                } else if let Some(delete) = request.get("DeleteRequest") {
                    self.write(op, "DeleteItem", delete, true, 1)
                } else {
                    Err("unknown batch request".to_owned())
                };
                if let Err(e) = result {
                    self.problem(op, e);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AV)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn s(v: &str) -> AV {
        AV::S(v.to_owned())
    }

    fn n(v: &str) -> AV {
        AV::N(v.to_owned())
    }

    #[test]
    fn a_string_is_its_name_plus_its_utf8_bytes() {
        assert_eq!(item_size(&item(&[("pk", s("APP#bench"))])), 2 + 9);
        // 'ë' is two bytes in UTF-8.
        assert_eq!(item_size(&item(&[("name", s("Zoë"))])), 4 + 4);
        assert_eq!(item_size(&item(&[("pk", s("a")), ("sk", s("bc"))])), 3 + 4);
    }

    #[test]
    fn a_boolean_or_null_is_one_byte_plus_its_name() {
        assert_eq!(item_size(&item(&[("enabled", AV::Bool(true))])), 7 + 1);
        assert_eq!(item_size(&item(&[("x", AV::Null(true))])), 1 + 1);
    }

    #[test]
    fn a_binary_counts_its_raw_bytes_not_its_base64() {
        // Ten bytes travel as sixteen base64 characters but count as ten.
        let blob = AV::B(Blob::new(vec![0u8; 10]));
        assert_eq!(item_size(&item(&[("b", blob)])), 1 + 10);
    }

    #[test]
    fn an_empty_map_or_list_is_three_bytes_plus_its_name() {
        assert_eq!(item_size(&item(&[("m", AV::M(Item::new()))])), 1 + 3);
        assert_eq!(item_size(&item(&[("l", AV::L(vec![]))])), 1 + 3);
    }

    #[test]
    fn each_list_or_map_element_adds_one_byte() {
        // 3 + (1 + "ab") + (1 + "c")
        assert_eq!(
            item_size(&item(&[("l", AV::L(vec![s("ab"), s("c")]))])),
            1 + 3 + 3 + 2
        );
        // A map element is its name and value: 3 + (1 + "k" + "v")
        assert_eq!(
            item_size(&item(&[("m", AV::M(item(&[("k", s("v"))])))])),
            1 + 3 + 3
        );
        // Nested: "state" + 3 + (1 + "version" + N 7 (1 digit: 1 + 1))
        assert_eq!(
            item_size(&item(&[("state", AV::M(item(&[("version", n("7"))])))])),
            5 + 3 + 1 + 7 + 2
        );
    }

    #[test]
    fn a_number_is_a_byte_per_two_significant_digits_plus_one() {
        let size = |v: &str| item_size(&item(&[("n", n(v))])) - 1;
        assert_eq!(size("7"), 2);
        assert_eq!(size("12"), 2);
        assert_eq!(size("12345"), 4);
        // Leading and trailing zeros are trimmed.
        assert_eq!(size("1000"), size("1"));
        assert_eq!(size("0012300"), 3);
        assert_eq!(size("0"), 1);
        // Sign, point and exponent are not digits.
        assert_eq!(size("-3.14"), 3);
        assert_eq!(size("1.5E+10"), 2);
        // The largest precision, 38 digits: 19 + 1.
        assert_eq!(size("12345678901234567890123456789012345678"), 20);
        // An epoch in milliseconds at a whole second: 10 significant digits.
        assert_eq!(size("1795612345000"), 6);
    }

    #[test]
    fn units_follow_the_guides_examples() {
        // Reads round up to 4 KB: a 3,500-byte item reads as 4 KB; 10 KB as 12 KB.
        assert_eq!(read_units(3500, true), 1.0);
        assert_eq!(read_units(3500, false), 0.5);
        assert_eq!(read_units(10 * 1024, true), 3.0);
        // An 8 KB item: 2 units strongly consistent, 1 eventually consistent.
        assert_eq!(read_units(8 * 1024, true), 2.0);
        assert_eq!(read_units(8 * 1024, false), 1.0);
        // Writes round up to 1 KB; an empty answer still costs the minimum.
        assert_eq!(write_units(1), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
        assert_eq!(write_units(2560), 3);
        assert_eq!(write_units(0), 1);
        assert_eq!(read_units(0, false), 0.5);
    }

    const DUE: Index = Index {
        partition_key: "gsi1pk",
        sort_key: "gsi1sk",
        keys_only: false,
    };

    #[test]
    fn a_keys_only_entry_is_written_only_when_the_key_changes_and_is_the_keys_size() {
        let keys = Index {
            keys_only: true,
            ..DUE
        };
        let small = padded(Some("5"), 10);
        let big = padded(Some("5"), 3000);
        // The same key: an ALL entry is rewritten (on the larger image), a keys-only one not.
        assert_eq!(
            DUE.write(Some(&small), Some(&big)),
            IndexWrite {
                writes: 1,
                units: 3
            }
        );
        assert_eq!(keys.write(Some(&small), Some(&big)), IndexWrite::default());
        assert!(keys.charges(Some(&small), Some(&big)).is_empty());
        // A moved key: a delete and a put of the keys alone, one unit each.
        let moved = padded(Some("6"), 3000);
        assert_eq!(
            keys.write(Some(&big), Some(&moved)),
            IndexWrite {
                writes: 2,
                units: 2
            }
        );
        // Entering and leaving the sparse index.
        assert_eq!(
            keys.write(None, Some(&big)),
            IndexWrite {
                writes: 1,
                units: 1
            }
        );
        assert_eq!(
            keys.write(Some(&big), Some(&padded(None, 3000))),
            IndexWrite {
                writes: 1,
                units: 1
            }
        );
    }

    fn padded(gsi: Option<&str>, pad: usize) -> Item {
        let mut i = item(&[("pk", s("p")), ("sk", s("s")), ("pad", s(&"x".repeat(pad)))]);
        if let Some(at) = gsi {
            i.insert("gsi1pk".into(), s("DUE"));
            i.insert("gsi1sk".into(), n(at));
        }
        i
    }

    #[test]
    fn entering_or_leaving_a_sparse_index_is_one_index_write() {
        let member = padded(Some("1"), 1500);
        let outside = padded(None, 1500);
        let entering = DUE.write(None, Some(&member));
        assert_eq!(
            entering,
            IndexWrite {
                writes: 1,
                units: 2
            }
        );
        assert_eq!(DUE.write(Some(&outside), Some(&member)).writes, 1);
        assert_eq!(DUE.write(Some(&member), Some(&outside)), entering);
        assert_eq!(DUE.write(Some(&member), None).writes, 1);
        assert_eq!(DUE.write(Some(&outside), None), IndexWrite::default());
    }

    #[test]
    fn a_changed_index_key_is_a_delete_and_a_put_each_rounded_on_its_own() {
        let old = padded(Some("1"), 1500);
        let new = padded(Some("2"), 10);
        assert_eq!(
            DUE.write(Some(&old), Some(&new)),
            IndexWrite {
                writes: 2,
                units: 2 + 1
            }
        );
    }

    #[test]
    fn an_entry_changed_in_place_costs_its_larger_image_and_an_unchanged_one_nothing() {
        let old = padded(Some("1"), 1500);
        let new = padded(Some("1"), 100);
        assert_eq!(
            DUE.write(Some(&old), Some(&new)),
            IndexWrite {
                writes: 1,
                units: 2
            }
        );
        assert_eq!(DUE.write(Some(&old), Some(&old)), IndexWrite::default());
    }

    #[test]
    fn if_not_exists_keeps_an_attribute_that_is_there_and_sets_one_that_is_not() {
        let names = HashMap::from([("#g".to_owned(), "gsi1pk".to_owned())]);
        let values = item(&[(":due", s("DUE")), (":t", n("5"))]);
        let expression = "SET due = :t, #g = if_not_exists(#g, :due)";
        let kept = apply_update(
            &item(&[("gsi1pk", s("DUE#2"))]),
            expression,
            &names,
            &values,
        )
        .expect("applied");
        assert_eq!(kept.get("gsi1pk"), Some(&s("DUE#2")));
        assert_eq!(kept.get("due"), Some(&n("5")));
        let set = apply_update(&item(&[]), expression, &names, &values).expect("applied");
        assert_eq!(set.get("gsi1pk"), Some(&s("DUE")));
    }

    #[test]
    fn a_moved_entry_charges_the_delete_to_its_old_key_and_the_put_to_its_new_one() {
        let index = Index {
            partition_key: "gsi1pk",
            sort_key: "gsi1sk",
            keys_only: false,
        };
        let at = |pk: &str, sk: &str| item(&[("gsi1pk", s(pk)), ("gsi1sk", n(sk))]);
        assert_eq!(
            index.charges(Some(&at("DUE", "1")), Some(&at("DUE#2", "1"))),
            vec![("DUE".to_owned(), 1), ("DUE#2".to_owned(), 1)]
        );
        assert_eq!(
            index.charges(Some(&at("DUE", "1")), Some(&at("DUE", "2"))),
            vec![("DUE".to_owned(), 1), ("DUE".to_owned(), 1)]
        );
        assert_eq!(
            index.charges(None, Some(&at("DUE#1", "5"))),
            vec![("DUE#1".to_owned(), 1)]
        );
        assert_eq!(
            index.charges(Some(&at("DUE", "5")), None),
            vec![("DUE".to_owned(), 1)]
        );
        assert!(
            index
                .charges(Some(&at("DUE", "5")), Some(&at("DUE", "5")))
                .is_empty()
        );
    }

    #[test]
    fn an_update_expression_sets_and_removes_top_level_attributes() {
        let before = item(&[("pk", s("p")), ("status", s("pending")), ("gsi1sk", n("5"))]);
        let names = HashMap::from([
            ("#st".to_owned(), "status".to_owned()),
            ("#gsk".to_owned(), "gsi1sk".to_owned()),
        ]);
        let values = item(&[(":st", s("succeeded")), (":tok", s("t"))]);
        let after = apply_update(
            &before,
            "SET #st = :st, outcome_by = :tok REMOVE due_at, #gsk",
            &names,
            &values,
        )
        .expect("supported expression");
        assert_eq!(
            after,
            item(&[
                ("pk", s("p")),
                ("status", s("succeeded")),
                ("outcome_by", s("t"))
            ])
        );
        assert!(apply_update(&before, "SET a = a + :one", &names, &values).is_err());
        assert!(apply_update(&before, "ADD n :one", &names, &values).is_err());
    }

    #[test]
    fn wire_json_becomes_attribute_values() {
        let json: Value = serde_json::json!({
            "s": {"S": "x"}, "n": {"N": "12"}, "b": {"B": "AAEC"}, "t": {"BOOL": true},
            "z": {"NULL": true}, "l": {"L": [{"S": "a"}]}, "m": {"M": {"k": {"N": "1"}}},
            "ss": {"SS": ["a", "b"]}
        });
        let parsed = item_from_json(&json).expect("valid item");
        assert_eq!(parsed["b"], AV::B(Blob::new(vec![0, 1, 2])));
        assert_eq!(parsed["m"], AV::M(item(&[("k", n("1"))])));
        assert_eq!(parsed["ss"], AV::Ss(vec!["a".into(), "b".into()]));
    }

    fn exchange(operation: &str, request: Value, response: Value) -> Exchange {
        Exchange {
            operation: operation.to_owned(),
            status: 200,
            request: serde_json::to_vec(&request).expect("json"),
            response: serde_json::to_vec(&response).expect("json"),
        }
    }

    #[test]
    fn a_replayed_claim_send_and_outcome_cost_what_the_rules_say() {
        let job = serde_json::json!({
            "pk": {"S": "APP#a"}, "sk": {"S": "JOB#j"}, "kind": {"S": "job"},
            "gsi1pk": {"S": "DUE"}, "gsi1sk": {"N": "1000"}
        });
        let before = item_from_json(&job).expect("item");
        let mut ledger = Ledger::new(DUE, [before]);
        let mut moved = job.clone();
        moved["gsi1sk"] = serde_json::json!({"N": "61000"});
        let exec = serde_json::json!({
            "pk": {"S": "JOB#1"}, "sk": {"S": "EXEC#1"}, "kind": {"S": "exec"},
            "status": {"S": "pending"}, "gsi1pk": {"S": "DUE"}, "gsi1sk": {"N": "5"}
        });
        ledger.add(&exchange(
            "TransactWriteItems",
            serde_json::json!({"TransactItems": [{"Put": {"Item": moved}}, {"Put": {"Item": exec}}]}),
            serde_json::json!({}),
        ));
        ledger.add(&exchange(
            "UpdateItem",
            serde_json::json!({
                "Key": {"pk": {"S": "JOB#1"}, "sk": {"S": "EXEC#1"}},
                "UpdateExpression": "SET #st = :st REMOVE #gpk, #gsk",
                "ExpressionAttributeNames": {"#st": "status", "#gpk": "gsi1pk", "#gsk": "gsi1sk"},
                "ExpressionAttributeValues": {":st": {"S": "succeeded"}}
            }),
            serde_json::json!({}),
        ));
        let claim = &ledger.operations["TransactWriteItems"];
        // Two small items, transactional: 2 x 1 each. Index: the job moves (2 writes), the
        // execution enters (1).
        assert_eq!(claim.table_write_units, 4);
        assert_eq!((claim.index_writes, claim.index_write_units), (3, 3));
        let update = &ledger.operations["UpdateItem"];
        // The execution leaves the index: one write.
        assert_eq!(
            (
                update.table_write_units,
                update.index_writes,
                update.index_write_units
            ),
            (1, 1, 1)
        );
        let key = ("JOB#1".to_owned(), "EXEC#1".to_owned());
        assert_eq!(ledger.items[&key]["status"], s("succeeded"));
        assert!(!ledger.items[&key].contains_key("gsi1sk"));
        assert!(ledger.problems.is_empty(), "{:?}", ledger.problems);
    }
}
