//! Druid's compatibility table of lock types: which non-revoked locks on overlapping intervals
//! of one datasource may be held at once (reference §8.2).
//!
//! | requested \ held | EXCLUSIVE | SHARED | REPLACE | APPEND |
//! |---|---|---|---|---|
//! | EXCLUSIVE | no | no | no | no |
//! | SHARED | no | yes | no | no |
//! | REPLACE | no | no | no | if the APPEND lies inside the REPLACE |
//! | APPEND | no | no | if it encloses the APPEND (at most one) | yes |
//!
//! Druid asks the question twice, in two shapes that differ in one corner, and the lockbox
//! keeps both: [`can_coexist`] decides whether a request is granted without revoking anything
//! (an APPEND then tolerates at most one REPLACE), [`incompatible`] decides lock by lock which
//! ones a higher-priority request must revoke (where two REPLACE locks enclosing an APPEND
//! are each compatible, so nothing is revoked and the APPEND is granted).

use steward_model::{Interval, TaskLock, TaskLockType};

/// Whether a lock of `lock_type` on `interval` can be granted beside `held` (the locks on
/// overlapping intervals of its datasource) without revoking any; revoked locks never stand
/// in the way (Druid's `canLockCoexist`).
pub(super) fn can_coexist<'a>(
    lock_type: TaskLockType,
    interval: &Interval,
    held: impl IntoIterator<Item = &'a TaskLock>,
) -> bool {
    let mut enclosing_replace = false;
    for lock in held.into_iter().filter(|l| !l.revoked) {
        let fits = match (lock_type, lock.lock_type) {
            (TaskLockType::Exclusive, _) => false,
            (TaskLockType::Shared, held) => held == TaskLockType::Shared,
            (TaskLockType::Replace, TaskLockType::Append) => interval.contains(&lock.interval),
            (TaskLockType::Replace, _) => false,
            (TaskLockType::Append, TaskLockType::Append) => true,
            (TaskLockType::Append, TaskLockType::Replace) => {
                // One REPLACE at most: an APPEND's segments are upgraded into one replacing
                // task's version when it commits.
                let first = !enclosing_replace;
                enclosing_replace = true;
                first && lock.interval.contains(interval)
            }
            (TaskLockType::Append, _) => false,
        };
        if !fits {
            return false;
        }
    }
    true
}

/// Whether the non-revoked `held` lock must be revoked before a lock of `lock_type` on
/// `interval` can be granted (the per-lock test of Druid's
/// `revokeAllIncompatibleActiveLocksIfPossible`). The relation is symmetric.
pub(super) fn incompatible(lock_type: TaskLockType, interval: &Interval, held: &TaskLock) -> bool {
    match lock_type {
        TaskLockType::Exclusive => true,
        TaskLockType::Shared => held.lock_type != TaskLockType::Shared,
        TaskLockType::Replace => {
            !(held.lock_type == TaskLockType::Append && interval.contains(&held.interval))
        }
        TaskLockType::Append => match held.lock_type {
            TaskLockType::Append => false,
            TaskLockType::Replace => !held.interval.contains(interval),
            TaskLockType::Exclusive | TaskLockType::Shared => true,
        },
    }
}
