//! The metadata store: Druid's `druid_tasks`, `druid_tasklocks`, `druid_config` and
//! `druid_audit` tables behind one interface, so the Overlord does not care whether it runs on
//! SQLite, PostgreSQL or MySQL. [`open_store`] picks the database from Druid's connect URI.
//!
//! The store is the task history. The Overlord keeps only active tasks in memory; everything
//! about finished tasks is read from here with indexed, bounded queries. It also holds Druid's
//! dynamic configs (`worker.config`) with an audit trail of every change.

mod mysql;
mod open;
mod postgres;
mod server;
mod sql;
mod sqlite;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use steward_model::{Task, TaskStatus};

pub use mysql::MySqlStore;
pub use open::open_store;
pub use postgres::PostgresStore;
pub use sql::SqlStore;
pub use sqlite::SqliteStore;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A task with this id is already stored (active or not).
    #[error("Task [{0}] already exists")]
    AlreadyExists(String),
    /// The store could not be reached or failed; the caller may retry.
    #[error("metadata store unavailable: {0}")]
    Unavailable(String),
    /// The database refused the data of the request itself (text it cannot store, a value too
    /// long): the caller's mistake, which a retry would repeat.
    #[error("the metadata store refused the request: {0}")]
    Rejected(String),
    /// A stored row could not be decoded; the first field names the row (a task id, or
    /// `<audit table>:<id>`).
    #[error("corrupt metadata row [{0}]: {1}")]
    Corrupt(String, String),
}

/// The active rows of the task table.
#[derive(Debug, Default)]
pub struct ActiveTasks {
    /// Tasks with their rows, oldest first.
    pub tasks: Vec<(Task, TaskInfo)>,
    /// Active rows that cannot be run, as (task id, why): a payload or status that does not
    /// decode, or a task type Steward does not run (a Druid cluster's tasks at the switch).
    /// Rather than stall the Overlord, they are ended FAILED with the reason.
    pub unrunnable: Vec<(String, String)>,
}

/// Druid's `AuditInfo`: who changed a config, why, and from which address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditInfo {
    /// The `X-Druid-Author` header: what the client says about itself.
    pub author: String,
    /// Who the client authenticated as (empty with authentication off), as Druid records it
    /// besides the author, which any client can set.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub identity: String,
    /// The `X-Druid-Comment` header.
    pub comment: String,
    /// The client's address.
    pub ip: String,
}

/// Druid's `AuditEntry`: one recorded change of a config.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// The config's name (`worker.config`).
    pub key: String,
    /// Druid records config changes with the config's name as their type too.
    pub audit_type: String,
    pub audit_info: AuditInfo,
    /// The config as it was stored, as JSON text.
    pub payload: String,
    pub audit_time: Timestamp,
}

/// A task's row without its payload: what listings and status lookups need.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfo {
    pub id: String,
    pub group_id: String,
    pub task_type: String,
    pub data_source: String,
    pub created_time: Timestamp,
    pub status: TaskStatus,
    pub active: bool,
}

/// Which rows a listing returns. Active rows come oldest first, complete rows newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskQuery {
    /// `Some(true)`: active only; `Some(false)`: complete only; `None`: both.
    pub active: Option<bool>,
    pub data_source: Option<String>,
    pub task_type: Option<String>,
    /// Only rows created at or after this instant.
    pub created_after: Option<Timestamp>,
    /// Only rows created before this instant.
    pub created_before: Option<Timestamp>,
    /// At most this many complete rows (active rows are never limited).
    pub max_complete: Option<usize>,
}

#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// Inserts an active task with its initial (RUNNING) status.
    async fn insert_task(
        &self,
        task: &Task,
        created: Timestamp,
        status: &TaskStatus,
    ) -> Result<(), StoreError>;
    /// Records a task's status if the task is still active
    /// (`UPDATE ... SET active = ?, status_payload = ? WHERE id = ? AND active`).
    /// Returns whether a row changed. A complete status makes the row inactive.
    async fn set_status(&self, status: &TaskStatus) -> Result<bool, StoreError>;
    /// The stored payload of a task.
    async fn get_task(&self, id: &str) -> Result<Option<Task>, StoreError>;
    /// The row of a task, without payload.
    async fn get_info(&self, id: &str) -> Result<Option<TaskInfo>, StoreError>;
    /// Rows of the given ids that exist (order unspecified).
    async fn get_infos(&self, ids: &[String]) -> Result<Vec<TaskInfo>, StoreError>;
    /// Every active row (queue start-up): the tasks with their rows, oldest first, and the
    /// rows that cannot be run.
    async fn active_tasks(&self) -> Result<ActiveTasks, StoreError>;
    /// Rows matching a query, active then complete.
    async fn list(&self, query: &TaskQuery) -> Result<Vec<TaskInfo>, StoreError>;
    /// The payload of a dynamic config (`<base>_config` row `name`), if it was ever set.
    async fn get_config(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores a dynamic config and records the change in `<base>_audit` with key and type
    /// `name`, in one transaction: an audit entry exists exactly for every stored change.
    async fn set_config_with_audit(
        &self,
        name: &str,
        payload: &[u8],
        audit: &AuditInfo,
        audit_time: Timestamp,
    ) -> Result<(), StoreError>;
    /// Replaces the payload of config `name` with `new` only if it is still `expected` (`None`:
    /// no such row yet), as one atomic step; returns whether it did. This is Druid's
    /// `compareAndSwap` on the config table: writers that read, modify and write back a config
    /// (several Overlords editing the same map) never lose each other's changes, the one that
    /// read a stale value gets `false` and starts over. No audit entry is written.
    async fn compare_and_swap_config(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError>;
    /// Recorded changes of a config, newest first: those made at or after `created_after` and
    /// before `created_before`, at most `limit` of them.
    async fn audit_history(
        &self,
        key: &str,
        created_after: Option<Timestamp>,
        created_before: Option<Timestamp>,
        limit: Option<usize>,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// Deletes complete tasks created before `before` (retention, Druid's
    /// `DELETE ... WHERE created_date < ? AND active = FALSE`); active tasks are never deleted,
    /// however old. Runs as a series of short statements, not one long one. Returns how many
    /// rows were deleted.
    async fn delete_complete_tasks_created_before(
        &self,
        before: Timestamp,
    ) -> Result<u64, StoreError>;
}
