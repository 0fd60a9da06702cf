//! The runner's record of each task it holds, one kind per stage: pending (waiting for a
//! worker), running (assigned; unacknowledged until the worker announces it), complete (ended;
//! its status announcement not yet cleaned up).
//!
//! They are Druid's `RemoteTaskRunnerWorkItem` split by stage, so that each stage holds only
//! what it needs: a running item keeps the task itself only while the assignment may still be
//! retried elsewhere.

use jiff::Timestamp;
use steward_model::{Task, TaskLocation, TaskResource, TaskStatus};

pub(super) struct PendingItem {
    pub(super) task: Task,
    pub(super) key: PendingKey,
    pub(super) inserted: Timestamp,
}

/// Higher priority first, then first come first served.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct PendingKey {
    pub(super) neg_priority: i64,
    pub(super) seq: u64,
    pub(super) id: String,
}

pub(super) struct RunningItem {
    pub(super) task_type: String,
    pub(super) resource: TaskResource,
    pub(super) worker: String,
    pub(super) location: TaskLocation,
    pub(super) inserted: Timestamp,
    /// Kept until the worker acknowledges, so a vanished worker's assignment can be retried.
    pub(super) task: Option<Task>,
    /// Deadline of an unacknowledged assignment.
    pub(super) ack_deadline: Option<Timestamp>,
    /// Set when the task was stopped on request: its FAILED end says nothing about the worker.
    pub(super) shutdown_requested: bool,
    /// Announced by a worker but not handed over by the queue (yet): until the queue has said
    /// the task is active, nothing may claim it was adopted.
    pub(super) discovered: bool,
}

impl RunningItem {
    /// The task of an assignment the worker never acknowledged: as far as the Overlord knows
    /// nothing ran, so it may be assigned again. Not a task stopped on request: its end is
    /// recorded (or about to be).
    pub(super) fn take_retryable(&mut self) -> Option<Task> {
        if self.ack_deadline.is_none() || self.shutdown_requested {
            return None;
        }
        self.task.take()
    }
}

pub(super) struct CompleteItem {
    pub(super) worker: Option<String>,
    /// Kept so that handing a complete task to the runner again reports its end again (a new
    /// leader's queue learns about ends that happened while no leader existed this way).
    pub(super) status: TaskStatus,
}
