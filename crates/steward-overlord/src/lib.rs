//! The Overlord: accepts tasks, stores them, assigns them to workers and records every end.
//!
//! [`runner`] and [`queue`] are Druid's `RemoteTaskRunner` and `TaskQueue` as deterministic state
//! machines; [`core`] wires them together; [`driver`] owns the core on one tokio task and does
//! the I/O it asks for, for one leadership [`term`]; [`master`] starts and stops terms as this
//! process gains and loses the leadership; [`api`] serves Druid's HTTP API on top, redirecting
//! to the leader when this process does not lead. [`select`] chooses a worker for each task
//! under the dynamic [`worker_config`]. [`retention`] deletes old task logs and history.

pub mod api;
pub mod config;
pub mod core;
pub mod driver;
pub mod master;
pub mod queue;
pub mod retention;
pub mod runner;
pub mod select;
pub mod term;
pub mod worker_config;

pub use config::{QueueConfig, RunnerConfig};
pub use core::{IoEffect, OverlordCore};
pub use driver::{Overlord, OverlordParts};
pub use master::TaskMaster;
pub use retention::{spawn_retention, RetentionConfig};
pub use term::Term;

#[cfg(test)]
mod test_support;
