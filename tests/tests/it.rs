//! The integration tests of psu-sched, one binary: each module drives one part as a user
//! would (the CLI, the tick, the guard, the Lambda, `serve`) against a fresh table on the moto
//! server or a temporary SQLite file, with a real HTTP job server. Run them with
//! `./scripts/test` (which starts moto); `helpers` holds what they share.

// Test code: a helper that cannot build its world panics, failing the test that called it
// (clippy.toml allows this inside `#[test]` functions only, not in the helpers they call).
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod helpers;
mod selftest;

mod admin;
mod app_delete_race;
mod app_zone;
mod apply;
mod apps;
mod backfill;
mod backfill_admin;
mod backfill_history;
mod backfill_race;
mod both;
mod bruteforce;
mod cli;
mod conformance;
mod dashboard;
mod django;
mod docs_figures;
mod due_index;
mod edit;
mod faults;
mod guard;
mod infra;
mod jitter;
mod keys;
mod lagging;
mod lambda;
mod legacy;
mod listing;
mod lost_answers;
mod notify;
mod notify_settings;
mod ops;
mod pause;
mod pause_admin;
mod pause_cli;
mod private_ca;
mod protections;
mod release;
mod retired_keys;
mod serve;
mod shards;
mod sqlite_race;
mod sqlite_scale;
mod stats;
mod table_format;
mod tick;
mod tracked;
mod world;
