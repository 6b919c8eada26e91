//! Where an item goes in the due index once the index is sharded (issue 29, docs/design/
//! scale.md, 2.2 and 2.3): pure functions that every writer and reader must agree on, so that
//! their results are pinned by test vectors and may never change.
//!
//! - An app's items (its jobs and their executions) are in one shard: [`shard_of`], a jump
//!   consistent hash (Lamping and Veach, 2014) of the FNV-1a hash of the app's name. Raising
//!   the shard count from S to S' moves only the apps whose shard changes, about 1 - S/S' of
//!   them, and every shard k < S keeps its number.
//! - Shard 0's index key is `DUE`, today's one key, so a table of one shard is exactly the
//!   table written before shards existed; shard k > 0 is `DUE#k` ([`shard_key`]).
//! - A tick invocation works on a group, "group g of G" ([`Group`]), never a fixed range of
//!   shards: its shards are those k < S with k mod G = g, so every shard belongs to exactly one
//!   group whatever S is when it runs.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::hash::fnv1a_64;
use crate::model::AppName;

/// The most shards a table's due index may have.
pub const MAX_SHARDS: u32 = 1024;

/// The table's layout as its `META` item records it (docs/design/scale.md, 2.1): the format,
/// and the due index's shard count with the raise under way, if any. A table without the item
/// (or without these attributes) is [`TableMeta::LEGACY`]: format 1, one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableMeta {
    /// The format of the table's items (`store::TABLE_FORMAT`).
    pub format: u64,
    /// The shard count readers query: every shard an item may be in, a new one included.
    pub shards: u32,
    /// The shard count writers use until `shards_from` (the count before the last raise).
    pub shards_before: u32,
    /// When writers start using `shards`; `None` once no raise is under way.
    pub shards_from: Option<DateTime<Utc>>,
    /// The item's version, which a raise's conditional write checks.
    pub version: u64,
    /// True once ticks read the due index through its `KEYS_ONLY` copy (`due-keys` on
    /// DynamoDB, `META.due_index`) and the items by consistent batch reads; false: through
    /// the `ALL` index (`due`). Other stores have one index and ignore it.
    pub keys_index: bool,
    /// The days executions are kept, as the table's ticks last recorded it (the Lambda's
    /// `PSU_SCHED_RETENTION_DAYS`), so that the CLI's backfill and the function agree;
    /// `None` until a tick recorded it (DynamoDB only).
    pub retention_days: Option<u32>,
}

/// A shard count that may not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardsError {
    /// Lower than today's: an item a stale writer puts in a shard past the new count would
    /// never be read again.
    #[error("the due index has {now} shards; the count never goes down (asked: {asked})")]
    Lower {
        /// The readers' count today.
        now: u32,
        /// The count asked for.
        asked: u32,
    },
    /// Out of range.
    #[error("shards: a whole number from 1 to {MAX_SHARDS} (asked: {0})")]
    OutOfRange(u32),
}

impl TableMeta {
    /// A table written before the `META` item had shards: format 1, one shard (`DUE`).
    pub const LEGACY: TableMeta = TableMeta {
        format: 1,
        shards: 1,
        shards_before: 1,
        shards_from: None,
        version: 0,
        keys_index: false,
        retention_days: None,
    };

    /// The shard count a write at `at` uses: `shards_before` until `shards_from`, `shards`
    /// after. Readers query [`TableMeta::shards`], which is never lower, so every item a
    /// writer indexes is in a shard some reader queries.
    pub fn writer_shards(&self, at: DateTime<Utc>) -> u32 {
        match self.shards_from {
            Some(from) if at < from => self.shards_before,
            _ => self.shards,
        }
    }

    /// The layout after raising the shard count to `to` at `now`, writers switching at
    /// `switch_at` (a little after `now`: every reader that read the old count has queried
    /// by then). Refused when `to` is lower than today's readers' count or out of range.
    pub fn raise(
        &self,
        to: u32,
        switch_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<TableMeta, ShardsError> {
        if !(1..=MAX_SHARDS).contains(&to) {
            return Err(ShardsError::OutOfRange(to));
        }
        if to < self.shards {
            return Err(ShardsError::Lower {
                now: self.shards,
                asked: to,
            });
        }
        Ok(TableMeta {
            shards: to,
            // What writers may still use now: a raise under way keeps its old count.
            shards_before: self.writer_shards(now),
            shards_from: Some(switch_at),
            version: self.version + 1,
            ..*self
        })
    }
}

/// The days executions are kept unless configured otherwise (`PSU_SCHED_RETENTION_DAYS`).
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// The index key of shard 0: today's one due key.
pub const FIRST_SHARD_KEY: &str = "DUE";

/// The most groups a deployment may split its ticks into.
pub const MAX_GROUPS: u32 = 64;

/// Jump consistent hash: the bucket in `0..buckets` of `key` (`buckets` ≥ 1), as published
/// (Lamping and Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm", 2014).
fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        // The published algorithm computes in doubles; these conversions are exact for the
        // values involved ((key >> 33) + 1 ≤ 2^31, b + 1 ≤ 2^32).
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        {
            j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
        }
    }
    u32::try_from(b).unwrap_or(0)
}

/// The shard (in `0..shards`) that holds `app`'s items. `shards` 0 is taken as 1.
pub fn shard_of(app: &AppName, shards: u32) -> u32 {
    jump_hash(fnv1a_64(app.as_str().as_bytes()), shards.max(1))
}

/// The due index's partition key of shard `shard`: `DUE` for shard 0, `DUE#<k>` otherwise.
pub fn shard_key(shard: u32) -> String {
    if shard == 0 {
        FIRST_SHARD_KEY.to_owned()
    } else {
        format!("{FIRST_SHARD_KEY}#{shard}")
    }
}

/// "Group g of G": the share of the shards one tick invocation works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    index: u32,
    of: u32,
}

/// A group that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("group `{0}`: expected g/G, two whole numbers with 0 <= g < G <= 64 (for instance 0/4)")]
pub struct GroupError(String);

impl Group {
    /// Every shard: group 0 of 1 (one invocation, `serve` and `tick` without a group).
    pub const ALL: Group = Group { index: 0, of: 1 };

    /// Group `index` of `of`, when `index < of <= MAX_GROUPS`.
    pub fn new(index: u32, of: u32) -> Result<Group, GroupError> {
        if index < of && of <= MAX_GROUPS {
            Ok(Group { index, of })
        } else {
            Err(GroupError(format!("{index}/{of}")))
        }
    }

    /// Parses `g/G`.
    pub fn parse(text: &str) -> Result<Group, GroupError> {
        let bad = || GroupError(text.to_owned());
        let (g, of) = text.trim().split_once('/').ok_or_else(bad)?;
        let number = |s: &str| {
            s.trim()
                .parse::<u32>()
                .ok()
                .filter(|_| s.trim().chars().all(|c| c.is_ascii_digit()))
        };
        let (g, of) = (number(g).ok_or_else(bad)?, number(of).ok_or_else(bad)?);
        Group::new(g, of).map_err(|_| bad())
    }

    /// The group's index, g.
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many groups there are, G.
    pub fn of(self) -> u32 {
        self.of
    }

    /// The group's shards among `shards`: each k < `shards` with k mod G = g (none when the
    /// group's index is past the last shard).
    pub fn shards(self, shards: u32) -> Vec<u32> {
        (0..shards.max(1))
            .filter(|k| k % self.of == self.index)
            .collect()
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str) -> AppName {
        AppName::parse(name).expect("app")
    }

    #[test]
    fn the_hashes_are_the_published_ones() {
        // FNV-1a 64 of the empty string and of "a" (the offset basis; the FNV test suite).
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        // Computed with an independent implementation of the published algorithms (Python,
        // doubles as in the paper's C++): they pin where every app's items go, forever.
        let vectors = [
            ("billing", 0x4005_5702_95af_d25c_u64, [0, 1, 2, 2, 12, 36]),
            ("reports", 0x11ab_2d8b_a317_17e8, [0, 1, 1, 1, 1, 52]),
            ("a", 0xaf63_dc4c_8601_ec8c, [0, 1, 2, 2, 12, 31]),
            ("finance-prod", 0x0822_ebf8_1b50_7f5d, [0, 0, 3, 5, 8, 23]),
        ];
        for (name, hash, shards) in vectors {
            assert_eq!(fnv1a_64(name.as_bytes()), hash, "{name}");
            for (count, want) in [1, 2, 4, 8, 16, 64].into_iter().zip(shards) {
                assert_eq!(shard_of(&app(name), count), want, "{name} over {count}");
            }
        }
    }

    #[test]
    fn raising_the_shard_count_moves_only_the_apps_that_go_to_a_new_shard() {
        let apps: Vec<AppName> = (0..2_000).map(|i| app(&format!("app-{i}"))).collect();
        for (from, to) in [(1, 4), (4, 8), (8, 16), (3, 5)] {
            let mut moved: usize = 0;
            for a in &apps {
                let (before, after) = (shard_of(a, from), shard_of(a, to));
                assert!(before < from && after < to);
                if before != after {
                    assert!(after >= from, "{a} moves only to a new shard");
                    moved += 1;
                }
            }
            // About 1 - from/to of them.
            let expected = apps.len() * usize::try_from(to - from).expect("small")
                / usize::try_from(to).expect("small");
            assert!(
                moved.abs_diff(expected) < apps.len() / 20,
                "{from} -> {to}: {moved} moved, about {expected} expected"
            );
        }
    }

    fn at(minute: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2027, 1, 10, 9, minute, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn writers_switch_to_a_raised_count_only_once_its_time_has_come() {
        let legacy = TableMeta::LEGACY;
        assert_eq!((legacy.shards, legacy.writer_shards(at(0))), (1, 1));
        let raised = legacy.raise(4, at(2), at(0)).expect("raise");
        assert_eq!(raised.shards, 4, "readers query the new shards at once");
        assert_eq!(
            raised.writer_shards(at(1)),
            1,
            "writers keep the old count until then"
        );
        assert_eq!(raised.writer_shards(at(2)), 4);
        assert_eq!(raised.version, 1);
        // Raised again before the first switch: writers may still be on 1 until then.
        let again = raised.raise(8, at(3), at(1)).expect("raise");
        assert_eq!(
            (
                again.shards,
                again.shards_before,
                again.writer_shards(at(2))
            ),
            (8, 1, 1)
        );
        assert_eq!(again.writer_shards(at(3)), 8);
        // Readers always query at least what any writer uses.
        for meta in [legacy, raised, again] {
            for minute in 0..5 {
                assert!(meta.writer_shards(at(minute)) <= meta.shards);
            }
        }
    }

    #[test]
    fn the_shard_count_never_goes_down_and_stays_in_range() {
        let four = TableMeta::LEGACY.raise(4, at(2), at(0)).expect("raise");
        assert_eq!(
            four.raise(2, at(5), at(4)),
            Err(ShardsError::Lower { now: 4, asked: 2 })
        );
        assert_eq!(four.raise(0, at(5), at(4)), Err(ShardsError::OutOfRange(0)));
        assert_eq!(
            four.raise(MAX_SHARDS + 1, at(5), at(4)),
            Err(ShardsError::OutOfRange(MAX_SHARDS + 1))
        );
        assert!(
            four.raise(4, at(5), at(4)).is_ok(),
            "the same count is no change"
        );
    }

    #[test]
    fn shard_zero_is_todays_one_key() {
        assert_eq!(shard_key(0), "DUE");
        assert_eq!(shard_key(3), "DUE#3");
        assert_eq!(shard_of(&app("billing"), 1), 0);
        assert_eq!(shard_of(&app("billing"), 0), 0, "0 shards is read as 1");
    }

    #[test]
    fn every_shard_belongs_to_exactly_one_group_whatever_the_counts() {
        for groups in 1..=32 {
            for shards in 1..=32 {
                let mut seen = vec![0; usize::try_from(shards).expect("small")];
                for g in 0..groups {
                    for k in Group::new(g, groups).expect("group").shards(shards) {
                        seen[usize::try_from(k).expect("small")] += 1;
                    }
                }
                assert!(
                    seen.iter().all(|&n| n == 1),
                    "{shards} shards over {groups} groups: {seen:?}"
                );
            }
        }
        assert_eq!(Group::ALL.shards(4), [0, 1, 2, 3]);
        assert!(Group::new(5, 8).expect("group").shards(4).is_empty());
    }

    #[test]
    fn a_group_reads_as_g_of_g_and_anything_else_is_refused_naming_the_format() {
        assert_eq!(Group::parse("2/4"), Ok(Group::new(2, 4).expect("group")));
        assert_eq!(
            Group::parse(" 0/1 ").map(|g| g.to_string()).as_deref(),
            Ok("0/1")
        );
        for bad in [
            "4/4", "0/0", "1", "a/4", "-1/4", "+1/4", "0/65", "1/2/3", "",
        ] {
            let err = Group::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("0 <= g < G <= 64"), "{err}");
        }
    }
}
