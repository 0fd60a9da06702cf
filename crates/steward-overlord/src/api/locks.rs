//! What the lockbox holds, for operators and tools (Druid's Coordinator asks before compacting):
//! `POST /druid/indexer/v1/lockedIntervals/v2` and `POST /druid/indexer/v1/activeLocks`, both
//! with a list of Druid's `LockFilterPolicy` (`{"datasource", "priority", "intervals",
//! "context"}`), answered from the leader's memory.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::errors::{bad_param, invalid_input, ApiResult};
use super::state::AppState;
use crate::lockbox::LockFilter;

fn filters(body: &[u8]) -> ApiResult<Vec<LockFilter>> {
    let filters: Option<Vec<LockFilter>> = serde_json::from_slice(body)
        .map_err(|e| invalid_input(format!("Invalid lock filter policies: {e}")))?;
    match filters {
        Some(f) if !f.is_empty() => Ok(f),
        _ => Err(bad_param("No filter provided")),
    }
}

pub(super) async fn locked_intervals(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let filters = filters(&body)?;
    let overlord = s.overlord()?;
    let locked = overlord
        .query(move |core| core.lockbox.locked_intervals(&filters))
        .await
        .ok_or_else(super::errors::not_leading)?;
    Ok(Json(json!(locked)))
}

pub(super) async fn active_locks(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let filters = filters(&body)?;
    let overlord = s.overlord()?;
    let locks = overlord
        .query(move |core| core.lockbox.active_locks(&filters))
        .await
        .ok_or_else(super::errors::not_leading)?;
    Ok(Json(json!({ "datasourceToLocks": locks })))
}
