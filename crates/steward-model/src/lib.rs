//! Druid-compatible types and JSON shared by every Steward process.
//!
//! Everything that crosses a process boundary (HTTP bodies, coordinator nodes, metadata rows, the
//! peon's task and status files) is defined here once, with Druid's field names, so the Overlord,
//! the MiddleManager and the peon cannot drift apart.

pub mod action;
pub mod api;
pub mod backoff;
pub mod coordination;
pub mod end;
pub mod files;
pub mod granularity;
pub mod ids;
pub mod ingest;
pub mod interval;
pub mod lock;
pub mod peon;
pub mod segment;
pub mod segment_schema;
pub mod status;
pub mod task;
pub mod task_error;
pub mod time;
pub mod worker;

pub use action::{TaskAction, TaskActionHolder};
pub use api::{DruidError, TaskStatusPlus};
pub use granularity::Granularity;
pub use ingest::{BatchIngestSpec, IngestionMode};
pub use interval::Interval;
pub use lock::{LockGranularity, TaskLock, TaskLockType};
pub use segment::{
    DataSegment, HashPartitionFunction, HashedShardSpec, PartialShardSpec, SegmentId,
    SegmentIdWithShardSpec, ShardSpec,
};
pub use segment_schema::SegmentSchemaMapping;
pub use status::{RunnerTaskState, TaskLocation, TaskState, TaskStatus};
pub use task::{
    CompactSpec, KillSpec, NoopSpec, ReadyResult, SubTaskSpec, Task, TaskError, TaskKind,
    TaskResource,
};
pub use worker::{TaskAnnouncement, Worker, DEFAULT_WORKER_CATEGORY};
