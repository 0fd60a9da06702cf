//! The lockbox's tests. Every step goes through [`Harness`], which writes the emitted
//! [`LockPersist`] effects onto a map of rows (the store) and then checks the invariants and
//! that the rows are exactly what the lockbox holds.
//!
//! Druid's `GlobalTaskLockboxTest` (formerly `TaskLockboxTest`) and `TaskLockBoxConcurrencyTest`,
//! case by case:
//!
//! | Druid | Steward |
//! |---|---|
//! | testLock | `lock_creates_an_exclusive_lock` |
//! | testLockForInactiveTask, testTryLockForInactiveTask | `try_lock_refuses_a_task_never_added` |
//! | testLockAfterTaskComplete, testTryLockAfterTaskComplete | `try_lock_refuses_a_removed_task` |
//! | testTrySharedLock | `try_shared_lock` |
//! | testTryMixedLocks | `try_mixed_locks` |
//! | testTryExclusiveLock | `try_exclusive_lock` |
//! | testTimeoutForLock | `overlapping_exclusive_request_is_unavailable` (its try-lock half) |
//! | testSyncFromStorage | `restore_reacquires_every_lock_unchanged` |
//! | testSyncFromStorageWithMissingTaskLockPriority | `restore_fills_a_missing_priority` |
//! | testSyncFromStorageWithMissingTaskPriority | `restore_keeps_a_lock_with_the_task_priority` |
//! | testSyncFromStorageWithInvalidPriority | `restore_fails_the_group_of_a_lock_with_another_priority` |
//! | testRevokedLockSyncFromStorage | `restore_keeps_revoked_locks` |
//! | testDoInCriticalSectionWithSharedLock | `critical_section_with_shared_lock` |
//! | testDoInCriticalSectionWithExclusiveLock | `critical_section_with_exclusive_lock` |
//! | testDoInCriticalSectionWithSmallerInterval | `critical_section_with_smaller_interval` |
//! | testPreemptionAndDoInCriticalSection | `preemption_and_critical_section` |
//! | testDoInCriticalSectionWithRevokedLock | `critical_section_with_revoked_lock` |
//! | testAcquireLockAfterRevoked | `lock_after_revoked_answers_revoked` |
//! | testUnlock | `unlock_releases_live_and_revoked_locks` |
//! | testFindLockPosseAfterRevokeWithDifferentLockIntervals | `critical_section_after_revoke_with_different_lock_intervals` |
//! | testLockPosseEquals | `posse_equality` |
//! | testGetLockedIntervalsForHigherPriorityExclusiveLock | `locked_intervals_for_higher_priority_exclusive_lock` |
//! | testGetLockedIntervalsForLowerPriorityExclusiveLock | `locked_intervals_for_lower_priority_exclusive_lock` |
//! | testGetLockedIntervalsForLowerPriorityReplaceLock | `locked_intervals_for_lower_priority_replace_lock` |
//! | testGetLockedIntervalsForLowerPriorityUseConcurrentLocks | `locked_intervals_for_lower_priority_concurrent_locks` |
//! | testGetActiveLocks | `active_locks` |
//! | testGetActiveLocksWithAppendLockIgnoresAppendLocks | `active_locks_for_append_lock_ignore_append_locks` |
//! | testGetActiveLocksWithConcurrentLocksIgnoresAppendLocks | `active_locks_for_concurrent_locks_ignore_append_locks` |
//! | testGetActiveLocksWithoutConcurrentLocksConsidersAppendLocks | `active_locks_without_concurrent_locks_count_append_locks` |
//! | testExclusiveLockCompatibility | `exclusive_lock_compatibility` |
//! | testExclusiveLockCanRevokeAllIncompatible | `exclusive_lock_revokes_all_incompatible` |
//! | testSharedLockCompatibility | `shared_lock_compatibility` |
//! | testSharedLockCanRevokeAllIncompatible | `shared_lock_revokes_all_incompatible` |
//! | testAppendLockCompatibility | `append_lock_compatibility` |
//! | testAppendLockCanRevokeAllIncompatible | `append_lock_revokes_all_incompatible` |
//! | testReplaceLockCompatibility | `replace_lock_compatibility` |
//! | testReplaceLockCanRevokeAllIncompatible | `replace_lock_revokes_all_incompatible` |
//! | testTimechunkLockTypeTransitionForSameTaskGroup | `lock_type_transition_within_a_group` |
//! | testFailedToReacquireTaskLock | `restore_fails_the_group_of_a_lock_of_another_group` |
//! | testConflictsWithOverlappingSharedLocks | `conflicts_with_overlapping_shared_locks` |
//! | testUnlockSupersededLocks | `superseded_append_locks_are_released` |
//! | (concurrency) testDoInCriticalSectionWithDifferentTasks | `higher_priority_lock_waits_for_a_critical_section` |
//! | (concurrency) testDoInCriticalSectionWithOverlappedIntervals | `critical_sections_of_one_task_nest` |
//!
//! Not mirrored: testSegmentLock, testSegmentAndTimeChunkLockForSameInterval(+WithDifferentPriority),
//! testSegmentLockForSameIntervalAndSamePartition, testSegmentLockForSameIntervalDifferentPartition,
//! testSegmentLockForOverlappedIntervalDifferentPartition, testRequestForNewSegmentWithSegmentLock,
//! testRequestForNewSegmentWithHashPartition, testGetTimeChunkAndSegmentLockForSameGroup,
//! testGetTimeChunkAndSegmentLockForDifferentGroup: segment locks and segment allocation through
//! the lockbox, which Steward does not do (time-chunk locks only). testCleanupOnUnlock and
//! (concurrency) testConcurrentRemoveAndAllocateSegmentsForSameTask: pending and upgrade segment
//! clean-up, which belong to segment allocation. testSyncWithUnknownTaskTypesFromModuleNotLoaded:
//! reading task payloads is the store's (the lockbox is given parsed tasks); its lockbox side, a
//! stored lock of a task that is not active, is `restore_drops_locks_of_unknown_tasks`.
//! test_add_throwsException_ifSyncIsNotComplete: Druid's per-datasource lockboxes refuse work
//! before the first sync; Steward's one lockbox belongs to one leadership term, and `restore`
//! replaces its state.
//!
//! Steward's own: preemption by a strictly higher priority only (all or nothing), versions,
//! reuse and its errors, a group member joining a revoked lock, superseding releasing only the
//! superseded lock, pinning and deferred releases, restore order, drops and rewrites, filters'
//! readings of the context, the interval index against a scan, and a seeded random walk.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::json;
use steward_model::{Interval, Task, TaskLock, TaskLockType};

use super::index::IntervalIndex;
use super::posse::Posse;
use super::*;
use crate::test_support::{later, t0};

use TaskLockType::{Append, Exclusive, Replace, Shared};

const HIGH: i64 = 15;
const MEDIUM: i64 = 10;
const LOW: i64 = 5;

// ----- helpers ---------------------------------------------------------------------------------

/// An interval written as in Druid's tests, where `2017` and `2017-01` are instants too.
fn iv(s: &str) -> Interval {
    let instant = |side: &str| match side.len() {
        4 => format!("{side}-01-01"),
        7 => format!("{side}-01"),
        _ => side.to_string(),
    };
    let (start, end) = s.split_once('/').unwrap();
    format!("{}/{}", instant(start), instant(end))
        .parse()
        .unwrap()
}

fn task(id: &str, group: &str, data_source: &str, priority: i64) -> Task {
    Task::from_json(json!({"type": "noop", "id": id, "groupId": group,
        "dataSource": data_source, "context": {"priority": priority}}))
    .unwrap()
}

/// Druid's `NoopTask.ofPriority`: its own group, datasource `none`.
fn noop(id: &str, priority: i64) -> Task {
    task(id, id, "none", priority)
}

fn request(lock_type: TaskLockType, interval: &str, version: Option<&str>) -> LockRequest {
    LockRequest {
        lock_type,
        interval: iv(interval),
        preferred_version: version.map(str::to_string),
    }
}

fn lock_of(result: LockResult) -> Option<TaskLock> {
    match result {
        LockResult::Acquired(lock) | LockResult::Revoked(lock) => Some(lock),
        LockResult::Unavailable => None,
    }
}

fn stored_lock(
    lock_type: TaskLockType,
    task: &Task,
    interval: &str,
    version: &str,
    priority: Option<i64>,
) -> TaskLock {
    TaskLock {
        granularity: LockGranularity::TimeChunk,
        lock_type,
        group_id: task.group_id().into(),
        data_source: task.data_source().into(),
        interval: iv(interval),
        version: version.into(),
        priority,
        revoked: false,
    }
}

/// Whether `a` and `b` hold the same locks, whatever the order.
fn same_locks(a: &[TaskLock], b: &[TaskLock]) -> bool {
    let mut rest = b.to_vec();
    for lock in a {
        match rest.iter().position(|l| l == lock) {
            Some(i) => {
                rest.swap_remove(i);
            }
            None => return false,
        }
    }
    rest.is_empty()
}

/// Writes one effect onto the rows, as the store would; a row to change must exist.
fn replay(rows: &mut BTreeMap<String, Vec<TaskLock>>, effect: LockPersist) {
    match effect {
        LockPersist::Insert { task_id, lock } => {
            let held = rows.entry(task_id.clone()).or_default();
            assert!(!held.contains(&lock), "{task_id} inserts {lock:?} twice");
            held.push(lock);
        }
        LockPersist::Replace { task_id, old, new } => {
            let held = rows.entry(task_id.clone()).or_default();
            let i = held.iter().position(|l| *l == old);
            let i = i.unwrap_or_else(|| panic!("{task_id} replaces a missing row {old:?}"));
            held[i] = new;
        }
        LockPersist::Delete { task_id, lock } => {
            let held = rows.entry(task_id.clone()).or_default();
            let i = held.iter().position(|l| *l == lock);
            let i = i.unwrap_or_else(|| panic!("{task_id} deletes a missing row {lock:?}"));
            held.remove(i);
            if held.is_empty() {
                rows.remove(&task_id);
            }
        }
    }
}

/// What a request may write: nothing unless it is answered with a lock; then revocations of
/// strictly lower priorities, releases of the task's superseded locks, and the task's row
/// for the lock if it is new to it (a revoked lock too: a task joining its group's revoked
/// lock holds it, revoked, as in Druid).
fn check_effects(task: &Task, result: &Result<LockResult, String>, out: &[LockPersist]) {
    let lock = match result {
        Ok(LockResult::Acquired(lock) | LockResult::Revoked(lock)) => lock,
        _ => {
            assert!(out.is_empty(), "{result:?} yet effects {out:?}");
            return;
        }
    };
    for (i, effect) in out.iter().enumerate() {
        match effect {
            LockPersist::Replace { old, new, .. } => {
                assert!(!old.revoked && *new == old.revoked(), "{effect:?}");
                assert!(
                    old.priority.unwrap() < task.priority(),
                    "{effect:?} by {task:?}"
                );
                assert!(!lock.revoked, "revoked for a revoked lock");
            }
            LockPersist::Delete {
                task_id,
                lock: released,
            } => {
                assert_eq!(task_id, task.id());
                assert_eq!(released.lock_type, TaskLockType::Append);
            }
            LockPersist::Insert {
                task_id,
                lock: inserted,
            } => {
                assert_eq!((task_id.as_str(), inserted), (task.id(), lock));
                assert_eq!(i, out.len() - 1, "the insert comes last");
            }
        }
    }
}

/// Every posse as (lock, tasks), by datasource and interval: the lockbox's whole holding.
fn holding(lockbox: &TaskLockbox) -> Vec<(TaskLock, Vec<String>)> {
    lockbox
        .by_data_source
        .values()
        .flat_map(|index| index.iter())
        .map(|(_, id)| {
            let posse = &lockbox.posses[&id];
            (posse.lock.clone(), posse.tasks.iter().cloned().collect())
        })
        .collect()
}

/// A lockbox, the rows its effects wrote and a clock that ticks a second per request; checks
/// after every step. Its `*_created` / `*_not_granted` / `expect_*` methods are Druid's
/// `TaskLockboxValidator`.
struct Harness {
    lockbox: TaskLockbox,
    rows: BTreeMap<String, Vec<TaskLock>>,
    now: Timestamp,
    next_task: usize,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            lockbox: TaskLockbox::new(),
            rows: BTreeMap::new(),
            now: t0(),
            next_task: 0,
        }
    }

    fn persist(&mut self, effects: Vec<LockPersist>) {
        for effect in effects {
            replay(&mut self.rows, effect);
        }
        self.check();
    }

    fn check(&self) {
        self.lockbox.check_invariants();
        for task_id in self.lockbox.tasks.keys() {
            let rows = self.rows.get(task_id).map_or(&[][..], |r| &r[..]);
            let held = self.lockbox.find_locks(task_id);
            assert!(
                same_locks(rows, &held),
                "rows of {task_id} {rows:?} differ from its locks {held:?}"
            );
        }
        for task_id in self.rows.keys() {
            assert!(
                self.lockbox.tasks.contains_key(task_id),
                "rows left for {task_id}"
            );
        }
    }

    fn add(&mut self, task: &Task) {
        self.lockbox.add(task);
        self.check();
    }

    fn request(&mut self, task: &Task, req: &LockRequest) -> Result<LockResult, String> {
        self.now = later(self.now, 1);
        let mut out = Vec::new();
        let result = self.lockbox.try_lock(task, req, self.now, &mut out);
        check_effects(task, &result, &out);
        self.persist(out);
        result
    }

    fn lock(&mut self, task: &Task, lock_type: TaskLockType, interval: &str) -> LockResult {
        self.request(task, &request(lock_type, interval, None))
            .unwrap()
    }

    fn lock_version(
        &mut self,
        task: &Task,
        lock_type: TaskLockType,
        interval: &str,
        version: &str,
    ) -> LockResult {
        self.request(task, &request(lock_type, interval, Some(version)))
            .unwrap()
    }

    fn unlock(&mut self, task: &Task, interval: &str) -> bool {
        let mut out = Vec::new();
        let released = self.lockbox.unlock(task, &iv(interval), &mut out);
        self.persist(out);
        released
    }

    fn remove(&mut self, task: &Task) -> bool {
        let mut out = Vec::new();
        let released = self.lockbox.remove(task, &mut out);
        self.persist(out);
        released
    }

    fn begin(&mut self, task: &Task, intervals: &[&str]) -> Result<(), String> {
        let intervals: Vec<Interval> = intervals.iter().map(|i| iv(i)).collect();
        let result = self.lockbox.begin_critical(task, &intervals);
        self.check();
        result
    }

    fn end(&mut self, task: &Task) -> bool {
        let mut out = Vec::new();
        let released = self.lockbox.end_critical(task.id(), &mut out);
        self.persist(out);
        released
    }

    /// Druid's `revokeLock` (a test hook there too).
    fn revoke(&mut self, lock: &TaskLock) {
        let id = *self
            .lockbox
            .posses
            .iter()
            .find(|(_, p)| p.lock == *lock)
            .expect("lock held")
            .0;
        let by = noop("revoker", 0);
        let mut out = Vec::new();
        self.lockbox.revoke(id, &by, &mut out);
        self.persist(out);
    }

    fn new_task(&mut self, priority: i64) -> Task {
        self.next_task += 1;
        let task = noop(&format!("noop_{}", self.next_task), priority);
        self.add(&task);
        task
    }

    fn try_task_lock(
        &mut self,
        lock_type: TaskLockType,
        interval: &str,
        priority: i64,
    ) -> Option<TaskLock> {
        let task = self.new_task(priority);
        lock_of(self.lock(&task, lock_type, interval))
    }

    fn expect_created(
        &mut self,
        lock_type: TaskLockType,
        interval: &str,
        priority: i64,
    ) -> TaskLock {
        let lock = self
            .try_task_lock(lock_type, interval, priority)
            .expect("granted");
        assert!(!lock.revoked);
        lock
    }

    fn expect_created_for(
        &mut self,
        lock_type: TaskLockType,
        task: &Task,
        interval: &str,
    ) -> TaskLock {
        let lock = lock_of(self.lock(task, lock_type, interval)).expect("granted");
        assert!(!lock.revoked);
        lock
    }

    fn expect_not_granted(&mut self, lock_type: TaskLockType, interval: &str, priority: i64) {
        assert_eq!(self.try_task_lock(lock_type, interval, priority), None);
    }

    fn expect_not_granted_for(&mut self, lock_type: TaskLockType, task: &Task, interval: &str) {
        assert_eq!(
            self.lock(task, lock_type, interval),
            LockResult::Unavailable
        );
    }

    fn all_locks(&self) -> Vec<TaskLock> {
        self.rows.values().flatten().cloned().collect()
    }

    fn live_locks(&self) -> Vec<TaskLock> {
        self.all_locks()
            .into_iter()
            .filter(|l| !l.revoked)
            .collect()
    }

    /// Druid's `expectActiveLocks`: exactly these locks are live.
    fn expect_active(&self, locks: &[&TaskLock]) {
        let live = self.live_locks();
        assert_eq!(live.len(), locks.len(), "live locks {live:?}");
        for lock in locks {
            assert!(live.contains(lock), "{lock:?} not live in {live:?}");
        }
    }

    /// Druid's `expectRevokedLocks`: exactly these locks are held revoked.
    fn expect_revoked(&self, locks: &[&TaskLock]) {
        let all = self.all_locks();
        assert_eq!(all.len() - self.live_locks().len(), locks.len());
        for lock in locks {
            assert!(
                all.contains(&lock.revoked()),
                "{lock:?} not revoked in {all:?}"
            );
        }
    }

    fn stored(&self) -> Vec<(String, TaskLock)> {
        self.rows
            .iter()
            .flat_map(|(task, locks)| locks.iter().map(move |l| (task.clone(), l.clone())))
            .collect()
    }
}

// ----- granting --------------------------------------------------------------------------------

#[test]
fn lock_creates_an_exclusive_lock() {
    let mut h = Harness::new();
    let lock = h.expect_created(Exclusive, "2015-01-01/2015-01-02", MEDIUM);
    assert_eq!(lock.version, format_ts(h.now));
    assert_eq!(lock.priority, Some(MEDIUM));
    assert_eq!(lock.group_id, "noop_1");
    assert_eq!(h.rows["noop_1"], vec![lock]);
}

#[test]
fn try_lock_refuses_a_task_never_added() {
    let mut h = Harness::new();
    let task = noop("never_added", 50);
    let err = h
        .request(&task, &request(Exclusive, "2015-01-01/2015-01-02", None))
        .unwrap_err();
    assert_eq!(err, "Unable to grant lock to inactive Task [never_added]");
}

#[test]
fn try_lock_refuses_a_removed_task() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    assert!(!h.remove(&task));
    assert!(!h.lockbox.is_active(task.id()));
    let err = h
        .request(&task, &request(Exclusive, "2015-01-01/2015-01-02", None))
        .unwrap_err();
    assert!(err.contains("Unable to grant lock to inactive Task"));
}

#[test]
fn try_lock_refuses_an_empty_interval() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    let err = h
        .request(&task, &request(Exclusive, "2015-01-01/2015-01-01", None))
        .unwrap_err();
    assert_eq!(err, "interval empty");
}

#[test]
fn try_shared_lock() {
    let mut h = Harness::new();
    let interval = "2017-01/2017-02";
    let exclusive_revoked = h.expect_created(Exclusive, interval, HIGH);
    h.expect_not_granted(Shared, interval, HIGH);
    h.revoke(&exclusive_revoked);
    h.expect_revoked(&[&exclusive_revoked]);

    let low_shared = h.expect_created(Shared, interval, LOW);
    let medium_exclusive = h.expect_created(Exclusive, interval, MEDIUM);
    h.expect_active(&[&medium_exclusive]);
    h.expect_revoked(&[&exclusive_revoked, &low_shared]);

    let high_shared = h.expect_created(Shared, interval, HIGH);
    h.expect_active(&[&high_shared]);
    h.expect_revoked(&[&exclusive_revoked, &low_shared, &medium_exclusive]);
}

#[test]
fn try_mixed_locks() {
    let mut h = Harness::new();
    let low = noop("low", 0);
    let low2 = noop("low2", 0);
    let high = noop("high", 10);
    let (i1, i2, i3) = (
        "2017-01-01/2017-01-02",
        "2017-01-02/2017-01-03",
        "2017-01-03/2017-01-04",
    );

    h.add(&low);
    h.add(&low2);
    assert!(matches!(
        h.lock(&low, Exclusive, i1),
        LockResult::Acquired(_)
    ));
    assert!(matches!(h.lock(&low, Shared, i2), LockResult::Acquired(_)));
    assert!(matches!(h.lock(&low2, Shared, i2), LockResult::Acquired(_)));
    assert!(matches!(
        h.lock(&low, Exclusive, i3),
        LockResult::Acquired(_)
    ));

    h.add(&high);
    assert!(matches!(h.lock(&high, Shared, i1), LockResult::Acquired(_)));
    assert!(matches!(
        h.lock(&high, Exclusive, i2),
        LockResult::Acquired(_)
    ));
    assert!(matches!(
        h.lock(&high, Exclusive, i3),
        LockResult::Acquired(_)
    ));
    assert!(h.lockbox.find_locks("low").iter().all(|l| l.revoked));
    assert!(h.lockbox.find_locks("low2").iter().all(|l| l.revoked));

    h.remove(&low);
    h.remove(&low2);
    h.remove(&high);

    h.add(&high);
    assert!(matches!(
        h.lock(&high, Exclusive, i1),
        LockResult::Acquired(_)
    ));
    assert!(matches!(h.lock(&high, Shared, i2), LockResult::Acquired(_)));
    assert!(matches!(
        h.lock(&high, Exclusive, i3),
        LockResult::Acquired(_)
    ));

    h.add(&low);
    assert_eq!(h.lock(&low, Shared, i1), LockResult::Unavailable);
    assert_eq!(h.lock(&low, Exclusive, i2), LockResult::Unavailable);
    assert_eq!(h.lock(&low, Exclusive, i3), LockResult::Unavailable);
}

#[test]
fn try_exclusive_lock() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    assert!(matches!(
        h.lock(&task, Exclusive, "2015-01-01/2015-01-03"),
        LockResult::Acquired(_)
    ));
    let task2 = h.new_task(50);
    assert_eq!(
        h.lock(&task2, Exclusive, "2015-01-01/2015-01-02"),
        LockResult::Unavailable
    );
    assert!(h.remove(&task));
    assert!(matches!(
        h.lock(&task2, Exclusive, "2015-01-01/2015-01-02"),
        LockResult::Acquired(_)
    ));
}

#[test]
fn overlapping_exclusive_request_is_unavailable() {
    let mut h = Harness::new();
    let task1 = h.new_task(50);
    let task2 = h.new_task(50);
    assert!(matches!(
        h.lock(&task1, Exclusive, "2015-01-01/2015-01-02"),
        LockResult::Acquired(_)
    ));
    assert_eq!(
        h.lock(&task2, Exclusive, "2015-01-01/2015-01-15"),
        LockResult::Unavailable
    );
}

#[test]
fn lock_after_revoked_answers_revoked() {
    let mut h = Harness::new();
    let interval = "2017-01-01/2017-01-02";
    let low = h.new_task(0);
    let high = h.new_task(10);
    assert!(matches!(
        h.lock(&low, Exclusive, interval),
        LockResult::Acquired(_)
    ));
    assert!(matches!(
        h.lock(&high, Exclusive, interval),
        LockResult::Acquired(_)
    ));
    assert!(h.lockbox.find_locks(low.id())[0].revoked);

    assert!(h.unlock(&high, interval));
    let again = h.lock(&low, Exclusive, interval);
    assert!(matches!(&again, LockResult::Revoked(l) if l.revoked));
    assert!(h.lockbox.find_locks(low.id())[0].revoked);
}

#[test]
fn unlock_releases_live_and_revoked_locks() {
    let mut h = Harness::new();
    let day = |i: usize| format!("2017-01-0{}/2017-01-0{}", i + 1, i + 2);
    let low: Vec<Task> = (0..8).map(|_| h.new_task(10)).collect();
    for (i, task) in low.iter().enumerate() {
        assert!(matches!(
            h.lock(task, Exclusive, &day(i)),
            LockResult::Acquired(_)
        ));
    }
    let high: Vec<Task> = (0..4).map(|_| h.new_task(100)).collect();
    for (i, task) in high.iter().enumerate() {
        assert!(matches!(
            h.lock(task, Exclusive, &day(i)),
            LockResult::Acquired(_)
        ));
    }
    for i in 0..4 {
        assert!(h.rows[low[i].id()].iter().all(|l| l.revoked));
        assert!(!h.rows[high[i].id()].iter().all(|l| l.revoked));
    }
    for task in &low[4..] {
        assert!(!h.rows[task.id()].iter().all(|l| l.revoked));
    }
    for i in 0..4 {
        assert!(h.unlock(&low[i], &day(i)));
        assert!(h.unlock(&high[i], &day(i)));
    }
    for (i, task) in low.iter().enumerate().skip(4) {
        assert!(h.unlock(task, &day(i)));
    }
    assert!(h.lockbox.posses.is_empty() && h.lockbox.by_data_source.is_empty());
    assert!(h.rows.is_empty());
    assert!(!h.unlock(&low[0], &day(0)), "nothing left to release");
}

#[test]
fn posse_equality() {
    let t1 = noop("t1", 50);
    let t2 = noop("t2", 50);
    let lock1 = stored_lock(Exclusive, &t1, "2018/2019", "v1", Some(50));
    let lock2 = stored_lock(Exclusive, &t2, "2018/2019", "v2", Some(50));
    assert_ne!(Posse::new(lock1.clone()), Posse::new(lock2));
    assert_eq!(Posse::new(lock1.clone()), Posse::new(lock1));
}

#[test]
fn lock_versions_follow_druid() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    let exclusive = lock_of(h.lock(&task, Exclusive, "2020/2021")).unwrap();
    assert_eq!(exclusive.version, format_ts(h.now));
    let append = lock_of(h.lock(&task, Append, "2022/2023")).unwrap();
    assert_eq!(append.version, "1970-01-01T00:00:00.000Z");
    let preferred = lock_of(h.lock_version(&task, Exclusive, "2024/2025", "v7")).unwrap();
    assert_eq!(preferred.version, "v7");
    let preferred_append = lock_of(h.lock_version(&task, Append, "2026/2027", "v8")).unwrap();
    assert_eq!(preferred_append.version, "v8");
}

#[test]
fn a_group_shares_a_lock_covering_the_request() {
    let mut h = Harness::new();
    let a = task("a", "g", "ds", 50);
    let b = task("b", "g", "ds", 50);
    h.add(&a);
    h.add(&b);
    let lock = lock_of(h.lock(&a, Exclusive, "2020-01-01/2020-02-01")).unwrap();
    // A smaller interval of the same group and type joins the posse: same lock, own row.
    let mut out = Vec::new();
    let joined = h.lockbox.try_lock(
        &b,
        &request(Exclusive, "2020-01-05/2020-01-06", None),
        h.now,
        &mut out,
    );
    assert_eq!(joined, Ok(LockResult::Acquired(lock.clone())));
    assert_eq!(
        out,
        vec![LockPersist::Insert {
            task_id: "b".into(),
            lock: lock.clone()
        }]
    );
    h.persist(out);
    // Asking again changes nothing.
    let mut out = Vec::new();
    let again = h.lockbox.try_lock(
        &b,
        &request(Exclusive, "2020-01-05/2020-01-06", None),
        h.now,
        &mut out,
    );
    assert_eq!(again, Ok(LockResult::Acquired(lock.clone())));
    assert!(out.is_empty());
    assert_eq!(
        holding(&h.lockbox),
        vec![(lock, vec!["a".into(), "b".into()])]
    );
    // Another datasource is another world.
    let other = task("c", "g2", "other", 50);
    h.add(&other);
    assert!(matches!(
        h.lock(&other, Exclusive, "2020-01-01/2020-02-01"),
        LockResult::Acquired(_)
    ));
}

#[test]
fn a_group_member_joining_a_revoked_lock_holds_it_revoked() {
    let mut h = Harness::new();
    let a = task("a", "g", "ds", 10);
    let b = task("b", "g", "ds", 10);
    let high = task("high", "high", "ds", 20);
    for t in [&a, &b, &high] {
        h.add(t);
    }
    let lock = lock_of(h.lock(&a, Replace, "2020/2021")).unwrap();
    h.lock(&high, Exclusive, "2020-02/2020-03");
    let mut out = Vec::new();
    let result = h.lockbox.try_lock(
        &b,
        &request(Replace, "2020-05/2020-06", None),
        h.now,
        &mut out,
    );
    assert_eq!(result, Ok(LockResult::Revoked(lock.revoked())));
    assert_eq!(
        out,
        vec![LockPersist::Insert {
            task_id: "b".into(),
            lock: lock.revoked()
        }]
    );
    h.persist(out);
}

#[test]
fn joining_a_posse_of_another_priority_is_an_error() {
    let mut h = Harness::new();
    let a = task("a", "g", "ds", 50);
    let b = task("b", "g", "ds", 60);
    h.add(&a);
    h.add(&b);
    h.lock(&a, Exclusive, "2020/2021");
    let err = h
        .request(&b, &request(Exclusive, "2020-03/2020-04", None))
        .unwrap_err();
    assert_eq!(
        err,
        "priority[60] of task[b] is different from the existing lockPosse's priority[50]"
    );
}

#[test]
fn two_reusable_posses_are_an_error() {
    let mut h = Harness::new();
    let a = task("a", "g", "ds", 50);
    h.add(&a);
    h.lock(&a, Shared, "2020-01-01/2020-01-03");
    h.lock(&a, Shared, "2020-01-02/2020-01-04");
    let err = h
        .request(&a, &request(Shared, "2020-01-02/2020-01-03", None))
        .unwrap_err();
    assert_eq!(
        err,
        "Task group[g] has multiple locks for the same interval\
         [2020-01-02T00:00:00.000Z/2020-01-03T00:00:00.000Z]?"
    );
}

#[test]
fn preemption_needs_a_strictly_higher_priority() {
    let mut h = Harness::new();
    let interval = "2020/2021";
    let low = h.new_task(50);
    let same = h.new_task(50);
    let higher = h.new_task(51);
    let held = lock_of(h.lock(&low, Exclusive, interval)).unwrap();
    assert_eq!(h.lock(&same, Exclusive, interval), LockResult::Unavailable);
    assert_eq!(
        h.lock(&same, Shared, "2020-06/2020-07"),
        LockResult::Unavailable
    );

    let mut out = Vec::new();
    let granted = h
        .lockbox
        .try_lock(
            &higher,
            &request(Exclusive, "2020-06/2021-06", None),
            h.now,
            &mut out,
        )
        .unwrap();
    let LockResult::Acquired(new) = granted else {
        panic!("{granted:?}")
    };
    assert_eq!(
        out,
        vec![
            LockPersist::Replace {
                task_id: low.id().into(),
                old: held.clone(),
                new: held.revoked()
            },
            LockPersist::Insert {
                task_id: higher.id().into(),
                lock: new
            }
        ]
    );
    h.persist(out);
    // The revoked lock stays until released, and blocks nobody.
    assert_eq!(h.lockbox.find_locks(low.id()), vec![held.revoked()]);
    assert!(matches!(
        h.lock(&same, Exclusive, "2020-01/2020-02"),
        LockResult::Acquired(_)
    ));
}

#[test]
fn preemption_revokes_all_or_nothing() {
    let mut h = Harness::new();
    let low = h.expect_created(Shared, "2020-01/2020-02", LOW);
    let high = h.expect_created(Shared, "2020-03/2020-04", HIGH);
    // MEDIUM could revoke `low` but not `high`: neither is revoked.
    h.expect_not_granted(Exclusive, "2020/2021", MEDIUM);
    h.expect_active(&[&low, &high]);
}

#[test]
fn conflicts_with_overlapping_shared_locks() {
    let mut h = Harness::new();
    let conflicting = h.expect_created(Shared, "2023-05-01/2023-06-01", MEDIUM);
    let floor = h.expect_created(Shared, "2023-05-26/2023-05-27", MEDIUM);
    h.expect_not_granted(Exclusive, "2023-05-28/2023-06-03", MEDIUM);
    h.expect_active(&[&conflicting, &floor]);
}

#[test]
fn superseded_append_locks_are_released() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    let other = h.new_task(50);

    let superseded = lock_of(h.lock_version(&task, Append, "2024-01-01/2024-01-02", "v0")).unwrap();
    assert_eq!(h.rows[task.id()], vec![superseded.clone()]);
    // Can coexist, but is not superseded: the task is not in this posse.
    let not_in_posse =
        lock_of(h.lock_version(&other, Append, "2024-01-01/2024-01-02", "v0")).unwrap();
    assert_eq!(h.rows[other.id()], vec![not_in_posse.clone()]);
    // Not superseded: not an APPEND lock.
    let replace = lock_of(h.lock_version(&task, Replace, "2024-01-01/2025-01-01", "v0")).unwrap();
    // Not superseded: a higher version.
    let higher_version =
        lock_of(h.lock_version(&task, Append, "2024-01-11/2024-01-12", "v1")).unwrap();
    // Not superseded: not contained.
    let uncontained =
        lock_of(h.lock_version(&task, Append, "2024-01-28/2024-02-04", "v0")).unwrap();
    assert!(same_locks(
        &h.rows[task.id()],
        &[
            superseded.clone(),
            replace.clone(),
            higher_version.clone(),
            uncontained.clone()
        ]
    ));

    let mut out = Vec::new();
    let result = h.lockbox.try_lock(
        &task,
        &request(Append, "2024-01-01/2024-02-01", Some("v0")),
        h.now,
        &mut out,
    );
    let the_lock = lock_of(result.unwrap()).unwrap();
    assert_eq!(
        out,
        vec![
            LockPersist::Delete {
                task_id: task.id().into(),
                lock: superseded
            },
            LockPersist::Insert {
                task_id: task.id().into(),
                lock: the_lock.clone()
            }
        ]
    );
    h.persist(out);
    assert!(same_locks(
        &h.rows[task.id()],
        &[the_lock, replace, higher_version, uncontained]
    ));
    assert_eq!(h.rows[other.id()], vec![not_in_posse]);
}

#[test]
fn superseding_releases_only_the_superseded_lock() {
    let mut h = Harness::new();
    let task = h.new_task(10);
    let high = h.new_task(20);
    let day = "2024-01-01/2024-01-02";
    let replace = lock_of(h.lock(&task, Replace, day)).unwrap();
    let small = lock_of(h.lock(&task, Append, day)).unwrap();
    h.lock(&high, Replace, day); // revokes the task's REPLACE, not its APPEND inside
    h.unlock(&high, day);
    let big = lock_of(h.lock(&task, Append, "2024-01/2024-02")).unwrap();
    // Druid's release by interval would drop the revoked REPLACE on the same day too.
    assert!(same_locks(
        &h.lockbox.find_locks(task.id()),
        &[replace.revoked(), big]
    ));
    assert!(!h.rows[task.id()].contains(&small));
}

#[test]
fn lock_type_transition_within_a_group() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    let other_group = h.new_task(50);
    h.expect_created_for(Exclusive, &task, "2024/2025");
    // New locks of every other type for the same interval and group.
    h.expect_created_for(Shared, &task, "2024/2025");
    h.expect_created_for(Replace, &task, "2024/2025");
    h.expect_created_for(Append, &task, "2024/2025");
    // Not for another interval.
    for lock_type in [Exclusive, Shared, Replace, Append] {
        h.expect_not_granted_for(lock_type, &task, "2023/2025");
    }
    // Not for another group.
    for lock_type in [Exclusive, Shared, Replace, Append] {
        h.expect_not_granted_for(lock_type, &other_group, "2024/2025");
    }
}

// ----- compatibility ---------------------------------------------------------------------------

#[test]
fn exclusive_lock_compatibility() {
    let mut h = Harness::new();
    let the_lock = h.expect_created(Exclusive, "2017/2018", MEDIUM);
    h.expect_not_granted(Exclusive, "2017-05-01/2017-06-01", MEDIUM);
    h.expect_not_granted(Shared, "2016/2019", MEDIUM);
    h.expect_not_granted(Replace, "2017/2018", MEDIUM);
    h.expect_not_granted(Append, "2017-05-01/2018-05-01", MEDIUM);
    h.expect_active(&[&the_lock]);
    h.expect_revoked(&[]);
}

#[test]
fn exclusive_lock_revokes_all_incompatible() {
    let mut h = Harness::new();
    let shared = h.try_task_lock(Shared, "2016/2019", HIGH).unwrap();
    h.revoke(&shared);
    let exclusive = h.expect_created(Exclusive, "2017-01-01/2017-02-01", LOW);
    let replace = h.expect_created(Replace, "2017-07-01/2018-01-01", LOW);
    let append = h.expect_created(Append, "2017-09-01/2017-10-01", LOW);
    h.expect_active(&[&exclusive, &replace, &append]);
    h.expect_revoked(&[&shared]);

    let the_lock = h.expect_created(Exclusive, "2017/2018", MEDIUM);
    h.expect_active(&[&the_lock]);
    h.expect_revoked(&[&shared, &exclusive, &append, &replace]);
}

#[test]
fn shared_lock_compatibility() {
    let mut h = Harness::new();
    let the_lock = h.expect_created(Shared, "2017/2018", MEDIUM);
    h.expect_not_granted(Exclusive, "2017-05-01/2017-06-01", MEDIUM);
    let shared0 = h.expect_created(Shared, "2016/2019", LOW);
    let shared1 = h.expect_created(Shared, "2017-06-01/2017-07-01", LOW);
    let shared2 = h.expect_created(Shared, "2017-05-01/2018-05-01", MEDIUM);
    h.expect_not_granted(Replace, "2017/2018", MEDIUM);
    h.expect_not_granted(Append, "2017-05-01/2018-05-01", MEDIUM);
    h.expect_active(&[&the_lock, &shared0, &shared1, &shared2]);
    h.expect_revoked(&[]);
}

#[test]
fn shared_lock_revokes_all_incompatible() {
    let mut h = Harness::new();
    let exclusive = h.expect_created(Exclusive, "2016/2019", HIGH);
    h.revoke(&exclusive);
    let shared = h.expect_created(Shared, "2017-01-01/2017-02-01", MEDIUM);
    let replace = h.expect_created(Replace, "2017-07-01/2018-07-01", LOW);
    let append = h.expect_created(Append, "2017-02-01/2017-03-01", LOW);
    h.expect_active(&[&shared, &replace, &append]);
    h.expect_revoked(&[&exclusive]);

    let the_lock = h.expect_created(Shared, "2017/2018", MEDIUM);
    h.expect_active(&[&the_lock, &shared]);
    h.expect_revoked(&[&exclusive, &replace, &append]);
}

#[test]
fn append_lock_compatibility() {
    let mut h = Harness::new();
    let the_lock = h.expect_created(Append, "2017/2018", MEDIUM);
    h.expect_not_granted(Exclusive, "2017-05-01/2017-06-01", MEDIUM);
    h.expect_not_granted(Shared, "2016/2019", MEDIUM);
    h.expect_not_granted(Replace, "2017-05-01/2018-01-01", MEDIUM);
    let replace = h.expect_created(Replace, "2017/2018", MEDIUM);
    h.expect_not_granted(Replace, "2016/2019", MEDIUM);
    // Any APPEND within the REPLACE's interval, revoking nothing even with a higher priority.
    let append0 = h.expect_created(Append, "2017-05-01/2017-06-01", HIGH);
    let append1 = h.expect_created(Append, "2017-05-01/2017-06-01", LOW);
    h.expect_active(&[&the_lock, &replace, &append0, &append1]);
    h.expect_revoked(&[]);
}

#[test]
fn append_lock_revokes_all_incompatible() {
    let mut h = Harness::new();
    let shared = h.expect_created(Shared, "2016/2019", HIGH);
    h.revoke(&shared);
    let exclusive = h.expect_created(Exclusive, "2017-01-01/2017-02-01", LOW);
    let replace = h.expect_created(Replace, "2017-07-01/2018-07-01", LOW);
    let append0 = h.expect_created(Append, "2017-02-01/2017-03-01", LOW);
    let append1 = h.expect_created(Append, "2017-02-01/2017-05-01", HIGH);
    h.expect_active(&[&exclusive, &replace, &append0, &append1]);
    h.expect_revoked(&[&shared]);

    let the_lock = h.expect_created(Append, "2017/2018", MEDIUM);
    h.expect_active(&[&the_lock, &append0, &append1]);
    h.expect_revoked(&[&shared, &exclusive, &replace]);
}

#[test]
fn replace_lock_compatibility() {
    let mut h = Harness::new();
    let the_lock = h.expect_created(Replace, "2017/2018", MEDIUM);
    h.expect_not_granted(Exclusive, "2017-05-01/2017-06-01", MEDIUM);
    h.expect_not_granted(Shared, "2016/2019", MEDIUM);
    h.expect_not_granted(Replace, "2017/2018", MEDIUM);
    // An APPEND inside: granted without revoking, though of a higher priority.
    let append = h.expect_created(Append, "2017-05-01/2017-06-01", HIGH);
    h.expect_not_granted(Append, "2016-05-01/2017-06-01", MEDIUM);
    h.expect_active(&[&the_lock, &append]);
    h.expect_revoked(&[]);
}

#[test]
fn replace_lock_revokes_all_incompatible() {
    let mut h = Harness::new();
    let append0 = h.expect_created(Append, "2016/2019", HIGH);
    h.revoke(&append0);
    let append1 = h.expect_created(Append, "2017-02-01/2017-03-01", HIGH);
    let append2 = h.expect_created(Append, "2017-09-01/2018-03-01", LOW);
    let exclusive = h.expect_created(Exclusive, "2017-05-01/2017-06-01", LOW);
    let replace = h.expect_created(Replace, "2016-09-01/2017-03-01", LOW);
    let shared = h.expect_created(Shared, "2017-04-01/2017-05-01", LOW);
    h.expect_active(&[&append1, &append2, &exclusive, &replace, &shared]);
    h.expect_revoked(&[&append0]);

    let the_lock = h.expect_created(Replace, "2017/2018", MEDIUM);
    h.expect_active(&[&append1, &the_lock]);
    h.expect_revoked(&[&append0, &append2, &exclusive, &replace, &shared]);
}

#[test]
fn compatibility_table_is_symmetric() {
    let t = noop("t", 0);
    let intervals = ["2020/2021", "2020-03/2020-04", "2019-06/2020-06"];
    for a_type in [Exclusive, Shared, Replace, Append] {
        for b_type in [Exclusive, Shared, Replace, Append] {
            for a in intervals {
                for b in intervals {
                    let lock_a = stored_lock(a_type, &t, a, "v", Some(0));
                    let lock_b = stored_lock(b_type, &t, b, "v", Some(0));
                    assert_eq!(
                        compat::incompatible(a_type, &iv(a), &lock_b),
                        compat::incompatible(b_type, &iv(b), &lock_a),
                        "{a_type:?} {a} vs {b_type:?} {b}"
                    );
                }
            }
        }
    }
}

// ----- critical sections -----------------------------------------------------------------------

#[test]
fn critical_section_with_shared_lock() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    h.lock(&task, Shared, "2017-01-01/2017-01-02");
    assert_eq!(h.begin(&task, &["2017-01-01/2017-01-02"]), Ok(()));
    assert!(!h.end(&task));
}

#[test]
fn critical_section_with_exclusive_lock() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    h.lock(&task, Exclusive, "2017-01-01/2017-01-02");
    assert_eq!(h.begin(&task, &["2017-01-01/2017-01-02"]), Ok(()));
    assert!(!h.end(&task));
}

#[test]
fn critical_section_with_smaller_interval() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    h.lock(&task, Exclusive, "2017-01-01/2017-02-01");
    assert_eq!(h.begin(&task, &["2017-01-01/2017-02-01"]), Ok(()));
    assert_eq!(h.begin(&task, &["2017-01-10/2017-01-11"]), Ok(()));
    h.end(&task);
    h.end(&task);
}

#[test]
fn preemption_and_critical_section() {
    let mut h = Harness::new();
    let interval = "2017-01-01/2017-01-02";
    for _ in 0..5 {
        let task = h.new_task(50);
        assert!(matches!(
            h.lock(&task, Shared, interval),
            LockResult::Acquired(_)
        ));
    }
    let high = h.new_task(100);
    assert!(matches!(
        h.lock(&high, Exclusive, interval),
        LockResult::Acquired(_)
    ));
    assert_eq!(h.begin(&high, &[interval]), Ok(()));
}

#[test]
fn critical_section_with_revoked_lock() {
    let mut h = Harness::new();
    let interval = "2017-01-01/2017-01-02";
    let low = h.new_task(0);
    let high = h.new_task(10);
    h.lock(&low, Exclusive, interval);
    assert!(matches!(
        h.lock(&high, Exclusive, interval),
        LockResult::Acquired(_)
    ));
    assert!(h.lockbox.find_locks(low.id())[0].revoked);
    assert_eq!(
        h.begin(&low, &[interval]),
        Err(
            "Invalid task locks. Maybe they are revoked by a higher priority task. \
             Please check the overlord log for details."
                .into()
        )
    );
    // Refused: nothing pinned.
    assert!(h.lockbox.tasks[low.id()].critical == 0);
}

#[test]
fn critical_section_after_revoke_with_different_lock_intervals() {
    let mut h = Harness::new();
    let low = h.new_task(0);
    let high = h.new_task(10);
    assert!(matches!(
        h.lock(&low, Exclusive, "2018-12-16T09:00:00/2018-12-16T10:00:00"),
        LockResult::Acquired(_)
    ));
    assert!(matches!(
        h.lock(&high, Exclusive, "2018-12-16T09:00:00/2018-12-16T09:30:00"),
        LockResult::Acquired(_)
    ));
    assert_eq!(
        h.begin(&high, &["2018-12-16T09:00:00/2018-12-16T09:30:00"]),
        Ok(())
    );
    assert!(!h.lockbox.find_locks(high.id())[0].revoked);
    assert!(h
        .begin(&low, &["2018-12-16T09:00:00/2018-12-16T10:00:00"])
        .unwrap_err()
        .starts_with("Invalid task locks"));
    assert!(h.lockbox.find_locks(low.id())[0].revoked);
}

#[test]
fn critical_section_refuses_uncovered_and_ambiguous_intervals() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    h.lock(&task, Exclusive, "2024/2025");
    assert_eq!(
        h.begin(&task, &["2023-06/2024-06"]),
        Err("Cannot find any lock for task[noop_1] and \
             interval[2023-06-01T00:00:00.000Z/2024-06-01T00:00:00.000Z]"
            .into())
    );
    // Two locks of the group on the interval (a type transition): which one publishes?
    h.lock(&task, Shared, "2024/2025");
    assert_eq!(
        h.begin(&task, &["2024-03/2024-04"]),
        Err(
            "There are multiple timechunk lockPosses for task[noop_1] and \
             interval[2024-03-01T00:00:00.000Z/2024-04-01T00:00:00.000Z]"
                .into()
        )
    );
    // Another task's lock does not cover this one's publish.
    let other = h.new_task(50);
    h.lock(&other, Exclusive, "2030/2031");
    assert!(h
        .begin(&task, &["2030/2031"])
        .unwrap_err()
        .starts_with("Cannot find any lock"));
    assert!(h.lockbox.tasks.values().all(|e| e.critical == 0));
}

#[test]
fn higher_priority_lock_waits_for_a_critical_section() {
    let mut h = Harness::new();
    let interval = "2017-01-01/2017-01-02";
    let low = h.new_task(10);
    let high = h.new_task(100);
    let held = lock_of(h.lock(&low, Exclusive, interval)).unwrap();
    assert_eq!(h.begin(&low, &[interval]), Ok(()));

    // Pinned: answered as if of a higher priority, nothing revoked.
    assert_eq!(h.lock(&high, Exclusive, interval), LockResult::Unavailable);
    assert_eq!(h.lockbox.find_locks(low.id()), vec![held.clone()]);

    assert!(!h.end(&low));
    assert!(matches!(
        h.lock(&high, Exclusive, interval),
        LockResult::Acquired(_)
    ));
    assert_eq!(
        h.lock(&low, Exclusive, interval),
        LockResult::Revoked(held.revoked())
    );
}

#[test]
fn critical_sections_of_one_task_nest() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    let days = [
        "2017-01-01/2017-01-02",
        "2017-01-02/2017-01-03",
        "2017-01-03/2017-01-04",
    ];
    for day in days {
        assert!(matches!(
            h.lock(&task, Exclusive, day),
            LockResult::Acquired(_)
        ));
    }
    assert_eq!(h.begin(&task, &days[0..2]), Ok(()));
    assert_eq!(h.begin(&task, &days[1..3]), Ok(()));
    assert!(!h.unlock(&task, days[0]), "pinned: deferred");
    assert!(!h.end(&task), "still inside the outer section");
    assert_eq!(h.lockbox.find_locks(task.id()).len(), 3);
    assert!(h.end(&task), "the deferred release happens");
    assert_eq!(h.lockbox.find_locks(task.id()).len(), 2);
    assert!(!h.end(&task), "no section left");
}

#[test]
fn pinned_locks_are_not_revoked_and_releases_wait() {
    let mut h = Harness::new();
    let low = h.new_task(10);
    let high = h.new_task(100);
    let held = lock_of(h.lock(&low, Exclusive, "2020/2021")).unwrap();
    let other = lock_of(h.lock(&low, Shared, "2022/2023")).unwrap();
    assert_eq!(h.begin(&low, &["2020/2021"]), Ok(()));

    // Every lock of the task is pinned, not only those of the publish.
    assert_eq!(
        h.lock(&high, Exclusive, "2022-06/2022-07"),
        LockResult::Unavailable
    );
    assert!(!h.unlock(&low, "2020/2021"));
    let mut out = Vec::new();
    assert!(!h.lockbox.unlock_all(&low, &mut out));
    assert!(out.is_empty());
    assert!(!h.remove(&low));
    assert!(!h.lockbox.is_active(low.id()));
    assert!(h
        .request(&low, &request(Exclusive, "2030/2031", None))
        .unwrap_err()
        .contains("inactive"));
    assert!(
        h.begin(&low, &["2020/2021"]).is_err(),
        "an ended task holds nothing"
    );
    assert!(same_locks(
        &h.lockbox.find_locks(low.id()),
        &[held.clone(), other.clone()]
    ));
    assert!(!h.remove(&low), "removed already");

    let mut out = Vec::new();
    assert!(h.lockbox.end_critical(low.id(), &mut out));
    assert_eq!(
        out,
        vec![
            LockPersist::Delete {
                task_id: low.id().into(),
                lock: held
            },
            LockPersist::Delete {
                task_id: low.id().into(),
                lock: other
            }
        ]
    );
    h.persist(out);
    assert!(!h.lockbox.tasks.contains_key(low.id()), "forgotten");
    assert!(matches!(
        h.lock(&high, Exclusive, "2020/2023"),
        LockResult::Acquired(_)
    ));
}

#[test]
fn a_task_added_again_in_its_critical_section_keeps_the_release() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    h.lock(&task, Exclusive, "2020/2021");
    h.begin(&task, &["2020/2021"]).unwrap();
    h.remove(&task);
    h.add(&task);
    assert!(h.lockbox.is_active(task.id()));
    assert!(h.end(&task), "released as Druid's remove then add would");
    assert!(h.lockbox.is_active(task.id()));
    assert!(h.lockbox.find_locks(task.id()).is_empty());
}

#[test]
fn a_pinned_task_lets_go_of_a_superseded_lock_at_the_end() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    let small = lock_of(h.lock(&task, Append, "2024-01-01/2024-01-02")).unwrap();
    h.begin(&task, &["2024-01-01/2024-01-02"]).unwrap();
    let big = lock_of(h.lock(&task, Append, "2024-01-01/2024-02-01")).unwrap();
    assert!(same_locks(
        &h.lockbox.find_locks(task.id()),
        &[small, big.clone()]
    ));
    assert!(h.end(&task));
    assert_eq!(h.lockbox.find_locks(task.id()), vec![big]);
}

// ----- restore ---------------------------------------------------------------------------------

/// Restores a new lockbox from the harness's rows and active tasks; returns it with the
/// failing groups, the harness now writing the new lockbox's effects.
fn restore_from(h: &mut Harness, tasks: &[Task]) -> Vec<String> {
    let stored = h.stored();
    let mut lockbox = TaskLockbox::new();
    let mut out = Vec::new();
    let failed = lockbox.restore(tasks, stored, &mut out);
    h.lockbox = lockbox;
    h.persist(out);
    failed
}

#[test]
fn restore_reacquires_every_lock_unchanged() {
    let mut h = Harness::new();
    let tasks: Vec<Task> = (0..5).map(|_| h.new_task(50)).collect();
    for (i, task) in tasks.iter().enumerate() {
        let day = format!("2017-01-0{}/2017-01-0{}", i + 1, i + 2);
        assert!(matches!(
            h.lock(task, Exclusive, &day),
            LockResult::Acquired(_)
        ));
    }
    let before = holding(&h.lockbox);
    let rows = h.rows.clone();
    let mut restored = TaskLockbox::new();
    let mut out = Vec::new();
    assert!(restored.restore(&tasks, h.stored(), &mut out).is_empty());
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(holding(&restored), before);
    assert!(tasks.iter().all(|t| restored.is_active(t.id())));
    h.lockbox = restored;
    h.check();
    assert_eq!(h.rows, rows);
}

#[test]
fn restore_fills_a_missing_priority() {
    let task = noop("t", 50);
    let row = stored_lock(Exclusive, &task, "2017/2018", "v1", None);
    let mut lockbox = TaskLockbox::new();
    let mut out = Vec::new();
    let failed = lockbox.restore(
        std::slice::from_ref(&task),
        vec![("t".into(), row.clone())],
        &mut out,
    );
    assert!(failed.is_empty());
    let with_priority = TaskLock {
        priority: Some(50),
        ..row.clone()
    };
    assert_eq!(lockbox.find_locks("t"), vec![with_priority.clone()]);
    // Druid leaves the row without a priority (and later cannot find it to delete it):
    // Steward rewrites it to what the lockbox holds.
    assert_eq!(
        out,
        vec![LockPersist::Replace {
            task_id: "t".into(),
            old: row,
            new: with_priority
        }]
    );
    lockbox.check_invariants();
}

#[test]
fn restore_keeps_a_lock_with_the_task_priority() {
    let task = noop("t", 50);
    let row = stored_lock(Exclusive, &task, "2017/2018", "v1", Some(50));
    let mut lockbox = TaskLockbox::new();
    let mut out = Vec::new();
    let failed = lockbox.restore(
        std::slice::from_ref(&task),
        vec![("t".into(), row.clone())],
        &mut out,
    );
    assert!(failed.is_empty() && out.is_empty());
    assert_eq!(lockbox.find_locks("t"), vec![row]);
}

/// Found by the whole-cluster simulation: a kill's EXCLUSIVE lock revoked by a SHARED request
/// of higher priority in the same millisecond, so both rows have one version and the revoking
/// lock's task sorts first. The revoked lock came back after the SHARED one, conflicted with
/// it, and the new leader shut the kill's group down; it is restored, revoked, as it was.
#[test]
fn restore_brings_back_a_revoked_lock_after_the_lock_that_revoked_it() {
    let kill = task("t9", "t9", "ds", 0);
    let reader = task("t8", "t8", "ds", 50);
    let version = "2023-11-14T22:43:36.304Z";
    let revoked =
        stored_lock(Exclusive, &kill, "2024-01-01/2024-01-03", version, Some(0)).revoked();
    let shared = stored_lock(Shared, &reader, "2024-01-01/2024-01-02", version, Some(50));
    let mut lockbox = TaskLockbox::new();
    let mut out = Vec::new();
    let failed = lockbox.restore(
        &[kill, reader],
        vec![
            ("t9".into(), revoked.clone()),
            ("t8".into(), shared.clone()),
        ],
        &mut out,
    );
    assert!(failed.is_empty(), "{failed:?}");
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(lockbox.find_locks("t9"), vec![revoked]);
    assert_eq!(lockbox.find_locks("t8"), vec![shared]);
    lockbox.check_invariants();
}

#[test]
fn restore_fails_the_group_of_a_lock_with_another_priority() {
    let task = task("t", "g", "ds", 50);
    let row = stored_lock(Exclusive, &task, "2017/2018", "v1", Some(10));
    let mut lockbox = TaskLockbox::new();
    let mut out = Vec::new();
    let failed = lockbox.restore(
        std::slice::from_ref(&task),
        vec![("t".into(), row.clone())],
        &mut out,
    );
    assert_eq!(failed, vec!["g".to_string()]);
    assert_eq!(
        out,
        vec![LockPersist::Delete {
            task_id: "t".into(),
            lock: row
        }]
    );
    assert!(lockbox.is_active("t"), "the caller fails it");
    lockbox.check_invariants();
}

#[test]
fn restore_fails_the_group_of_a_lock_of_another_group() {
    let failing0 = task("failing0", "FailingLockAcquisition", "none", 0);
    let failing1 = task("failing1", "FailingLockAcquisition", "none", 0);
    let success = task("success", "successGroup", "foo", 0);
    let lock = stored_lock(Exclusive, &success, "2025-01-01/2025-01-02", "v1", Some(0));
    let stored = vec![
        ("success".to_string(), lock.clone()),
        ("failing0".to_string(), lock.clone()),
        ("failing1".to_string(), lock.clone()),
    ];
    let tasks = [failing0, failing1, success];
    let mut h = Harness::new();
    for (task_id, lock) in &stored {
        replay(
            &mut h.rows,
            LockPersist::Insert {
                task_id: task_id.clone(),
                lock: lock.clone(),
            },
        );
    }
    assert_eq!(
        restore_from(&mut h, &tasks),
        vec!["FailingLockAcquisition".to_string()]
    );
    assert_eq!(h.lockbox.find_locks("success"), vec![lock]);
    assert!(h.lockbox.find_locks("failing0").is_empty());
}

#[test]
fn restore_keeps_revoked_locks() {
    let mut h = Harness::new();
    let task1 = h.new_task(10);
    let task2 = h.new_task(100);
    assert!(matches!(
        h.lock(&task1, Exclusive, "2017/2018"),
        LockResult::Acquired(_)
    ));
    assert!(matches!(
        h.lock(&task2, Exclusive, "2017/2018"),
        LockResult::Acquired(_)
    ));
    assert!(h.rows[task1.id()][0].revoked && !h.rows[task2.id()][0].revoked);
    let rows = h.rows.clone();
    assert!(restore_from(&mut h, &[task1.clone(), task2.clone()]).is_empty());
    assert_eq!(h.rows, rows);
    assert!(h.lockbox.find_locks(task1.id())[0].revoked);
}

#[test]
fn restore_reacquires_in_version_order() {
    // Two live EXCLUSIVE locks on one interval, as a store might hold them after a crash
    // between a revocation's writes: granted in version order, the later (higher priority)
    // one revokes the earlier, whatever order the rows come in.
    let low = task("low", "low", "ds", 10);
    let high = task("high", "high", "ds", 100);
    let early = stored_lock(
        Exclusive,
        &low,
        "2020/2021",
        "2020-01-01T00:00:00.000Z",
        Some(10),
    );
    let late = stored_lock(
        Exclusive,
        &high,
        "2020/2021",
        "2021-01-01T00:00:00.000Z",
        Some(100),
    );
    let mut h = Harness::new();
    for (task_id, lock) in [("high", &late), ("low", &early)] {
        replay(
            &mut h.rows,
            LockPersist::Insert {
                task_id: task_id.into(),
                lock: lock.clone(),
            },
        );
    }
    assert!(restore_from(&mut h, &[high.clone(), low.clone()]).is_empty());
    assert_eq!(h.lockbox.find_locks("low"), vec![early.revoked()]);
    assert_eq!(h.lockbox.find_locks("high"), vec![late.clone()]);

    // The other way round, the later one cannot be granted: its group fails and the caller
    // removes its tasks.
    let early_high = TaskLock {
        version: "2019-01-01T00:00:00.000Z".into(),
        ..late
    };
    let mut h = Harness::new();
    for (task_id, lock) in [("low", &early), ("high", &early_high)] {
        replay(
            &mut h.rows,
            LockPersist::Insert {
                task_id: task_id.into(),
                lock: lock.clone(),
            },
        );
    }
    assert_eq!(
        restore_from(&mut h, &[low.clone(), high.clone()]),
        vec!["low".to_string()]
    );
    assert!(h.lockbox.find_locks("low").is_empty());
    assert!(h.lockbox.is_active("low"));
    h.remove(&low);
}

#[test]
fn restore_drops_locks_of_unknown_tasks() {
    let gone = noop("gone", 50);
    let kept = noop("kept", 50);
    let row = stored_lock(Exclusive, &gone, "2020/2021", "v1", Some(50));
    let empty = stored_lock(Exclusive, &kept, "2020/2020", "v1", Some(50));
    let mut lockbox = TaskLockbox::new();
    let mut out = Vec::new();
    let stored = vec![("gone".into(), row.clone()), ("kept".into(), empty.clone())];
    assert!(lockbox
        .restore(std::slice::from_ref(&kept), stored, &mut out)
        .is_empty());
    assert_eq!(
        out,
        vec![
            LockPersist::Delete {
                task_id: "gone".into(),
                lock: row
            },
            LockPersist::Delete {
                task_id: "kept".into(),
                lock: empty
            }
        ]
    );
    assert!(lockbox.is_active("kept") && !lockbox.is_active("gone"));
}

#[test]
fn restore_rewrites_rows_that_came_back_different() {
    let a = task("a", "g", "ds", 50);
    let b = task("b", "g", "ds", 50);
    let wide = stored_lock(Exclusive, &a, "2020/2021", "v1", Some(50));
    let narrow = stored_lock(Exclusive, &b, "2020-03/2020-04", "v2", Some(50));
    let narrow_of_a = stored_lock(Exclusive, &a, "2020-05/2020-06", "v3", Some(50));
    let mut lockbox = TaskLockbox::new();
    let mut out = Vec::new();
    let stored = vec![
        ("b".into(), narrow.clone()),
        ("a".into(), narrow_of_a.clone()),
        ("a".into(), wide.clone()),
    ];
    assert!(lockbox.restore(&[a, b], stored, &mut out).is_empty());
    assert_eq!(
        out,
        vec![
            // b's lock is served by its group's wider lock.
            LockPersist::Replace {
                task_id: "b".into(),
                old: narrow,
                new: wide.clone()
            },
            // a holds the wider lock already.
            LockPersist::Delete {
                task_id: "a".into(),
                lock: narrow_of_a
            }
        ]
    );
    assert_eq!(lockbox.find_locks("a"), vec![wide.clone()]);
    assert_eq!(lockbox.find_locks("b"), vec![wide]);
}

#[test]
fn restore_replaces_the_previous_state() {
    let mut h = Harness::new();
    let task = h.new_task(50);
    h.lock(&task, Exclusive, "2020/2021");
    h.begin(&task, &["2020/2021"]).unwrap();
    let mut out = Vec::new();
    assert!(h.lockbox.restore(&[], Vec::new(), &mut out).is_empty());
    assert!(out.is_empty());
    assert!(h.lockbox.tasks.is_empty() && h.lockbox.posses.is_empty());
    h.lockbox.check_invariants();
}

// ----- filters ---------------------------------------------------------------------------------

fn filter(priority: i64, intervals: Option<&[&str]>, context: serde_json::Value) -> LockFilter {
    LockFilter {
        data_source: "none".into(),
        priority,
        intervals: intervals.map(|i| i.iter().map(|s| iv(s)).collect()),
        context: context.as_object().unwrap().clone(),
    }
}

fn nonexistent() -> LockFilter {
    LockFilter {
        data_source: "nonExistent".into(),
        ..filter(0, None, json!({}))
    }
}

fn locked_intervals_with_append_lock(
    context: serde_json::Value,
    priority: i64,
) -> BTreeMap<String, Vec<Interval>> {
    let mut h = Harness::new();
    let task = h.new_task(50);
    h.lock(&task, Append, "2017/2018");
    h.lockbox
        .locked_intervals(&[filter(priority, None, context)])
}

#[test]
fn locked_intervals_for_higher_priority_exclusive_lock() {
    assert!(locked_intervals_with_append_lock(json!({}), 75).is_empty());
}

#[test]
fn locked_intervals_for_lower_priority_exclusive_lock() {
    assert_eq!(
        locked_intervals_with_append_lock(json!({}), 25),
        BTreeMap::from([("none".to_string(), vec![iv("2017/2018")])])
    );
}

#[test]
fn locked_intervals_for_lower_priority_replace_lock() {
    assert!(locked_intervals_with_append_lock(json!({"taskLockType": "REPLACE"}), 25).is_empty());
}

#[test]
fn locked_intervals_for_lower_priority_concurrent_locks() {
    let context = json!({"taskLockType": "EXCLUSIVE", "useConcurrentLocks": true});
    assert!(locked_intervals_with_append_lock(context, 25).is_empty());
}

#[test]
fn locked_intervals_read_the_context_as_druid_does() {
    // Raw comparisons: a string "true" or a lower-case "replace" do not count.
    for context in [
        json!({"useConcurrentLocks": "true"}),
        json!({"taskLockType": "replace"}),
    ] {
        assert_eq!(locked_intervals_with_append_lock(context, 25).len(), 1);
    }
    let mut h = Harness::new();
    let a = h.new_task(50);
    let b = h.new_task(50);
    let c = h.new_task(50);
    h.lock(&a, Exclusive, "2020/2021");
    h.lock(&a, Shared, "2022/2023");
    h.lock(&b, Shared, "2022/2023");
    h.lock(&c, Exclusive, "2021/2022");
    let high = h.new_task(60);
    h.lock(&high, Exclusive, "2021-06/2021-07"); // revokes c's
                                                 // Each interval once, in order; revoked locks and the filter's intervals ignored.
    let found = h
        .lockbox
        .locked_intervals(&[filter(50, Some(&["2030/2031"]), json!({})), nonexistent()]);
    assert_eq!(
        found,
        BTreeMap::from([(
            "none".to_string(),
            vec![iv("2020/2021"), iv("2021-06/2021-07"), iv("2022/2023")]
        )])
    );
}

/// Druid's `testGetActiveLocks*` set-up: the locks, and those of them the first filter
/// overlaps with at least priority 50.
fn active_locks_setup(h: &mut Harness) -> (TaskLock, TaskLock, TaskLock) {
    let replace = h.expect_created(Replace, "2024/2025", 50);
    h.expect_created(Append, "2024/2025", 25); // lower priority
    let append = h.expect_created(Append, "2024-01-01/2024-02-01", 75);
    h.expect_created(Append, "2024-12-01/2025-01-01", 75); // not overlapping the filter
    let exclusive = h.expect_created(Exclusive, "2020/2021", 50);
    (replace, append, exclusive)
}

fn active_locks_with(
    context: serde_json::Value,
) -> (Vec<TaskLock>, (TaskLock, TaskLock, TaskLock)) {
    let mut h = Harness::new();
    let expected = active_locks_setup(&mut h);
    let policy = filter(50, Some(&["2020/2021", "2024-01-01/2024-07-01"]), context);
    let mut found = h.lockbox.active_locks(&[policy, nonexistent()]);
    assert_eq!(found.len(), 1);
    (found.remove("none").unwrap(), expected)
}

#[test]
fn active_locks() {
    let (found, (replace, append, exclusive)) = active_locks_with(json!({}));
    assert!(same_locks(&found, &[replace, append, exclusive]));
}

#[test]
fn active_locks_for_append_lock_ignore_append_locks() {
    let (found, (replace, _, exclusive)) = active_locks_with(json!({"taskLockType": "APPEND"}));
    assert!(same_locks(&found, &[replace, exclusive]));
}

#[test]
fn active_locks_for_concurrent_locks_ignore_append_locks() {
    let context = json!({"useConcurrentLocks": true, "taskLockType": "EXCLUSIVE"});
    let (found, (replace, _, exclusive)) = active_locks_with(context);
    assert!(same_locks(&found, &[replace, exclusive]));
}

#[test]
fn active_locks_without_concurrent_locks_count_append_locks() {
    let context = json!({"useConcurrentLocks": false, "taskLockType": "APPEND"});
    let (found, (replace, append, exclusive)) = active_locks_with(context);
    assert!(same_locks(&found, &[replace, append, exclusive]));
}

#[test]
fn active_locks_read_the_context_as_druid_does() {
    // QueryContexts conversions: a string boolean, an enum name in any case.
    for context in [
        json!({"useConcurrentLocks": "TRUE"}),
        json!({"taskLockType": "append"}),
    ] {
        let (found, (replace, _, exclusive)) = active_locks_with(context);
        assert!(same_locks(&found, &[replace, exclusive]));
    }
    // A value Druid refuses counts as absent.
    let (found, (replace, append, exclusive)) = active_locks_with(json!({"taskLockType": 7}));
    assert!(same_locks(&found, &[replace, append, exclusive]));
}

#[test]
fn active_locks_list_per_filter_in_index_order() {
    let mut h = Harness::new();
    let later_lock = h.expect_created(Exclusive, "2021/2022", 50);
    let earlier_lock = h.expect_created(Exclusive, "2020/2021", 50);
    let revoked = h.expect_created(Exclusive, "2019/2020", 10);
    h.expect_created(Exclusive, "2019-06/2019-07", 20);
    let all = filter(0, None, json!({}));
    let found = h.lockbox.active_locks(&[
        all.clone(),
        filter(50, Some(&["2021-06/2021-07"]), json!({})),
    ]);
    // Revoked locks left out; a lock two filters admit is listed twice, as Druid does.
    let listed = &found["none"];
    assert!(!listed.contains(&revoked.revoked()));
    assert_eq!(listed[1..3], [earlier_lock, later_lock.clone()]);
    assert_eq!(listed[3..], [later_lock]);
}

#[test]
fn lock_filter_reads_druids_json() {
    let policy: LockFilter = serde_json::from_value(json!({"datasource": "wiki",
        "priority": 25, "intervals": ["2024-01-01/2024-02-01"],
        "context": {"useConcurrentLocks": true}}))
    .unwrap();
    assert_eq!(policy.data_source, "wiki");
    assert_eq!(policy.priority, 25);
    assert_eq!(policy.intervals, Some(vec![iv("2024-01-01/2024-02-01")]));
    assert_eq!(policy.context["useConcurrentLocks"], json!(true));
    let bare: LockFilter = serde_json::from_value(json!({"datasource": "wiki"})).unwrap();
    assert_eq!(
        bare,
        LockFilter {
            data_source: "wiki".into(),
            priority: 0,
            intervals: None,
            context: Default::default()
        }
    );
}

// ----- randomized ------------------------------------------------------------------------------

/// xorshift64: a tiny deterministic generator, so that a seed replays a run.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn day(n: usize) -> Timestamp {
    later(iv("2024/2025").start, 86_400 * n as u64)
}

fn random_interval(rng: &mut XorShift) -> Interval {
    let start = rng.below(10);
    let len = [1, 1, 1, 2, 3, 7][rng.below(6)];
    Interval::new(day(start), day(start + len))
}

#[test]
fn index_finds_exactly_the_overlapping_posses() {
    for seed in 0..50 {
        let mut rng = XorShift::new(seed);
        let mut index = IntervalIndex::default();
        let mut held: Vec<(Interval, PosseId)> = Vec::new();
        for id in 0..200 {
            if !held.is_empty() && rng.chance(40) {
                let (interval, id) = held.swap_remove(rng.below(held.len()));
                index.remove(interval, id);
            } else {
                let interval = random_interval(&mut rng);
                index.insert(interval, id);
                held.push((interval, id));
            }
            index.check();
            let query = random_interval(&mut rng);
            let found: Vec<PosseId> = index.overlapping(&query).collect();
            let mut expected: Vec<(Interval, PosseId)> = held
                .iter()
                .copied()
                .filter(|(i, _)| i.overlaps(&query))
                .collect();
            expected.sort();
            let expected: Vec<PosseId> = expected.into_iter().map(|(_, id)| id).collect();
            assert_eq!(found, expected, "seed {seed}, query {query}");
        }
    }
}

/// Random requests, releases, ends, critical sections and restores on a few tasks of a few
/// groups: after every step the invariants hold, the rows written from the effects are
/// exactly the locks each task holds, pinned locks stay as they were, and a revocation only
/// ever hits a strictly lower priority.
#[test]
fn random_walk_keeps_the_rows_and_the_rules() {
    for seed in 0..150 {
        random_walk(seed);
    }
}

fn random_walk(seed: u64) {
    let mut rng = XorShift::new(seed);
    // Four groups over two datasources; group g3 mixes priorities (Druid's error when they
    // share a lock).
    let tasks: Vec<Task> = (0..8)
        .map(|i| {
            let group = i / 2;
            let priority = if i == 7 { 60 } else { [0, 50, 50, 100][group] };
            task(
                &format!("t{i}"),
                &format!("g{group}"),
                &format!("ds{}", group % 2),
                priority,
            )
        })
        .collect();
    let mut h = Harness::new();
    // Each pinned task's depth and the locks it held when last entering a section.
    let mut pinned: BTreeMap<String, (u32, Vec<TaskLock>)> = BTreeMap::new();
    for task in &tasks {
        h.add(task);
    }
    for step in 0..300 {
        let task = &tasks[rng.below(tasks.len())];
        let context = format!("seed {seed} step {step} task {}", task.id());
        let op = rng.below(100);
        // Mostly ask for active tasks' locks: an ended task is refused, once is enough.
        if (5..=51).contains(&op) && rng.chance(75) {
            h.add(task);
        }
        let active = h.lockbox.is_active(task.id());
        match op {
            0..=4 => h.add(task),
            5..=51 => {
                let lock_type = [Exclusive, Shared, Replace, Append][rng.below(4)];
                let mut interval = random_interval(&mut rng);
                if rng.chance(2) {
                    interval.end = interval.start;
                }
                let version = rng.chance(15).then(|| format!("v{}", rng.below(3)));
                let req = LockRequest {
                    lock_type,
                    interval,
                    preferred_version: version,
                };
                h.now = later(h.now, 1);
                let mut out = Vec::new();
                let result = h.lockbox.try_lock(task, &req, h.now, &mut out);
                if !active {
                    assert!(result.is_err(), "{context}: inactive task granted");
                }
                check_effects(task, &result, &out);
                for effect in &out {
                    if let LockPersist::Replace { task_id, .. } = effect {
                        assert!(!pinned.contains_key(task_id), "{context}: pinned revoked");
                    }
                }
                h.persist(out);
            }
            52..=61 => {
                let held = h.lockbox.find_locks(task.id());
                let interval = if !held.is_empty() && rng.chance(80) {
                    held[rng.below(held.len())].interval
                } else {
                    random_interval(&mut rng)
                };
                let mut out = Vec::new();
                h.lockbox.unlock(task, &interval, &mut out);
                h.persist(out);
            }
            62..=64 => {
                let mut out = Vec::new();
                h.lockbox.unlock_all(task, &mut out);
                h.persist(out);
            }
            65..=69 => {
                h.remove(task);
                assert!(!h.lockbox.is_active(task.id()), "{context}");
                if !pinned.contains_key(task.id()) {
                    assert!(!h.lockbox.tasks.contains_key(task.id()), "{context}");
                }
            }
            70..=81 => {
                let held = h.lockbox.find_locks(task.id());
                let mut intervals: Vec<Interval> = held
                    .iter()
                    .filter(|_| rng.chance(60))
                    .map(|l| l.interval)
                    .collect();
                if rng.chance(15) {
                    intervals.push(random_interval(&mut rng));
                }
                let result = h.lockbox.begin_critical(task, &intervals);
                if result.is_ok() && active {
                    let entry = pinned.entry(task.id().to_string()).or_default();
                    entry.0 += 1;
                    entry.1 = h.lockbox.find_locks(task.id());
                }
                h.check();
            }
            82..=97 => {
                let released = {
                    let mut out = Vec::new();
                    let released = h.lockbox.end_critical(task.id(), &mut out);
                    h.persist(out);
                    released
                };
                match pinned.get_mut(task.id()) {
                    Some((depth, _)) if *depth > 1 => {
                        *depth -= 1;
                        assert!(!released, "{context}");
                    }
                    Some(_) => {
                        pinned.remove(task.id());
                    }
                    None => assert!(!released, "{context}"),
                }
            }
            _ => {
                // A new leader: the active tasks and the rows as stored.
                let active: Vec<Task> = tasks
                    .iter()
                    .filter(|t| h.lockbox.is_active(t.id()))
                    .cloned()
                    .collect();
                let failed = restore_from(&mut h, &active);
                pinned.clear();
                for task in active
                    .iter()
                    .filter(|t| failed.iter().any(|g| g == t.group_id()))
                {
                    h.remove(task);
                }
            }
        }
        for (task_id, (_, snapshot)) in &pinned {
            let now = h.lockbox.find_locks(task_id);
            for lock in snapshot {
                assert!(
                    now.contains(lock),
                    "{context}: pinned {lock:?} of {task_id} changed"
                );
            }
        }
    }
}
