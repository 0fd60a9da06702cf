//! The metadata store on any SQL database Steward supports: one implementation, generic over the
//! sqlx driver, with the differences between SQLite, PostgreSQL and MySQL confined to a
//! [`Syntax`] per database (see the `sqlite`, `postgres` and `mysql` modules).
//!
//! The tables are Druid's `<base>_tasks`, `<base>_tasklocks`, `<base>_config` and `<base>_audit`
//! with Druid's columns and encodings (JSON payloads as bytes, ISO-8601 `created_date` strings),
//! so the rows mean the same thing they do in Druid. Every statement is built once from the
//! table names in [`Statements`].
//!
//! Task writes are single autocommit statements. A config change and its audit row are written
//! in one transaction: Druid writes them separately and can record changes that never happened
//! (or lose the record of one that did).
//!
//! Schema creation is safe when several Overlords start at once: each creates the schema on a
//! session of its own, holding the database's advisory lock for this table base where the
//! database has one (PostgreSQL, MySQL), with statements that skip existing objects. Closing the
//! session releases the lock, so a process dying half-way cannot leave it held.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::{RoundMode, Timestamp, TimestampRound, Unit};
use serde::{Deserialize, Serialize};
use sqlx::database::HasStatementCache;
use sqlx::error::{BoxDynError, DatabaseError};
use sqlx::pool::PoolOptions;
use sqlx::query::Query;
use sqlx::{
    Arguments, AssertSqlSafe, ColumnIndex, ConnectOptions, Connection, Database, Decode, Encode,
    Executor, IntoArguments, Pool, Row, SqlSafeStr, Type,
};
use steward_model::time::{format_ts, parse_instant};
use steward_model::{Task, TaskStatus};

use crate::{ActiveTasks, AuditEntry, AuditInfo, MetadataStore, StoreError, TaskInfo, TaskQuery};

/// Ids per `IN (...)` lookup: under every supported database's placeholder limit (SQLite builds
/// before 3.32 allow 999), and short enough to plan quickly.
const ID_CHUNK: usize = 500;

/// Rows per retention `DELETE`: each batch is its own short statement, so deleting a huge
/// history never holds the table's write locks for long.
const DELETE_BATCH: usize = 1000;

/// Rows per read of the `type`/`group_id` backfill.
const BACKFILL_BATCH: usize = 500;

/// How long an Overlord waits for another one to finish creating the schema.
const SCHEMA_LOCK_TIMEOUT: Duration = Duration::from_secs(120);
const SCHEMA_LOCK_POLL: Duration = Duration::from_millis(100);

/// The longest identifier every supported database accepts (PostgreSQL's limit; MySQL's is 64).
const MAX_IDENTIFIER: usize = 63;

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

/// The task table's indexes as (name suffix, columns).
const INDEXES: [(&str, &str); 4] = [
    // Druid's: the active set, retention, and every listing without a datasource or type filter.
    (BY_ACTIVE, "active, created_date"),
    // Druid indexes (datasource, active); with created_date appended it serves every lookup
    // Druid's does, without sorting a datasource's whole history to find its newest rows.
    (BY_DATASOURCE, "datasource, active, created_date"),
    (BY_TYPE, "active, type, created_date"),
    (BY_DATASOURCE_TYPE, "datasource, type, active, created_date"),
];

/// How a database spells what differs between SQL dialects.
#[derive(Debug)]
pub struct Syntax {
    /// PostgreSQL numbers its placeholders (`$1`); SQLite and MySQL take `?`.
    pub numbered_placeholders: bool,
    /// Druid's PAYLOAD column type.
    pub payload: &'static str,
    /// Druid's SERIAL primary key column.
    pub serial_key: &'static str,
    /// After the type of datasource columns (Druid's collation on MySQL).
    pub datasource_collation: &'static str,
    /// After `CREATE TABLE (...)`.
    pub table_options: &'static str,
    /// `CREATE INDEX IF NOT EXISTS`, or plain `CREATE INDEX` where the database lacks the clause
    /// and reports an existing index as an error that [`Dialect::already_exists`] recognises.
    pub create_index: &'static str,
    /// After `INSERT INTO <config> (name, payload) VALUES (?, ?)`: replace an existing payload.
    pub upsert_payload: &'static str,
    pub index_hint: IndexHint,
    pub batch_delete: BatchDelete,
    /// Starts a transaction whose reads all see one snapshot.
    pub begin_snapshot: &'static str,
    /// Run on every new connection, the schema session's included.
    pub session_setup: &'static [&'static str],
}

/// How a query names the index it must use. Listings have one right index for each combination
/// of filters; without statistics (a fresh table, SQLite) planners sometimes prefer walking
/// `(active, created_date)` and filtering, which reads the whole complete history when the
/// filter matches little.
#[derive(Debug, Clone, Copy)]
pub enum IndexHint {
    /// SQLite's `INDEXED BY`.
    IndexedBy,
    /// MySQL's `FORCE INDEX`.
    ForceIndex,
    /// PostgreSQL has no hints; its planner chooses from statistics.
    PlannerChooses,
}

impl IndexHint {
    fn on(self, index: &str) -> String {
        match self {
            IndexHint::IndexedBy => format!(" INDEXED BY {index}"),
            IndexHint::ForceIndex => format!(" FORCE INDEX ({index})"),
            IndexHint::PlannerChooses => String::new(),
        }
    }
}

/// How a `DELETE` is limited to a batch of rows.
#[derive(Debug, Clone, Copy)]
pub enum BatchDelete {
    /// `WHERE id IN (SELECT id ... LIMIT ?)`: SQLite (built without `DELETE ... LIMIT`) and
    /// PostgreSQL (no `DELETE ... LIMIT` at all).
    Subquery,
    /// `DELETE ... LIMIT ?`: MySQL, which refuses `LIMIT` in an `IN` subquery.
    Limit,
}

/// A database the store runs on. Sealed: implemented for sqlx's SQLite, PostgreSQL and MySQL
/// drivers only.
pub trait Dialect:
    Database<Arguments: IntoArguments<Self> + Params, Row: Columns> + HasStatementCache
{
    const SYNTAX: Syntax;

    /// Rows an `UPDATE` or `DELETE` matched.
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// Whether a schema statement failed because the object exists: another Overlord created it
    /// between our check and our statement.
    fn already_exists(error: &dyn DatabaseError) -> bool;

    /// Whether a statement failed because a column it names does not exist.
    fn no_such_column(error: &dyn DatabaseError) -> bool;

    /// Whether opening a session failed only because another one holds a lock that it will
    /// release shortly, without the database waiting for it itself.
    fn busy_at_open(_error: &dyn DatabaseError) -> bool {
        false
    }

    /// A statement that tries once to take this table base's schema lock for the session and
    /// returns whether it did, or `None` where the database serialises schema changes itself.
    fn try_lock_schema(table_base: &str) -> Option<String>;
}

/// A bound value of one of the types the store's columns hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Bytes(Vec<u8>),
    Flag(bool),
    Int(i64),
}

impl From<&str> for Param {
    fn from(v: &str) -> Param {
        Param::Text(v.to_string())
    }
}

impl From<String> for Param {
    fn from(v: String) -> Param {
        Param::Text(v)
    }
}

impl From<Vec<u8>> for Param {
    fn from(v: Vec<u8>) -> Param {
        Param::Bytes(v)
    }
}

impl From<bool> for Param {
    fn from(v: bool) -> Param {
        Param::Flag(v)
    }
}

impl From<usize> for Param {
    fn from(v: usize) -> Param {
        Param::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// Binding [`Param`]s: the driver-specific encodings needed, stated once.
pub trait Params {
    fn push(&mut self, param: Param) -> Result<(), BoxDynError>;
}

impl<A> Params for A
where
    A: Arguments,
    String: for<'e> Encode<'e, A::Database> + Type<A::Database>,
    Vec<u8>: for<'e> Encode<'e, A::Database> + Type<A::Database>,
    bool: for<'e> Encode<'e, A::Database> + Type<A::Database>,
    i64: for<'e> Encode<'e, A::Database> + Type<A::Database>,
{
    fn push(&mut self, param: Param) -> Result<(), BoxDynError> {
        match param {
            Param::Text(v) => self.add(v),
            Param::Bytes(v) => self.add(v),
            Param::Flag(v) => self.add(v),
            Param::Int(v) => self.add(v),
        }
    }
}

/// Reading the store's column types from a row: the driver-specific decodings needed, stated
/// once.
pub trait Columns {
    fn text(&self, name: &str) -> Result<String, sqlx::Error>;
    fn text_or_null(&self, name: &str) -> Result<Option<String>, sqlx::Error>;
    fn bytes(&self, name: &str) -> Result<Vec<u8>, sqlx::Error>;
    fn flag(&self, name: &str) -> Result<bool, sqlx::Error>;
    fn int(&self, name: &str) -> Result<i64, sqlx::Error>;
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
}

/// The connection options of a database's driver.
pub(crate) type Options<D> = <<D as Database>::Connection as Connection>::Options;

/// A statement with its parameters bound.
pub(crate) fn query<D: Dialect>(
    sql: impl SqlSafeStr,
    params: impl IntoIterator<Item = Param>,
) -> Query<'static, D, D::Arguments> {
    let mut arguments = D::Arguments::default();
    for param in params {
        arguments
            .push(param)
            .expect("strings, bytes, booleans and integers always encode");
    }
    sqlx::query_with(sql, arguments)
}

/// Druid's task, config and audit tables in a SQL database.
#[derive(Debug)]
pub struct SqlStore<D: Dialect> {
    pub(crate) pool: Pool<D>,
    pub(crate) sql: Arc<Statements>,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
            sql: self.sql.clone(),
        }
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    /// Creates the schema unless it exists, then opens a pool. `location` names the database
    /// in logs and errors; it must not contain a password.
    ///
    /// `table_base` is Druid's `druid.metadata.storage.tables.base`. It goes into SQL text, so
    /// only ASCII letters, digits and `_` are accepted, not starting with a digit, and short
    /// enough for every derived name to fit every database's identifier limit; anything else is
    /// refused as [`StoreError::Unavailable`].
    pub(crate) async fn connect(
        options: Options<D>,
        pool: PoolOptions<D>,
        location: &str,
        table_base: &str,
    ) -> Result<SqlStore<D>, StoreError> {
        let sql = Statements::new(D::SYNTAX, table_base)?;
        let in_location = |e: StoreError| match e {
            StoreError::Unavailable(m) => StoreError::Unavailable(format!("{location}: {m}")),
            other => other,
        };
        create_schema::<D>(&options, &sql, table_base)
            .await
            .map_err(in_location)?;
        let setup = D::SYNTAX.session_setup;
        let pool = pool
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    for statement in setup {
                        sqlx::query::<D>(*statement).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| in_location(unavailable(e)))?;
        tracing::info!(
            database = D::NAME,
            location,
            table = %sql.table,
            "opened metadata store"
        );
        let store = SqlStore {
            pool,
            sql: Arc::new(sql),
        };
        store.fill_type_and_group_id().await.map_err(in_location)?;
        Ok(store)
    }

    /// Gives rows an older Druid wrote without `type` and `group_id` their values, batch by
    /// batch, before the store serves anything: every listing reads these columns. With no such
    /// rows this is two index lookups. Several Overlords doing it at once write the same values.
    async fn fill_type_and_group_id(&self) -> Result<(), StoreError> {
        let mut filled = 0;
        for active in [true, false] {
            loop {
                let rows = query::<D>(
                    AssertSqlSafe(self.sql.untyped_rows.clone()),
                    [Param::Flag(active)],
                )
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
                for row in &rows {
                    let id = row.text("id").map_err(corrupt_column(""))?;
                    let payload = row.bytes("payload").map_err(corrupt_column(&id))?;
                    let (task_type, group_id) = type_and_group_id(&id, &payload);
                    query::<D>(
                        AssertSqlSafe(self.sql.set_type_and_group_id.clone()),
                        [
                            Param::Text(task_type),
                            Param::Text(group_id),
                            Param::Text(id),
                        ],
                    )
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                }
                filled += rows.len();
                if rows.len() < BACKFILL_BATCH {
                    break;
                }
            }
        }
        if filled > 0 {
            tracing::info!(table = %self.sql.table, rows = filled,
                "filled in type and group_id of task rows an older Druid wrote");
        }
        Ok(())
    }

    /// Closes every connection, waiting for statements in flight; later calls fail as
    /// [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The `list` query for one group (active or complete), with the filter values bound in the
    /// order [`Statements::list`] placed their placeholders.
    pub(crate) fn list_query(
        &self,
        active: bool,
        query: &TaskQuery,
    ) -> Query<'static, D, D::Arguments> {
        let limit = if active { None } else { query.max_complete };
        let filters = ListFilters {
            data_source: query.data_source.is_some(),
            task_type: query.task_type.is_some(),
            created_after: query.created_after.is_some(),
            created_before: query.created_before.is_some(),
            limited: limit.is_some(),
        };
        let params = [
            query.data_source.as_deref().map(Param::from),
            query.task_type.as_deref().map(Param::from),
            query.created_after.map(|t| Param::Text(bound(t))),
            query.created_before.map(|t| Param::Text(bound(t))),
            limit.map(Param::from),
        ];
        self::query(
            AssertSqlSafe(self.sql.list(active, filters)),
            params.into_iter().flatten(),
        )
    }

    /// The `audit_history` query, with the filter values bound in the order
    /// [`Statements::audit_history`] placed their placeholders.
    pub(crate) fn audit_query(
        &self,
        key: &str,
        created_after: Option<Timestamp>,
        created_before: Option<Timestamp>,
        limit: Option<usize>,
    ) -> Query<'static, D, D::Arguments> {
        let filters = AuditFilters {
            created_after: created_after.is_some(),
            created_before: created_before.is_some(),
            limited: limit.is_some(),
        };
        let params = [
            Some(Param::from(key)),
            created_after.map(|t| Param::Text(bound(t))),
            created_before.map(|t| Param::Text(bound(t))),
            limit.map(Param::from),
        ];
        self::query(
            AssertSqlSafe(self.sql.audit_history(filters)),
            params.into_iter().flatten(),
        )
    }

    /// Deletes complete tasks created before `before`, `batch` rows per statement.
    pub(crate) async fn delete_complete_in_batches(
        &self,
        before: Timestamp,
        batch: usize,
    ) -> Result<u64, StoreError> {
        let before = bound(before);
        let mut deleted = 0;
        loop {
            let result = query::<D>(
                AssertSqlSafe(self.sql.delete_complete.clone()),
                [Param::Text(before.clone()), Param::from(batch)],
            )
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
            let n = D::rows_affected(&result);
            deleted += n;
            if n < batch as u64 {
                return Ok(deleted);
            }
        }
    }
}

/// Creates the tables and indexes on a session of its own, holding the schema lock where the
/// database has one. Dropping the session on an error ends it on the server, which releases
/// the lock.
async fn create_schema<D: Dialect>(
    options: &Options<D>,
    sql: &Statements,
    table_base: &str,
) -> Result<(), StoreError>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    let mut conn = connect_when_free::<D>(options).await?;
    for statement in D::SYNTAX.session_setup {
        query::<D>(*statement, [])
            .execute(&mut conn)
            .await
            .map_err(unavailable)?;
    }
    if let Some(lock) = D::try_lock_schema(table_base) {
        let deadline = tokio::time::Instant::now() + SCHEMA_LOCK_TIMEOUT;
        loop {
            let row = query::<D>(AssertSqlSafe(lock.as_str()), [])
                .fetch_one(&mut conn)
                .await
                .map_err(unavailable)?;
            let taken = row
                .flag("taken")
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            if taken {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Unavailable(format!(
                    "another process held the schema lock of [{table_base}] for \
                     {SCHEMA_LOCK_TIMEOUT:?}"
                )));
            }
            tokio::time::sleep(SCHEMA_LOCK_POLL).await;
        }
    }
    // One statement at a time, each in autocommit: MySQL commits DDL implicitly anyway, a
    // SQLite transaction around it could fail at once with SQLITE_BUSY if another process
    // creates the schema concurrently, and skipping existing objects already makes a partial
    // run safe to repeat.
    for statement in &sql.tables {
        create_unless_exists::<D>(&mut conn, statement).await?;
    }
    // Before the indexes, one of which covers `type`.
    for (probe, alter) in &sql.added_columns {
        if has_column::<D>(&mut conn, probe).await? {
            continue;
        }
        tracing::info!(table = %sql.table, statement = %alter, "adding a column Druid added later");
        if let Err(e) = query::<D>(AssertSqlSafe(alter.as_str()), [])
            .execute(&mut conn)
            .await
        {
            // SQLite has no schema lock: another Overlord may have added it just now.
            if !has_column::<D>(&mut conn, probe).await? {
                return Err(unavailable(e));
            }
        }
    }
    for statement in &sql.indexes {
        create_unless_exists::<D>(&mut conn, statement).await?;
    }
    conn.close().await.map_err(unavailable)
}

/// Opens the schema session, retrying while the database is busy at open for at most
/// [`SCHEMA_LOCK_TIMEOUT`].
async fn connect_when_free<D: Dialect>(options: &Options<D>) -> Result<D::Connection, StoreError> {
    let deadline = tokio::time::Instant::now() + SCHEMA_LOCK_TIMEOUT;
    loop {
        match options.connect().await {
            Err(sqlx::Error::Database(e))
                if D::busy_at_open(e.as_ref()) && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(SCHEMA_LOCK_POLL).await;
            }
            connected => return connected.map_err(unavailable),
        }
    }
}

async fn create_unless_exists<D: Dialect>(
    conn: &mut D::Connection,
    statement: &str,
) -> Result<(), StoreError>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    match query::<D>(AssertSqlSafe(statement), []).execute(conn).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if D::already_exists(e.as_ref()) => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!("{statement}: {e}"))),
    }
}

/// Whether `probe` (a select of the column from no rows) runs; any failure but the column's
/// absence (a busy database, say) is an error, not a reason to alter the table.
async fn has_column<D: Dialect>(conn: &mut D::Connection, probe: &str) -> Result<bool, StoreError>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    // Not kept prepared: SQLite would keep the probe's read transaction open until its next
    // use, and the index creation that follows on this session would then fail at once with
    // SQLITE_BUSY whenever another process had written meanwhile.
    match query::<D>(AssertSqlSafe(probe), [])
        .persistent(false)
        .fetch_all(conn)
        .await
    {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if D::no_such_column(e.as_ref()) => Ok(false),
        Err(e) => Err(StoreError::Unavailable(format!("{probe}: {e}"))),
    }
}

/// The type and group id of a task row from its payload, as Druid's backfill derives them
/// (a task without `groupId` is its own group). A payload that is not a JSON object gets an
/// empty type, so that the row is not picked up again.
fn type_and_group_id(id: &str, payload: &[u8]) -> (String, String) {
    let task: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(payload).ok();
    let Some(task) = task else {
        tracing::warn!(
            task = id,
            "task payload is not JSON; its type is left empty"
        );
        return (String::new(), id.to_string());
    };
    let text = |key: &str| task.get(key).and_then(|v| v.as_str()).map(str::to_string);
    (
        text("type").unwrap_or_default(),
        text("groupId").unwrap_or_else(|| id.to_string()),
    )
}

#[async_trait]
impl<D: Dialect> MetadataStore for SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    /// The row is active unless `status` is already complete, as in Druid's `insert`.
    async fn insert_task(
        &self,
        task: &Task,
        created: Timestamp,
        status: &TaskStatus,
    ) -> Result<(), StoreError> {
        let params = [
            Param::from(task.id()),
            Param::Text(format_ts(created)),
            Param::from(task.data_source()),
            Param::Bytes(task.to_bytes()),
            Param::Bytes(status_bytes(status)),
            Param::Flag(!status.is_complete()),
            Param::from(task.task_type()),
            Param::from(task.group_id()),
        ];
        let result = query::<D>(AssertSqlSafe(self.sql.insert.clone()), params)
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
        let params = [
            Param::Flag(!status.is_complete()),
            Param::Bytes(status_bytes(status)),
            Param::from(status.id.as_str()),
        ];
        let result = query::<D>(AssertSqlSafe(self.sql.set_status.clone()), params)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(D::rows_affected(&result) > 0)
    }

    async fn get_task(&self, id: &str) -> Result<Option<Task>, StoreError> {
        let row = query::<D>(AssertSqlSafe(self.sql.get_payload.clone()), [id.into()])
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|row| decode_task(&row, id)).transpose()
    }

    async fn get_info(&self, id: &str) -> Result<Option<TaskInfo>, StoreError> {
        let row = query::<D>(AssertSqlSafe(self.sql.get_info.clone()), [id.into()])
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
            let q = query::<D>(
                AssertSqlSafe(self.sql.infos_by_ids(chunk.len())),
                chunk.iter().map(|id| Param::from(*id)),
            )
            .persistent(chunk.len() == ID_CHUNK);
            let rows = q.fetch_all(&self.pool).await.map_err(unavailable)?;
            for row in &rows {
                infos.push(decode_info(row)?);
            }
        }
        Ok(infos)
    }

    async fn active_tasks(&self) -> Result<ActiveTasks, StoreError> {
        let rows = query::<D>(AssertSqlSafe(self.sql.active_tasks.clone()), [])
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        let mut active = ActiveTasks::default();
        for row in &rows {
            let decoded = decode_info(row).and_then(|info| Ok((decode_task(row, &info.id)?, info)));
            match decoded {
                Ok(task) => active.tasks.push(task),
                Err(StoreError::Corrupt(id, why)) => active.unrunnable.push((id, why)),
                Err(e) => return Err(e),
            }
        }
        Ok(active)
    }

    async fn list(&self, query: &TaskQuery) -> Result<Vec<TaskInfo>, StoreError> {
        let active = query.active != Some(false);
        let complete = query.active != Some(true) && query.max_complete != Some(0);
        // Both groups are read from one snapshot, so a task completing between the two reads is
        // listed exactly once.
        let mut tx = self
            .pool
            .begin_with(D::SYNTAX.begin_snapshot)
            .await
            .map_err(unavailable)?;
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
        let row = query::<D>(AssertSqlSafe(self.sql.get_config.clone()), [name.into()])
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|row| row.bytes("payload"))
            .transpose()
            .map_err(|e| {
                StoreError::Corrupt(format!("{}:{name}", self.sql.config_table), e.to_string())
            })
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
        query::<D>(
            AssertSqlSafe(self.sql.upsert_config.clone()),
            [name.into(), Param::Bytes(payload.to_vec())],
        )
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        let audit_row = [
            name.into(),
            name.into(),
            audit.author.as_str().into(),
            audit.comment.as_str().into(),
            Param::Text(created_date),
            Param::Bytes(entry),
        ];
        query::<D>(AssertSqlSafe(self.sql.insert_audit.clone()), audit_row)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    /// A single statement each way, so no transaction or row lock is held across a round trip:
    /// the `UPDATE` re-checks its condition on the row it locks (a concurrent swap that
    /// committed first makes it match nothing), and a concurrent first `INSERT` of the same name
    /// fails on the primary key.
    async fn compare_and_swap_config(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let Some(expected) = expected else {
            let result = query::<D>(
                AssertSqlSafe(self.sql.insert_config.clone()),
                [name.into(), Param::Bytes(new.to_vec())],
            )
            .execute(&self.pool)
            .await;
            return match result {
                Ok(_) => Ok(true),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
                Err(e) => Err(unavailable(e)),
            };
        };
        let result = query::<D>(
            AssertSqlSafe(self.sql.swap_config.clone()),
            [
                Param::Bytes(new.to_vec()),
                name.into(),
                Param::Bytes(expected.to_vec()),
            ],
        )
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(D::rows_affected(&result) > 0)
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

    async fn delete_complete_tasks_created_before(
        &self,
        before: Timestamp,
    ) -> Result<u64, StoreError> {
        self.delete_complete_in_batches(before, DELETE_BATCH).await
    }
}

/// Which optional clauses a `list` statement has; its placeholders come in this field order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListFilters {
    data_source: bool,
    task_type: bool,
    created_after: bool,
    created_before: bool,
    limited: bool,
}

/// Which optional clauses an `audit_history` statement has; its placeholders come after the
/// key's, in this field order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuditFilters {
    created_after: bool,
    created_before: bool,
    limited: bool,
}

/// Every SQL statement of the store, built from the table names. Fixed statements are shared
/// strings so that running one clones a pointer, not the text.
#[derive(Debug)]
pub struct Statements {
    syntax: Syntax,
    pub(crate) table: String,
    pub(crate) config_table: String,
    pub(crate) audit_table: String,
    /// Tables, each skipping what exists.
    pub(crate) tables: Vec<String>,
    /// Columns an older Druid's task table lacks: (probe that fails without the column,
    /// `ALTER TABLE` adding it).
    added_columns: Vec<(String, String)>,
    /// Indexes, each skipping what exists.
    pub(crate) indexes: Vec<String>,
    /// Rows of an older Druid without `type` (`active` is the placeholder, so the index
    /// starting with `active, type` finds them, or finds quickly that there are none).
    untyped_rows: Arc<str>,
    set_type_and_group_id: Arc<str>,
    pub(crate) insert: Arc<str>,
    set_status: Arc<str>,
    get_payload: Arc<str>,
    get_info: Arc<str>,
    pub(crate) active_tasks: Arc<str>,
    get_config: Arc<str>,
    upsert_config: Arc<str>,
    insert_config: Arc<str>,
    swap_config: Arc<str>,
    insert_audit: Arc<str>,
    delete_complete: Arc<str>,
}

impl Statements {
    fn new(syntax: Syntax, base: &str) -> Result<Statements, StoreError> {
        validate_table_base(base)?;
        let t = format!("{base}_tasks");
        let l = format!("{base}_tasklocks");
        let c = format!("{base}_config");
        let a = format!("{base}_audit");
        let Syntax {
            payload,
            serial_key,
            datasource_collation,
            table_options,
            create_index,
            ..
        } = syntax;
        let mut schema = vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} (\
                 id VARCHAR(255) NOT NULL PRIMARY KEY, \
                 created_date VARCHAR(255) NOT NULL, \
                 datasource VARCHAR(255){datasource_collation} NOT NULL, \
                 payload {payload} NOT NULL, \
                 status_payload {payload} NOT NULL, \
                 active BOOLEAN NOT NULL DEFAULT FALSE, \
                 type VARCHAR(255), \
                 group_id VARCHAR(255)){table_options}"
        )];
        let mut indexes: Vec<(String, &str, &str)> = INDEXES
            .iter()
            .map(|(suffix, columns)| (format!("idx_{t}_{suffix}"), t.as_str(), *columns))
            .collect();
        // Druid's lock table. Steward takes no locks yet; the table exists so the schema is
        // the one Druid's Overlord expects.
        schema.push(format!(
            "CREATE TABLE IF NOT EXISTS {l} (\
                 id {serial_key}, \
                 task_id VARCHAR(255) DEFAULT NULL, \
                 lock_payload {payload}){table_options}"
        ));
        indexes.push((format!("idx_{l}_task_id"), &l, "task_id"));
        schema.push(format!(
            "CREATE TABLE IF NOT EXISTS {c} (\
                 name VARCHAR(255) NOT NULL PRIMARY KEY, \
                 payload {payload} NOT NULL){table_options}"
        ));
        // Druid's audit table; `id` increases with every row, so it orders rows written in the
        // same millisecond.
        schema.push(format!(
            "CREATE TABLE IF NOT EXISTS {a} (\
                 id {serial_key}, \
                 audit_key VARCHAR(255) NOT NULL, \
                 type VARCHAR(255) NOT NULL, \
                 author VARCHAR(255) NOT NULL, \
                 comment VARCHAR(2048) NOT NULL, \
                 created_date VARCHAR(255) NOT NULL, \
                 payload {payload} NOT NULL){table_options}"
        ));
        // SQLite and InnoDB end every index entry with the row's key anyway; PostgreSQL needs
        // `id` spelled out to read same-millisecond rows in order without sorting them.
        indexes.push((
            format!("idx_{a}_key_time"),
            &a,
            "audit_key, created_date, id",
        ));
        for (name, _, _) in &indexes {
            if name.len() > MAX_IDENTIFIER {
                return Err(StoreError::Unavailable(format!(
                    "metadata table base name [{base}] is too long: index name [{name}] would \
                     exceed {MAX_IDENTIFIER} characters"
                )));
            }
        }
        let indexes = indexes
            .iter()
            .map(|(name, table, columns)| format!("{create_index} {name} ON {table}({columns})"))
            .collect();
        // Druid added these columns to its task table later and adds them when missing.
        let added_columns = ["type", "group_id"]
            .iter()
            .map(|column| {
                (
                    format!("SELECT {column} FROM {t} WHERE 1 = 0"),
                    format!("ALTER TABLE {t} ADD COLUMN {column} VARCHAR(255)"),
                )
            })
            .collect();
        let numbered = |sql: String| -> Arc<str> { number_placeholders(&syntax, sql).into() };
        Ok(Statements {
            tables: schema,
            added_columns,
            indexes,
            untyped_rows: numbered(format!(
                "SELECT id, payload FROM {t} WHERE active = ? AND type IS NULL \
                 LIMIT {BACKFILL_BATCH}"
            )),
            set_type_and_group_id: numbered(format!(
                "UPDATE {t} SET type = ?, group_id = ? WHERE id = ?"
            )),
            insert: numbered(format!(
                "INSERT INTO {t} (id, created_date, datasource, payload, status_payload, active, \
                 type, group_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            set_status: numbered(format!(
                "UPDATE {t} SET active = ?, status_payload = ? WHERE id = ? AND active = TRUE"
            )),
            get_payload: numbered(format!("SELECT payload FROM {t} WHERE id = ?")),
            get_info: numbered(format!("SELECT {INFO_COLUMNS} FROM {t} WHERE id = ?")),
            active_tasks: format!(
                "SELECT {INFO_COLUMNS}, payload FROM {t}{} WHERE active = TRUE \
                 ORDER BY created_date ASC",
                syntax.index_hint.on(&format!("idx_{t}_{BY_ACTIVE}"))
            )
            .into(),
            get_config: numbered(format!("SELECT payload FROM {c} WHERE name = ?")),
            upsert_config: numbered(format!(
                "INSERT INTO {c} (name, payload) VALUES (?, ?) {}",
                syntax.upsert_payload
            )),
            insert_config: numbered(format!("INSERT INTO {c} (name, payload) VALUES (?, ?)")),
            // MySQL counts matched rows (sqlx sets CLIENT_FOUND_ROWS), so swapping in the
            // expected payload itself also counts as done, as everywhere else.
            swap_config: numbered(format!(
                "UPDATE {c} SET payload = ? WHERE name = ? AND payload = ?"
            )),
            insert_audit: numbered(format!(
                "INSERT INTO {a} (audit_key, type, author, comment, created_date, payload) \
                 VALUES (?, ?, ?, ?, ?, ?)"
            )),
            delete_complete: numbered(match syntax.batch_delete {
                BatchDelete::Subquery => format!(
                    "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} \
                     WHERE active = FALSE AND created_date < ? LIMIT ?)"
                ),
                BatchDelete::Limit => {
                    format!("DELETE FROM {t} WHERE active = FALSE AND created_date < ? LIMIT ?")
                }
            }),
            table: t,
            config_table: c,
            audit_table: a,
            syntax,
        })
    }

    /// The statement in this database's placeholder syntax.
    pub(crate) fn numbered(&self, sql: String) -> String {
        number_placeholders(&self.syntax, sql)
    }

    /// A key's audit rows, newest first.
    pub(crate) fn audit_history(&self, filters: AuditFilters) -> String {
        let a = &self.audit_table;
        let mut sql = format!(
            "SELECT id, payload FROM {a}{} WHERE audit_key = ?",
            self.syntax.index_hint.on(&format!("idx_{a}_key_time"))
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
        self.numbered(sql)
    }

    pub(crate) fn infos_by_ids(&self, count: usize) -> String {
        let placeholders = vec!["?"; count].join(", ");
        self.numbered(format!(
            "SELECT {INFO_COLUMNS} FROM {} WHERE id IN ({placeholders})",
            self.table
        ))
    }

    /// Active rows oldest first, or complete rows newest first.
    pub(crate) fn list(&self, active: bool, filters: ListFilters) -> String {
        let index = match (filters.data_source, filters.task_type) {
            (false, false) => BY_ACTIVE,
            (true, false) => BY_DATASOURCE,
            (false, true) => BY_TYPE,
            (true, true) => BY_DATASOURCE_TYPE,
        };
        let t = &self.table;
        let mut sql = format!(
            "SELECT {INFO_COLUMNS} FROM {t}{} WHERE active = {}",
            self.syntax.index_hint.on(&format!("idx_{t}_{index}")),
            if active { "TRUE" } else { "FALSE" },
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
        self.numbered(sql)
    }
}

/// Rewrites `?` placeholders as `$1`, `$2`, ... where the database numbers them. The store's
/// statements have no `?` anywhere else.
fn number_placeholders(syntax: &Syntax, sql: String) -> String {
    if !syntax.numbered_placeholders {
        return sql;
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
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

/// A database error as the caller sees it: the request's own data refused (a 400 for a client,
/// never worth a retry) or the store failing (a 503, retried).
pub(crate) fn unavailable(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if refuses_the_data(db.as_ref()) => {
            StoreError::Rejected(db.message().to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// SQLSTATE class 22 ("data exception": a NUL or an invalid byte sequence in text, a value too
/// long for its column) in PostgreSQL and MariaDB; MySQL reports some of those with its own
/// numbers under a generic state (`ER_TRUNCATED_WRONG_VALUE_FOR_FIELD`, `ER_DATA_TOO_LONG`,
/// `ER_WARN_DATA_OUT_OF_RANGE`); SQLite's `SQLITE_TOOBIG`.
fn refuses_the_data(db: &dyn DatabaseError) -> bool {
    if let Some(e) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        if [1366, 1406, 1264].contains(&e.number()) {
            return true;
        }
    }
    if let Some(e) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        return e.code().as_deref() == Some("18");
    }
    db.code().is_some_and(|code| code.starts_with("22"))
}

fn corrupt_column(id: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| StoreError::Corrupt(id.to_string(), e.to_string())
}

fn decode_info<R: Columns>(row: &R) -> Result<TaskInfo, StoreError> {
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

fn decode_task<R: Columns>(row: &R, id: &str) -> Result<Task, StoreError> {
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

fn decode_audit<R: Columns>(row: &R, table: &str) -> Result<AuditEntry, StoreError> {
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
