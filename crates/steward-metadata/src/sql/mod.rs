//! The metadata store on any SQL database Steward supports: one implementation, generic over the
//! sqlx driver, with the differences between SQLite, PostgreSQL and MySQL confined to a
//! [`Dialect`] per database (see the `sqlite`, `postgres` and `mysql` modules).
//!
//! This module holds the store type and its opening; the rest is split by concept, each part
//! depending only on those listed before it:
//!
//! * `params`: the values bound to statements; `rows`: the rows' encodings and their decoding;
//!   `errors`: which database errors are the request's fault;
//! * `dialect`: what differs between the databases;
//! * `schema`: Druid's tables and the store's indexes; `create`: creating them when several
//!   Overlords start at once;
//! * `segment_statements`: the statements on the segment tables; `statements`: every
//!   statement on the rows; `backfill`: the columns an older Druid's rows lack, filled in at
//!   open;
//! * `locks`, `segments`, `pending`: the operations on lock rows, published segments and
//!   pending segments (`pending` allocates next to the published segments `segments` reads);
//!   `task_pages`: pages of complete rows in the web console's orders; `segment_stats`: what
//!   each datasource's segments add up to;
//! * `operations`: [`MetadataStore`](crate::MetadataStore) itself.

mod backfill;
mod create;
mod dialect;
mod errors;
mod locks;
mod operations;
mod params;
mod pending;
mod rows;
mod schema;
mod segment_statements;
mod segment_stats;
mod segments;
mod statements;
mod task_pages;

use std::sync::Arc;

use sqlx::pool::PoolOptions;
use sqlx::{Executor, Pool};

pub(crate) use self::dialect::Options;
pub use self::dialect::{BatchDelete, Dialect, IndexHint, Syntax};
use self::errors::unavailable;
use self::schema::{Schema, TableNames};
use self::statements::Statements;
use crate::StoreError;

// The tests run their own statements on a store's pool.
#[cfg(test)]
pub(crate) use self::params::{query, Param};
#[cfg(test)]
pub(crate) use self::rows::Columns;

/// Druid's task, lock, segment, config and audit tables in a SQL database.
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
        let names = TableNames::new(table_base)?;
        let schema = Schema::new(&D::SYNTAX, &names)?;
        let sql = Statements::new(D::SYNTAX, names);
        let in_location = |e: StoreError| match e {
            StoreError::Unavailable(m) => StoreError::Unavailable(format!("{location}: {m}")),
            other => other,
        };
        create::create_schema::<D>(&options, &schema, table_base)
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
            table = %sql.names.tasks,
            "opened metadata store"
        );
        let store = SqlStore {
            pool,
            sql: Arc::new(sql),
        };
        store.fill_type_and_group_id().await.map_err(in_location)?;
        Ok(store)
    }

    /// Closes every connection, waiting for statements in flight; later calls fail as
    /// [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
