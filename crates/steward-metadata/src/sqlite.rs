//! The metadata store on a local SQLite file: Steward's default, so a single-machine cluster needs
//! no database server.
//!
//! Task writes are single autocommit statements on a WAL journal with `synchronous=NORMAL`: a
//! commit appends to the WAL without an fsync, and a power loss can lose only the last commits,
//! never corrupt the file. That is what lets the Overlord record hundreds of submissions and
//! status changes per second. SQLite locks the whole file for a schema change, so concurrent
//! start-ups need no lock of their own.

use std::path::Path;
use std::time::Duration;

use sqlx::error::DatabaseError;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};

use crate::sql::{BatchDelete, Dialect, IndexHint, SqlStore, Syntax};
use crate::StoreError;

/// Druid's tables in a SQLite file.
pub type SqliteStore = SqlStore<Sqlite>;

/// SQLite runs one writer at a time; more connections would only queue on its lock, while a few
/// let reads (listings) proceed next to a write.
const POOL_SIZE: u32 = 4;

/// How long a statement waits for another connection's (or process's) write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Dialect for Sqlite {
    const SYNTAX: Syntax = Syntax {
        numbered_placeholders: false,
        payload: "BLOB",
        // SQLite's rowid, never reused.
        serial_key: "INTEGER PRIMARY KEY AUTOINCREMENT",
        datasource_collation: "",
        table_options: "",
        create_index: "CREATE INDEX IF NOT EXISTS",
        upsert_payload: "ON CONFLICT (name) DO UPDATE SET payload = excluded.payload",
        index_hint: IndexHint::IndexedBy,
        batch_delete: BatchDelete::Subquery,
        // A deferred transaction reads one snapshot from its first read on.
        begin_snapshot: "BEGIN",
        begin_write: "BEGIN IMMEDIATE",
        quote: "\"",
        session_setup: &[],
        byte_order: "",
        position: "instr",
        integer: "BIGINT",
        payload_size: "CAST(json_extract(CAST(payload AS TEXT), '$.size') AS INTEGER)",
    };

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn already_exists(error: &dyn DatabaseError) -> bool {
        error.message().contains("already exists")
    }

    fn no_such_column(error: &dyn DatabaseError) -> bool {
        error.message().contains("no such column")
    }

    /// A new file's first sessions switch it to WAL, which needs the file to themselves; the
    /// switch fails with SQLITE_BUSY at once, without waiting out the busy timeout, when
    /// another process opens it at the same moment.
    fn busy_at_open(error: &dyn DatabaseError) -> bool {
        error.code().as_deref() == Some("5")
    }

    fn try_lock_schema(_table_base: &str) -> Option<String> {
        None
    }
}

impl SqlStore<Sqlite> {
    /// Opens (creating it and its parent directories if missing) the SQLite file at `path` and
    /// creates Druid's `<table_base>_*` tables and their indexes unless they exist.
    ///
    /// `table_base` is Druid's `druid.metadata.storage.tables.base` (`druid` by default); a
    /// name that is not a plain SQL identifier is refused as [`StoreError::Unavailable`].
    pub async fn open(path: &Path, table_base: &str) -> Result<SqliteStore, StoreError> {
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
        let pool = SqlitePoolOptions::new().max_connections(POOL_SIZE);
        SqlStore::connect(options, pool, &path.display().to_string(), table_base).await
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;
    use tempfile::TempDir;

    use super::*;

    /// Closing the last connection checkpoints the WAL into the file; the journal mode stays.
    #[tokio::test]
    async fn the_file_uses_a_write_ahead_log() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("var/meta/steward.db");
        let store = SqliteStore::open(&path, "druid").await.unwrap();
        store.close().await;
        let reopened = SqliteStore::open(&path, "druid").await.unwrap();
        let journal: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&reopened.pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(journal, "wal");
    }
}
