//! The metadata store on a local SQLite file: Steward's default, so a single-machine cluster needs
//! no database server.
//!
//! The tables are Druid's `<base>_tasks`, `<base>_config` and `<base>_audit` with Druid's columns
//! and encodings (JSON payloads as bytes, ISO-8601 `created_date` strings), so the rows mean the
//! same thing they do in Druid. Every statement is built once from the table names in
//! [`Statements`]; the PostgreSQL and MySQL stores will differ from this one mostly there.
//!
//! Task writes are single autocommit statements on a WAL journal with `synchronous=NORMAL`: a
//! commit appends to the WAL without an fsync, and a power loss can lose only the last commits,
//! never corrupt the file. That is what lets the Overlord record hundreds of submissions and
//! status changes per second. A config change and its audit row are written in one transaction:
//! Druid writes them separately and can record changes that never happened (or lose the record
//! of one that did).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::{RoundMode, Timestamp, TimestampRound, Unit};
use serde::{Deserialize, Serialize};
use sqlx::query::Query;
use sqlx::sqlite::{
    Sqlite, SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Decode, Row, Type};
use steward_model::time::{format_ts, parse_instant};
use steward_model::{Task, TaskStatus};

use crate::{AuditEntry, AuditInfo, MetadataStore, StoreError, TaskInfo, TaskQuery};

/// SQLite runs one writer at a time; more connections would only queue on its lock, while a few
/// let reads (listings) proceed next to a write.
const POOL_SIZE: u32 = 4;

/// How long a statement waits for another connection's (or process's) write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Ids per `IN (...)` lookup: under every supported database's placeholder limit (SQLite builds
/// before 3.32 allow 999), and short enough to plan quickly.
const ID_CHUNK: usize = 500;

/// The columns of a [`TaskInfo`]: everything but the task payload, which listings never need.
const INFO_COLUMNS: &str = "id, created_date, datasource, status_payload, active, type, group_id";

/// Index name suffixes. A listing reads complete rows newest first up to a limit, so each
/// combination of its equality filters has an index on exactly those columns and `active`,
/// followed by `created_date`: the matching rows come out in order, a time range narrows the
/// same index, and the LIMIT ends the read, however long the history.
const BY_ACTIVE: &str = "active_created_date";
const BY_DATASOURCE: &str = "datasource_active_created_date";
const BY_TYPE: &str = "active_type_created_date";
const BY_DATASOURCE_TYPE: &str = "datasource_type_active_created_date";

/// The table's indexes as (name suffix, columns).
const INDEXES: [(&str, &str); 4] = [
    // Druid's: the active set, and every listing without a datasource or type filter.
    (BY_ACTIVE, "active, created_date"),
    // Druid indexes (datasource, active); with created_date appended it serves every lookup
    // Druid's does, without sorting a datasource's whole history to find its newest rows.
    (BY_DATASOURCE, "datasource, active, created_date"),
    (BY_TYPE, "active, type, created_date"),
    (BY_DATASOURCE_TYPE, "datasource, type, active, created_date"),
];

/// Druid's task table in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    sql: Arc<Statements>,
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if missing) the SQLite file at `path` and
    /// creates the `<table_base>_tasks`, `<table_base>_config` and `<table_base>_audit` tables
    /// and their indexes unless they exist.
    ///
    /// `table_base` is Druid's `druid.metadata.storage.tables.base` (`druid` by default). It goes
    /// into SQL text, so only ASCII letters, digits and `_` are accepted, not starting with a
    /// digit; anything else is refused as [`StoreError::Unavailable`].
    pub async fn open(path: &Path, table_base: &str) -> Result<SqliteStore, StoreError> {
        validate_table_base(table_base)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                StoreError::Unavailable(format!("cannot create [{}]: {e}", parent.display()))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            // 1 MiB of page cache per connection instead of SQLite's 2 MiB: the indexed queries
            // touch few pages, the OS caches the file anyway, and the Overlord's memory should
            // not grow with the history.
            .pragma("cache_size", "-1024");
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        let sql = Statements::new(table_base);
        // One statement at a time, each in autocommit: a deferred transaction around the DDL
        // could fail at once with SQLITE_BUSY if another process creates the schema concurrently,
        // and IF NOT EXISTS already makes a partial run safe to repeat.
        for statement in &sql.schema {
            sqlx::query(AssertSqlSafe(statement.as_str()))
                .execute(&pool)
                .await
                .map_err(unavailable)?;
        }
        tracing::info!(path = %path.display(), table = %sql.table, "opened SQLite metadata store");
        Ok(SqliteStore {
            pool,
            sql: Arc::new(sql),
        })
    }

    /// Closes every connection, waiting for statements in flight; later calls fail as
    /// [`StoreError::Unavailable`]. Lets the last connection checkpoint the WAL into the file.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The `list` query for one group (active or complete), with the filter values bound in the
    /// order [`Statements::list`] placed their placeholders.
    fn list_query(
        &self,
        active: bool,
        query: &TaskQuery,
    ) -> Query<'static, Sqlite, SqliteArguments> {
        let limit = if active { None } else { query.max_complete };
        let filters = ListFilters {
            data_source: query.data_source.is_some(),
            task_type: query.task_type.is_some(),
            created_after: query.created_after.is_some(),
            created_before: query.created_before.is_some(),
            limited: limit.is_some(),
        };
        let mut q = sqlx::query(AssertSqlSafe(self.sql.list(active, filters)));
        if let Some(data_source) = &query.data_source {
            q = q.bind(data_source.clone());
        }
        if let Some(task_type) = &query.task_type {
            q = q.bind(task_type.clone());
        }
        if let Some(after) = query.created_after {
            q = q.bind(bound(after));
        }
        if let Some(before) = query.created_before {
            q = q.bind(bound(before));
        }
        if let Some(limit) = limit {
            q = q.bind(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        q
    }

    /// The `audit_history` query, with the filter values bound in the order
    /// [`Statements::audit_history`] placed their placeholders.
    fn audit_query(
        &self,
        key: &str,
        created_after: Option<Timestamp>,
        created_before: Option<Timestamp>,
        limit: Option<usize>,
    ) -> Query<'static, Sqlite, SqliteArguments> {
        let filters = AuditFilters {
            created_after: created_after.is_some(),
            created_before: created_before.is_some(),
            limited: limit.is_some(),
        };
        let mut q =
            sqlx::query(AssertSqlSafe(self.sql.audit_history(filters))).bind(key.to_string());
        if let Some(after) = created_after {
            q = q.bind(bound(after));
        }
        if let Some(before) = created_before {
            q = q.bind(bound(before));
        }
        if let Some(limit) = limit {
            q = q.bind(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        q
    }
}

#[async_trait]
impl MetadataStore for SqliteStore {
    /// The row is active unless `status` is already complete, as in Druid's `insert`.
    async fn insert_task(
        &self,
        task: &Task,
        created: Timestamp,
        status: &TaskStatus,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(AssertSqlSafe(self.sql.insert.clone()))
            .bind(task.id())
            .bind(format_ts(created))
            .bind(task.data_source())
            .bind(task.to_bytes())
            .bind(status_bytes(status))
            .bind(!status.is_complete())
            .bind(task.task_type())
            .bind(task.group_id())
            .execute(&self.pool)
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::AlreadyExists(task.id().to_string()))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn set_status(&self, status: &TaskStatus) -> Result<bool, StoreError> {
        let result = sqlx::query(AssertSqlSafe(self.sql.set_status.clone()))
            .bind(!status.is_complete())
            .bind(status_bytes(status))
            .bind(status.id.as_str())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() > 0)
    }

    async fn get_task(&self, id: &str) -> Result<Option<Task>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(self.sql.get_payload.clone()))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|row| decode_task(&row, id)).transpose()
    }

    async fn get_info(&self, id: &str) -> Result<Option<TaskInfo>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(self.sql.get_info.clone()))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(decode_info).transpose()
    }

    async fn get_infos(&self, ids: &[String]) -> Result<Vec<TaskInfo>, StoreError> {
        // Deduplicated so that an id repeated across chunks is not returned twice.
        let ids: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut infos = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ID_CHUNK) {
            // Only full chunks repeat; caching the statement for every tail length would evict
            // the statements every call uses from the per-connection cache.
            let mut q = sqlx::query(AssertSqlSafe(self.sql.infos_by_ids(chunk.len())))
                .persistent(chunk.len() == ID_CHUNK);
            for id in chunk {
                q = q.bind(*id);
            }
            let rows = q.fetch_all(&self.pool).await.map_err(unavailable)?;
            for row in &rows {
                infos.push(decode_info(row)?);
            }
        }
        Ok(infos)
    }

    async fn active_tasks(&self) -> Result<Vec<(Task, TaskInfo)>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(self.sql.active_tasks.clone()))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let info = decode_info(row)?;
                Ok((decode_task(row, &info.id)?, info))
            })
            .collect()
    }

    async fn list(&self, query: &TaskQuery) -> Result<Vec<TaskInfo>, StoreError> {
        let active = query.active != Some(false);
        let complete = query.active != Some(true) && query.max_complete != Some(0);
        // Both groups are read from one snapshot, so a task completing between the two reads is
        // listed exactly once.
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let mut rows = Vec::new();
        if active {
            rows.extend(
                self.list_query(true, query)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(unavailable)?,
            );
        }
        if complete {
            rows.extend(
                self.list_query(false, query)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(unavailable)?,
            );
        }
        tx.commit().await.map_err(unavailable)?;
        rows.iter().map(decode_info).collect()
    }

    async fn get_config(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar(AssertSqlSafe(self.sql.get_config.clone()))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)
    }

    async fn set_config_with_audit(
        &self,
        name: &str,
        payload: &[u8],
        audit: &AuditInfo,
        audit_time: Timestamp,
    ) -> Result<(), StoreError> {
        let created_date = format_ts(audit_time);
        let entry = StoredAuditEntry {
            key: name.to_string(),
            audit_type: name.to_string(),
            audit_info: audit.clone(),
            payload: String::from_utf8_lossy(payload).into_owned(),
            audit_time: created_date.clone(),
        };
        let entry = serde_json::to_vec(&entry).expect("an audit entry serialises");
        // Dropping the transaction on an error rolls the config write back.
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query(AssertSqlSafe(self.sql.upsert_config.clone()))
            .bind(name)
            .bind(payload)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query(AssertSqlSafe(self.sql.insert_audit.clone()))
            .bind(name)
            .bind(name)
            .bind(audit.author.as_str())
            .bind(audit.comment.as_str())
            .bind(created_date)
            .bind(entry)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn audit_history(
        &self,
        key: &str,
        created_after: Option<Timestamp>,
        created_before: Option<Timestamp>,
        limit: Option<usize>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        if limit == Some(0) {
            return Ok(Vec::new());
        }
        let rows = self
            .audit_query(key, created_after, created_before, limit)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|row| decode_audit(row, &self.sql.audit_table))
            .collect()
    }
}

/// Which optional clauses a `list` statement has; its placeholders come in this field order.
#[derive(Debug, Clone, Copy)]
struct ListFilters {
    data_source: bool,
    task_type: bool,
    created_after: bool,
    created_before: bool,
    limited: bool,
}

/// Which optional clauses an `audit_history` statement has; its placeholders come after the
/// key's, in this field order.
#[derive(Debug, Clone, Copy)]
struct AuditFilters {
    created_after: bool,
    created_before: bool,
    limited: bool,
}

/// Every SQL statement of the store, built from the table names. Fixed statements are shared
/// strings so that running one clones a pointer, not the text.
#[derive(Debug)]
struct Statements {
    table: String,
    audit_table: String,
    /// Tables and indexes, each idempotent.
    schema: Vec<String>,
    insert: Arc<str>,
    set_status: Arc<str>,
    get_payload: Arc<str>,
    get_info: Arc<str>,
    active_tasks: Arc<str>,
    get_config: Arc<str>,
    upsert_config: Arc<str>,
    insert_audit: Arc<str>,
}

impl Statements {
    fn new(base: &str) -> Statements {
        let t = format!("{base}_tasks");
        let c = format!("{base}_config");
        let a = format!("{base}_audit");
        let tasks = std::iter::once(format!(
            "CREATE TABLE IF NOT EXISTS {t} (\
                 id VARCHAR(255) NOT NULL PRIMARY KEY, \
                 created_date VARCHAR(255) NOT NULL, \
                 datasource VARCHAR(255) NOT NULL, \
                 payload BLOB NOT NULL, \
                 status_payload BLOB NOT NULL, \
                 active BOOLEAN NOT NULL DEFAULT FALSE, \
                 type VARCHAR(255), \
                 group_id VARCHAR(255))"
        ))
        .chain(INDEXES.iter().map(|(suffix, columns)| {
            format!("CREATE INDEX IF NOT EXISTS idx_{t}_{suffix} ON {t}({columns})")
        }));
        let config_and_audit = [
            format!(
                "CREATE TABLE IF NOT EXISTS {c} (\
                     name VARCHAR(255) NOT NULL PRIMARY KEY, \
                     payload BLOB NOT NULL)"
            ),
            // Druid's audit table; `id` is SQLite's rowid, so the (audit_key, created_date)
            // index also orders rows written in the same millisecond.
            format!(
                "CREATE TABLE IF NOT EXISTS {a} (\
                     id INTEGER PRIMARY KEY AUTOINCREMENT, \
                     audit_key VARCHAR(255) NOT NULL, \
                     type VARCHAR(255) NOT NULL, \
                     author VARCHAR(255) NOT NULL, \
                     comment VARCHAR(2048) NOT NULL, \
                     created_date VARCHAR(255) NOT NULL, \
                     payload BLOB NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS idx_{a}_key_time ON {a}(audit_key, created_date)"),
        ];
        Statements {
            schema: tasks.chain(config_and_audit).collect(),
            insert: format!(
                "INSERT INTO {t} (id, created_date, datasource, payload, status_payload, active, \
                 type, group_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            )
            .into(),
            set_status: format!(
                "UPDATE {t} SET active = ?, status_payload = ? WHERE id = ? AND active = TRUE"
            )
            .into(),
            get_payload: format!("SELECT payload FROM {t} WHERE id = ?").into(),
            get_info: format!("SELECT {INFO_COLUMNS} FROM {t} WHERE id = ?").into(),
            active_tasks: format!(
                "SELECT {INFO_COLUMNS}, payload FROM {t} WHERE active = TRUE \
                 ORDER BY created_date ASC"
            )
            .into(),
            get_config: format!("SELECT payload FROM {c} WHERE name = ?").into(),
            upsert_config: format!(
                "INSERT INTO {c} (name, payload) VALUES (?, ?) \
                 ON CONFLICT (name) DO UPDATE SET payload = excluded.payload"
            )
            .into(),
            insert_audit: format!(
                "INSERT INTO {a} (audit_key, type, author, comment, created_date, payload) \
                 VALUES (?, ?, ?, ?, ?, ?)"
            )
            .into(),
            table: t,
            audit_table: a,
        }
    }

    /// A key's audit rows, newest first.
    fn audit_history(&self, filters: AuditFilters) -> String {
        // Without statistics SQLite may scan the table and sort it, however long the history.
        let mut sql = format!(
            "SELECT id, payload FROM {a} INDEXED BY idx_{a}_key_time WHERE audit_key = ?",
            a = self.audit_table
        );
        if filters.created_after {
            sql.push_str(" AND created_date >= ?");
        }
        if filters.created_before {
            sql.push_str(" AND created_date < ?");
        }
        sql.push_str(" ORDER BY created_date DESC, id DESC");
        if filters.limited {
            sql.push_str(" LIMIT ?");
        }
        sql
    }

    fn infos_by_ids(&self, count: usize) -> String {
        let placeholders = vec!["?"; count].join(", ");
        format!(
            "SELECT {INFO_COLUMNS} FROM {} WHERE id IN ({placeholders})",
            self.table
        )
    }

    /// Active rows oldest first, or complete rows newest first.
    fn list(&self, active: bool, filters: ListFilters) -> String {
        let index = match (filters.data_source, filters.task_type) {
            (false, false) => BY_ACTIVE,
            (true, false) => BY_DATASOURCE,
            (false, true) => BY_TYPE,
            (true, true) => BY_DATASOURCE_TYPE,
        };
        // Without statistics SQLite's planner sometimes prefers walking (active, created_date)
        // and filtering, which reads the whole complete history when the filter matches little.
        let mut sql = format!(
            "SELECT {INFO_COLUMNS} FROM {t} INDEXED BY idx_{t}_{index} WHERE active = {}",
            if active { "TRUE" } else { "FALSE" },
            t = self.table,
        );
        if filters.data_source {
            sql.push_str(" AND datasource = ?");
        }
        if filters.task_type {
            sql.push_str(" AND type = ?");
        }
        if filters.created_after {
            sql.push_str(" AND created_date >= ?");
        }
        if filters.created_before {
            sql.push_str(" AND created_date < ?");
        }
        sql.push_str(if active {
            " ORDER BY created_date ASC"
        } else {
            " ORDER BY created_date DESC"
        });
        if filters.limited {
            sql.push_str(" LIMIT ?");
        }
        sql
    }
}

fn validate_table_base(base: &str) -> Result<(), StoreError> {
    let valid = base
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::Unavailable(format!(
            "invalid metadata table base name [{base}]: use ASCII letters, digits and '_', \
             not starting with a digit"
        )))
    }
}

/// A `created_date` bound. Stored dates have millisecond precision, so a bound with a
/// sub-millisecond part is moved up to the next millisecond: then `>=` and `<` on the strings
/// select the rows that comparing the exact instants would.
fn bound(ts: Timestamp) -> String {
    let round = TimestampRound::new()
        .smallest(Unit::Millisecond)
        .mode(RoundMode::Ceil);
    format_ts(ts.round(round).unwrap_or(ts))
}

fn status_bytes(status: &TaskStatus) -> Vec<u8> {
    serde_json::to_vec(status).expect("a TaskStatus serialises")
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn column<'r, T>(row: &'r SqliteRow, id: &str, name: &str) -> Result<T, StoreError>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Corrupt(id.to_string(), e.to_string()))
}

fn decode_info(row: &SqliteRow) -> Result<TaskInfo, StoreError> {
    let id: String = column(row, "", "id")?;
    let corrupt = |msg: String| StoreError::Corrupt(id.clone(), msg);
    let created_date: String = column(row, &id, "created_date")?;
    let created_time =
        parse_instant(&created_date).map_err(|e| corrupt(format!("created_date: {e}")))?;
    let status_payload: Vec<u8> = column(row, &id, "status_payload")?;
    let status = serde_json::from_slice(&status_payload)
        .map_err(|e| corrupt(format!("status_payload: {e}")))?;
    // Druid rows from before type and group_id existed hold NULL until Druid's backfill runs.
    let task_type: Option<String> = column(row, &id, "type")?;
    let group_id: Option<String> = column(row, &id, "group_id")?;
    Ok(TaskInfo {
        task_type: task_type.ok_or_else(|| corrupt("type is NULL".into()))?,
        group_id: group_id.ok_or_else(|| corrupt("group_id is NULL".into()))?,
        data_source: column(row, &id, "datasource")?,
        created_time,
        status,
        active: column(row, &id, "active")?,
        id,
    })
}

fn decode_task(row: &SqliteRow, id: &str) -> Result<Task, StoreError> {
    let payload: Vec<u8> = column(row, id, "payload")?;
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

fn decode_audit(row: &SqliteRow, table: &str) -> Result<AuditEntry, StoreError> {
    let id: i64 = column(row, table, "id")?;
    let name = format!("{table}:{id}");
    let payload: Vec<u8> = column(row, &name, "payload")?;
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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sqlx::Execute;
    use steward_model::TaskLocation;
    use tempfile::TempDir;

    use super::*;

    async fn open(dir: &TempDir) -> SqliteStore {
        SqliteStore::open(&dir.path().join("var/meta/steward.db"), "druid")
            .await
            .unwrap()
    }

    fn at(instant: &str) -> Timestamp {
        parse_instant(instant).unwrap()
    }

    fn task(id: &str, data_source: &str) -> Task {
        Task::from_json(json!({"type": "noop", "id": id, "dataSource": data_source})).unwrap()
    }

    async fn insert(store: &SqliteStore, id: &str, data_source: &str, created: &str) {
        store
            .insert_task(
                &task(id, data_source),
                at(created),
                &TaskStatus::running(id),
            )
            .await
            .unwrap();
    }

    async fn complete(store: &SqliteStore, id: &str) {
        assert!(store.set_status(&TaskStatus::success(id)).await.unwrap());
    }

    /// Steward only accepts `noop` tasks; other types reach the table from Druid or later
    /// versions, so tests write the column directly.
    async fn set_type(store: &SqliteStore, id: &str, task_type: &str) {
        let sql = format!("UPDATE {} SET type = ? WHERE id = ?", store.sql.table);
        sqlx::query(AssertSqlSafe(sql))
            .bind(task_type)
            .bind(id)
            .execute(&store.pool)
            .await
            .unwrap();
    }

    async fn list_ids(store: &SqliteStore, query: TaskQuery) -> Vec<String> {
        store
            .list(&query)
            .await
            .unwrap()
            .into_iter()
            .map(|info| info.id)
            .collect()
    }

    async fn schema_names(store: &SqliteStore) -> Vec<String> {
        sqlx::query("SELECT name FROM sqlite_master ORDER BY name")
            .fetch_all(&store.pool)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get("name"))
            .collect()
    }

    #[tokio::test]
    async fn insert_and_get_round_trip_keeps_the_payload() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        let submitted = Task::from_json(json!({
            "type": "noop", "id": "t1", "dataSource": "wiki", "groupId": "g1",
            "myField": {"nested": [1, "two", null]}, "context": {"priority": 75, "k": "v"}
        }))
        .unwrap();
        let status = TaskStatus::running("t1");
        store
            .insert_task(&submitted, at("2026-03-08T10:30:00.123Z"), &status)
            .await
            .unwrap();

        let stored = store.get_task("t1").await.unwrap().unwrap();
        assert_eq!(stored.to_json(), submitted.to_json());
        assert_eq!(
            stored.payload()["myField"],
            json!({"nested": [1, "two", null]})
        );
        let info = store.get_info("t1").await.unwrap().unwrap();
        assert_eq!(
            info,
            TaskInfo {
                id: "t1".into(),
                group_id: "g1".into(),
                task_type: "noop".into(),
                data_source: "wiki".into(),
                created_time: at("2026-03-08T10:30:00.123Z"),
                status,
                active: true,
            }
        );
        assert_eq!(store.get_task("missing").await.unwrap(), None);
        assert_eq!(store.get_info("missing").await.unwrap(), None);
    }

    #[tokio::test]
    async fn duplicate_id_is_refused_and_the_row_is_unchanged() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        insert(&store, "t1", "wiki", "2026-03-08T10:00:00Z").await;

        let other = task("t1", "other");
        let err = store
            .insert_task(
                &other,
                at("2026-03-09T00:00:00Z"),
                &TaskStatus::failure("t1", "x"),
            )
            .await
            .unwrap_err();
        assert_eq!(err, StoreError::AlreadyExists("t1".into()));
        assert_eq!(
            store.get_task("t1").await.unwrap().unwrap(),
            task("t1", "wiki")
        );
        let info = store.get_info("t1").await.unwrap().unwrap();
        assert_eq!(info.data_source, "wiki");
        assert_eq!(info.created_time, at("2026-03-08T10:00:00Z"));
        assert_eq!(info.status, TaskStatus::running("t1"));
        assert!(info.active);
    }

    #[tokio::test]
    async fn set_status_updates_active_rows_only() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        insert(&store, "t1", "wiki", "2026-03-08T10:00:00Z").await;

        let located = TaskStatus::running("t1").with_location(TaskLocation::new("mm1", 8100));
        assert!(store.set_status(&located).await.unwrap());
        let info = store.get_info("t1").await.unwrap().unwrap();
        assert!(info.active, "a running status keeps the row active");
        assert_eq!(info.status, located);

        let failed = TaskStatus::failure("t1", "boom").with_duration(1234);
        assert!(store.set_status(&failed).await.unwrap());
        let info = store.get_info("t1").await.unwrap().unwrap();
        assert!(!info.active);
        assert_eq!(info.status, failed);

        assert!(!store.set_status(&TaskStatus::success("t1")).await.unwrap());
        assert!(!store.set_status(&TaskStatus::running("t1")).await.unwrap());
        let info = store.get_info("t1").await.unwrap().unwrap();
        assert!(!info.active);
        assert_eq!(info.status, failed);

        assert!(!store
            .set_status(&TaskStatus::success("missing"))
            .await
            .unwrap());
    }

    /// Active: a0 (10:00), a1 (10:01), a2 (10:02, web, index).
    /// Complete, newest first: c3 (09:45, index), c2 (09:30, web, index), c1 (09:00), c4 (08:00).
    /// Everything else is noop on datasource wiki; insertion order differs from creation order.
    async fn listing_fixture(store: &SqliteStore) {
        insert(store, "c1", "wiki", "2026-03-08T09:00:00Z").await;
        insert(store, "a1", "wiki", "2026-03-08T10:01:00Z").await;
        insert(store, "c3", "wiki", "2026-03-08T09:45:00Z").await;
        insert(store, "a2", "web", "2026-03-08T10:02:00Z").await;
        insert(store, "c4", "wiki", "2026-03-08T08:00:00Z").await;
        insert(store, "a0", "wiki", "2026-03-08T10:00:00Z").await;
        insert(store, "c2", "web", "2026-03-08T09:30:00Z").await;
        for id in ["a2", "c2", "c3"] {
            set_type(store, id, "index").await;
        }
        for id in ["c1", "c2", "c3", "c4"] {
            complete(store, id).await;
        }
    }

    #[tokio::test]
    async fn list_orders_groups_and_applies_each_filter() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        listing_fixture(&store).await;
        let q = TaskQuery::default;

        assert_eq!(
            list_ids(&store, q()).await,
            ["a0", "a1", "a2", "c3", "c2", "c1", "c4"]
        );
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    active: Some(true),
                    ..q()
                }
            )
            .await,
            ["a0", "a1", "a2"]
        );
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    active: Some(false),
                    ..q()
                }
            )
            .await,
            ["c3", "c2", "c1", "c4"]
        );
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    max_complete: Some(2),
                    ..q()
                }
            )
            .await,
            ["a0", "a1", "a2", "c3", "c2"],
            "active rows are never limited"
        );
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    max_complete: Some(0),
                    ..q()
                }
            )
            .await,
            ["a0", "a1", "a2"]
        );
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    active: Some(true),
                    max_complete: Some(1),
                    ..q()
                }
            )
            .await,
            ["a0", "a1", "a2"]
        );
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    data_source: Some("wiki".into()),
                    ..q()
                }
            )
            .await,
            ["a0", "a1", "c3", "c1", "c4"]
        );
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    task_type: Some("index".into()),
                    ..q()
                }
            )
            .await,
            ["a2", "c3", "c2"]
        );
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    data_source: Some("wiki".into()),
                    task_type: Some("index".into()),
                    ..q()
                }
            )
            .await,
            ["c3"]
        );
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    active: Some(false),
                    data_source: Some("wiki".into()),
                    max_complete: Some(2),
                    ..q()
                }
            )
            .await,
            ["c3", "c1"]
        );
        assert!(list_ids(
            &store,
            TaskQuery {
                data_source: Some("none".into()),
                ..q()
            }
        )
        .await
        .is_empty());

        let infos = store
            .list(&TaskQuery {
                task_type: Some("index".into()),
                ..q()
            })
            .await
            .unwrap();
        assert_eq!(infos[0].status, TaskStatus::running("a2"));
        assert!(infos[0].active);
        assert_eq!(infos[1].status, TaskStatus::success("c3"));
        assert!(!infos[1].active);
    }

    #[tokio::test]
    async fn list_filters_on_creation_time() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        listing_fixture(&store).await;
        let q = TaskQuery::default;

        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    created_after: Some(at("2026-03-08T09:30:00Z")),
                    ..q()
                }
            )
            .await,
            ["a0", "a1", "a2", "c3", "c2"],
            "created_after is inclusive"
        );
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    created_before: Some(at("2026-03-08T09:30:00Z")),
                    ..q()
                }
            )
            .await,
            ["c1", "c4"],
            "created_before is exclusive"
        );
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    created_after: Some(at("2026-03-08T09:00:00Z")),
                    created_before: Some(at("2026-03-08T10:01:00Z")),
                    ..q()
                }
            )
            .await,
            ["a0", "c3", "c2", "c1"]
        );
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    active: Some(false),
                    created_after: Some(at("2026-03-08T09:00:00Z")),
                    max_complete: Some(2),
                    ..q()
                }
            )
            .await,
            ["c3", "c2"]
        );
        // c2 was created at 09:30:00.000, half a millisecond before these bounds.
        let just_after_c2 = at("2026-03-08T09:30:00.0005Z");
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    active: Some(false),
                    created_after: Some(just_after_c2),
                    ..q()
                }
            )
            .await,
            ["c3"]
        );
        assert_eq!(
            list_ids(
                &store,
                TaskQuery {
                    active: Some(false),
                    created_before: Some(just_after_c2),
                    ..q()
                }
            )
            .await,
            ["c2", "c1", "c4"]
        );
    }

    #[tokio::test]
    async fn get_infos_returns_existing_rows_across_chunks() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        for i in 0..600 {
            insert(&store, &format!("t{i:04}"), "wiki", "2026-03-08T10:00:00Z").await;
        }
        // 1,200 ids: the even ones exist, the odd ones do not, plus one repeated id.
        let mut ids: Vec<String> = (0..1200)
            .map(|i| format!("t{:04}", i / 2 * 2 + i % 2 * 1001))
            .collect();
        ids.push("t0000".into());
        let mut found: Vec<String> = store
            .get_infos(&ids)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        found.sort();
        let expected: Vec<String> = (0..600).step_by(2).map(|i| format!("t{i:04}")).collect();
        assert_eq!(found, expected);
        assert!(store.get_infos(&[]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn active_tasks_come_oldest_first_with_payloads() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        insert(&store, "late", "wiki", "2026-03-08T12:00:00Z").await;
        insert(&store, "done", "wiki", "2026-03-08T09:00:00Z").await;
        insert(&store, "early", "web", "2026-03-08T10:00:00Z").await;
        complete(&store, "done").await;

        let active = store.active_tasks().await.unwrap();
        let ids: Vec<&str> = active.iter().map(|(task, _)| task.id()).collect();
        assert_eq!(ids, ["early", "late"]);
        let (task_early, info_early) = &active[0];
        assert_eq!(task_early, &task("early", "web"));
        assert_eq!(info_early.id, "early");
        assert_eq!(info_early.data_source, "web");
        assert_eq!(info_early.created_time, at("2026-03-08T10:00:00Z"));
        assert!(active.iter().all(|(_, info)| info.active));
    }

    #[tokio::test]
    async fn reopening_sees_the_data_and_open_is_idempotent() {
        let dir = TempDir::new().unwrap();
        let first = open(&dir).await;
        insert(&first, "t1", "wiki", "2026-03-08T10:00:00Z").await;
        insert(&first, "t2", "wiki", "2026-03-08T11:00:00Z").await;
        complete(&first, "t1").await;
        let schema = schema_names(&first).await;

        let second = open(&dir).await;
        assert_eq!(schema_names(&second).await, schema);
        assert_eq!(list_ids(&second, TaskQuery::default()).await, ["t2", "t1"]);
        insert(&second, "t3", "wiki", "2026-03-08T12:00:00Z").await;
        assert_eq!(
            list_ids(&first, TaskQuery::default()).await,
            ["t2", "t3", "t1"]
        );
        first.close().await;
        second.close().await;

        let third = open(&dir).await;
        assert_eq!(
            list_ids(&third, TaskQuery::default()).await,
            ["t2", "t3", "t1"]
        );
        assert_eq!(
            third.get_info("t1").await.unwrap().unwrap().status,
            TaskStatus::success("t1")
        );
        assert_eq!(
            third.get_task("t3").await.unwrap().unwrap(),
            task("t3", "wiki")
        );
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&third.pool)
            .await
            .unwrap();
        assert_eq!(journal, "wal");
    }

    #[tokio::test]
    async fn table_base_names_the_table() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("steward.db");
        let druid = SqliteStore::open(&path, "druid").await.unwrap();
        let custom = SqliteStore::open(&path, "steward_2").await.unwrap();
        insert(&druid, "t1", "wiki", "2026-03-08T10:00:00Z").await;
        insert(&custom, "t1", "web", "2026-03-08T11:00:00Z").await;

        assert_eq!(
            custom.get_info("t1").await.unwrap().unwrap().data_source,
            "web"
        );
        assert_eq!(
            druid.get_info("t1").await.unwrap().unwrap().data_source,
            "wiki"
        );
        let names = schema_names(&custom).await;
        assert!(names.contains(&"steward_2_tasks".to_string()));
        assert!(names.contains(&"idx_steward_2_tasks_active_created_date".to_string()));
        for name in [
            "steward_2_config",
            "steward_2_audit",
            "idx_steward_2_audit_key_time",
        ] {
            assert!(names.contains(&name.to_string()), "{name} in {names:?}");
        }

        for bad in ["", "1druid", "druid; DROP TABLE druid_tasks", "dru-id"] {
            let err = SqliteStore::open(&path, bad).await.unwrap_err();
            assert!(
                matches!(err, StoreError::Unavailable(_)),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn undecodable_rows_are_reported_as_corrupt() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        insert(&store, "t1", "wiki", "2026-03-08T10:00:00Z").await;
        let sql = format!(
            "UPDATE {} SET status_payload = X'7B', payload = X'5B' WHERE id = 't1'",
            store.sql.table
        );
        sqlx::query(AssertSqlSafe(sql))
            .execute(&store.pool)
            .await
            .unwrap();

        assert!(
            matches!(store.get_info("t1").await, Err(StoreError::Corrupt(id, _)) if id == "t1")
        );
        assert!(
            matches!(store.get_task("t1").await, Err(StoreError::Corrupt(id, _)) if id == "t1")
        );
        assert!(
            matches!(store.list(&TaskQuery::default()).await, Err(StoreError::Corrupt(id, _)) if id == "t1")
        );
    }

    /// The single step of SQLite's plan for a query.
    async fn plan(
        store: &SqliteStore,
        mut query: Query<'static, Sqlite, SqliteArguments>,
    ) -> String {
        let arguments = query.take_arguments().unwrap().unwrap_or_default();
        let explain = format!("EXPLAIN QUERY PLAN {}", query.sql().as_str());
        let steps: Vec<String> = sqlx::query_with(AssertSqlSafe(explain), arguments)
            .fetch_all(&store.pool)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get("detail"))
            .collect();
        assert_eq!(steps.len(), 1, "{steps:#?}");
        steps.into_iter().next().unwrap()
    }

    /// The rows a read touches are the ones it returns: one index search that constrains every
    /// filter column and yields the requested order, with no scan and no sort.
    #[tokio::test]
    async fn reads_search_one_index_without_sorting() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        for mask in 0..16u8 {
            let query = TaskQuery {
                active: None,
                data_source: (mask & 1 != 0).then(|| "wiki".to_string()),
                task_type: (mask & 2 != 0).then(|| "index".to_string()),
                created_after: (mask & 4 != 0).then(|| at("2026-03-08T09:00:00Z")),
                created_before: (mask & 8 != 0).then(|| at("2026-03-08T10:00:00Z")),
                max_complete: Some(10),
            };
            let constraints = [
                ("active=?", true),
                ("datasource=?", query.data_source.is_some()),
                ("type=?", query.task_type.is_some()),
                ("created_date>?", query.created_after.is_some()),
                ("created_date<?", query.created_before.is_some()),
            ];
            for active in [true, false] {
                let step = plan(&store, store.list_query(active, &query)).await;
                assert!(step.starts_with("SEARCH druid_tasks USING INDEX"), "{step}");
                for (constraint, expected) in constraints {
                    assert_eq!(
                        step.contains(constraint),
                        expected,
                        "{constraint} in {step}"
                    );
                }
            }
        }
        let step = plan(
            &store,
            sqlx::query(AssertSqlSafe(store.sql.active_tasks.clone())),
        )
        .await;
        assert_eq!(
            step,
            "SEARCH druid_tasks USING INDEX idx_druid_tasks_active_created_date (active=?)"
        );
        let by_ids = sqlx::query(AssertSqlSafe(store.sql.infos_by_ids(2)))
            .bind("a")
            .bind("b");
        let step = plan(&store, by_ids).await;
        assert!(
            step.starts_with("SEARCH druid_tasks USING INDEX sqlite_autoindex"),
            "{step}"
        );
    }

    const KEY: &str = "worker.config";

    fn audit(author: &str) -> AuditInfo {
        AuditInfo {
            author: author.into(),
            comment: format!("by {author}"),
            ip: "10.0.0.1".into(),
        }
    }

    async fn set_config(store: &SqliteStore, key: &str, payload: &str, author: &str, at_: &str) {
        store
            .set_config_with_audit(key, payload.as_bytes(), &audit(author), at(at_))
            .await
            .unwrap();
    }

    async fn authors(
        store: &SqliteStore,
        after: Option<&str>,
        before: Option<&str>,
        limit: Option<usize>,
    ) -> Vec<String> {
        store
            .audit_history(KEY, after.map(at), before.map(at), limit)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.audit_info.author)
            .collect()
    }

    async fn exec(store: &SqliteStore, sql: String) {
        sqlx::query(AssertSqlSafe(sql))
            .execute(&store.pool)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn config_is_absent_until_set_and_each_set_replaces_it_with_an_audit_entry() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        assert_eq!(store.get_config(KEY).await.unwrap(), None);
        assert!(authors(&store, None, None, None).await.is_empty());

        let first = r#"{"type":"default","selectStrategy":{"type":"fillCapacity"}}"#;
        let second = r#"{"type":"default","selectStrategy":{"type":"equalDistribution"}}"#;
        set_config(&store, KEY, first, "alice", "2026-03-08T10:00:00.123Z").await;
        assert_eq!(
            store.get_config(KEY).await.unwrap().unwrap(),
            first.as_bytes()
        );
        set_config(&store, KEY, second, "bob", "2026-03-08T11:00:00Z").await;
        assert_eq!(
            store.get_config(KEY).await.unwrap().unwrap(),
            second.as_bytes()
        );
        assert_eq!(store.get_config("other").await.unwrap(), None);

        let history = store.audit_history(KEY, None, None, None).await.unwrap();
        assert_eq!(
            history,
            [
                AuditEntry {
                    key: KEY.into(),
                    audit_type: KEY.into(),
                    audit_info: audit("bob"),
                    payload: second.into(),
                    audit_time: at("2026-03-08T11:00:00Z"),
                },
                AuditEntry {
                    key: KEY.into(),
                    audit_type: KEY.into(),
                    audit_info: audit("alice"),
                    payload: first.into(),
                    audit_time: at("2026-03-08T10:00:00.123Z"),
                },
            ]
        );

        // The row is Druid's: indexed columns plus the whole AuditEntry JSON as payload.
        let sql = format!(
            "SELECT audit_key, type, author, comment, created_date, payload FROM {} \
             ORDER BY id LIMIT 1",
            store.sql.audit_table
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .fetch_one(&store.pool)
            .await
            .unwrap();
        let columns: [String; 5] = ["audit_key", "type", "author", "comment", "created_date"]
            .map(|c| row.get::<String, _>(c));
        assert_eq!(
            columns,
            [KEY, KEY, "alice", "by alice", "2026-03-08T10:00:00.123Z"]
        );
        let payload: Vec<u8> = row.get("payload");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&payload).unwrap(),
            json!({
                "key": KEY, "type": KEY,
                "auditInfo": {"author": "alice", "comment": "by alice", "ip": "10.0.0.1"},
                "payload": first,
                "auditTime": "2026-03-08T10:00:00.123Z"
            })
        );
    }

    #[tokio::test]
    async fn audit_history_filters_by_key_interval_and_limit() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        // Written out of time order; d and e share a millisecond.
        set_config(&store, KEY, "{}", "b", "2026-03-08T09:00:00Z").await;
        set_config(&store, KEY, "{}", "a", "2026-03-08T08:00:00Z").await;
        set_config(&store, KEY, "{}", "c", "2026-03-08T10:00:00Z").await;
        set_config(&store, KEY, "{}", "d", "2026-03-08T11:00:00Z").await;
        set_config(&store, KEY, "{}", "e", "2026-03-08T11:00:00Z").await;
        set_config(&store, "other.config", "{}", "x", "2026-03-08T09:30:00Z").await;

        assert_eq!(
            authors(&store, None, None, None).await,
            ["e", "d", "c", "b", "a"],
            "newest first; same instant: last written first"
        );
        assert_eq!(authors(&store, None, None, Some(2)).await, ["e", "d"]);
        assert!(authors(&store, None, None, Some(0)).await.is_empty());
        assert_eq!(
            authors(&store, Some("2026-03-08T09:00:00Z"), None, None).await,
            ["e", "d", "c", "b"],
            "the start is inclusive"
        );
        assert_eq!(
            authors(&store, None, Some("2026-03-08T10:00:00Z"), None).await,
            ["b", "a"],
            "the end is exclusive"
        );
        assert_eq!(
            authors(
                &store,
                Some("2026-03-08T08:00:00Z"),
                Some("2026-03-08T11:00:00Z"),
                Some(2)
            )
            .await,
            ["c", "b"]
        );
        assert_eq!(
            authors(&store, Some("2026-03-08T09:00:00.0005Z"), None, None).await,
            ["e", "d", "c"],
            "a sub-millisecond bound compares as the exact instant"
        );
        let other = store
            .audit_history("other.config", None, None, None)
            .await
            .unwrap();
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].audit_info.author, "x");
    }

    /// A config change without its audit row (or the reverse) never becomes visible.
    #[tokio::test]
    async fn config_and_audit_are_written_together_or_not_at_all() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        set_config(&store, KEY, "{\"v\":1}", "first", "2026-03-08T10:00:00Z").await;

        let audit_table = store.sql.audit_table.clone();
        exec(
            &store,
            format!(
                "CREATE TRIGGER fail_audit BEFORE INSERT ON {audit_table} \
                 BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
            ),
        )
        .await;
        let err = store
            .set_config_with_audit(
                KEY,
                b"{\"v\":2}",
                &audit("second"),
                at("2026-03-08T11:00:00Z"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Unavailable(m) if m.contains("audit refused")),
            "{err:?}"
        );
        assert_eq!(store.get_config(KEY).await.unwrap().unwrap(), b"{\"v\":1}");
        assert_eq!(authors(&store, None, None, None).await, ["first"]);
        exec(&store, "DROP TRIGGER fail_audit".into()).await;

        for (trigger, event) in [("fail_update", "UPDATE"), ("fail_insert", "INSERT")] {
            exec(
                &store,
                format!(
                    "CREATE TRIGGER {trigger} BEFORE {event} ON druid_config \
                     BEGIN SELECT RAISE(ABORT, 'config refused'); END"
                ),
            )
            .await;
        }
        for key in [KEY, "new.config"] {
            let err = store
                .set_config_with_audit(key, b"{}", &audit("third"), at("2026-03-08T12:00:00Z"))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, StoreError::Unavailable(m) if m.contains("config refused")),
                "{err:?}"
            );
            assert!(store
                .audit_history(key, None, None, None)
                .await
                .unwrap()
                .iter()
                .all(|e| e.audit_info.author != "third"));
        }
        assert_eq!(store.get_config(KEY).await.unwrap().unwrap(), b"{\"v\":1}");
        assert_eq!(store.get_config("new.config").await.unwrap(), None);
        for trigger in ["fail_update", "fail_insert"] {
            exec(&store, format!("DROP TRIGGER {trigger}")).await;
        }

        set_config(&store, KEY, "{\"v\":4}", "fourth", "2026-03-08T13:00:00Z").await;
        assert_eq!(store.get_config(KEY).await.unwrap().unwrap(), b"{\"v\":4}");
        assert_eq!(authors(&store, None, None, None).await, ["fourth", "first"]);
    }

    #[tokio::test]
    async fn undecodable_audit_rows_are_reported_as_corrupt() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        set_config(&store, KEY, "{}", "a", "2026-03-08T10:00:00Z").await;
        exec(
            &store,
            format!("UPDATE {} SET payload = X'7B'", store.sql.audit_table),
        )
        .await;
        let err = store
            .audit_history(KEY, None, None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(row, _) if row == "druid_audit:1"),
            "{err:?}"
        );
    }

    /// A history read walks the (audit_key, created_date) index backwards: no scan, no sort.
    #[tokio::test]
    async fn audit_history_searches_its_index_without_sorting() {
        let dir = TempDir::new().unwrap();
        let store = open(&dir).await;
        for mask in 0..8u8 {
            let after = (mask & 1 != 0).then(|| at("2026-03-08T09:00:00Z"));
            let before = (mask & 2 != 0).then(|| at("2026-03-08T10:00:00Z"));
            let limit = (mask & 4 != 0).then_some(10);
            let step = plan(&store, store.audit_query(KEY, after, before, limit)).await;
            assert!(
                step.starts_with(
                    "SEARCH druid_audit USING INDEX idx_druid_audit_key_time (audit_key=?"
                ),
                "{step}"
            );
            assert_eq!(step.contains("created_date>?"), after.is_some(), "{step}");
            assert_eq!(step.contains("created_date<?"), before.is_some(), "{step}");
        }
    }
}
