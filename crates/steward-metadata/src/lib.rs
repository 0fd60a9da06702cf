//! The metadata store: Druid's `druid_tasks`, `druid_tasklocks`, `druid_segments`,
//! `druid_pendingSegments`, `druid_config` and `druid_audit` tables behind one interface, so the
//! Overlord does not care whether it runs on SQLite, PostgreSQL or MySQL. [`open_store`] picks
//! the database from Druid's connect URI; [`open_timed_store`] also times every operation for
//! the Overlord's `/metrics` (`timed`).
//!
//! The store is the task history. The Overlord keeps only active tasks in memory; everything
//! about finished tasks is read from here with indexed, bounded queries. It holds the locks of
//! active tasks (so a new leader takes them over), the published segments with Druid's rules
//! for overshadowing and marking them used or unused, and the segments allocated to appending
//! tasks before they publish. It also holds Druid's dynamic configs (`worker.config`) with an
//! audit trail of every change.

mod mysql;
mod open;
mod postgres;
mod server;
mod sql;
mod sqlite;
#[cfg(test)]
mod tests;
mod timed;
mod timeline;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use steward_model::{
    DataSegment, Interval, PartialShardSpec, SegmentIdWithShardSpec, SegmentSchemaMapping, Task,
    TaskLock, TaskStatus,
};

pub use mysql::MySqlStore;
pub use open::{open_store, open_timed_store};
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
    /// The request itself is invalid: the database refused its data (text it cannot store, a
    /// value too long), or it names segments that do not exist or mixes datasources. The
    /// caller's mistake, which a retry would repeat.
    #[error("the metadata store refused the request: {0}")]
    Rejected(String),
    /// A stored row could not be decoded; the first field names the row (a task id, a segment
    /// id, or `<audit table>:<id>`).
    #[error("corrupt metadata row [{0}]: {1}")]
    Corrupt(String, String),
    /// The request contradicts what is stored (a lock the task does not hold, a segment id
    /// taken by another segment): a retry would fail the same way until the rows change.
    #[error("{0}")]
    Conflict(String),
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

/// The orders of [`MetadataStore::complete_task_page`]. Each ends with the task id, so every
/// order is total: a page continues exactly after the last row of the previous one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TaskSort {
    /// `created_date`, then id.
    #[default]
    Created,
    Id,
    /// Datasource, then id.
    DataSource,
    /// Task type, then id.
    Type,
}

/// A row's place in a [`TaskSort`] order: what a keyset page continues after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSortKey {
    /// The sorted column's value (the creation time as `format_ts` writes it, the datasource or
    /// the type); the id itself for [`TaskSort::Id`].
    pub value: String,
    pub id: String,
}

/// Which complete rows [`MetadataStore::complete_task_page`] returns, and in which order. Text
/// orders are by bytes (code points), on every database, so that rows merge with tasks sorted
/// in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskPageQuery {
    pub data_source: Option<String>,
    pub task_type: Option<String>,
    /// Only ids containing this text (case-sensitive).
    pub id_contains: Option<String>,
    /// Only rows created at or after this instant.
    pub created_after: Option<Timestamp>,
    /// Only rows created before this instant.
    pub created_before: Option<Timestamp>,
    /// Only rows of these datasources (`None`: of any): the ones a caller may read when it may
    /// not read every datasource.
    pub readable: Option<Vec<String>>,
    pub sort: TaskSort,
    pub descending: bool,
    /// Only rows after this one in the order (keyset paging: as cheap deep in the history as
    /// at its start).
    pub after: Option<TaskSortKey>,
    /// Rows skipped after `after` (plain paging, for small jumps: costs the rows skipped).
    pub offset: usize,
    pub limit: usize,
}

/// One page of complete rows.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPage {
    /// Complete rows matching the filters, wherever the page starts.
    pub total: u64,
    pub tasks: Vec<TaskInfo>,
}

/// What a publish did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishOutcome {
    /// The segments written, in the order given; a segment whose id was already stored is
    /// not written again and not listed.
    pub inserted: Vec<DataSegment>,
    /// How many used segments of the datasource the publish overshadowed, now marked unused.
    pub overshadowed: u64,
}

/// Which unused segments of a datasource [`MetadataStore::unused_segments`] returns (Druid's
/// `retrieveUnusedSegmentsForInterval`, what a kill task deletes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnusedSegmentsQuery {
    pub data_source: String,
    /// Only segments whose interval lies within this one.
    pub interval: Option<Interval>,
    /// Only segments of these versions (an empty list: none).
    pub versions: Option<Vec<String>>,
    /// At most this many, the first in (start, end, version, id) order.
    pub limit: Option<usize>,
    /// Only segments marked unused at or before this instant; rows that never recorded when
    /// (`used_status_last_updated` NULL, written by an older Druid) are left out, as in Druid.
    pub max_used_status_last_updated: Option<jiff::Timestamp>,
}

/// Which segments of a datasource [`MetadataStore::mark_segments`] marks.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentSelection {
    /// Segments whose interval lies within this one.
    Interval(Interval),
    /// Segments with these ids.
    Ids(Vec<String>),
    /// Every segment of the datasource.
    All,
}

/// A datasource as its segments describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSourceSummary {
    pub name: String,
    /// Used segments.
    pub segment_count: u64,
    /// Bytes of the used segments (their payloads' `size`).
    pub total_size: u64,
    /// The earliest start and latest end of the used segments; `None` without any.
    pub min_start: Option<Timestamp>,
    pub max_end: Option<Timestamp>,
}

/// What the used and unused segments of a datasource add up to, as one aggregate query reads
/// them (the web console's datasource view).
#[derive(Debug, Clone, PartialEq)]
pub struct DataSourceStats {
    pub name: String,
    pub used_segments: u64,
    pub unused_segments: u64,
    /// Bytes of the used segments (their payloads' `size`).
    pub size: u64,
    /// Rows of the used segments whose row count is stored (Druid's `num_rows`, filled by a
    /// Druid with centralized segment schemas; Steward leaves it NULL); `None` when none is.
    pub rows: Option<u64>,
    /// The earliest start and latest end of the used segments; `None` without any.
    pub min_start: Option<Timestamp>,
    pub max_end: Option<Timestamp>,
    /// Distinct intervals of the used segments.
    pub intervals: u64,
}

/// Druid's `segmentAllocate` for one segment: a task asking for the id of the next segment it
/// writes in `interval`.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocateRequest {
    pub data_source: String,
    /// The time chunk of the segment.
    pub interval: Interval,
    /// The series of segments the task writes; with `previous_segment_id`, what makes a
    /// repeated request return the id allocated the first time.
    pub sequence_name: String,
    /// The last segment allocated to this sequence (`None`: the first).
    pub previous_segment_id: Option<String>,
    /// Identify a repeated request by sequence and interval instead of sequence and previous
    /// segment (Druid's `skipSegmentLineageCheck`, set by batch tasks).
    pub skip_segment_line_check: bool,
    /// The version of the task's lock on the interval: a new time chunk's segments get it.
    pub lock_version: String,
    pub shard_spec: PartialShardSpec,
    /// The task (or task group) allocating, so its pending segments can be deleted when it ends.
    pub task_allocator_id: Option<String>,
    pub now: Timestamp,
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
    /// One page of complete rows matching a query, with how many match in all; both read from
    /// one snapshot.
    async fn complete_task_page(&self, query: &TaskPageQuery) -> Result<TaskPage, StoreError>;
    /// The datasources of complete rows, by name: what a caller's readable set is chosen from.
    async fn complete_task_data_sources(&self) -> Result<Vec<String>, StoreError>;
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

    /// Records that task `task_id` holds `lock` (a row of `<base>_tasklocks`, Druid's
    /// `addLock`).
    async fn insert_lock(&self, task_id: &str, lock: &TaskLock) -> Result<(), StoreError>;
    /// Replaces the task's row of `old` with `new` in one transaction (Druid's `replaceLock`,
    /// used when a lock is revoked). [`StoreError::Conflict`] if the task holds no such lock.
    async fn replace_lock(
        &self,
        task_id: &str,
        old: &TaskLock,
        new: &TaskLock,
    ) -> Result<(), StoreError>;
    /// Deletes the task's row of `lock` (Druid's `removeLock`); a lock the task does not hold
    /// is logged and otherwise ignored, as in Druid.
    async fn delete_lock(&self, task_id: &str, lock: &TaskLock) -> Result<(), StoreError>;
    /// Deletes every lock row of a task (when it ends).
    async fn delete_task_locks(&self, task_id: &str) -> Result<(), StoreError>;
    /// The locks of active tasks as (task id, lock), in the order they were recorded: what a
    /// new leader's lockbox starts from. A lock payload that does not decode is logged and
    /// left out rather than stopping the Overlord.
    async fn active_task_locks(&self) -> Result<Vec<(String, TaskLock)>, StoreError>;

    /// Publishes segments in one transaction (Druid's `commitSegments`): inserts each one
    /// whose id is not stored yet (used, unless another segment of the batch overshadows it),
    /// then marks unused every used segment of the datasource that the publish overshadows: a
    /// segment overlapping a published one of a higher version, whose whole interval is
    /// covered by used segments of higher versions (the Coordinator's rule, applied at once).
    /// All or nothing. The segments must share one datasource ([`StoreError::Rejected`]).
    /// A segment's row count in `schema` goes to its `num_rows` column (NULL without one).
    async fn publish_segments(
        &self,
        segments: &[DataSegment],
        schema: Option<&SegmentSchemaMapping>,
        now: Timestamp,
    ) -> Result<PublishOutcome, StoreError>;
    /// Used segments of a datasource overlapping any of `intervals` (all of them when empty),
    /// in (start, end, version, partition) order.
    async fn used_segments(
        &self,
        data_source: &str,
        intervals: &[Interval],
    ) -> Result<Vec<DataSegment>, StoreError>;
    /// Unused segments matching a query, in (start, end, version, id) order.
    async fn unused_segments(
        &self,
        query: &UnusedSegmentsQuery,
    ) -> Result<Vec<DataSegment>, StoreError>;
    /// A segment of a datasource, used or not, with whether it is used.
    async fn segment(
        &self,
        data_source: &str,
        id: &str,
    ) -> Result<Option<(DataSegment, bool)>, StoreError>;
    /// Marks the selected segments of a datasource used or unused, recording `now` as the
    /// change's time; returns how many changed. Marking used follows Druid's
    /// `markNonOvershadowedSegmentsAsUsed`: a segment that used segments of higher versions (or
    /// the other segments being marked) would overshadow stays unused. Ids of another
    /// datasource or of no segment are [`StoreError::Rejected`] when marking used, as in Druid,
    /// and ignored when marking unused.
    async fn mark_segments(
        &self,
        data_source: &str,
        selection: &SegmentSelection,
        used: bool,
        now: Timestamp,
    ) -> Result<u64, StoreError>;
    /// Deletes segment rows, used or not, in one transaction (Druid's `segmentNuke`, run by kill
    /// tasks); returns how many existed.
    async fn delete_segments(&self, ids: &[String]) -> Result<u64, StoreError>;
    /// Datasources with used segments, or with any segments if `include_unused`, by name.
    async fn data_sources(
        &self,
        include_unused: bool,
    ) -> Result<Vec<DataSourceSummary>, StoreError>;
    /// Every datasource with segments (used or not), by name, with what its segments add up to.
    async fn data_source_stats(&self) -> Result<Vec<DataSourceStats>, StoreError>;
    /// Used segments of the given datasources (every datasource when empty), in (datasource,
    /// start, end, version, partition) order.
    async fn used_segments_of(
        &self,
        data_sources: &[String],
    ) -> Result<Vec<DataSegment>, StoreError>;

    /// Allocates the id of a task's next segment (Druid's `allocatePendingSegment` with a
    /// time-chunk lock) and records it in `<base>_pendingSegments`. A repeated request returns
    /// the id it got the first time. The segment joins the interval's used segments (their
    /// version, the next partition number) or starts a new time chunk with the lock's version.
    /// `None` when the interval cannot take a segment: used or pending segments overlap it
    /// without matching it exactly, or the repeated request's earlier id has another interval
    /// (the reason is logged). [`StoreError::Conflict`] when unused segments already hold the
    /// new chunk's version.
    async fn allocate_pending_segment(
        &self,
        request: &AllocateRequest,
    ) -> Result<Option<SegmentIdWithShardSpec>, StoreError>;
    /// Deletes the pending segments of a datasource allocated within `created` (all of them
    /// when `None`); returns how many. This is Druid's `DELETE /pendingSegments/{dataSource}
    /// ?interval=`, whose interval is that of the rows' creation, not of the segments.
    async fn delete_pending_segments(
        &self,
        data_source: &str,
        created: Option<Interval>,
    ) -> Result<u64, StoreError>;
    /// Deletes the pending segments a task allocated (when it ends); returns how many.
    async fn delete_pending_segments_of_allocator(
        &self,
        task_allocator_id: &str,
    ) -> Result<u64, StoreError>;
}
