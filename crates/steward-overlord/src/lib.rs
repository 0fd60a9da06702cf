//! The Overlord: accepts tasks, stores them, assigns them to workers and records every end.
//!
//! [`runner`] and [`queue`] are Druid's `RemoteTaskRunner` and `TaskQueue` as deterministic state
//! machines; [`core`] wires them together; [`driver`] owns the core on one tokio task and does
//! the I/O it asks for; [`api`] serves Druid's HTTP API on top. [`select`] chooses a worker for
//! each task under the dynamic [`worker_config`].

pub mod api;
pub mod config;
pub mod core;
pub mod driver;
pub mod queue;
pub mod runner;
pub mod select;
pub mod worker_config;

pub use config::{QueueConfig, RunnerConfig};
pub use core::{IoEffect, OverlordCore};
pub use driver::{Overlord, OverlordParts};
