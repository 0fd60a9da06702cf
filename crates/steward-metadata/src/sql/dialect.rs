//! What differs between the databases the store runs on: the spelling of a few statements
//! ([`Syntax`]) and how each database reports errors and serialises schema changes
//! ([`Dialect`]). Everything else in the store is written once for all of them; the
//! `sqlite`, `postgres` and `mysql` modules implement [`Dialect`] for their driver.

use sqlx::database::HasStatementCache;
use sqlx::error::DatabaseError;
use sqlx::{Connection, Database, IntoArguments};

use super::params::Params;
use super::rows::Columns;

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
    /// Starts a transaction that reads, then writes what it read decided: on SQLite it takes
    /// the write lock at once, as a read transaction upgraded later fails when another
    /// connection wrote meanwhile.
    pub begin_write: &'static str,
    /// Druid's quote string, around the segment tables' `end` column (a reserved word).
    pub quote: &'static str,
    /// Run on every new connection, the schema session's included.
    pub session_setup: &'static [&'static str],
    /// After a text column in an index or a condition: compare it by bytes, as Rust compares
    /// strings. PostgreSQL's database collation may be a language's (SQLite compares bytes,
    /// and Steward's MySQL columns are binary).
    pub byte_order: &'static str,
    /// The function `f(text, part)` answering the 1-based position of `part` in `text`, 0 when
    /// absent (a case-sensitive substring test without `LIKE`'s wildcards or its case rules,
    /// which differ between databases).
    pub position: &'static str,
    /// The `CAST` target of a 64-bit integer: sums come back as the driver's integer type
    /// (PostgreSQL sums `BIGINT` as `NUMERIC`, MySQL as `DECIMAL`).
    pub integer: &'static str,
    /// The `size` in a segment row's JSON `payload`, read by the database.
    pub payload_size: &'static str,
}

impl Syntax {
    /// Rewrites `?` placeholders as `$1`, `$2`, ... where the database numbers them. The store's
    /// statements have no `?` anywhere else.
    pub(super) fn number_placeholders(&self, sql: String) -> String {
        if !self.numbered_placeholders {
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
    /// The clause after a table name that makes the query use `index`.
    pub(super) fn on(self, index: &str) -> String {
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

/// The connection options of a database's driver.
pub(crate) type Options<D> = <<D as Database>::Connection as Connection>::Options;
