//! Druid's `TaskLockPosse`: one lock and the tasks of its group that use it.
//!
//! Tasks of one group share their locks (a parallel task's sub-tasks publish under their
//! supervisor's lock), so a lock belongs to a posse of task ids rather than to one task. The
//! posse lives as long as some task uses it; every task in it has a row for the lock in the
//! metadata store.

use std::collections::BTreeSet;

use steward_model::{Interval, TaskLock, TaskLockType};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Posse {
    pub(super) lock: TaskLock,
    pub(super) tasks: BTreeSet<String>,
}

impl Posse {
    pub(super) fn new(lock: TaskLock) -> Posse {
        Posse {
            lock,
            tasks: BTreeSet::new(),
        }
    }

    /// Whether a request of `group` for `lock_type` on `interval` is served by this posse's
    /// lock (Druid's `reusableFor` for time-chunk requests): same type and group, and the
    /// lock covers the interval. A revoked lock is reusable too: the request then learns of
    /// the revocation.
    pub(super) fn reusable_for(
        &self,
        lock_type: TaskLockType,
        group: &str,
        interval: &Interval,
    ) -> bool {
        self.lock.lock_type == lock_type
            && self.lock.group_id == group
            && self.lock.interval.contains(interval)
    }

    /// Whether this posse's lock makes the task's lock in `other` useless, so the task lets
    /// go of `other` when it joins this one (Druid's `supersedes`): both APPEND locks of the
    /// same group, this one live, at least as new, on a strictly wider interval. An appending
    /// task allocating into a coarser time chunk (after a concurrent REPLACE with a coarser
    /// granularity committed) gets such a lock.
    pub(super) fn supersedes(&self, other: &Posse) -> bool {
        let (this, other) = (&self.lock, &other.lock);
        !this.revoked
            && this.lock_type == TaskLockType::Append
            && other.lock_type == TaskLockType::Append
            && this.version >= other.version
            && this.interval != other.interval
            && this.interval.contains(&other.interval)
            && this.group_id == other.group_id
    }
}
