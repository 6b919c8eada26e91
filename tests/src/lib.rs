//! Integration tests for psu-sched: nothing to import here. The tests are one binary,
//! `tests/tests/it.rs` (run them with `./scripts/test`), and the package holds the
//! `bench-tick` tool (`src/bin/bench_tick.rs`, docs/benchmarks.md).
