//! The capacity model (issue 29; docs/benchmarks.md, "Scaling out"): from the write units a
//! replayed tick measured per called slot on each kind of partition key, what a minute with
//! D due slots over S shards and G groups asks of each key and how long each group's tick
//! takes, against DynamoDB's 1,000 write units a second per partition key and the minute.

use shared::model::AppName;
use shared::store::layout::{Group, shard_of};

/// DynamoDB's write throughput per partition key, in units a second (the Developer Guide's
/// partition limit; adaptive capacity and splits for heat are not counted on).
pub const KEY_WRITE_UNITS_PER_SECOND: f64 = 1000.0;

/// Write units per called slot on each kind of key, from a replayed tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerSlot {
    /// On the slot's app partition (`APP#<app>`: the job).
    pub app: f64,
    /// On the execution's partition (`JOB#<id>`).
    pub execution: f64,
    /// On the due index's shard key.
    pub shard: f64,
}

/// The minute to model.
#[derive(Debug, Clone, Copy)]
pub struct Minute {
    /// Slots due in the minute.
    pub due: u64,
    /// Apps they belong to (evenly).
    pub apps: u64,
    /// Each app's call budget.
    pub budget: u64,
    /// Calls in flight at once per invocation.
    pub concurrency: u64,
    /// The calls' answer time, milliseconds.
    pub latency_ms: f64,
    /// A slot's four store requests on the critical path, milliseconds in all.
    pub store_ms: f64,
}

/// What one (S, G) asks.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub shards: u32,
    pub groups: u32,
    /// The busiest group's tick, seconds.
    pub wall_s: f64,
    /// Write units a second on the busiest shard key.
    pub shard_wcu: f64,
    /// Write units a second on the busiest app partition.
    pub app_wcu: f64,
    /// What runs out first, if anything.
    pub limit: &'static str,
}

/// The model at `shards` and `groups`, the apps named `app-0`... and placed by the real hash.
pub fn model(per: PerSlot, minute: Minute, shards: u32, groups: u32) -> Row {
    let apps: Vec<AppName> = (0..minute.apps.max(1))
        .map(|i| AppName::parse(&format!("app-{i}")).expect("a valid app name"))
        .collect();
    let per_app = minute.due as f64 / apps.len() as f64;
    let mut apps_in_shard = vec![0u64; shards as usize];
    for app in &apps {
        apps_in_shard[shard_of(app, shards) as usize] += 1;
    }
    // Each group's apps and its tick's wall time; the slowest group sets the minute.
    let slot_s = (minute.latency_ms + minute.store_ms) / 1000.0;
    let mut wall_s: f64 = 0.0;
    let mut shard_wcu: f64 = 0.0;
    for g in 0..groups {
        let group = Group::new(g, groups).expect("a group");
        let in_group: u64 = group
            .shards(shards)
            .iter()
            .map(|&k| apps_in_shard[k as usize])
            .sum();
        if in_group == 0 {
            continue;
        }
        let due = per_app * in_group as f64;
        let lanes = minute.concurrency.min(in_group * minute.budget).max(1) as f64;
        let wall = (due / lanes).ceil() * slot_s;
        wall_s = wall_s.max(wall);
        let rate = if wall > 0.0 { due / wall } else { 0.0 };
        for &k in &group.shards(shards) {
            let share = apps_in_shard[k as usize] as f64 / in_group as f64;
            shard_wcu = shard_wcu.max(per.shard * rate * share);
        }
    }
    // An app's calls go at most `budget` at a time, each slot_s long.
    let app_rate = (minute.budget as f64 / slot_s).min(per_app / wall_s.max(1e-9));
    let app_wcu = per.app.max(per.execution) * app_rate;
    let limit = if shard_wcu > KEY_WRITE_UNITS_PER_SECOND {
        "a due-index shard key"
    } else if app_wcu > KEY_WRITE_UNITS_PER_SECOND {
        "an app's partition"
    } else if wall_s > 885.0 {
        "the Lambda's 15 minutes"
    } else if wall_s > 60.0 {
        "the minute (the next ticks start late)"
    } else {
        "nothing"
    };
    Row {
        shards,
        groups,
        wall_s,
        shard_wcu,
        app_wcu,
        limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: PerSlot = PerSlot {
        app: 3.0,
        execution: 4.0,
        shard: 7.0,
    };

    fn minute(latency_ms: f64) -> Minute {
        Minute {
            due: 10_000,
            apps: 100,
            budget: 4,
            concurrency: 64,
            latency_ms,
            store_ms: 30.0,
        }
    }

    #[test]
    fn one_group_of_slow_calls_runs_out_of_minute_and_more_groups_fit_it() {
        let one = model(TODAY, minute(2000.0), 1, 1);
        // 10,000 / 64 lanes = 157 rounds of 2.03 s.
        assert!((one.wall_s - 157.0 * 2.03).abs() < 1e-6, "{one:?}");
        assert_eq!(one.limit, "the minute (the next ticks start late)");
        let eight = model(TODAY, minute(2000.0), 8, 8);
        assert!(eight.wall_s < 60.0, "{eight:?}");
        assert_eq!(eight.limit, "nothing");
    }

    #[test]
    fn fast_calls_on_one_shard_exceed_its_key_and_shards_spread_them() {
        let one = model(TODAY, minute(200.0), 1, 1);
        // 10,000 slots in 157 x 0.23 s = 36 s: 277 slots a second, 7 units each on `DUE`.
        assert!(one.shard_wcu > KEY_WRITE_UNITS_PER_SECOND, "{one:?}");
        assert_eq!(one.limit, "a due-index shard key");
        let four = model(TODAY, minute(200.0), 4, 1);
        assert!(four.shard_wcu < one.shard_wcu, "{four:?}");
    }
}
