//! Whether a waiting task may run now (Druid's `Task.isReady`): a decision of the core, not a
//! property of the task.
//!
//! In Druid a task answers `isReady` through its task action client, and for most tasks the
//! answer is whether the TaskLockbox grants the locks on its intervals: it depends on what
//! other tasks hold, and changes when they end. So the core asks through a [`Readiness`]
//! holding the lockbox: the queue asks it about a task when the task is stored, and about every
//! waiting task, in priority order, whenever a lock is released (a task's end recorded, a
//! `lockRelease`, the end of a publish that held a release back).
//!
//! A task that does not get every lock it needs gives back what it took (Druid's `unlockAll`),
//! so a waiting task holds nothing; a task whose own lock was revoked fails, as in Druid.

use jiff::Timestamp;
use steward_model::{BatchIngestSpec, KillSpec, ReadyResult, Task, TaskKind};

use crate::lockbox::{LockPersist, LockRequest, LockResult, TaskLockbox};

/// Decides whether a task may run now.
pub trait Readiness: Send {
    /// `Ok(true)`: hand the task to the runner; `Ok(false)`: it keeps waiting and is asked
    /// again once something is released; `Err(why)`: it fails (Druid's exception in `isReady`).
    fn is_ready(&mut self, task: &Task) -> Result<bool, String>;
}

/// The core's answer: each task type's own condition, then the locks it needs.
pub(crate) struct LockReadiness<'a> {
    pub lockbox: &'a mut TaskLockbox,
    pub now: Timestamp,
    /// Lock rows to write, in order.
    pub persist: &'a mut Vec<LockPersist>,
}

impl Readiness for LockReadiness<'_> {
    fn is_ready(&mut self, task: &Task) -> Result<bool, String> {
        match task.kind() {
            TaskKind::Noop(spec) => noop_ready(spec.is_ready_result),
            TaskKind::Kill(spec) => {
                let lock_type = KillSpec::lock_type(task.context())?;
                self.lock_all(
                    task,
                    &[LockRequest {
                        lock_type,
                        interval: spec.interval,
                        preferred_version: None,
                    }],
                )
            }
            // A batch ingestion locks the buckets of its intervals before it runs; one that
            // finds its intervals in its input locks them as it goes (Druid's
            // `determineLockGranularityAndTryLock` with no intervals: ready at once).
            TaskKind::Index(spec) | TaskKind::IndexParallel(spec) => self.lock_ingest(task, spec),
            TaskKind::SinglePhaseSubTask(sub)
            | TaskKind::PartialIndexGenerate(sub)
            | TaskKind::PartialIndexGenericMerge(sub) => self.lock_ingest(task, &sub.ingest),
            // Druid's compaction locks its interval before it runs.
            TaskKind::Compact(compact) => self.lock_ingest(task, &compact.ingest),
        }
    }
}

impl LockReadiness<'_> {
    fn lock_ingest(&mut self, task: &Task, spec: &BatchIngestSpec) -> Result<bool, String> {
        let lock_type = spec.lock_type(task.context())?;
        let requests: Vec<LockRequest> = spec
            .lock_intervals()
            .into_iter()
            .map(|interval| LockRequest {
                lock_type,
                interval,
                preferred_version: None,
            })
            .collect();
        self.lock_all(task, &requests)
    }

    /// Druid's `tryTimeChunkLock` over a task's intervals: all or nothing.
    fn lock_all(&mut self, task: &Task, requests: &[LockRequest]) -> Result<bool, String> {
        for request in requests {
            match self.lockbox.try_lock(task, request, self.now, self.persist) {
                Ok(LockResult::Acquired(_)) => {}
                Ok(LockResult::Unavailable) => {
                    self.lockbox.unlock_all(task, self.persist);
                    return Ok(false);
                }
                Ok(LockResult::Revoked(lock)) => {
                    self.lockbox.unlock_all(task, self.persist);
                    return Err(format!("Lock for interval [{}] was revoked", lock.interval));
                }
                Err(e) => {
                    self.lockbox.unlock_all(task, self.persist);
                    return Err(e);
                }
            }
        }
        Ok(true)
    }
}

/// A `noop` task's legacy `isReadyResult`.
fn noop_ready(result: ReadyResult) -> Result<bool, String> {
    match result {
        ReadyResult::Yes => Ok(true),
        ReadyResult::No => Ok(false),
        ReadyResult::Exception => Err("Not ready. Never will be ready. Go away!".to_string()),
    }
}

/// Each task's own answer with no locks involved: the queue's tests, which are about the
/// waiting line, not the lockbox.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct TaskReadiness;

#[cfg(test)]
impl Readiness for TaskReadiness {
    fn is_ready(&mut self, task: &Task) -> Result<bool, String> {
        match task.kind() {
            TaskKind::Noop(spec) => noop_ready(spec.is_ready_result),
            other => panic!("a test asked a task that takes locks without a lockbox: {other:?}"),
        }
    }
}
