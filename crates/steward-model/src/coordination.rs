//! What the coordinator tells the Overlord's task runner and a MiddleManager.
//!
//! These are the inputs of the two pure cores (the Overlord's and the worker's), defined here
//! rather than beside the ZooKeeper code so that a core depends on what it is told, not on how
//! the telling is carried: ZooKeeper, the in-process coordinator and the simulation all produce
//! the same events.

use crate::{Task, TaskAnnouncement, Worker};

/// What the Overlord's task runner learns from the coordinator.
#[derive(Debug, Clone, PartialEq)]
pub enum RunnerEvent {
    /// A worker announced itself.
    WorkerAdded(Worker),
    /// A worker re-announced itself with other data (enabled/disabled, capacity, category).
    WorkerChanged(Worker),
    /// A worker's announcement disappeared (stopped, crashed, lost its session).
    WorkerRemoved(String),
    /// Every status announcement present when the worker appeared has been delivered.
    WorkerInitialized(String),
    /// A worker created or updated the status announcement of a task.
    StatusAnnounced {
        worker: String,
        announcement: TaskAnnouncement,
    },
    /// A task's status announcement disappeared.
    StatusRemoved { worker: String, task_id: String },
}

/// What a MiddleManager learns from the coordinator.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEvent {
    /// The Overlord assigned a task to this worker.
    Assigned(Task),
    /// The Overlord removed this task's status announcement: it has recorded the end.
    StatusRemoved(String),
}
