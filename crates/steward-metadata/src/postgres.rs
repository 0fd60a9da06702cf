//! The metadata store on PostgreSQL, Druid's recommended production database.
//!
//! PAYLOAD columns are `BYTEA` and serial keys `BIGSERIAL`, as in Druid's PostgreSQL extension.
//! Start-ups serialise their schema creation on a session-level advisory lock: PostgreSQL's
//! `CREATE ... IF NOT EXISTS` is not safe against a concurrent identical statement (the loser
//! fails on a catalog unique index).

use sqlx::error::DatabaseError;
use sqlx::postgres::{PgConnectOptions, PgQueryResult, Postgres};

use crate::server::Server;
use crate::sql::{BatchDelete, Dialect, IndexHint, SqlStore, Syntax};

/// Druid's tables in a PostgreSQL database.
pub type PostgresStore = SqlStore<Postgres>;

impl Dialect for Postgres {
    const SYNTAX: Syntax = Syntax {
        numbered_placeholders: true,
        payload: "BYTEA",
        serial_key: "BIGSERIAL NOT NULL PRIMARY KEY",
        datasource_collation: "",
        table_options: "",
        create_index: "CREATE INDEX IF NOT EXISTS",
        upsert_payload: "ON CONFLICT (name) DO UPDATE SET payload = EXCLUDED.payload",
        index_hint: IndexHint::PlannerChooses,
        batch_delete: BatchDelete::Subquery,
        // READ COMMITTED, the default, takes a new snapshot for every statement.
        begin_snapshot: "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        begin_write: "BEGIN",
        quote: "\"",
        // Every object an `IF NOT EXISTS` skips at start-up answers with a notice, which sqlx
        // would log at INFO.
        session_setup: &["SET client_min_messages = warning"],
        byte_order: " COLLATE \"C\"",
        position: "strpos",
        integer: "BIGINT",
        payload_size: "CAST(convert_from(payload, 'UTF8')::json ->> 'size' AS BIGINT)",
    };

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    /// `duplicate_table` (tables and indexes), `duplicate_object`, and the catalog's
    /// `unique_violation` that a concurrent `CREATE ... IF NOT EXISTS` can raise.
    fn already_exists(error: &dyn DatabaseError) -> bool {
        matches!(error.code().as_deref(), Some("42P07" | "42710" | "23505"))
    }

    /// `undefined_column`.
    fn no_such_column(error: &dyn DatabaseError) -> bool {
        error.code().as_deref() == Some("42703")
    }

    /// Advisory locks are per database; the key is derived from the base name as PostgreSQL
    /// sees it (unquoted identifiers fold to lower case).
    fn try_lock_schema(table_base: &str) -> Option<String> {
        let key = fnv1a(&format!(
            "steward.schema.{}",
            table_base.to_ascii_lowercase()
        ));
        Some(format!("SELECT pg_try_advisory_lock({key}) AS taken"))
    }
}

impl Server for Postgres {
    fn username(options: PgConnectOptions, user: &str) -> PgConnectOptions {
        options.username(user)
    }

    fn password(options: PgConnectOptions, password: &str) -> PgConnectOptions {
        options.password(password)
    }
}

/// A stable 64-bit hash (FNV-1a), as a signed advisory lock key.
fn fnv1a(text: &str) -> i64 {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    i64::from_ne_bytes(hash.to_ne_bytes())
}
