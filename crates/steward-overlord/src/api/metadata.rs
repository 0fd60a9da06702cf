//! Druid's Coordinator metadata API (`/druid/coordinator/v1/metadata/...`, Druid's
//! `MetadataResource`): datasources and their published segments, as the segments table
//! holds them.
//!
//! Steward has no Coordinator: every Overlord, leading or not, answers these reads straight
//! from the metadata store (Druid's Coordinator answers them from a snapshot it polls from the
//! same table). A datasource "exists" while it has used segments. Listings leave out the
//! datasources the caller may not read; a request naming one datasource needs READ on it, or
//! WRITE for a POST, as Druid's `DatasourceResourceFilter` decides by method.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{json, Value};
use steward_metadata::UnusedSegmentsQuery;
use steward_model::time::format_ts;
use steward_model::{DataSegment, Interval};

use super::errors::{bad_param, ApiError, ApiResult};
use super::extract::{interval_param, Caller, DataSource, DataSourceSegment};
use super::state::AppState;

/// Druid's `ImmutableDruidDataSource` as the metadata API writes it.
#[derive(Serialize)]
struct DruidDataSource {
    name: String,
    /// Druid's snapshot records when it was taken (`created`); Steward reads the store per
    /// request, so it is the time of the answer.
    properties: HashMap<&'static str, String>,
    segments: Vec<DataSegment>,
}

impl DruidDataSource {
    fn new(name: String, segments: Vec<DataSegment>, now: Timestamp) -> DruidDataSource {
        DruidDataSource {
            name,
            properties: HashMap::from([("created", format_ts(now))]),
            segments,
        }
    }
}

/// Druid's `DataSegmentPlus`: a segment with what its row records besides the payload.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DataSegmentPlus {
    data_segment: DataSegment,
    /// The row's creation and last change of `used`: the store does not return them with
    /// segments, so they are null (as Druid writes them for rows it knows nothing about).
    created_date: Option<String>,
    used_status_last_updated_date: Option<String>,
    used: bool,
    schema_fingerprint: Option<String>,
    num_rows: Option<u64>,
    upgraded_from_segment_id: Option<String>,
}

/// Whether a flag parameter is present, with or without a value (`?full`, `?full=true`), as
/// Druid tests its `@QueryParam String` flags against null.
fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params.contains_key(name)
}

/// Segments as Druid lists them: their ids, or (`full`) the segments themselves.
fn ids_or_full(segments: Vec<DataSegment>, full: bool) -> Value {
    if full {
        json!(segments)
    } else {
        json!(segments
            .iter()
            .map(|s| s.id().to_string())
            .collect::<Vec<_>>())
    }
}

fn no_used_segments(ds: &str) -> ApiError {
    ApiError::Simple(
        StatusCode::NOT_FOUND,
        format!("Datasource [{ds}] has no used segments"),
    )
}

/// `GET metadata/datasources`: the names of the datasources with used segments the caller may
/// read, sorted; `includeUnused` (Druid's older `includeDisabled`) adds those with unused
/// segments only, and wins over `full`, which answers each datasource with its used segments.
pub(super) async fn list_data_sources(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let include_unused = flag(&params, "includeUnused") || flag(&params, "includeDisabled");
    let names: Vec<String> = s
        .store()
        .data_sources(include_unused)
        .await?
        .into_iter()
        .map(|summary| summary.name)
        .filter(|name| s.may_read(who.as_ref(), name))
        .collect();
    if include_unused || !flag(&params, "full") {
        return Ok(Json(json!(names)));
    }
    // No names would read every datasource.
    if names.is_empty() {
        return Ok(Json(json!([])));
    }
    let now = Timestamp::now();
    let mut by_name: Vec<DruidDataSource> = Vec::with_capacity(names.len());
    // In (datasource, ...) order, so each datasource's segments come together.
    for segment in s.store().used_segments_of(&names).await? {
        match by_name.last_mut() {
            Some(last) if last.name == segment.data_source => last.segments.push(segment),
            _ => by_name.push(DruidDataSource::new(
                segment.data_source.clone(),
                vec![segment],
                now,
            )),
        }
    }
    Ok(Json(json!(by_name)))
}

/// `GET metadata/datasources/{ds}`: the datasource with its used segments; 404 without any.
pub(super) async fn get_data_source(
    State(s): State<AppState>,
    DataSource(ds): DataSource,
) -> ApiResult<Json<Value>> {
    let segments = s.store().used_segments(&ds, &[]).await?;
    if segments.is_empty() {
        return Err(no_used_segments(&ds));
    }
    Ok(Json(json!(DruidDataSource::new(
        ds,
        segments,
        Timestamp::now()
    ))))
}

/// `GET metadata/datasources/{ds}/segments[?full]`: the ids (or segments) of its used
/// segments; 404 without any.
pub(super) async fn get_used_segments(
    State(s): State<AppState>,
    DataSource(ds): DataSource,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let segments = s.store().used_segments(&ds, &[]).await?;
    if segments.is_empty() {
        return Err(no_used_segments(&ds));
    }
    Ok(Json(ids_or_full(segments, flag(&params, "full"))))
}

/// `POST metadata/datasources/{ds}/segments[?full]` with a JSON list of intervals: its used
/// segments overlapping any of them, overshadowed ones included (none is an empty list).
pub(super) async fn post_used_segments(
    State(s): State<AppState>,
    DataSource(ds): DataSource,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let intervals: Vec<Interval> = serde_json::from_slice(&body)
        .map_err(|e| bad_param(format!("Body must be a JSON list of intervals: {e}")))?;
    if intervals.is_empty() {
        return Err(bad_param("null/empty intervals"));
    }
    let segments = s.store().used_segments(&ds, &intervals).await?;
    Ok(Json(ids_or_full(segments, flag(&params, "full"))))
}

/// `GET metadata/datasources/{ds}/segments/{segmentId}[?includeUnused=true]`: a used segment,
/// or with `includeUnused` any; 404 otherwise.
pub(super) async fn get_segment(
    State(s): State<AppState>,
    DataSourceSegment(ds, id): DataSourceSegment,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<DataSegment>> {
    // Druid reads its `Boolean` parameter: "true" in any case is true, anything else false.
    let include_unused = params
        .get("includeUnused")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    match s.store().segment(&ds, &id.to_string()).await? {
        Some((segment, used)) if used || include_unused => Ok(Json(segment)),
        _ => Err(ApiError::Simple(
            StatusCode::NOT_FOUND,
            format!("Segment [{id}] of datasource [{ds}] is not found"),
        )),
    }
}

/// `GET metadata/datasources/{ds}/unusedSegments[?interval=&limit=]`: unused segments lying
/// within the interval, at most `limit`, in (start, end, version) order, as Druid's
/// `DataSegmentPlus`. Druid's keyset paging (`lastSegmentId`, `sortOrder`, ordered by id) is
/// refused by name rather than ignored: a client paging with it would loop or miss segments.
pub(super) async fn get_unused_segments(
    State(s): State<AppState>,
    DataSource(ds): DataSource,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<DataSegmentPlus>>> {
    for unsupported in ["lastSegmentId", "sortOrder"] {
        if params.contains_key(unsupported) {
            return Err(bad_param(format!(
                "Parameter [{unsupported}] is not supported by Steward; page with [interval] and [limit] instead"
            )));
        }
    }
    let limit = match params.get("limit") {
        None => None,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(bad_param(format!(
                    "Invalid limit[{v}] specified. Limit must be > 0."
                )))
            }
        },
    };
    let interval = params
        .get("interval")
        .map(|v| interval_param("interval", v))
        .transpose()?;
    let query = UnusedSegmentsQuery {
        data_source: ds,
        interval,
        limit,
        ..UnusedSegmentsQuery::default()
    };
    let segments = s.store().unused_segments(&query).await?;
    Ok(Json(
        segments
            .into_iter()
            .map(|data_segment| DataSegmentPlus {
                data_segment,
                created_date: None,
                used_status_last_updated_date: None,
                used: false,
                schema_fingerprint: None,
                num_rows: None,
                upgraded_from_segment_id: None,
            })
            .collect(),
    ))
}

/// `GET metadata/segments[?datasources=a&datasources=b]`: the used segments of the named
/// datasources (all when none is named) that the caller may read. Druid's Broker variant
/// (`includeOvershadowedStatus`, `includeRealtimeSegments`: load and replication state of
/// Historicals, which Steward does not have) is refused by name.
pub(super) async fn list_segments(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Vec<DataSegment>>> {
    let mut names = Vec::new();
    for (name, value) in params {
        match name.as_str() {
            "datasources" => names.push(value),
            "includeOvershadowedStatus" | "includeRealtimeSegments" => {
                return Err(bad_param(format!(
                    "Parameter [{name}] is not supported by Steward: it has no Historicals to report on"
                )))
            }
            _ => {}
        }
    }
    let mut segments = s.store().used_segments_of(&names).await?;
    s.retain_readable(who.as_ref(), &mut segments, |segment| &segment.data_source);
    Ok(Json(segments))
}
