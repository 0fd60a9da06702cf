//! What each datasource's segments add up to ([`DataSourceStats`]), in one aggregate query
//! over the segment table: counts of used and unused segments, their bytes, rows and time span,
//! and their distinct intervals. The database reads each used segment's `size` out of its JSON
//! payload itself (Druid's table has no column for it), so no payload travels to the Overlord.
//!
//! Times are compared as the stored ISO strings, which order correctly for years 0000–9999
//! (see `segment_statements`); a segment of another year can make `minTime`/`maxTime` wrong,
//! never the counts.

use sqlx::{AssertSqlSafe, Executor};
use steward_model::time::parse_instant;

use super::dialect::Dialect;
use super::errors::unavailable;
use super::params::query;
use super::rows::{corrupt_column, Columns};
use super::statements::Statements;
use super::SqlStore;
use crate::{DataSourceStats, StoreError};

impl Statements {
    /// One row per datasource with segments, by name.
    fn data_source_stats(&self) -> String {
        let s = &self.names.segments;
        let syntax = &self.syntax;
        let (int, size, b) = (syntax.integer, syntax.payload_size, syntax.byte_order);
        let end = format!("{q}end{q}", q = syntax.quote);
        format!(
            "SELECT a.data_source, a.used_segments, a.unused_segments, a.total_size, a.num_rows, \
                    a.min_start, a.max_end, COALESCE(i.intervals, 0) AS intervals \
             FROM (SELECT dataSource AS data_source, \
                          CAST(SUM(CASE WHEN used = TRUE THEN 1 ELSE 0 END) AS {int}) \
                              AS used_segments, \
                          CAST(SUM(CASE WHEN used = TRUE THEN 0 ELSE 1 END) AS {int}) \
                              AS unused_segments, \
                          CAST(COALESCE(SUM(CASE WHEN used = TRUE THEN {size} END), 0) AS {int}) \
                              AS total_size, \
                          CAST(SUM(CASE WHEN used = TRUE THEN num_rows END) AS {int}) AS num_rows, \
                          MIN(CASE WHEN used = TRUE THEN start END) AS min_start, \
                          MAX(CASE WHEN used = TRUE THEN {end} END) AS max_end \
                   FROM {s} GROUP BY dataSource) a \
             LEFT JOIN (SELECT data_source, COUNT(*) AS intervals \
                        FROM (SELECT DISTINCT dataSource AS data_source, start, {end} \
                              FROM {s} WHERE used = TRUE) d \
                        GROUP BY data_source) i ON i.data_source = a.data_source \
             ORDER BY a.data_source{b}"
        )
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    pub(super) async fn stats(&self) -> Result<Vec<DataSourceStats>, StoreError> {
        let rows = query::<D>(AssertSqlSafe(self.sql.data_source_stats()), [])
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(decode_stats).collect()
    }
}

/// A row of the stats query, named by its datasource when it is corrupt.
fn decode_stats<R: Columns>(row: &R) -> Result<DataSourceStats, StoreError> {
    let name = row.text("data_source").map_err(corrupt_column(""))?;
    let column = corrupt_column(&name);
    let count = |column: &str| -> Result<u64, StoreError> {
        let n = row.int(column).map_err(corrupt_column(&name))?;
        u64::try_from(n).map_err(|_| StoreError::Corrupt(name.clone(), format!("{column}: {n}")))
    };
    let instant = |column: &str| -> Result<_, StoreError> {
        row.text_or_null(column)
            .map_err(corrupt_column(&name))?
            .map(|t| parse_instant(&t))
            .transpose()
            .map_err(|e| StoreError::Corrupt(name.clone(), format!("{column}: {e}")))
    };
    let rows = row.int_or_null("num_rows").map_err(&column)?;
    Ok(DataSourceStats {
        used_segments: count("used_segments")?,
        unused_segments: count("unused_segments")?,
        size: count("total_size")?,
        rows: rows.map(|n| u64::try_from(n).unwrap_or_default()),
        min_start: instant("min_start")?,
        max_end: instant("max_end")?,
        intervals: count("intervals")?,
        name: name.clone(),
    })
}
