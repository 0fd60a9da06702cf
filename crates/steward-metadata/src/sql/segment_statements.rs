//! The statements on `<base>_segments` and `<base>_pendingSegments`, in the database's syntax
//! and with Druid's conditions: dates are ISO strings compared as strings, which orders them
//! only while their years have four digits, so an interval condition is written into SQL only
//! for intervals within years 0000–9999 (Druid's `canCompareEndpointsAsStrings`) and the
//! caller checks every row's interval again once decoded.
//!
//! Reads of the segment table vary with their filters; [`SegmentFilter`] states them and
//! [`SegmentStatements::select`] builds the statement with its values bound in one place.

use std::sync::Arc;

use jiff::Timestamp;
use sqlx::query::Query;
use sqlx::AssertSqlSafe;
use steward_model::time::format_ts;
use steward_model::Interval;

use super::dialect::{Dialect, Syntax};
use super::params::{query, Param};
use super::schema::TableNames;

/// Which rows of the segment table a read returns. Every condition present must hold.
#[derive(Debug, Default)]
pub(super) struct SegmentFilter<'a> {
    pub(super) data_source: Option<&'a str>,
    /// Rows of any of these datasources.
    pub(super) data_sources: &'a [String],
    pub(super) used: Option<bool>,
    /// Rows overlapping any of these intervals.
    pub(super) overlapping: &'a [Interval],
    /// Rows within this interval.
    pub(super) within: Option<Interval>,
    /// Rows with exactly this interval.
    pub(super) exact: Option<Interval>,
    /// Rows of these versions (at least one).
    pub(super) versions: Option<&'a [String]>,
    /// Rows with these ids (at least one).
    pub(super) ids: Option<&'a [String]>,
    /// Rows whose `used_status_last_updated` is set and at or before this instant.
    pub(super) max_used_status_last_updated: Option<Timestamp>,
    /// In (start, end, version, id) order, at most `limit` of them.
    pub(super) ordered: bool,
    pub(super) limit: Option<usize>,
}

/// Whether a statement can compare this interval's endpoints with stored ISO strings.
pub(super) fn comparable(interval: &Interval) -> bool {
    let year = |t: Timestamp| jiff::tz::TimeZone::UTC.to_datetime(t).year();
    (0..=9999).contains(&year(interval.start)) && (0..=9999).contains(&year(interval.end))
}

/// What a read of the segment table returns.
#[derive(Debug, Clone, Copy)]
pub(super) enum SegmentColumns {
    /// `id, used, payload`: the segments themselves.
    Payload,
    /// `id, start, end, version, used`: enough to decide overshadowing, without payloads.
    Key,
    /// `id`.
    Id,
    /// `DISTINCT version`.
    Versions,
    /// `DISTINCT dataSource AS data_source` (PostgreSQL would name it `datasource`).
    DataSources,
}

/// The statements on the segment and pending segment tables.
#[derive(Debug)]
pub(crate) struct SegmentStatements {
    segments: String,
    /// The quoted `end` column.
    end: String,
    pub(super) insert_segment: Arc<str>,
    pub(super) mark_all: Arc<str>,
    pub(super) insert_pending: Arc<str>,
    pub(super) pending_of_sequence: Arc<str>,
    pub(super) pending_of_sequence_in: Arc<str>,
    pub(super) pending_of: Arc<str>,
    pub(super) pending_overlapping: Arc<str>,
    pub(super) delete_pending: Arc<str>,
    pub(super) delete_pending_created_in: Arc<str>,
    pub(super) delete_pending_of_allocator: Arc<str>,
}

impl SegmentStatements {
    pub(super) fn new(syntax: &Syntax, names: &TableNames) -> SegmentStatements {
        let TableNames {
            segments: s,
            pending: p,
            ..
        } = names;
        let q = syntax.quote;
        let end = format!("{q}end{q}");
        let numbered = |sql: String| -> Arc<str> { syntax.number_placeholders(sql).into() };
        SegmentStatements {
            insert_segment: numbered(format!(
                "INSERT INTO {s} (id, dataSource, created_date, start, {end}, partitioned, \
                 version, used, payload, used_status_last_updated, num_rows) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            mark_all: numbered(format!(
                "UPDATE {s} SET used = ?, used_status_last_updated = ? \
                 WHERE dataSource = ? AND used = ?"
            )),
            insert_pending: numbered(format!(
                "INSERT INTO {p} (id, dataSource, created_date, start, {end}, sequence_name, \
                 sequence_prev_id, sequence_name_prev_id_sha1, payload, task_allocator_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            pending_of_sequence: numbered(format!(
                "SELECT id, payload FROM {p} \
                 WHERE dataSource = ? AND sequence_name = ? AND sequence_prev_id = ?"
            )),
            pending_of_sequence_in: numbered(format!(
                "SELECT id, payload FROM {p} \
                 WHERE dataSource = ? AND sequence_name = ? AND start = ? AND {end} = ?"
            )),
            pending_of: numbered(format!("SELECT id, payload FROM {p} WHERE dataSource = ?")),
            pending_overlapping: numbered(format!(
                "SELECT id, payload FROM {p} WHERE dataSource = ? AND start < ? AND {end} > ?"
            )),
            delete_pending: numbered(format!("DELETE FROM {p} WHERE dataSource = ?")),
            delete_pending_created_in: numbered(format!(
                "DELETE FROM {p} WHERE dataSource = ? AND created_date >= ? AND created_date < ?"
            )),
            delete_pending_of_allocator: numbered(format!(
                "DELETE FROM {p} WHERE task_allocator_id = ?"
            )),
            segments: s.clone(),
            end,
        }
    }

    /// A read of the segment table, with the filter's values bound in the order its
    /// placeholders appear.
    pub(super) fn select<D: Dialect>(
        &self,
        columns: SegmentColumns,
        filter: &SegmentFilter<'_>,
    ) -> Query<'static, D, D::Arguments> {
        let end = &self.end;
        let columns = match columns {
            SegmentColumns::Payload => "id, used, payload".to_string(),
            SegmentColumns::Key => format!("id, start, {end}, version, used"),
            SegmentColumns::Id => "id".to_string(),
            SegmentColumns::Versions => "DISTINCT version".to_string(),
            SegmentColumns::DataSources => "DISTINCT dataSource AS data_source".to_string(),
        };
        let mut sql = format!("SELECT {columns} FROM {} WHERE 1 = 1", self.segments);
        let mut params = Vec::new();
        // Lists longer than one make statements of many shapes; keeping each prepared would
        // evict the ones every call uses from the per-connection cache.
        let mut repeats = true;
        if let Some(data_source) = filter.data_source {
            sql.push_str(" AND dataSource = ?");
            params.push(Param::from(data_source));
        }
        if !filter.data_sources.is_empty() {
            repeats &= filter.data_sources.len() == 1;
            sql.push_str(&format!(
                " AND dataSource IN ({})",
                placeholders(filter.data_sources.len())
            ));
            params.extend(filter.data_sources.iter().map(|d| Param::from(d.as_str())));
        }
        if let Some(used) = filter.used {
            sql.push_str(if used {
                " AND used = TRUE"
            } else {
                " AND used = FALSE"
            });
        }
        if !filter.overlapping.is_empty() && filter.overlapping.iter().all(comparable) {
            repeats &= filter.overlapping.len() == 1;
            let any: Vec<String> = filter
                .overlapping
                .iter()
                .map(|interval| {
                    params.push(Param::Text(format_ts(interval.end)));
                    params.push(Param::Text(format_ts(interval.start)));
                    format!("(start < ? AND {end} > ?)")
                })
                .collect();
            sql.push_str(&format!(" AND ({})", any.join(" OR ")));
        }
        if let Some(within) = filter.within.filter(comparable) {
            // `start <= end of the interval` is implied, but lets an index on start alone
            // bound the search from both sides, as in Druid.
            sql.push_str(&format!(" AND start >= ? AND start <= ? AND {end} <= ?"));
            params.push(Param::Text(format_ts(within.start)));
            params.push(Param::Text(format_ts(within.end)));
            params.push(Param::Text(format_ts(within.end)));
        }
        if let Some(exact) = filter.exact {
            sql.push_str(&format!(" AND start = ? AND {end} = ?"));
            params.push(Param::Text(format_ts(exact.start)));
            params.push(Param::Text(format_ts(exact.end)));
        }
        for (column, values) in [("version", filter.versions), ("id", filter.ids)] {
            if let Some(values) = values {
                repeats &= values.len() <= 1;
                sql.push_str(&format!(
                    " AND {column} IN ({})",
                    placeholders(values.len())
                ));
                params.extend(values.iter().map(|v| Param::from(v.as_str())));
            }
        }
        if let Some(max) = filter.max_used_status_last_updated {
            sql.push_str(
                " AND used_status_last_updated IS NOT NULL AND used_status_last_updated <= ?",
            );
            params.push(Param::Text(format_ts(max)));
        }
        if filter.ordered {
            sql.push_str(&format!(" ORDER BY start, {end}, version, id"));
        }
        if let Some(limit) = filter.limit {
            sql.push_str(" LIMIT ?");
            params.push(Param::from(limit));
        }
        let sql = D::SYNTAX.number_placeholders(sql);
        query::<D>(AssertSqlSafe(sql), params).persistent(repeats)
    }

    /// Marks rows of a datasource with the given ids (at least one) `used` (or not) at `now`,
    /// those that are not already, and counts them.
    pub(super) fn mark<D: Dialect>(
        &self,
        data_source: &str,
        ids: &[String],
        used: bool,
        now: Timestamp,
    ) -> Query<'static, D, D::Arguments> {
        let sql = format!(
            "UPDATE {} SET used = ?, used_status_last_updated = ? \
             WHERE dataSource = ? AND used = ? AND id IN ({})",
            self.segments,
            placeholders(ids.len())
        );
        let params = [
            Param::Flag(used),
            Param::Text(format_ts(now)),
            Param::from(data_source),
            Param::Flag(!used),
        ]
        .into_iter()
        .chain(ids.iter().map(|id| Param::from(id.as_str())));
        query::<D>(AssertSqlSafe(D::SYNTAX.number_placeholders(sql)), params)
            .persistent(ids.len() <= 1)
    }

    /// Deletes the rows with the given ids (at least one).
    pub(super) fn delete<D: Dialect>(&self, ids: &[String]) -> Query<'static, D, D::Arguments> {
        let sql = format!(
            "DELETE FROM {} WHERE id IN ({})",
            self.segments,
            placeholders(ids.len())
        );
        query::<D>(
            AssertSqlSafe(D::SYNTAX.number_placeholders(sql)),
            ids.iter().map(|id| Param::from(id.as_str())),
        )
        .persistent(ids.len() <= 1)
    }
}

fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_four_digit_years_compare_as_strings() {
        assert!(comparable(&"2024-01-01/2024-02-01".parse().unwrap()));
        assert!(comparable(&"0000-01-01/9999-12-30".parse().unwrap()));
        assert!(!comparable(&Interval::eternity()));
    }
}
