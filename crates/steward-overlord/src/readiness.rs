//! Whether a waiting task may run now (Druid's `Task.isReady`): a decision of the core, not a
//! property of the task.
//!
//! In Druid a task answers `isReady` through its task action client, and for most tasks the
//! answer is whether the TaskLockbox grants the locks on its intervals: it depends on what
//! other tasks hold, and changes when they end. So the core owns a [`Readiness`], and the queue
//! asks it about a task when the task is stored, and about every waiting task, in priority
//! order, whenever something a task may wait for is released: today, when a task's end is
//! recorded.
//!
//! This is where the TaskLockbox is to plug in: a `Readiness` holding it tries the task's locks
//! (giving back what it took when the answer is no, as Druid's `unlockAll` does); the core
//! releases an ended task's locks before the queue asks again, and asks again when a lock is
//! released on its own.

use steward_model::{ReadyResult, Task, TaskKind};

/// Decides whether a task may run now.
pub trait Readiness: Send {
    /// `Ok(true)`: hand the task to the runner; `Ok(false)`: it keeps waiting and is asked
    /// again once something is released; `Err(why)`: it fails (Druid's exception in `isReady`).
    fn is_ready(&mut self, task: &Task) -> Result<bool, String>;
}

/// Each task's own answer, with nothing held on its behalf: what Steward's task types ask for
/// while no task takes locks.
#[derive(Debug, Default)]
pub struct TaskReadiness;

impl Readiness for TaskReadiness {
    fn is_ready(&mut self, task: &Task) -> Result<bool, String> {
        match task.kind() {
            TaskKind::Noop(spec) => match spec.is_ready_result {
                ReadyResult::Yes => Ok(true),
                ReadyResult::No => Ok(false),
                ReadyResult::Exception => {
                    Err("Not ready. Never will be ready. Go away!".to_string())
                }
            },
            // Druid's kill is ready once it holds its lock (`lockTryAcquire` on its interval,
            // `KillSpec::lock_type`); the lockbox integration replaces this answer.
            TaskKind::Kill(_) => Ok(true),
        }
    }
}
