//! The Overlord: accepts tasks, stores them, assigns them to workers and records every end.
//!
//! `runner` and `queue` are Druid's `RemoteTaskRunner` and `TaskQueue` as deterministic state
//! machines, `lockbox` its `TaskLockbox` (the task locks) likewise; `core` wires them together; `driver` owns the core on one tokio task and does
//! the I/O it asks for, for one leadership `term`; `master` starts and stops terms as this
//! process gains and loses the leadership; [`api`] serves Druid's HTTP API on top, redirecting
//! to the leader when this process does not lead, and `console` the web console an operator
//! opens in a browser. `select` chooses a worker for each task
//! under the dynamic `worker_config`; `readiness` decides when a waiting task may run.
//! `retention` deletes old task logs and history.
//!
//! The public surface is what the binary wires ([`Overlord`], [`TaskMaster`], [`api`], the
//! settings, retention) and what a simulation outside the crate drives: the [`OverlordCore`]
//! with its effects, and read-only views of its queue and runner. Everything else stays
//! inside, so that the modules can change shape without breaking another crate.

mod actions;
pub mod api;
mod config;
mod console;
mod core;
mod driver;
mod lockbox;
mod master;
mod queue;
mod readiness;
mod retention;
mod runner;
mod select;
mod term;
mod worker_config;

pub use actions::{ActionRefused, PublishGate, SegmentCoverage};
pub use config::{QueueConfig, RunnerConfig};
pub use core::{IoEffect, OverlordCore};
pub use driver::{Overlord, OverlordParts};
pub use lockbox::{LockPersist, LockRequest, LockResult};
pub use master::TaskMaster;
pub use queue::{Entry, EntryState, QueueError, TaskQueue};
pub use retention::{spawn_retention, RetentionConfig};
pub use runner::{TaskRunner, WorkerView};

#[cfg(test)]
mod test_support;
