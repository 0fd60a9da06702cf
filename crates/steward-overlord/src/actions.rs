//! The task actions that change or read the lockbox, as events of the core (Druid's
//! `LockTryAcquireAction`, `LockReleaseAction`, `LockListAction`, and the checks of
//! `SegmentTransactionalInsertAction` and `SegmentNukeAction` before and around their database
//! transaction).
//!
//! Druid runs these under the lockbox's giant lock; here they are events in the core's one
//! order, so an acquisition, a revocation and a task's end can never interleave halfway.
//! A publish is two events around its database transaction: [`OverlordCore::begin_publish`]
//! checks that the task's locks cover every segment and are not revoked, and pins them
//! (Druid's `doInCriticalSection`: no revocation and no release until
//! [`OverlordCore::end_publish`]), so a higher-priority task cannot take a time chunk while a
//! publish into it is being committed.

use jiff::Timestamp;
use steward_model::{Interval, Task, TaskLock, TaskLockType};

use crate::core::{IoEffect, OverlordCore};
use crate::lockbox::{LockRequest, LockResult};
use crate::queue::EntryState;

/// Why the core refused an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionRefused {
    /// The task is not active on this leader, or its end is being recorded.
    #[error("Task [{0}] is not active on this Overlord: it is unknown, finished or ending")]
    NotActive(String),
    /// The request itself is invalid (an empty interval, a lock the task cannot take).
    #[error("{0}")]
    Invalid(String),
    /// Druid's `CONFLICT`: the task's locks do not cover what it writes.
    #[error("{0}")]
    Conflict(String),
}

/// The checks of a publish (or a nuke), before its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishGate {
    /// The locks are pinned: run the transaction, then call `end_publish`.
    Go,
    /// A lock was revoked (Druid's "Invalid task locks" failure, answered as
    /// `{"success":false}`): nothing is written.
    InvalidLocks,
}

/// Druid's answer to a publish whose locks were revoked.
pub const INVALID_LOCKS: &str = "Invalid task locks. Maybe they are revoked by a higher priority \
                                 task. Please check the overlord log for details.";

/// A segment as far as lock coverage is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentCoverage {
    pub id: String,
    pub data_source: String,
    pub interval: Interval,
    pub version: String,
}

impl OverlordCore {
    /// The task a peon acts for: active here and not ending.
    pub(crate) fn acting_task(&self, task_id: &str) -> Result<Task, ActionRefused> {
        match self.queue().entry(task_id) {
            Some(e) if matches!(e.state, EntryState::Waiting | EntryState::Submitted) => {
                Ok(e.task.clone())
            }
            _ => Err(ActionRefused::NotActive(task_id.to_string())),
        }
    }

    /// `lockTryAcquire`: a lock now or none (`Unavailable`).
    pub fn lock_try_acquire(
        &mut self,
        task_id: &str,
        request: &LockRequest,
        now: Timestamp,
    ) -> (Result<LockResult, ActionRefused>, Vec<IoEffect>) {
        let task = match self.acting_task(task_id) {
            Ok(t) => t,
            Err(e) => return (Err(e), Vec::new()),
        };
        let mut persist = Vec::new();
        let result = self
            .lockbox
            .try_lock(&task, request, now, &mut persist)
            .map_err(ActionRefused::Invalid);
        let effects = self.route(Vec::new(), Vec::new(), persist, now);
        (result, effects)
    }

    /// `lockRelease`: gives back the task's lock on `interval`; waiting tasks are asked again.
    pub fn lock_release(
        &mut self,
        task_id: &str,
        interval: &Interval,
        now: Timestamp,
    ) -> (Result<(), ActionRefused>, Vec<IoEffect>) {
        let task = match self.acting_task(task_id) {
            Ok(t) => t,
            Err(e) => return (Err(e), Vec::new()),
        };
        let mut persist = Vec::new();
        let released = self.lockbox.unlock(&task, interval, &mut persist);
        (Ok(()), self.after_release(released, persist, now))
    }

    /// `lockList`: the task's locks.
    pub fn task_locks(&self, task_id: &str) -> Result<Vec<TaskLock>, ActionRefused> {
        self.acting_task(task_id)?;
        Ok(self.lockbox.find_locks(task_id))
    }

    /// Before a publish or a nuke: Druid's `checkLockCoversSegments` (every segment inside a
    /// non-revoked lock of the task on its datasource with a version at least the segment's,
    /// or an APPEND lock), then the critical section.
    pub fn begin_publish(
        &mut self,
        task_id: &str,
        segments: &[SegmentCoverage],
        lock_type: Option<TaskLockType>,
    ) -> Result<PublishGate, ActionRefused> {
        let task = self.acting_task(task_id)?;
        let locks = self.lockbox.find_locks(task_id);
        if let Some(wanted) = lock_type {
            if let Some(other) = locks.iter().find(|l| l.lock_type != wanted) {
                return Err(ActionRefused::Invalid(format!(
                    "Task[{task_id}] holds a lock of type[{}] but the action needs [{}] locks",
                    other.lock_type.as_str(),
                    wanted.as_str()
                )));
            }
        }
        let covered = |s: &SegmentCoverage| {
            locks.iter().any(|l| {
                !l.revoked
                    && l.interval.contains(&s.interval)
                    && l.data_source == s.data_source
                    && (l.version >= s.version || l.lock_type == TaskLockType::Append)
            })
        };
        let uncovered: Vec<&str> = segments
            .iter()
            .filter(|s| !covered(s))
            .map(|s| s.id.as_str())
            .collect();
        if !uncovered.is_empty() {
            let held: Vec<String> = locks
                .iter()
                .map(|l| {
                    let state = if l.revoked { "revoked" } else { "valid" };
                    format!(
                        "{} {} {} {state}",
                        l.lock_type.as_str(),
                        l.interval,
                        l.version
                    )
                })
                .collect();
            return Err(ActionRefused::Conflict(format!(
                "Segment IDs{uncovered:?} are not covered by locks{held:?} for task[{task_id}]"
            )));
        }
        let intervals: Vec<Interval> = segments.iter().map(|s| s.interval).collect();
        match self.lockbox.begin_critical(&task, &intervals) {
            Ok(()) => Ok(PublishGate::Go),
            Err(_) => Ok(PublishGate::InvalidLocks),
        }
    }

    /// After the publish's transaction, whatever its outcome: the pins go, and a release held
    /// back meanwhile (the task ended) happens now.
    pub fn end_publish(&mut self, task_id: &str, now: Timestamp) -> Vec<IoEffect> {
        let mut persist = Vec::new();
        let released = self.lockbox.end_critical(task_id, &mut persist);
        self.after_release(released, persist, now)
    }

    /// Counts a release and asks the waiting tasks again, since one may wait for it.
    fn after_release(
        &mut self,
        released: bool,
        mut persist: Vec<crate::lockbox::LockPersist>,
        now: Timestamp,
    ) -> Vec<IoEffect> {
        let mut q = Vec::new();
        if released {
            self.lock_releases += 1;
            self.ask(now, &mut persist, |queue, readiness| {
                queue.manage_all(readiness, &mut q)
            });
        }
        self.route(Vec::new(), q, persist, now)
    }
}

#[cfg(test)]
#[path = "actions_tests.rs"]
mod tests;
