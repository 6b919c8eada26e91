//! Schedules as code: a TOML file declaring apps and their jobs, checked whole before anything
//! is written ([`parse_file`]), compared with the store into a [`Plan`] ([`Ops::plan`]), then
//! carried out step by step, each write conditional on what the plan read ([`Ops::apply_plan`]).
//!
//! TOML, read with the `toml` crate: every key and value keeps its place in the file, so each
//! error names its line and column. It is what Rust and Python users already write for
//! configuration (`Cargo.toml`, `pyproject.toml`), and `serde_yaml` is deprecated. The file is
//! walked as `toml`'s spanned document tree rather than derived with serde, so that one pass
//! reports every error (serde stops at the first).
//!
//! A job in the file takes exactly the options `create` takes, checked by the same functions
//! ([`JobInput`], [`ScheduleForm`], [`AppInput`]); a value may use `${NAME}`, a name may not
//! (so that `--prune` never reaches across environments). A file sees only the variables
//! given to it ([`file_var`]: `--var NAME=VALUE`, else `PSU_SCHED_VAR_<NAME>`), never the
//! scheduler's own settings nor AWS credentials; a value that came from a variable is never
//! printed, in an error line nor in the plan (which shows it as written, `${NAME}` kept).

//!
//! The parts, in the order a run goes through them: [`file`] reads the file (its tables key by
//! key through [`tables`], its `${NAME}` through [`vars`]) into a [`DesiredState`]; [`plan`]
//! compares it with the store into a [`Plan`]; [`execute`] carries the plan out.

mod execute;
mod file;
mod plan;
mod tables;
#[cfg(test)]
mod tests;
mod vars;

pub use file::{DesiredState, parse_file};
pub use plan::{Action, Applied, Plan, PlanView, Step};
pub use vars::{VAR_PREFIX, file_var, parse_var};
