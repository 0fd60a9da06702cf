//! The MiddleManager: takes the tasks the Overlord assigns to this worker, runs each in its own
//! peon process, and announces each task's status until the Overlord has recorded its end.
//!
//! Druid's `WorkerTaskMonitor`, `WorkerTaskManager` and `ForkingTaskRunner`, with one difference
//! that matters to operators: peons outlive their MiddleManager. A restarted MiddleManager
//! re-adopts the peons still running and reports the end of those that finished meanwhile, so
//! restarting a worker loses no task.
//!
//! - `config`: [`WorkerConfig`], Druid's property names and defaults.
//! - [`core`]: [`WorkerCore`], the worker's state as a state machine without I/O (public, so a
//!   simulation can drive it).
//! - `manager`: [`MiddleManager`], the handle, and how a worker starts.
//! - `driver`: the event loop that feeds the core and carries out its effects.
//! - `requests`: what the HTTP API and the handle ask of the driver and read from it.
//! - `task_run`: one task's life, from launch or re-adoption to its recorded end.
//! - `process`: spawning, signalling and watching peon processes.
//! - `ports`, `layout`, `restore`: peon ports, the on-disk layout, what a restart finds.
//! - `http`: the worker HTTP API; `metrics`: what its `/metrics` serves.
//! - `shared`: what the driver, the task runs and the HTTP API share.

mod config;
pub mod core;
mod driver;
mod http;
mod layout;
mod manager;
mod metrics;
mod ports;
mod process;
mod requests;
mod restore;
mod shared;
mod task_run;

pub use config::WorkerConfig;
pub use core::{PeonRecord, Plan, Restored, WorkerCore, WorkerEffect, WorkerInput};
pub use manager::{MiddleManager, WorkerError};
pub use ports::{can_bind, PortFinder};
