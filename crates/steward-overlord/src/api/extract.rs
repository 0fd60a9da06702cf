//! Request parts as handlers take them, checked before a handler runs: ids from the path
//! against the id rules and (with security on) the caller's permission on the task or
//! datasource they name, as Druid's `TaskResourceFilter` and `DatasourceResourceFilter` do.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;
use steward_model::ids::{validate_id, validate_segment_id};
use steward_model::{Interval, SegmentId, TaskStatusPlus};
use steward_security::{Action, Identity, Resource};

use super::errors::{bad_param, invalid_input, ApiError, ApiResult};
use super::state::{caller, AppState};

/// The caller, as a handler argument.
pub(super) struct Caller(pub(super) Option<Identity>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(caller(parts).cloned()))
    }
}

/// The path parameter `name` of a route, as sent (percent-decoded).
async fn path_param<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    name: &str,
) -> Result<String, ApiError> {
    let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|e| bad_param(e.body_text()))?;
    params.remove(name).ok_or_else(|| {
        ApiError::Simple(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the route has no path parameter [{name}]"),
        )
    })
}

/// The path parameter `name`, checked against the id rules (as `what`) before it reaches a
/// file, a znode, a database or another URL; an invalid one is a 400 naming the rule.
pub(super) async fn checked_path_id<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    name: &str,
    what: &str,
) -> Result<String, ApiError> {
    let id = path_param(parts, state, name).await?;
    validate_id(what, &id).map_err(invalid_input)?;
    Ok(id)
}

/// A task id from the URL path (see [`checked_path_id`]) that the caller may read (GET) or act
/// on (POST), per [`AppState::authorize_task`], with the task's status when that check looked
/// it up (security on).
pub(super) struct TaskId(pub(super) String, pub(super) Option<TaskStatusPlus>);

impl FromRequestParts<AppState> for TaskId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let id = checked_path_id(parts, state, "id", "Task ID").await?;
        let found = state.authorize_task(parts, &id).await?;
        Ok(TaskId(id, found))
    }
}

/// The datasource name of the URL path (`{ds}`, see [`checked_path_id`]) that the caller may
/// read (GET) or write (any other method), Druid's `DatasourceResourceFilter`.
pub(super) struct DataSource(pub(super) String);

impl FromRequestParts<AppState> for DataSource {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ds = checked_path_id(parts, state, "ds", "dataSource").await?;
        let resource = Resource::datasource(ds.clone());
        match state.allows(caller(parts), &resource, Action::of_method(&parts.method)) {
            true => Ok(DataSource(ds)),
            false => Err(ApiError::Forbidden),
        }
    }
}

/// A segment of the URL path (`{ds}/segments/{segmentId}`): the datasource as [`DataSource`]
/// checks it (403 first, as Druid's filter runs before the resource), then the segment id,
/// checked against the id rules and parsed as one of that datasource (400 otherwise, with
/// Druid's message).
pub(super) struct DataSourceSegment(pub(super) String, pub(super) SegmentId);

impl FromRequestParts<AppState> for DataSourceSegment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let DataSource(ds) = DataSource::from_request_parts(parts, state).await?;
        let raw = path_param(parts, state, "segmentId").await?;
        validate_segment_id(&raw).map_err(invalid_input)?;
        match SegmentId::try_parse(&ds, &raw) {
            Some(id) => Ok(DataSourceSegment(ds, id)),
            None => Err(bad_param(format!(
                "Could not parse Segment ID[{raw}] for DataSource[{ds}]"
            ))),
        }
    }
}

/// An interval query parameter, written with `/` or, as Druid also takes it in URLs, `_`; a bad
/// one is a 400 naming the parameter.
pub(super) fn interval_param(name: &str, value: &str) -> ApiResult<Interval> {
    value
        .replace('_', "/")
        .parse()
        .map_err(|e| bad_param(format!("Invalid {name} [{value}]: {e}")))
}
