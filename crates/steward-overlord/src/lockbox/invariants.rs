//! The lockbox's invariants, checked by the tests after every step (and by the core, once
//! wired, as it checks the queue's and the runner's): a broken rule is caught where it
//! happens, not when two tasks later publish over each other.

use steward_model::LockGranularity;

use super::compat;
use super::TaskLockbox;

impl TaskLockbox {
    /// Asserts: no two live locks on overlapping intervals of one datasource are
    /// incompatible, unless Druid lets them be (one group's locks on exactly one interval);
    /// every posse has a task, a time-chunk lock with a priority on a non-empty interval, and
    /// each of its tasks is known, of the lock's group, datasource and priority, and active
    /// or ended inside a critical section; a task holds no lock twice; only tasks in a
    /// critical section have deferred releases, only of locks they hold; the indexes hold
    /// exactly the posses.
    pub(crate) fn check_invariants(&self) {
        for (id, posse) in &self.posses {
            let lock = &posse.lock;
            assert!(!posse.tasks.is_empty(), "posse {id} has no task");
            assert_eq!(lock.granularity, LockGranularity::TimeChunk, "posse {id}");
            assert!(
                !lock.interval.is_empty(),
                "posse {id} has an empty interval"
            );
            let priority = lock.priority.expect("a held lock has a priority");
            for task_id in &posse.tasks {
                let entry = self
                    .tasks
                    .get(task_id)
                    .unwrap_or_else(|| panic!("task {task_id} of posse {id} is unknown"));
                assert!(
                    entry.posses.contains(id),
                    "task {task_id} misses posse {id}"
                );
                assert_eq!(entry.group_id, lock.group_id, "group of task {task_id}");
                assert_eq!(
                    entry.data_source, lock.data_source,
                    "datasource of {task_id}"
                );
                assert_eq!(entry.priority, priority, "priority of task {task_id}");
            }
        }
        // Each index entry names a posse of its datasource and interval, and there are as
        // many entries as posses: every posse is indexed exactly once.
        let mut indexed = 0;
        for (ds, index) in &self.by_data_source {
            assert!(!index.is_empty(), "empty index kept for [{ds}]");
            index.check();
            for (interval, id) in index.iter() {
                indexed += 1;
                let posse = &self.posses[&id];
                assert_eq!(posse.lock.data_source, *ds, "posse {id} indexed elsewhere");
                assert_eq!(
                    posse.lock.interval, *interval,
                    "posse {id} indexed elsewhere"
                );
                if posse.lock.revoked {
                    continue;
                }
                for other in index.overlapping(interval).filter(|o| *o > id) {
                    let b = &self.posses[&other].lock;
                    let a = &posse.lock;
                    if b.revoked || !compat::incompatible(b.lock_type, &b.interval, a) {
                        continue;
                    }
                    assert!(
                        a.group_id == b.group_id && a.interval == b.interval,
                        "incompatible live locks held together: {a:?} and {b:?}"
                    );
                }
            }
        }
        assert_eq!(indexed, self.posses.len(), "indexes and posses differ");
        for (task_id, entry) in &self.tasks {
            let mut locks = Vec::new();
            for id in &entry.posses {
                let posse = self
                    .posses
                    .get(id)
                    .unwrap_or_else(|| panic!("task {task_id} in a gone posse {id}"));
                assert!(posse.tasks.contains(task_id), "posse {id} misses {task_id}");
                let lock = &posse.lock;
                assert!(
                    !locks.contains(&lock),
                    "task {task_id} holds {lock:?} twice"
                );
                locks.push(lock);
            }
            assert!(
                entry.deferred.is_subset(&entry.posses),
                "task {task_id} defers the release of a lock it does not hold"
            );
            if entry.critical == 0 {
                assert!(
                    !entry.ended,
                    "task {task_id} ended outside a critical section"
                );
                assert!(
                    entry.deferred.is_empty(),
                    "task {task_id} defers outside a section"
                );
            }
        }
    }
}
