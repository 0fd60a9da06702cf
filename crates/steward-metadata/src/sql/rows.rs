//! What the store's rows hold, in Druid's encodings: JSON payloads as bytes (tasks, statuses,
//! locks, segments, allocated segment ids), ISO-8601 date strings, and an audit row's payload as
//! Druid's `AuditEntry` JSON. Decoding a row checks all of it, so that a row another program
//! wrote wrong is reported as [`StoreError::Corrupt`] with the row's name instead of failing
//! somewhere later.

use serde::{Deserialize, Serialize};
use sqlx::{ColumnIndex, Decode, Row, Type};
use steward_model::time::parse_instant;
use steward_model::{DataSegment, Interval, SegmentIdWithShardSpec, Task, TaskLock, TaskStatus};

use crate::{AuditEntry, AuditInfo, StoreError, TaskInfo};

/// Reading the store's column types from a row: the driver-specific decodings needed, stated
/// once.
pub trait Columns {
    fn text(&self, name: &str) -> Result<String, sqlx::Error>;
    fn text_or_null(&self, name: &str) -> Result<Option<String>, sqlx::Error>;
    fn bytes(&self, name: &str) -> Result<Vec<u8>, sqlx::Error>;
    fn flag(&self, name: &str) -> Result<bool, sqlx::Error>;
    fn int(&self, name: &str) -> Result<i64, sqlx::Error>;
    fn int_or_null(&self, name: &str) -> Result<Option<i64>, sqlx::Error>;
}

impl<R> Columns for R
where
    R: Row,
    for<'n> &'n str: ColumnIndex<R>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    bool: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, name: &str) -> Result<String, sqlx::Error> {
        self.try_get(name)
    }
    fn text_or_null(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(name)
    }
    fn bytes(&self, name: &str) -> Result<Vec<u8>, sqlx::Error> {
        self.try_get(name)
    }
    fn flag(&self, name: &str) -> Result<bool, sqlx::Error> {
        self.try_get(name)
    }
    fn int(&self, name: &str) -> Result<i64, sqlx::Error> {
        self.try_get(name)
    }
    fn int_or_null(&self, name: &str) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(name)
    }
}

/// A column of the row named `id` that cannot be read as its type.
pub(super) fn corrupt_column(id: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| StoreError::Corrupt(id.to_string(), e.to_string())
}

/// The `status_payload` of a task row.
pub(super) fn status_bytes(status: &TaskStatus) -> Vec<u8> {
    serde_json::to_vec(status).expect("a TaskStatus serialises")
}

/// A task row without its payload.
pub(super) fn decode_info<R: Columns>(row: &R) -> Result<TaskInfo, StoreError> {
    let id = row.text("id").map_err(corrupt_column(""))?;
    let column = corrupt_column(&id);
    let corrupt = |msg: String| StoreError::Corrupt(id.clone(), msg);
    let created_date = row.text("created_date").map_err(&column)?;
    let created_time =
        parse_instant(&created_date).map_err(|e| corrupt(format!("created_date: {e}")))?;
    let status_payload = row.bytes("status_payload").map_err(&column)?;
    let status = serde_json::from_slice(&status_payload)
        .map_err(|e| corrupt(format!("status_payload: {e}")))?;
    // Rows from before type and group_id existed are filled in when the store opens.
    let task_type = row.text_or_null("type").map_err(&column)?;
    let group_id = row.text_or_null("group_id").map_err(&column)?;
    Ok(TaskInfo {
        task_type: task_type.ok_or_else(|| corrupt("type is NULL".into()))?,
        group_id: group_id.ok_or_else(|| corrupt("group_id is NULL".into()))?,
        data_source: row.text("datasource").map_err(&column)?,
        created_time,
        status,
        active: row.flag("active").map_err(&column)?,
        id: id.clone(),
    })
}

/// The task in the `payload` of task row `id`.
pub(super) fn decode_task<R: Columns>(row: &R, id: &str) -> Result<Task, StoreError> {
    let payload = row.bytes("payload").map_err(corrupt_column(id))?;
    let task = Task::from_bytes(&payload)
        .map_err(|e| StoreError::Corrupt(id.to_string(), format!("payload: {e}")))?;
    // A payload without an id would be given a fresh one by `from_bytes`; the row's id is the
    // task's identity, so a payload that disagrees with it is not this task.
    if task.id() != id {
        return Err(StoreError::Corrupt(
            id.to_string(),
            format!("payload has id [{}]", task.id()),
        ));
    }
    Ok(task)
}

/// The `payload` of an audit row: Druid's `AuditEntry` JSON, which (unlike the row's columns)
/// carries the client's address.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredAuditEntry {
    key: String,
    #[serde(rename = "type")]
    audit_type: String,
    audit_info: AuditInfo,
    payload: String,
    audit_time: String,
}

/// The `payload` of the audit row recording that config `name` was set to `config` at
/// `audit_time` (the row's `created_date`). Druid records the config's name as the entry's
/// key and type both.
pub(super) fn audit_entry_bytes(
    name: &str,
    config: &[u8],
    audit: &AuditInfo,
    audit_time: &str,
) -> Vec<u8> {
    let entry = StoredAuditEntry {
        key: name.to_string(),
        audit_type: name.to_string(),
        audit_info: audit.clone(),
        payload: String::from_utf8_lossy(config).into_owned(),
        audit_time: audit_time.to_string(),
    };
    serde_json::to_vec(&entry).expect("an audit entry serialises")
}

/// A row of audit table `table`, named `<table>:<id>` when it is corrupt.
pub(super) fn decode_audit<R: Columns>(row: &R, table: &str) -> Result<AuditEntry, StoreError> {
    let id = row.int("id").map_err(corrupt_column(table))?;
    let name = format!("{table}:{id}");
    let payload = row.bytes("payload").map_err(corrupt_column(&name))?;
    let entry: StoredAuditEntry = serde_json::from_slice(&payload)
        .map_err(|e| StoreError::Corrupt(name.clone(), format!("payload: {e}")))?;
    let audit_time = parse_instant(&entry.audit_time)
        .map_err(|e| StoreError::Corrupt(name, format!("auditTime: {e}")))?;
    Ok(AuditEntry {
        key: entry.key,
        audit_type: entry.audit_type,
        audit_info: entry.audit_info,
        payload: entry.payload,
        audit_time,
    })
}

/// The `lock_payload` of a lock row.
pub(super) fn lock_bytes(lock: &TaskLock) -> Vec<u8> {
    serde_json::to_vec(lock).expect("a TaskLock serialises")
}

/// The lock of a lock row, or why it cannot be read (a NULL or undecodable `lock_payload`).
pub(super) fn decode_lock<R: Columns>(row: &R) -> Result<TaskLock, String> {
    let payload = row.bytes("lock_payload").map_err(|e| e.to_string())?;
    serde_json::from_slice(&payload).map_err(|e| format!("lock_payload: {e}"))
}

/// The segment of a segment row (`id, used, payload`) and whether it is used. A payload whose
/// segment has another id than its row is not that segment.
pub(super) fn decode_segment<R: Columns>(row: &R) -> Result<(DataSegment, bool), StoreError> {
    let id = row.text("id").map_err(corrupt_column(""))?;
    let column = corrupt_column(&id);
    let payload = row.bytes("payload").map_err(&column)?;
    let segment: DataSegment = serde_json::from_slice(&payload)
        .map_err(|e| StoreError::Corrupt(id.clone(), format!("payload: {e}")))?;
    let used = row.flag("used").map_err(&column)?;
    let payload_id = segment.id().to_string();
    if payload_id != id {
        return Err(StoreError::Corrupt(
            id.clone(),
            format!("payload has id [{payload_id}]"),
        ));
    }
    Ok((segment, used))
}

/// What a segment row says about its segment's place on the timeline, read from its columns.
#[derive(Debug, Clone)]
pub(super) struct SegmentKey {
    pub(super) id: String,
    pub(super) interval: Interval,
    pub(super) version: String,
    pub(super) used: bool,
}

/// The key of a segment row (`id, start, end, version, used`).
pub(super) fn decode_segment_key<R: Columns>(row: &R) -> Result<SegmentKey, StoreError> {
    let id = row.text("id").map_err(corrupt_column(""))?;
    let column = corrupt_column(&id);
    let corrupt = |msg: String| StoreError::Corrupt(id.clone(), msg);
    let start = parse_instant(&row.text("start").map_err(&column)?)
        .map_err(|e| corrupt(format!("start: {e}")))?;
    let end = parse_instant(&row.text("end").map_err(&column)?)
        .map_err(|e| corrupt(format!("end: {e}")))?;
    if end < start {
        return Err(corrupt("end is before start".into()));
    }
    Ok(SegmentKey {
        interval: Interval::new(start, end),
        version: row.text("version").map_err(&column)?,
        used: row.flag("used").map_err(&column)?,
        id: id.clone(),
    })
}

/// The allocated segment id of a pending segment row (`id, payload`).
pub(super) fn decode_pending<R: Columns>(row: &R) -> Result<SegmentIdWithShardSpec, StoreError> {
    let id = row.text("id").map_err(corrupt_column(""))?;
    let payload = row.bytes("payload").map_err(corrupt_column(&id))?;
    serde_json::from_slice(&payload).map_err(|e| StoreError::Corrupt(id, format!("payload: {e}")))
}
