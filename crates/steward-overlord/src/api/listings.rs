//! `tasks` and its per-state shortcuts: active tasks from memory, finished ones from the
//! store with bounded queries, filtered to what the caller may read.

use std::collections::{HashMap, HashSet};

use axum::extract::{Query, State};
use axum::Json;
use jiff::Timestamp;
use steward_metadata::TaskQuery;
use steward_model::time::parse_instant;
use steward_model::{RunnerTaskState, TaskState, TaskStatusPlus};
use steward_security::Identity;

use super::errors::{bad_param, ApiError, ApiResult};
use super::extract::Caller;
use super::state::status_plus_from_info;
use super::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StateFilter {
    Waiting,
    Pending,
    Running,
    Complete,
}

pub(super) struct ListParams {
    state: Option<StateFilter>,
    data_source: Option<String>,
    task_type: Option<String>,
    interval: Option<(Timestamp, Timestamp)>,
    max: Option<usize>,
}

pub(super) fn parse_list_params(
    params: &HashMap<String, String>,
    forced_state: Option<&str>,
) -> ApiResult<ListParams> {
    let state = match forced_state.or(params.get("state").map(String::as_str)) {
        None => None,
        Some(v) => Some(match v.to_ascii_lowercase().as_str() {
            "waiting" => StateFilter::Waiting,
            "pending" => StateFilter::Pending,
            "running" => StateFilter::Running,
            "complete" => StateFilter::Complete,
            _ => {
                return Err(bad_param(format!(
                    "Invalid state : {v}, valid values are: [pending, waiting, running, complete]"
                )))
            }
        }),
    };
    let interval = params
        .get("createdTimeInterval")
        .map(|v| created_time_interval(v))
        .transpose()
        .map_err(bad_param)?;
    let max_key = if forced_state == Some("complete") {
        "n"
    } else {
        "max"
    };
    let max = match params.get(max_key) {
        None => None,
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            bad_param(format!(
                "Invalid {max_key} [{v}]: must be a non-negative integer"
            ))
        })?),
    };
    Ok(ListParams {
        state,
        data_source: params.get("datasource").cloned(),
        task_type: params.get("type").cloned(),
        interval,
        max,
    })
}

/// A `createdTimeInterval` (`<start>_<end>` or `<start>/<end>`) as its bounds, or the message
/// of a 400 naming the parameter.
pub(super) fn created_time_interval(v: &str) -> Result<(Timestamp, Timestamp), String> {
    let invalid = |why: &dyn std::fmt::Display| format!("Invalid createdTimeInterval [{v}]: {why}");
    let (a, b) = v
        .split_once('_')
        .or_else(|| v.split_once('/'))
        .ok_or_else(|| invalid(&"expected <start>_<end>"))?;
    let start = parse_instant(a).map_err(|e| invalid(&e))?;
    let end = parse_instant(b).map_err(|e| invalid(&e))?;
    if end < start {
        return Err(invalid(&"the end is before the start"));
    }
    Ok((start, end))
}

pub(super) async fn list_state(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(params): Query<HashMap<String, String>>,
    state: &'static str,
) -> ApiResult<Json<Vec<TaskStatusPlus>>> {
    let p = parse_list_params(&params, Some(state))?;
    list(&s, who.as_ref(), p).await.map(Json)
}

pub(super) async fn list_tasks(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<TaskStatusPlus>>> {
    let p = parse_list_params(&params, None)?;
    list(&s, who.as_ref(), p).await.map(Json)
}

/// Tasks matching the filters, of datasources the caller may read: as in Druid, a listing for
/// one datasource the caller may not read is refused, any other listing leaves out what the
/// caller may not see.
pub(super) async fn list(
    s: &AppState,
    who: Option<&Identity>,
    p: ListParams,
) -> ApiResult<Vec<TaskStatusPlus>> {
    if let Some(ds) = &p.data_source {
        if !s.may_read(who, ds) {
            return Err(ApiError::Forbidden);
        }
    }
    let mut out = list_unfiltered(s, p).await?;
    s.retain_readable(who, &mut out, |t| &t.data_source);
    Ok(out)
}

pub(super) async fn list_unfiltered(s: &AppState, p: ListParams) -> ApiResult<Vec<TaskStatusPlus>> {
    let keep = |t: &TaskStatusPlus| {
        p.data_source.as_deref().is_none_or(|d| t.data_source == d)
            && p.task_type.as_deref().is_none_or(|ty| t.task_type == ty)
            && p.interval.is_none_or(|(a, b)| {
                let c = parse_instant(&t.created_time).unwrap_or(Timestamp::UNIX_EPOCH);
                a <= c && c < b
            })
    };
    let active = s
        .overlord()?
        .query(|c| c.active_statuses())
        .await
        .unwrap_or_default();
    let (ending, active): (Vec<_>, Vec<_>) = active
        .into_iter()
        .filter(|t| keep(t))
        .partition(|t| t.status_code != TaskState::Running);
    let mut out: Vec<TaskStatusPlus> = match p.state {
        None => active,
        Some(StateFilter::Complete) => Vec::new(),
        Some(StateFilter::Waiting) => filter_runner(active, RunnerTaskState::Waiting),
        Some(StateFilter::Pending) => filter_runner(active, RunnerTaskState::Pending),
        Some(StateFilter::Running) => filter_runner(active, RunnerTaskState::Running),
    };
    if matches!(p.state, None | Some(StateFilter::Complete)) {
        let created_after = match p.interval {
            Some((a, _)) => Some(a),
            None => Some(
                Timestamp::now()
                    .saturating_sub(s.config.recently_finished_threshold)
                    .unwrap_or(Timestamp::UNIX_EPOCH),
            ),
        };
        let query = TaskQuery {
            active: Some(false),
            data_source: p.data_source.clone(),
            task_type: p.task_type.clone(),
            created_after,
            created_before: p.interval.map(|(_, b)| b),
            max_complete: p.max,
        };
        let stored = s.overlord()?.store().list(&query).await?;
        let seen: HashSet<String> = stored.iter().map(|i| i.id.clone()).collect();
        // Ends recorded in memory but not yet in the store are listed as complete too.
        let mut complete: Vec<TaskStatusPlus> = ending
            .into_iter()
            .filter(|t| !seen.contains(&t.id))
            .collect();
        complete.extend(stored.into_iter().map(status_plus_from_info));
        complete.sort_by(|a, b| b.created_time.cmp(&a.created_time));
        if let Some(max) = p.max {
            complete.truncate(max);
        }
        out.retain(|t| !seen.contains(&t.id));
        out.extend(complete);
    }
    Ok(out)
}

pub(super) fn filter_runner(v: Vec<TaskStatusPlus>, state: RunnerTaskState) -> Vec<TaskStatusPlus> {
    v.into_iter()
        .filter(|t| t.runner_status_code == state)
        .collect()
}
