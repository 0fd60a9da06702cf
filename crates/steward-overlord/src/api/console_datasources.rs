//! `GET /druid/indexer/v1/steward/datasources`: the web console's datasource table, one entry
//! per datasource with segments (used or not) that the caller may read, by name, from one
//! aggregate query over the segment table.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use steward_metadata::DataSourceStats;
use steward_model::time::format_ts;

use super::errors::ApiResult;
use super::extract::Caller;
use super::state::AppState;

/// A datasource as the console shows it; sizes, rows and times are of its used segments.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DataSourceEntry {
    name: String,
    used_segments: u64,
    unused_segments: u64,
    size: u64,
    /// `null` when no used segment's row count is stored.
    rows: Option<u64>,
    min_time: Option<String>,
    max_time: Option<String>,
    intervals: u64,
}

impl From<DataSourceStats> for DataSourceEntry {
    fn from(stats: DataSourceStats) -> Self {
        DataSourceEntry {
            name: stats.name,
            used_segments: stats.used_segments,
            unused_segments: stats.unused_segments,
            size: stats.size,
            rows: stats.rows,
            min_time: stats.min_start.map(format_ts),
            max_time: stats.max_end.map(format_ts),
            intervals: stats.intervals,
        }
    }
}

pub(super) async fn data_source_table(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Json<Vec<DataSourceEntry>>> {
    let mut stats = s.store().data_source_stats().await?;
    s.retain_readable(who.as_ref(), &mut stats, |d| &d.name);
    Ok(Json(stats.into_iter().map(DataSourceEntry::from).collect()))
}
