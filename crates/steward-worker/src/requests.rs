//! What the driver answers and publishes for those outside it: the worker HTTP API and the
//! [`MiddleManager`](crate::MiddleManager) handle send it [`Request`]s and read the [`View`] it
//! publishes after every event.
//!
//! These types have a module of their own so that the API, the handle and the driver share them
//! without depending on one another.

use std::collections::BTreeMap;
use std::path::PathBuf;

use steward_model::Worker;
use tokio::sync::oneshot;

/// How a change is answered once carried out: `Err` if it was refused or the worker's
/// announcement could not be written.
pub(crate) type Answer = oneshot::Sender<Result<(), String>>;

pub(crate) enum Request {
    /// Stop the task's peon (never refused: a task not running here has nothing to stop).
    Shutdown { id: String, reply: Answer },
    /// Announce the worker enabled or disabled.
    SetEnabled { enabled: bool, reply: Answer },
    /// Stop the MiddleManager; answered once it has stopped.
    Stop(oneshot::Sender<()>),
}

/// What the HTTP API shows: the worker as announced, the log file of each task here, and the
/// tasks running here.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub worker: Worker,
    pub logs: BTreeMap<String, PathBuf>,
    pub running: Vec<RunningTask>,
}

/// A task running here, as `/metrics` names it and reaches its peon.
#[derive(Debug, Clone)]
pub(crate) struct RunningTask {
    pub id: String,
    pub data_source: String,
    pub task_type: String,
    /// The peon's port, once it has one.
    pub port: Option<u16>,
}
