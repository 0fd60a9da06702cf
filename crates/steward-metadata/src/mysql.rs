//! The metadata store on MySQL or MariaDB.
//!
//! As in Druid's MySQL extension, PAYLOAD columns are `LONGBLOB`, serial keys
//! `BIGINT AUTO_INCREMENT`, and datasource columns `utf8mb4` with the binary collation. Every
//! other text column is binary-collated too (the tables' default): MySQL's default collations
//! ignore case, and task ids `T1` and `t1` must stay two tasks, as they are in Druid's other
//! databases. Start-ups serialise their schema creation on a named lock (`GET_LOCK`), and
//! indexes are created with plain `CREATE INDEX` (MySQL before 8.0.29 has no `IF NOT EXISTS`
//! for indexes), an existing one answering "duplicate key name".

use sqlx::error::DatabaseError;
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlDatabaseError, MySqlQueryResult};

use crate::server::Server;
use crate::sql::{BatchDelete, Dialect, IndexHint, SqlStore, Syntax};

/// Druid's tables in a MySQL or MariaDB database.
pub type MySqlStore = SqlStore<MySql>;

/// `ER_TABLE_EXISTS_ERROR` and `ER_DUP_KEYNAME`.
const EXISTS_ERRORS: [u16; 2] = [1050, 1061];

impl Dialect for MySql {
    const SYNTAX: Syntax = Syntax {
        numbered_placeholders: false,
        payload: "LONGBLOB",
        serial_key: "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
        datasource_collation: " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        // DYNAMIC rows allow index keys of 3072 bytes: the (datasource, type, active,
        // created_date) index of utf8mb4 columns needs 3067.
        table_options: " ENGINE=InnoDB ROW_FORMAT=DYNAMIC \
                        DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        create_index: "CREATE INDEX",
        upsert_payload: "ON DUPLICATE KEY UPDATE payload = VALUES(payload)",
        index_hint: IndexHint::ForceIndex,
        batch_delete: BatchDelete::Limit,
        begin_snapshot: "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
        begin_write: "BEGIN",
        quote: "`",
        // A server configured for READ COMMITTED would give each statement its own snapshot.
        session_setup: &["SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"],
        byte_order: "",
        position: "INSTR",
        integer: "SIGNED",
        payload_size: "CAST(JSON_UNQUOTE(JSON_EXTRACT(CONVERT(payload USING utf8mb4), '$.size')) \
                       AS SIGNED)",
    };

    fn rows_affected(result: &MySqlQueryResult) -> u64 {
        // sqlx connects with CLIENT_FOUND_ROWS: an UPDATE counts the rows it matched, as in
        // the other databases, not only those whose values changed.
        result.rows_affected()
    }

    fn already_exists(error: &dyn DatabaseError) -> bool {
        error
            .try_downcast_ref::<MySqlDatabaseError>()
            .is_some_and(|e| EXISTS_ERRORS.contains(&e.number()))
    }

    /// `ER_BAD_FIELD_ERROR`.
    fn no_such_column(error: &dyn DatabaseError) -> bool {
        error
            .try_downcast_ref::<MySqlDatabaseError>()
            .is_some_and(|e| e.number() == 1054)
    }

    /// Named locks are server-wide, so the name includes the database's; hashed, because lock
    /// names are limited to 64 characters. `GET_LOCK` answers NULL on an error, taken as "not
    /// taken".
    fn try_lock_schema(table_base: &str) -> Option<String> {
        Some(format!(
            "SELECT COALESCE(GET_LOCK(SHA1(CONCAT(DATABASE(), '.steward.schema.{table_base}')), 0), 0) \
             AS taken"
        ))
    }
}

impl Server for MySql {
    fn username(options: MySqlConnectOptions, user: &str) -> MySqlConnectOptions {
        options.username(user)
    }

    fn password(options: MySqlConnectOptions, password: &str) -> MySqlConnectOptions {
        options.password(password)
    }
}
