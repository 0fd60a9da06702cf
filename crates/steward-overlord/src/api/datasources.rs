//! Changes to a datasource's segments: marking them used or unused (Druid's
//! `OverlordDataSourcesResource`, also served under the Coordinator's deprecated
//! `DataSourcesResource` paths) and deleting its pending segments (`OverlordResource`'s
//! `pendingSegments`).
//!
//! Each change is one transaction of the metadata store, so it needs no leader to be safe: the
//! Coordinator's paths are answered by any Overlord, as Druid's Coordinator answers them by
//! calling the leading Overlord; the Overlord's own paths go through the standby's redirect and
//! need a running term (see `require_term`), as in Druid. Marking used follows Druid's rule: a
//! segment that used segments of higher versions overshadow stays unused.

use std::collections::{BTreeSet, HashMap};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::Json;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};
use steward_metadata::{SegmentSelection, TaskQuery, UnusedSegmentsQuery};
use steward_model::ids::validate_segment_id;
use steward_model::time::format_ts;
use steward_model::{Interval, SegmentId};

use super::errors::{bad_param, invalid_input, ApiError, ApiResult};
use super::extract::{interval_param, Caller, DataSource, DataSourceSegment};
use super::state::AppState;

/// Druid's `SegmentsToUpdateFilter`: which segments of the datasource to mark.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SegmentsToUpdateFilter {
    interval: Option<Interval>,
    /// A set in Druid: each id once.
    segment_ids: Option<BTreeSet<String>>,
    versions: Option<Vec<String>>,
}

/// Druid's `SegmentsToUpdateFilter.INVALID_PAYLOAD_ERROR_MESSAGE`.
const INVALID_PAYLOAD: &str = "Invalid request payload. Specify either 'interval' or 'segmentIds', but not both. Optionally, include 'versions' only when 'interval' is provided.";

/// The filter in a request body: exactly one of `interval` and a non-empty `segmentIds`, and
/// `versions` only with `interval` (Druid's `isValid`); a missing body is no filter.
fn parse_filter(body: &[u8]) -> ApiResult<SegmentsToUpdateFilter> {
    let filter: Option<SegmentsToUpdateFilter> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice(body)
            .map_err(|e| bad_param(format!("Malformed segments filter: {e}")))?
    };
    let filter = filter.unwrap_or_default();
    let has_ids = filter
        .segment_ids
        .as_ref()
        .is_some_and(|ids| !ids.is_empty());
    let has_versions = filter.versions.as_ref().is_some_and(|v| !v.is_empty());
    let valid = match filter.interval {
        None => has_ids && !has_versions,
        Some(_) => !has_ids,
    };
    if !valid {
        return Err(bad_param(INVALID_PAYLOAD));
    }
    // Checked before anything is marked: a hostile id changes nothing.
    for id in filter.segment_ids.iter().flatten() {
        validate_segment_id(id).map_err(invalid_input)?;
    }
    Ok(filter)
}

/// Marks the selected segments of `ds` used or unused, answering Druid's
/// `SegmentUpdateResponse`.
async fn mark(
    s: &AppState,
    ds: &str,
    selection: &SegmentSelection,
    used: bool,
) -> ApiResult<Json<Value>> {
    let changed = s
        .store()
        .mark_segments(ds, selection, used, Timestamp::now())
        .await?;
    Ok(Json(json!({ "numChangedSegments": changed })))
}

/// `POST datasources/{ds}/markUnused` and `markUsed` (`used`) with a
/// [`SegmentsToUpdateFilter`]: marks the segments lying within `interval` (of `versions`, if
/// given), or those of `segmentIds`; marking used leaves out those that used segments
/// overshadow.
pub(super) async fn mark_filtered(
    State(s): State<AppState>,
    DataSource(ds): DataSource,
    body: Bytes,
    used: bool,
) -> ApiResult<Json<Value>> {
    let filter = parse_filter(&body)?;
    let selection = match (filter.interval, filter.versions) {
        (Some(interval), None) => SegmentSelection::Interval(interval),
        (Some(interval), Some(versions)) => {
            SegmentSelection::Ids(of_versions(&s, &ds, interval, versions, used).await?)
        }
        (None, _) => SegmentSelection::Ids(parsed_ids(
            &ds,
            &filter.segment_ids.unwrap_or_default(),
            used,
        )?),
    };
    mark(&s, &ds, &selection, used).await
}

/// The ids of the segments within `interval` of one of `versions` that are not yet `used`
/// (or used): the store's interval selection takes no versions, so they are read first and
/// marked by id (a segment deleted meanwhile by a kill task makes marking used a 400).
async fn of_versions(
    s: &AppState,
    ds: &str,
    interval: Interval,
    versions: Vec<String>,
    used: bool,
) -> ApiResult<Vec<String>> {
    let segments = if used {
        let query = UnusedSegmentsQuery {
            data_source: ds.to_string(),
            interval: Some(interval),
            versions: Some(versions),
            ..UnusedSegmentsQuery::default()
        };
        s.store().unused_segments(&query).await?
    } else {
        let mut segments = s.store().used_segments(ds, &[interval]).await?;
        segments.retain(|seg| interval.contains(&seg.interval) && versions.contains(&seg.version));
        segments
    };
    Ok(segments.iter().map(|seg| seg.id().to_string()).collect())
}

/// The segment ids of a filter as ids of `ds`. As in Druid, ids that do not parse as one of
/// `ds` are ignored when marking unused and refused (400, nothing marked) when marking `used`.
fn parsed_ids(ds: &str, raw: &BTreeSet<String>, used: bool) -> ApiResult<Vec<String>> {
    let (mut ids, mut unparsed) = (Vec::new(), Vec::new());
    for id in raw {
        match SegmentId::try_parse(ds, id) {
            Some(id) => ids.push(id.to_string()),
            None => unparsed.push(id.as_str()),
        }
    }
    if used && !unparsed.is_empty() {
        return Err(invalid_input(format!(
            "Could not parse segment IDs[{}] for datasource[{ds}]",
            unparsed.join(", ")
        )));
    }
    Ok(ids)
}

/// `POST datasources/{ds}`: marks used every unused segment of the datasource that no used
/// segment overshadows.
pub(super) async fn mark_all_used(
    State(s): State<AppState>,
    DataSource(ds): DataSource,
) -> ApiResult<Json<Value>> {
    mark(&s, &ds, &SegmentSelection::All, true).await
}

/// `DELETE datasources/{ds}`: marks every segment of the datasource unused. Druid's
/// Coordinator runs a kill task instead when asked `?kill=true`; that is refused here, so
/// that a caller meaning to delete data is not answered by a mere marking.
pub(super) async fn mark_all_unused(
    State(s): State<AppState>,
    DataSource(ds): DataSource,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    if params
        .get("kill")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Err(bad_param(
            "Parameter [kill] is not supported by Steward: submit a kill task ({\"type\":\"kill\",\"dataSource\":...,\"interval\":...}) to POST /druid/indexer/v1/task, or run `steward kill`",
        ));
    }
    mark(&s, &ds, &SegmentSelection::All, false).await
}

/// `POST datasources/{ds}/segments/{segmentId}`: marks one segment used; 0 when it is unknown,
/// used already, or overshadowed (Druid marks an overshadowed one used, which its Coordinator
/// then marks unused again).
pub(super) async fn mark_segment_used(
    State(s): State<AppState>,
    DataSourceSegment(ds, id): DataSourceSegment,
) -> ApiResult<Json<Value>> {
    let id = id.to_string();
    // The store refuses unknown ids when marking used; Druid answers 0 for one.
    match s.store().segment(&ds, &id).await? {
        Some((_, false)) => mark(&s, &ds, &SegmentSelection::Ids(vec![id]), true).await,
        Some((_, true)) | None => Ok(Json(json!({ "numChangedSegments": 0 }))),
    }
}

/// `DELETE datasources/{ds}/segments/{segmentId}`: marks one segment unused; 0 when it is
/// unknown or unused already.
pub(super) async fn mark_segment_unused(
    State(s): State<AppState>,
    DataSourceSegment(ds, id): DataSourceSegment,
) -> ApiResult<Json<Value>> {
    mark(&s, &ds, &SegmentSelection::Ids(vec![id.to_string()]), false).await
}

/// `DELETE pendingSegments/{ds}[?interval=]`: deletes the pending segments of the datasource
/// created within the interval (all of them without one), answering `{"numDeleted": n}`.
/// Needs READ and WRITE on the datasource, as in Druid. Refused while an active task of the
/// datasource was created at or before the interval's end: its allocations would vanish under
/// it.
pub(super) async fn delete_pending_segments(
    State(s): State<AppState>,
    Caller(who): Caller,
    DataSource(ds): DataSource,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    if !s.may_read(who.as_ref(), &ds) {
        return Err(ApiError::Forbidden);
    }
    let created = params
        .get("interval")
        .map(|v| interval_param("interval", v))
        .transpose()?;
    let deleting = created.unwrap_or_else(Interval::eternity);
    let active = TaskQuery {
        active: Some(true),
        data_source: Some(ds.clone()),
        ..TaskQuery::default()
    };
    // Active rows come oldest first.
    if let Some(earliest) = s.store().list(&active).await?.first() {
        let since = Interval::new(earliest.created_time, Timestamp::MAX);
        if deleting.overlaps(&since) {
            return Err(invalid_input(format!(
                "Cannot delete pendingSegments for datasource[{ds}] as there is at least one active task[{}] created at[{}] that overlaps with the delete interval[{deleting}]. Please retry when there are no active tasks.",
                earliest.id,
                format_ts(earliest.created_time),
            )));
        }
    }
    let deleted = s.store().delete_pending_segments(&ds, created).await?;
    Ok(Json(json!({ "numDeleted": deleted })))
}
