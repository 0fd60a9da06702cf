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

/// Druid's `SegmentUpdateResponse`.
fn changed(n: u64) -> Json<Value> {
    Json(json!({ "numChangedSegments": n }))
}

/// `POST datasources/{ds}/markUnused` with a [`SegmentsToUpdateFilter`]: marks unused the used
/// segments lying within `interval` (of `versions`, if given), or those of `segmentIds`; ids
/// that are not of this datasource, or of no segment, are ignored, as in Druid.
pub(super) async fn mark_unused(
    State(s): State<AppState>,
    DataSource(ds): DataSource,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let filter = parse_filter(&body)?;
    let store = s.store();
    let selection = match (filter.interval, filter.versions) {
        (Some(interval), None) => SegmentSelection::Interval(interval),
        (Some(interval), Some(versions)) => SegmentSelection::Ids(
            store
                .used_segments(&ds, &[interval])
                .await?
                .into_iter()
                .filter(|seg| interval.contains(&seg.interval) && versions.contains(&seg.version))
                .map(|seg| seg.id().to_string())
                .collect(),
        ),
        (None, _) => SegmentSelection::Ids(
            filter
                .segment_ids
                .unwrap_or_default()
                .iter()
                .filter_map(|id| SegmentId::try_parse(&ds, id))
                .map(|id| id.to_string())
                .collect(),
        ),
    };
    Ok(changed(
        store
            .mark_segments(&ds, &selection, false, Timestamp::now())
            .await?,
    ))
}

/// `POST datasources/{ds}/markUsed` with a [`SegmentsToUpdateFilter`]: marks used the unused
/// segments lying within `interval` (of `versions`, if given), or those of `segmentIds`, that
/// no used segment overshadows. An id that does not parse as one of this datasource, or names
/// no segment, is a 400 and nothing is marked, as in Druid.
pub(super) async fn mark_used(
    State(s): State<AppState>,
    DataSource(ds): DataSource,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let filter = parse_filter(&body)?;
    let store = s.store();
    let selection = match (filter.interval, filter.versions) {
        (Some(interval), None) => SegmentSelection::Interval(interval),
        // The store's interval selection takes no versions: the matching unused segments are
        // read first and marked by id (one deleted meanwhile by a kill task makes it a 400).
        (Some(interval), Some(versions)) => {
            let query = UnusedSegmentsQuery {
                data_source: ds.clone(),
                interval: Some(interval),
                versions: Some(versions),
                ..UnusedSegmentsQuery::default()
            };
            SegmentSelection::Ids(
                store
                    .unused_segments(&query)
                    .await?
                    .iter()
                    .map(|seg| seg.id().to_string())
                    .collect(),
            )
        }
        (None, _) => {
            let (mut ids, mut unparsed) = (Vec::new(), Vec::new());
            for raw in filter.segment_ids.iter().flatten() {
                match SegmentId::try_parse(&ds, raw) {
                    Some(id) => ids.push(id.to_string()),
                    None => unparsed.push(raw.as_str()),
                }
            }
            if !unparsed.is_empty() {
                return Err(invalid_input(format!(
                    "Could not parse segment IDs[{}] for datasource[{ds}]",
                    unparsed.join(", ")
                )));
            }
            SegmentSelection::Ids(ids)
        }
    };
    Ok(changed(
        store
            .mark_segments(&ds, &selection, true, Timestamp::now())
            .await?,
    ))
}

/// `POST datasources/{ds}`: marks used every unused segment of the datasource that no used
/// segment overshadows.
pub(super) async fn mark_all_used(
    State(s): State<AppState>,
    DataSource(ds): DataSource,
) -> ApiResult<Json<Value>> {
    let marked = s
        .store()
        .mark_segments(&ds, &SegmentSelection::All, true, Timestamp::now())
        .await?;
    Ok(changed(marked))
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
    let marked = s
        .store()
        .mark_segments(&ds, &SegmentSelection::All, false, Timestamp::now())
        .await?;
    Ok(changed(marked))
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
        Some((_, false)) => {
            let selection = SegmentSelection::Ids(vec![id]);
            let marked = s
                .store()
                .mark_segments(&ds, &selection, true, Timestamp::now())
                .await?;
            Ok(changed(marked))
        }
        Some((_, true)) | None => Ok(changed(0)),
    }
}

/// `DELETE datasources/{ds}/segments/{segmentId}`: marks one segment unused; 0 when it is
/// unknown or unused already.
pub(super) async fn mark_segment_unused(
    State(s): State<AppState>,
    DataSourceSegment(ds, id): DataSourceSegment,
) -> ApiResult<Json<Value>> {
    let selection = SegmentSelection::Ids(vec![id.to_string()]);
    let marked = s
        .store()
        .mark_segments(&ds, &selection, false, Timestamp::now())
        .await?;
    Ok(changed(marked))
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
