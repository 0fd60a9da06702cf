//! Creating the schema when several Overlords start at once: each creates it on a session of its
//! own, holding the database's advisory lock for this table base where the database has one
//! (PostgreSQL, MySQL), with statements that skip existing objects. Closing the session releases
//! the lock, so a process dying half-way cannot leave it held.

use std::time::Duration;

use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

use super::dialect::{Dialect, Options};
use super::errors::unavailable;
use super::params::query;
use super::rows::Columns;
use super::schema::{AddedColumn, Schema};
use crate::StoreError;

/// How long an Overlord waits for another one to finish creating the schema.
const SCHEMA_LOCK_TIMEOUT: Duration = Duration::from_secs(120);
const SCHEMA_LOCK_POLL: Duration = Duration::from_millis(100);

/// Creates the tables and indexes on a session of its own, holding the schema lock where the
/// database has one. Dropping the session on an error ends it on the server, which releases
/// the lock.
pub(super) async fn create_schema<D: Dialect>(
    options: &Options<D>,
    schema: &Schema,
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
    for statement in &schema.tables {
        create_unless_exists::<D>(&mut conn, statement).await?;
    }
    // Before the indexes, some of which cover added columns.
    for AddedColumn {
        table,
        probe,
        alter,
    } in &schema.added_columns
    {
        if has_column::<D>(&mut conn, probe).await? {
            continue;
        }
        tracing::info!(%table, statement = %alter, "adding a column Druid added later");
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
    for statement in &schema.indexes {
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
