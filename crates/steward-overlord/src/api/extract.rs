//! Request parts as handlers take them, checked before a handler runs: ids from the path
//! against the id rules and (with security on) the caller's permission on the task or
//! datasource they name, as Druid's `TaskResourceFilter` does.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use steward_model::ids::validate_id;
use steward_model::TaskStatusPlus;
use steward_security::{Action, Identity, Resource};

use super::errors::{bad_param, invalid_input, ApiError};
use super::state::{caller, AppState};

/// The caller, as a handler argument.
pub(super) struct Caller(pub(super) Option<Identity>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(caller(parts).cloned()))
    }
}

/// The one path parameter of a route, checked against the id rules (as `what`) before it
/// reaches a file, a znode, a database or another URL; an invalid one is a 400 naming the rule.
pub(super) async fn checked_path_id<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    what: &str,
) -> Result<String, ApiError> {
    let Path(id) = Path::<String>::from_request_parts(parts, state)
        .await
        .map_err(|e| bad_param(e.body_text()))?;
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
        let id = checked_path_id(parts, state, "Task ID").await?;
        let found = state.authorize_task(parts, &id).await?;
        Ok(TaskId(id, found))
    }
}

/// A datasource name from the URL path (see [`checked_path_id`]) that the caller may write.
pub(super) struct DataSource(pub(super) String);

impl FromRequestParts<AppState> for DataSource {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ds = checked_path_id(parts, state, "dataSource").await?;
        let resource = Resource::datasource(ds.clone());
        match state.allows(caller(parts), &resource, Action::of_method(&parts.method)) {
            true => Ok(DataSource(ds)),
            false => Err(ApiError::Forbidden),
        }
    }
}
