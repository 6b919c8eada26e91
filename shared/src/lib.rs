//! psu-sched's library: jobs, schedules, the store and the tick.
//!
//! The Lambda function, the CLI and the local daemon are thin shells around
//! [`tick::tick`], which takes its store, its dispatcher and its clock as parameters:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use shared::{clock::SystemClock, dispatch::HttpDispatcher, store::dynamodb::DynamoStore};
//! use shared::tick::{tick, TickConfig};
//!
//! let store = DynamoStore::from_env("psu-scheduler").await;
//! let dispatcher = HttpDispatcher::new()?;
//! let summary = tick(&store, &dispatcher, &SystemClock, &TickConfig::default()).await?;
//! println!("{}", serde_json::to_string(&summary)?);
//! # Ok(())
//! # }
//! ```

pub mod clock;
pub mod config;
pub mod daemon;
pub mod dispatch;
pub mod guard;
pub mod jobs;
pub mod model;
pub mod schedule;
pub mod store;
pub mod tick;
