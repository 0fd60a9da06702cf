//! The cluster as the runner sees it: workers, their enabling and disabling (relayed to the
//! MiddleManager), and the total capacity.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use steward_model::time::format_ts;

use super::errors::{ApiError, ApiResult};
use super::state::AppState;

/// Druid's `worker/{host}/enable|disable`: relayed to the MiddleManager's own API, which
/// re-announces itself; the answer is the MiddleManager's.
pub(super) async fn toggle_worker(
    State(s): State<AppState>,
    Path(host): Path<String>,
    action: &'static str,
) -> ApiResult<Json<Value>> {
    let key = host.clone();
    let worker = s
        .overlord()?
        .query(move |c| {
            c.workers()
                .into_iter()
                .map(|w| w.worker)
                .find(|w| w.host == key)
        })
        .await
        .flatten()
        .ok_or_else(|| {
            ApiError::Simple(
                StatusCode::NOT_FOUND,
                format!("Worker [{host}] is not announced"),
            )
        })?;
    let url = format!("{}/druid/worker/v1/{action}", worker.url());
    let failed = |e: String| {
        ApiError::Simple(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Worker [{host}] did not {action}: {e}"),
        )
    };
    let resp = s
        .overlord()?
        .http()
        .post(&url)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(failed(format!("HTTP {}", resp.status())));
    }
    resp.json::<Value>()
        .await
        .map(Json)
        .map_err(|e| failed(e.to_string()))
}

pub(super) async fn workers(State(s): State<AppState>) -> ApiResult<Json<Vec<Value>>> {
    let views = s
        .overlord()?
        .query(|c| c.workers())
        .await
        .unwrap_or_default();
    let out = views
        .into_iter()
        .map(|w| {
            let mut v = json!({
                "worker": w.worker,
                "currCapacityUsed": w.curr_capacity_used,
                "currParallelIndexCapacityUsed": w.curr_parallel_index_capacity_used,
                "availabilityGroups": w.availability_groups,
                "runningTasks": w.running_tasks,
                "lastCompletedTaskTime": format_ts(w.last_completed_task_time),
            });
            if !w.curr_capacity_used_by_task_type.is_empty() {
                v["currCapacityUsedByTaskType"] = json!(w
                    .curr_capacity_used_by_task_type
                    .into_iter()
                    .collect::<BTreeMap<_, _>>());
            }
            if let Some(t) = w.blacklisted_until {
                v["blacklistedUntil"] = json!(format_ts(t));
            }
            v
        })
        .collect();
    Ok(Json(out))
}

pub(super) async fn total_worker_capacity(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let (total, used) = s
        .overlord()?
        .query(|c| c.runner().capacity())
        .await
        .unwrap_or((0, 0));
    Ok(Json(json!({
        "currentClusterCapacity": total,
        "maximumCapacityWithAutoScale": total,
        "usedClusterCapacity": used,
    })))
}
