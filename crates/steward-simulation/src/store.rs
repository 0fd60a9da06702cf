//! The metadata store as the Overlord uses it: the task rows, with the one conditional write
//! that records an end (`UPDATE ... WHERE active = TRUE`, as in `steward-metadata`), so a
//! second write of an end (a new leader persisting what its predecessor already persisted)
//! changes nothing and is told so; and the lock rows (`druid_tasklocks`), written as
//! `steward-metadata` writes them.

use std::collections::BTreeMap;

use jiff::Timestamp;
use steward_model::{Task, TaskLock, TaskStatus};
use steward_overlord::LockPersist;

pub struct Row {
    pub task: Task,
    pub created: Timestamp,
    pub end: Option<TaskStatus>,
    /// How many writes changed the row from active to complete: the simulation's "ended
    /// exactly once".
    pub ends_recorded: u32,
}

/// A row of `druid_tasklocks`.
struct LockRow {
    task_id: String,
    lock: TaskLock,
}

#[derive(Default)]
pub struct Store {
    rows: BTreeMap<String, Row>,
    /// In the order of the table's auto-increment ids, the order a new leader reads them in:
    /// a row is inserted last and a removal keeps the others' order.
    locks: Vec<LockRow>,
}

impl Store {
    /// Druid's insert: false if the id is taken.
    pub fn insert(&mut self, task: Task, created: Timestamp) -> bool {
        let id = task.id().to_string();
        if self.rows.contains_key(&id) {
            return false;
        }
        self.rows.insert(
            id,
            Row {
                task,
                created,
                end: None,
                ends_recorded: 0,
            },
        );
        true
    }

    /// Records an end if the row is still active; whether it changed the row.
    pub fn set_status(&mut self, status: &TaskStatus) -> bool {
        assert!(
            status.is_complete(),
            "{} persisted while not complete",
            status.id
        );
        let row = self
            .rows
            .get_mut(&status.id)
            .unwrap_or_else(|| panic!("{} persisted but never stored", status.id));
        if row.end.is_some() {
            return false;
        }
        row.end = Some(status.clone());
        row.ends_recorded += 1;
        true
    }

    /// What a new leader reads at start.
    pub fn active(&self) -> Vec<(Task, Timestamp)> {
        self.rows
            .values()
            .filter(|r| r.end.is_none())
            .map(|r| (r.task.clone(), r.created))
            .collect()
    }

    pub fn is_active(&self, id: &str) -> bool {
        self.rows.get(id).is_some_and(|r| r.end.is_none())
    }

    pub fn task(&self, id: &str) -> Option<&Task> {
        self.rows.get(id).map(|r| &r.task)
    }

    pub fn rows(&self) -> impl Iterator<Item = (&String, &Row)> {
        self.rows.iter()
    }

    pub fn ids(&self) -> Vec<String> {
        self.rows.keys().cloned().collect()
    }

    /// Writes one change of the lock rows as `steward-metadata` does: an insert adds a row; a
    /// replace deletes the task's first row equal to `old` and inserts `new` (a new id: it
    /// moves last); a delete removes the task's first row equal to the lock, and does nothing
    /// (the store warns) if there is none.
    pub fn write_lock(&mut self, change: &LockPersist) {
        match change {
            LockPersist::Insert { task_id, lock } => self.insert_lock(task_id, lock.clone()),
            LockPersist::Replace { task_id, old, new } => {
                // The store answers a conflict, and the driver's writer retries a failed write
                // until its term ends: every lock write after this one would wait forever.
                let at = self.find_lock(task_id, old).unwrap_or_else(|| {
                    panic!("{task_id}: the lock row to replace is not stored, so the writer is stuck: {old:?}")
                });
                self.locks.remove(at);
                self.insert_lock(task_id, new.clone());
            }
            LockPersist::Delete { task_id, lock } => {
                if let Some(at) = self.find_lock(task_id, lock) {
                    self.locks.remove(at);
                }
            }
        }
    }

    fn insert_lock(&mut self, task_id: &str, lock: TaskLock) {
        self.locks.push(LockRow {
            task_id: task_id.to_string(),
            lock,
        });
    }

    fn find_lock(&self, task_id: &str, lock: &TaskLock) -> Option<usize> {
        self.locks
            .iter()
            .position(|r| r.task_id == task_id && r.lock == *lock)
    }

    /// What a new leader reads with the active tasks: the lock rows of tasks still active, in
    /// row order.
    pub fn active_task_locks(&self) -> Vec<(String, TaskLock)> {
        self.active_lock_rows()
            .map(|(id, lock)| (id.to_string(), lock.clone()))
            .collect()
    }

    /// The lock rows of tasks still active, in row order, to read.
    pub fn active_lock_rows(&self) -> impl Iterator<Item = (&str, &TaskLock)> {
        self.locks
            .iter()
            .filter(|r| self.is_active(&r.task_id))
            .map(|r| (r.task_id.as_str(), &r.lock))
    }
}
