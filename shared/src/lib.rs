//! psu-sched's library: jobs, schedules, the store and the tick.
//!
//! The Lambda function, the CLI and the local daemon are thin shells around
//! [`tick::tick`], which takes its store, its dispatcher and its clock as parameters:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use shared::{clock::SystemClock, store::dynamodb::DynamoStore};
//! use shared::config::{Config, Runner};
//! use shared::tick::tick;
//!
//! let config = Config::from_env()?;
//! let store = DynamoStore::from_env(config.table.clone()).await;
//! // Signing secrets and private targets as configured, the same for every front end.
//! let dispatcher = config.dispatcher(Runner::Lambda)?;
//! let summary = tick(&store, &dispatcher, &SystemClock, &config.tick).await?;
//! println!("{}", serde_json::to_string(&summary)?);
//! # Ok(())
//! # }
//! ```

pub mod clock;
pub mod config;
pub mod daemon;
pub mod dispatch;
pub mod duration;
pub mod guard;
pub mod hash;
pub mod model;
#[cfg(all(feature = "dynamodb", feature = "sqlite"))]
pub mod ops;
pub mod protocol;
pub mod schedule;
pub mod secrets;
pub mod signing;
pub mod store;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod tick;

/// An error's message and its sources, `: `-separated: the one line the Lambda answers and the
/// logs carry.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
