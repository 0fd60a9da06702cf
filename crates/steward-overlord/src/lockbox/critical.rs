//! The critical section around a task's publish (Druid's `doInCriticalSection`).
//!
//! A task publishes segments only if, when the store's transaction commits, it still holds
//! live locks over every segment's interval. Druid checks the locks and runs the transaction
//! under its lockbox's giant lock, so nothing can revoke them meanwhile, at the price of
//! stopping every lock operation of the datasource for the length of a database transaction.
//! Steward checks the locks and *pins* them instead: until the section ends, no request may
//! revoke them (it is answered Unavailable, as if they had a higher priority) and the task
//! cannot let go of them (a release, even the task's end, is carried out when the section
//! ends). Everything else goes on while the transaction runs.

use steward_model::{Interval, Task, TaskLock};

use super::index::PosseId;
use super::{LockPersist, TaskLockbox};

/// Druid's answer when a lock of a publishing task is revoked.
const INVALID_LOCKS: &str = "Invalid task locks. Maybe they are revoked by a higher priority \
                             task. Please check the overlord log for details.";

impl TaskLockbox {
    /// Checks that each of `intervals` lies within exactly one lock the task holds and that
    /// lock is not revoked (Druid's messages otherwise); on success pins the task's locks
    /// until the matching [`end_critical`](Self::end_critical). Sections nest.
    pub(crate) fn begin_critical(
        &mut self,
        task: &Task,
        intervals: &[Interval],
    ) -> Result<(), String> {
        // A task that ended holds nothing any more, even if its release is still deferred.
        let entry = self.tasks.get(task.id()).filter(|e| !e.ended);
        let held: Vec<&TaskLock> = entry
            .into_iter()
            .flat_map(|e| e.posses.iter().map(|id| &self.posses[id].lock))
            .collect();
        for interval in intervals {
            let covering: Vec<&&TaskLock> = held
                .iter()
                .filter(|l| l.interval.contains(interval))
                .collect();
            match covering[..] {
                [] => {
                    return Err(format!(
                        "Cannot find any lock for task[{}] and interval[{interval}]",
                        task.id()
                    ))
                }
                [lock] if lock.revoked => return Err(INVALID_LOCKS.into()),
                [_] => {}
                _ => {
                    return Err(format!(
                        "There are multiple timechunk lockPosses for task[{}] and \
                         interval[{interval}]",
                        task.id()
                    ))
                }
            }
        }
        // Nothing to pin for an unknown task asked about no interval.
        if let Some(entry) = self.tasks.get_mut(task.id()).filter(|e| !e.ended) {
            entry.critical += 1;
        }
        Ok(())
    }

    /// Ends a critical section of the task; when it was the last one, carries out the
    /// releases it deferred (all of its locks if it ended meanwhile, and then forgets it).
    /// True if something was released.
    pub(crate) fn end_critical(&mut self, task_id: &str, out: &mut Vec<LockPersist>) -> bool {
        let Some(entry) = self.tasks.get_mut(task_id) else {
            return false;
        };
        if entry.critical == 0 {
            return false;
        }
        entry.critical -= 1;
        if entry.critical > 0 {
            return false;
        }
        let ended = entry.ended;
        let to_release: Vec<PosseId> = if ended {
            entry.posses.iter().copied().collect()
        } else {
            std::mem::take(&mut entry.deferred).into_iter().collect()
        };
        for &id in &to_release {
            self.release(task_id, id, out);
        }
        if ended {
            self.tasks.remove(task_id);
        }
        !to_release.is_empty()
    }

    /// Whether a task in the posse is in a critical section.
    pub(super) fn is_pinned(&self, id: PosseId) -> bool {
        self.posses[&id]
            .tasks
            .iter()
            .any(|t| self.tasks.get(t).is_some_and(|e| e.critical > 0))
    }
}
