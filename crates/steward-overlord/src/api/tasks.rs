//! One task at a time: submission, payload, status, log, reports, segments, shutdown, and the
//! `taskStatus` batch.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use steward_http::path_segment;
use steward_ingest::compaction;
use steward_ingest::input::InputSourceSpec;
use steward_ingest::spec::IngestionSpec;
use steward_ingest::SpecError;
use steward_model::ids::validate_id;
use steward_model::{Task, TaskError, TaskKind, TaskStatus, TaskStatusPlus};
use steward_security::{Action, Resource};

use super::errors::{bad_param, invalid_input, not_leading, task_not_found, ApiError, ApiResult};
use super::extract::{Caller, DataSource, TaskId};
use super::state::AppState;
use crate::driver::{worker_task_url, SubmitError};
use crate::queue::{QueueError, SHUTDOWN_BY_USER};

pub(super) async fn submit_task(
    State(s): State<AppState>,
    Caller(who): Caller,
    req: Request,
) -> ApiResult<Json<Value>> {
    let limit = s.overlord()?.queue_config().max_task_payload_size;
    // Read one byte past the limit so an oversized body is told apart from one at the limit.
    let body = axum::body::to_bytes(req.into_body(), limit.saturating_add(1))
        .await
        .map_err(|_| invalid_input(format!("Task payload size exceeds the limit of [{limit}] bytes (druid.indexer.queue.maxTaskPayloadSize)")))?;
    if body.len() > limit {
        return Err(invalid_input(format!(
            "Task payload size [{}] exceeds the limit of [{limit}] bytes (druid.indexer.queue.maxTaskPayloadSize)",
            body.len()
        )));
    }
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::Simple(
            StatusCode::BAD_REQUEST,
            format!("Malformed JSON in the task payload: {e}"),
        )
    })?;
    let task = Task::from_json(value).map_err(|e| {
        let field = e.field().map(str::to_string);
        let error = match e.without_field() {
            TaskError::Mapping(m) => ApiError::Simple(StatusCode::BAD_REQUEST, m),
            other => invalid_input(other.to_string()),
        };
        error.about(field.as_deref())
    })?;
    // An ingestion spec is checked in full now, as Druid does when it reads the task: a bad
    // one is never stored.
    let mut reads = None;
    if task.kind().batch_ingest().is_some() {
        let overlord = s.overlord()?;
        let config = &overlord.queue_config().input_sources;
        let spec = IngestionSpec::from_task_json_with(&task.to_json(), config).map_err(|e| {
            let field = Some(e.path.as_str()).filter(|p| !p.is_empty());
            ApiError::Simple(StatusCode::BAD_REQUEST, e.to_string()).about(field)
        })?;
        if let InputSourceSpec::Druid(druid) = spec.io_config.input_source {
            reads = Some(druid.data_source);
        }
    }
    // A compaction's schema comes from its segments when it runs; what it gives (granularity,
    // dimensions, metrics, transform, tuning) is checked now, in the spec it will run.
    if let TaskKind::Compact(compact) = task.kind() {
        let overlord = s.overlord()?;
        let config = &overlord.queue_config().input_sources;
        let refused = |field: Option<String>, message: String| {
            ApiError::Simple(StatusCode::BAD_REQUEST, message).about(field.as_deref())
        };
        let index_task = compaction::index_task(
            task.payload(),
            task.id(),
            task.data_source(),
            compact.interval,
            &[],
        )
        .map_err(|e| refused(None, e))?;
        IngestionSpec::from_task_json_with(&index_task, config).map_err(|e| {
            // The derived spec's paths, as the compaction task's own fields.
            let field = e
                .path
                .strip_prefix("spec.dataSchema.")
                .or_else(|| e.path.strip_prefix("spec."))
                .unwrap_or(&e.path)
                .to_string();
            let message = SpecError::new(field.clone(), e.message).to_string();
            refused(Some(field).filter(|f| !f.is_empty()), message)
        })?;
    }
    // Druid's check: WRITE on the datasource the task writes to. Steward adds READ on the
    // datasource a re-indexing task reads, which would otherwise copy out what its submitter
    // may not see.
    let allowed = s.allows(
        who.as_ref(),
        &Resource::datasource(task.data_source()),
        Action::Write,
    ) && reads
        .is_none_or(|ds| s.allows(who.as_ref(), &Resource::datasource(&ds), Action::Read));
    if !allowed {
        return Err(ApiError::Forbidden);
    }
    let id = task.id().to_string();
    s.overlord()?.submit(task).await.map_err(|e| match e {
        SubmitError::Queue(QueueError::Duplicate(id)) => ApiError::druid(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "entryAlreadyExists",
            format!("Task [{id}] already exists"),
        ),
        SubmitError::Queue(QueueError::Full(max)) => ApiError::druid(
            StatusCode::TOO_MANY_REQUESTS,
            "CAPACITY_EXCEEDED",
            "capacityExceeded",
            format!("Too many tasks are in the queue (Limit = {max}), (Current active tasks = {max}). Retry later or increase the queue size (druid.indexer.queue.maxSize)."),
        ),
        SubmitError::Queue(QueueError::NotStarted) => not_leading(),
        SubmitError::Store(e) => ApiError::from(e),
    })?;
    Ok(Json(json!({ "task": id })))
}

// ----- single task ------------------------------------------------------------------------------

pub(super) async fn get_task(
    State(s): State<AppState>,
    TaskId(id, _): TaskId,
) -> ApiResult<Json<Value>> {
    let key = id.clone();
    let task = match s
        .overlord()?
        .query(move |c| c.active_task(&key))
        .await
        .flatten()
    {
        Some(t) => Some(t),
        None => s.overlord()?.store().get_task(&id).await?,
    };
    match task {
        Some(t) => Ok(Json(json!({ "task": id, "payload": t.to_json() }))),
        None => Err(task_not_found(&id)),
    }
}

pub(super) async fn get_task_status(
    State(s): State<AppState>,
    TaskId(id, found): TaskId,
) -> ApiResult<Json<Value>> {
    let status = match found {
        Some(status) => Some(status),
        None => s.find_status(&id).await?,
    };
    match status {
        Some(status) => Ok(Json(json!({ "task": id, "status": status }))),
        None => Err(task_not_found(&id)),
    }
}

pub(super) async fn get_task_log(
    State(s): State<AppState>,
    TaskId(id, _): TaskId,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let offset: i64 = match params.get("offset") {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| bad_param(format!("Invalid offset [{v}]: must be an integer")))?,
    };
    let key = id.clone();
    let worker = s
        .overlord()?
        .query(move |c| c.runner().worker_of(&key).cloned())
        .await
        .flatten();
    if let Some(worker) = worker {
        let url = worker_task_url(&worker, &id, &format!("log?offset={offset}"));
        match s.overlord()?.http().get(&url).send().await {
            Ok(r) if r.status().is_success() => {
                return Ok(text(Body::from_stream(r.bytes_stream())));
            }
            // Not running there any more: the task-log store has it (or will shortly).
            Ok(_) | Err(_) => {}
        }
    }
    let logs = s.overlord()?.task_logs().clone();
    let key = id.clone();
    let stored = tokio::task::spawn_blocking(move || logs.stream_log(&key, offset))
        .await
        .map_err(|e| ApiError::Simple(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::Simple(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match stored {
        Some(bytes) => Ok(text(Body::from(bytes))),
        None => {
            if s.find_status(&id).await?.is_none() {
                return Err(task_not_found(&id));
            }
            Err(ApiError::Simple(
                StatusCode::NOT_FOUND,
                format!("No log was found for this task. The task may not exist, or it may not have begun running yet. (task [{id}])"),
            ))
        }
    }
}

pub(super) fn text(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

pub(super) async fn get_task_reports(
    State(s): State<AppState>,
    TaskId(id, _): TaskId,
) -> ApiResult<Response> {
    // A running task reports live from its peon's chat handler (Druid's `liveReports`); one
    // that serves none, or has just ended, has its report in the task-log store.
    let key = id.clone();
    let peon = s
        .overlord()?
        .query(move |c| c.runner().peon_url_of(&key))
        .await
        .flatten();
    if let Some(peon) = peon {
        let url = format!(
            "{peon}/druid/worker/v1/chat/{}/liveReports",
            path_segment(&id)
        );
        if let Ok(r) = s.overlord()?.http().get(&url).send().await {
            if r.status().is_success() {
                if let Ok(bytes) = r.bytes().await {
                    return Ok(
                        ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
                    );
                }
            }
        }
    }
    let logs = s.overlord()?.task_logs().clone();
    let key = id.clone();
    let report = tokio::task::spawn_blocking(move || logs.report(&key))
        .await
        .map_err(|e| ApiError::Simple(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::Simple(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match report {
        Some(bytes) => Ok((
            [(header::CONTENT_TYPE, "application/json")],
            Bytes::from(bytes),
        )
            .into_response()),
        None => {
            if s.find_status(&id).await?.is_none() {
                return Err(task_not_found(&id));
            }
            Err(ApiError::Simple(
                StatusCode::NOT_FOUND,
                "No task reports were found for this task. The task may not exist, or it may not have completed yet.".into(),
            ))
        }
    }
}

pub(super) async fn get_task_segments(
    State(s): State<AppState>,
    TaskId(id, _): TaskId,
) -> ApiResult<Json<Value>> {
    if s.find_status(&id).await?.is_none() {
        return Err(task_not_found(&id));
    }
    Err(ApiError::Simple(
        StatusCode::NOT_FOUND,
        "Segment IDs committed by a task action are not persisted anymore. Use the metric 'segment/added/bytes' to identify the segments created by a task.".into(),
    ))
}

pub(super) async fn shutdown_task(
    State(s): State<AppState>,
    TaskId(id, _): TaskId,
) -> ApiResult<Json<Value>> {
    if s.overlord()?.shutdown(&id, SHUTDOWN_BY_USER).await {
        return Ok(Json(json!({ "task": id })));
    }
    // Shutting down a task that has already ended is a no-op, as in Druid.
    match s.find_status(&id).await? {
        Some(_) => Ok(Json(json!({ "task": id }))),
        None => Err(task_not_found(&id)),
    }
}

pub(super) async fn shutdown_all(
    State(s): State<AppState>,
    DataSource(ds): DataSource,
) -> ApiResult<Json<Value>> {
    match s
        .overlord()?
        .shutdown_data_source(&ds, SHUTDOWN_BY_USER)
        .await
    {
        0 => Err(ApiError::Simple(
            StatusCode::NOT_FOUND,
            format!("No active task of datasource [{ds}] to shut down"),
        )),
        _ => Ok(Json(json!({ "dataSource": ds }))),
    }
}

pub(super) async fn task_statuses(
    State(s): State<AppState>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ids: Vec<String> = serde_json::from_slice(&body)
        .map_err(|e| bad_param(format!("Body must be a JSON array of task ids: {e}")))?;
    if ids.is_empty() {
        return Err(bad_param("No Task IDs provided."));
    }
    for id in &ids {
        validate_id("Task ID", id).map_err(invalid_input)?;
    }
    let wanted = ids.clone();
    let active: Vec<TaskStatusPlus> = s
        .overlord()?
        .query(move |c| wanted.iter().filter_map(|id| c.active_status(id)).collect())
        .await
        .unwrap_or_default();
    let mut out = serde_json::Map::new();
    for plus in active {
        out.insert(plus.id.clone(), json!(status_of(&plus)));
    }
    let rest: Vec<String> = ids.into_iter().filter(|id| !out.contains_key(id)).collect();
    if !rest.is_empty() {
        for info in s.overlord()?.store().get_infos(&rest).await? {
            out.insert(info.id.clone(), json!(info.status));
        }
    }
    Ok(Json(Value::Object(out)))
}

pub(super) fn status_of(plus: &TaskStatusPlus) -> TaskStatus {
    TaskStatus {
        id: plus.id.clone(),
        status: plus.status_code,
        duration: plus.duration,
        error_msg: plus.error_msg.clone(),
        location: plus.location.clone(),
    }
}
