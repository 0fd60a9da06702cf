//! The metadata store as the Overlord uses it: the task rows, with the one conditional write
//! that records an end (`UPDATE ... WHERE active = TRUE`, as in `steward-metadata`), so a
//! second write of an end (a new leader persisting what its predecessor already persisted)
//! changes nothing and is told so.

use std::collections::BTreeMap;

use jiff::Timestamp;
use steward_model::{Task, TaskStatus};

pub struct Row {
    pub task: Task,
    pub created: Timestamp,
    pub end: Option<TaskStatus>,
    /// How many writes changed the row from active to complete: the simulation's "ended
    /// exactly once".
    pub ends_recorded: u32,
}

#[derive(Default)]
pub struct Store {
    rows: BTreeMap<String, Row>,
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
}
