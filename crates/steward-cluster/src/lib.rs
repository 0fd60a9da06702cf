//! Coordination between the Overlord and its MiddleManagers, and the task-log store they share.
//!
//! Druid coordinates through ZooKeeper nodes: a worker announces itself, the Overlord writes an
//! assignment under the worker, the worker writes a status announcement per task, and the
//! Overlord deletes that announcement once it has recorded the task's end. The two traits here
//! state exactly those operations, once from the Overlord's side ([`OverlordCoordinator`]) and
//! once from a worker's ([`WorkerCoordinator`]). [`InProcessCoordinator`] implements both for
//! `steward quickstart`; [`ZkCoordinator`] (cluster mode) implements the same traits through
//! ZooKeeper, so the task runner and the MiddleManager have one code path. Which of several
//! Overlords leads is a [`LeaderElection`] (module [`leader`]).

pub mod in_process;
pub mod leader;
pub mod task_logs;
mod wait;
pub mod zookeeper;

use async_trait::async_trait;
pub use steward_model::coordination::{RunnerEvent, WorkerEvent};
use steward_model::{Task, TaskAnnouncement, Worker};
use tokio::sync::mpsc;

pub use in_process::InProcessCoordinator;
pub use leader::{AlwaysLeader, LeaderElection, Leadership};
pub use task_logs::{read_log, FileTaskLogs};
pub use wait::sleep_until;
pub use zookeeper::{ZkConfig, ZkCoordinator, ZkLeaderElection};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoordinatorError {
    #[error("node already exists: {0}")]
    Exists(String),
    #[error("no such node: {0}")]
    NoNode(String),
    #[error("coordinator unavailable: {0}")]
    Unavailable(String),
    /// The coordinator refuses the request itself (a path or payload it cannot take): retrying
    /// cannot help, so the task it was for fails at once instead of waiting out an outage.
    #[error("coordinator refused the request: {0}")]
    Refused(String),
    /// This Overlord takes part in a leader election and does not lead: it writes nothing.
    #[error("this Overlord is not the leader")]
    NotLeader,
}

/// The Overlord's side of coordination (Druid's `RemoteTaskRunner` view of ZooKeeper).
#[async_trait]
pub trait OverlordCoordinator: Send + Sync + 'static {
    /// Delivers the current state first (for each worker: `WorkerAdded`, its status
    /// announcements, `WorkerInitialized`), then every change, in order.
    async fn subscribe(&self) -> Result<mpsc::UnboundedReceiver<RunnerEvent>, CoordinatorError>;
    /// Writes an assignment of `task` to `worker`.
    async fn assign(&self, worker: &str, task: &Task) -> Result<(), CoordinatorError>;
    /// Every assignment written and not yet picked up, as `(worker, task id)`. A new leader
    /// reads them so that a task its predecessor assigned is not assigned a second time.
    async fn assignments(&self) -> Result<Vec<(String, String)>, CoordinatorError>;
    /// Deletes an assignment the worker has not picked up (missing is not an error).
    async fn remove_assignment(&self, worker: &str, task_id: &str) -> Result<(), CoordinatorError>;
    /// Deletes a task's status announcement once its end is recorded (missing is not an error).
    async fn remove_status(&self, worker: &str, task_id: &str) -> Result<(), CoordinatorError>;
}

/// A MiddleManager's side of coordination (Druid's `WorkerCuratorCoordinator` and
/// `WorkerTaskMonitor`).
#[async_trait]
pub trait WorkerCoordinator: Send + Sync + 'static {
    /// Creates or replaces this worker's announcement.
    async fn announce(&self, worker: &Worker) -> Result<(), CoordinatorError>;
    /// Removes this worker's announcement.
    async fn unannounce(&self, host: &str) -> Result<(), CoordinatorError>;
    /// Delivers the assignments already present, then new assignments and status removals.
    async fn subscribe(
        &self,
        host: &str,
    ) -> Result<mpsc::UnboundedReceiver<WorkerEvent>, CoordinatorError>;
    /// Creates or updates the status announcement of a task.
    async fn announce_status(
        &self,
        host: &str,
        announcement: &TaskAnnouncement,
    ) -> Result<(), CoordinatorError>;
    /// The status announcements this worker has published and the Overlord has not removed.
    async fn statuses(&self, host: &str) -> Result<Vec<TaskAnnouncement>, CoordinatorError>;
    /// Deletes an assignment once the task has started (missing is not an error).
    async fn remove_assignment(&self, host: &str, task_id: &str) -> Result<(), CoordinatorError>;
    /// The base URLs of the Overlords taking part in the leader election, the leader first:
    /// where a peon sends its task actions. A coordinator without an election knows none
    /// (quickstart's MiddleManagers are told their Overlord's URL instead).
    async fn overlord_urls(&self) -> Result<Vec<String>, CoordinatorError> {
        Ok(Vec::new())
    }
    /// A task's peon has started: announces `running` (RUNNING, no location yet), then
    /// `located` (RUNNING at the peon's location), then removes the assignment, as Druid's
    /// worker does. A coordinator may do all three in one write; the Overlord sees the same
    /// sequence either way.
    async fn announce_started(
        &self,
        host: &str,
        running: &TaskAnnouncement,
        located: &TaskAnnouncement,
    ) -> Result<(), CoordinatorError> {
        debug_assert_eq!(running.id, located.id);
        // Each step is tried whatever the one before did: a status that did not reach the
        // coordinator is published again later, an assignment left behind would be delivered
        // again.
        let results = [
            self.announce_status(host, running).await,
            self.announce_status(host, located).await,
            self.remove_assignment(host, &located.id).await,
        ];
        results.into_iter().collect()
    }
}
