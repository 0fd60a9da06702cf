//! Druid's Overlord HTTP API (`/druid/indexer/v1/...`, `/status`), on top of [`Overlord`].
//!
//! Paths, parameters, bodies and status codes follow Druid (reference §6.1–6.2). Where Druid
//! answers bad input with a 500 (malformed JSON) Steward answers 400: the client's mistake is
//! not a server error. Active tasks are answered from memory, finished ones from the metadata
//! store with bounded queries. The dynamic worker config (`/worker`, `/worker/history`) lives in
//! the metadata store with an audit trail; a `POST` answers once the runner assigns with it.
//!
//! # Leadership
//!
//! Every Overlord serves this API; only the leader serves it from its queue and runner. In front
//! of the routes, an Overlord that does not lead answers every `/druid/indexer/v1/*` request
//! with 307 to the same path and query on the leader, or 503 (empty) while no leader is known,
//! as Druid does; `leader` and `isLeader` are answered locally, as is `/status`. A leader whose
//! term has not started yet (or is stopping) answers 503 from the handlers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use jiff::Timestamp;
use serde_json::{json, Value};
use steward_cluster::{AlwaysLeader, LeaderElection};
use steward_http::json_errors;
use steward_metadata::{AuditEntry, AuditInfo, StoreError, TaskInfo, TaskQuery};
use steward_model::ids::validate_id;
use steward_model::time::{format_ts, parse_instant, parse_interval};
use steward_model::{
    DruidError, RunnerTaskState, Task, TaskError, TaskState, TaskStatus, TaskStatusPlus,
};
use steward_security::{forbidden, guarded, Action, Identity, Resource, Security};

use crate::driver::{worker_task_url, Overlord, SubmitError, WorkerConfigError};
use crate::master::TaskMaster;
use crate::queue::{QueueError, SHUTDOWN_BY_USER};

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// This Overlord's own URL (`http://host:port`), answered by `/leader`.
    pub self_url: String,
    /// `druid.indexer.storage.recentlyFinishedThreshold`: complete tasks listed without an
    /// explicit interval are limited to those created in this window.
    pub recently_finished_threshold: Duration,
    /// Authentication and authorization (Druid's basic security), or `None` when it is off.
    pub security: Option<Security>,
}

#[derive(Clone)]
struct AppState {
    master: TaskMaster,
    config: std::sync::Arc<ApiConfig>,
}

impl AppState {
    /// The running term's Overlord; 503 when there is none (Druid's "not (half) leader").
    fn overlord(&self) -> ApiResult<Overlord> {
        self.master.overlord().ok_or_else(not_leading)
    }

    /// Whether the caller may do `action` on `resource`; always, with security off.
    fn allows(&self, caller: Option<&Identity>, resource: &Resource, action: Action) -> bool {
        match &self.config.security {
            None => true,
            Some(security) => caller.is_some_and(|who| security.authorize(who, resource, action)),
        }
    }

    /// Druid's `TaskResourceFilter`, with security on: the task must exist (404 otherwise) and
    /// the caller may act on its datasource (403 otherwise), READ for a GET, WRITE otherwise.
    async fn authorize_task(&self, parts: &Parts, id: &str) -> ApiResult<()> {
        if self.config.security.is_none() {
            return Ok(());
        }
        let data_source = self
            .task_data_source(id)
            .await?
            .ok_or_else(|| task_not_found(id))?;
        let resource = Resource::datasource(data_source);
        match self.allows(caller(parts), &resource, Action::of_method(&parts.method)) {
            true => Ok(()),
            false => Err(ApiError::Forbidden),
        }
    }

    async fn task_data_source(&self, id: &str) -> ApiResult<Option<String>> {
        let key = id.to_string();
        let active = self
            .overlord()?
            .query(move |c| c.active_task(&key).map(|t| t.data_source().to_string()))
            .await
            .flatten();
        if active.is_some() {
            return Ok(active);
        }
        Ok(self
            .overlord()?
            .store()
            .get_info(id)
            .await?
            .map(|info| info.data_source))
    }
}

/// The identity the authentication layer found (none with security off).
fn caller(parts: &Parts) -> Option<&Identity> {
    parts.extensions.get::<Identity>()
}

/// The caller, as a handler argument.
struct Caller(Option<Identity>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller(caller(parts).cloned()))
    }
}

/// An error answer in one of Druid's shapes.
#[derive(Debug)]
pub enum ApiError {
    /// `{"error": "..."}`
    Simple(StatusCode, String),
    /// Druid's `DruidException` body.
    Druid(StatusCode, Box<DruidError>),
    /// 503 while this Overlord cannot serve (no leader known, a term starting or ending), with
    /// a `Retry-After` so that clients wait for the leadership to settle instead of hammering.
    Unavailable(String),
    /// 403 in Druid's shape: the caller is authenticated but lacks the permission.
    Forbidden,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = match self {
            ApiError::Simple(code, msg) => (code, Json(json!({ "error": msg }))).into_response(),
            ApiError::Druid(code, body) => (code, Json(*body)).into_response(),
            ApiError::Unavailable(msg) => unavailable(&msg),
            ApiError::Forbidden => forbidden(),
        };
        // Every 503 (a store outage too) tells the client when to come back.
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

impl ApiError {
    fn druid(code: StatusCode, category: &str, error_code: &str, msg: impl Into<String>) -> Self {
        ApiError::Druid(code, Box::new(DruidError::user(category, error_code, msg)))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(_) => invalid_input(e.to_string()),
            e => ApiError::druid(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "serviceUnavailable",
                e.to_string(),
            ),
        }
    }
}

fn invalid_input(msg: impl Into<String>) -> ApiError {
    ApiError::druid(
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
        "invalidInput",
        msg,
    )
}

fn bad_param(msg: impl Into<String>) -> ApiError {
    ApiError::Simple(StatusCode::BAD_REQUEST, msg.into())
}

/// Druid's resource filter answers this (as plain text; Steward answers JSON like every other
/// error).
fn task_not_found(id: &str) -> ApiError {
    ApiError::Simple(
        StatusCode::NOT_FOUND,
        format!("Cannot find any task with id: [{id}]"),
    )
}

/// Seconds a client is asked to wait before retrying a 503: about the time a standby needs to
/// take over or a new term to load.
const RETRY_AFTER_SECS: &str = "5";

fn not_leading() -> ApiError {
    ApiError::Unavailable(
        "This Overlord is not leading at the moment (a leader election or the start of its term is under way); retry later".into(),
    )
}

fn unavailable(msg: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, RETRY_AFTER_SECS)],
        Json(json!({ "error": msg })),
    )
        .into_response()
}

/// The one path parameter of a route, checked against the id rules (as `what`) before it
/// reaches a file, a znode, a database or another URL; an invalid one is a 400 naming the rule.
async fn checked_path_id<S: Send + Sync>(
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
/// on (POST), per [`AppState::authorize_task`].
struct TaskId(String);

impl FromRequestParts<AppState> for TaskId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let id = checked_path_id(parts, state, "Task ID").await?;
        state.authorize_task(parts, &id).await?;
        Ok(TaskId(id))
    }
}

/// A datasource name from the URL path (see [`checked_path_id`]) that the caller may write.
struct DataSource(String);

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

type ApiResult<T> = Result<T, ApiError>;

/// The router of an Overlord that always leads (quickstart).
pub fn router(overlord: Overlord, config: ApiConfig) -> Router {
    let leadership = AlwaysLeader::new(config.self_url.clone()).leadership();
    router_with_master(TaskMaster::leading(overlord, leadership), config)
}

/// The router of an Overlord that takes part in a leader election: it serves while it leads
/// and redirects to the leader otherwise.
pub fn router_with_master(master: TaskMaster, config: ApiConfig) -> Router {
    let security = config.security.clone();
    let state = AppState {
        master,
        config: std::sync::Arc::new(config),
    };
    // Druid's `StateResourceFilter` and `ConfigResourceFilter`: a fixed permission per route.
    let guard = |route, resource, action| guarded(security.as_ref(), route, resource, action);
    let (state_read, state_write) = (
        |r| guard(r, Resource::state(), Action::Read),
        |r| guard(r, Resource::state(), Action::Write),
    );
    let (config_read, config_write) = (
        |r| guard(r, Resource::config(), Action::Read),
        |r| guard(r, Resource::config(), Action::Write),
    );
    let v1 = "/druid/indexer/v1";
    let api = Router::new()
        .route(&format!("{v1}/task"), post(submit_task))
        .route(&format!("{v1}/task/{{id}}"), get(get_task))
        .route(&format!("{v1}/task/{{id}}/status"), get(get_task_status))
        .route(&format!("{v1}/task/{{id}}/log"), get(get_task_log))
        .route(&format!("{v1}/task/{{id}}/reports"), get(get_task_reports))
        .route(
            &format!("{v1}/task/{{id}}/segments"),
            get(get_task_segments),
        )
        .route(&format!("{v1}/task/{{id}}/shutdown"), post(shutdown_task))
        .route(
            &format!("{v1}/datasources/{{ds}}/shutdownAllTasks"),
            post(shutdown_all),
        )
        .route(
            &format!("{v1}/taskStatus"),
            state_write(post(task_statuses)),
        )
        .route(&format!("{v1}/tasks"), get(list_tasks))
        .route(
            &format!("{v1}/waitingTasks"),
            get(|s, c, q| list_state(s, c, q, "waiting")),
        )
        .route(
            &format!("{v1}/pendingTasks"),
            get(|s, c, q| list_state(s, c, q, "pending")),
        )
        .route(
            &format!("{v1}/runningTasks"),
            get(|s, c, q| list_state(s, c, q, "running")),
        )
        .route(
            &format!("{v1}/completeTasks"),
            get(|s, c, q| list_state(s, c, q, "complete")),
        )
        .route(&format!("{v1}/workers"), state_read(get(workers)))
        .route(
            &format!("{v1}/worker/{{host}}/enable"),
            state_write(post(|s, h| toggle_worker(s, h, "enable"))),
        )
        .route(
            &format!("{v1}/worker/{{host}}/disable"),
            state_write(post(|s, h| toggle_worker(s, h, "disable"))),
        )
        .route(
            &format!("{v1}/worker"),
            config_read(get(get_worker_config)).merge(config_write(post(set_worker_config))),
        )
        .route(
            &format!("{v1}/worker/history"),
            config_read(get(worker_config_history)),
        )
        .route(
            &format!("{v1}/totalWorkerCapacity"),
            config_read(get(total_worker_capacity)),
        )
        .route(&format!("{v1}/leader"), state_read(get(leader)))
        .route(&format!("{v1}/isLeader"), get(is_leader))
        .route("/status", state_read(get(status)))
        .route("/status/health", get(|| async { Json(true) }))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            redirect_to_leader,
        ))
        .with_state(state);
    // Authentication comes before the redirect: a standby does not send anonymous callers on.
    let api = match &security {
        Some(security) => api.merge(security.router()).layer(security.layer()),
        None => api,
    };
    api.layer(middleware::from_fn(json_errors))
}

const V1_PREFIX: &str = "/druid/indexer/v1/";

/// Druid's redirect on a non-leader: 307 to the same path and query on the leader, 503 when no
/// leader is known. `leader` and `isLeader` are exempt, and so is everything outside the task
/// API.
async fn redirect_to_leader(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let exempt = match req.uri().path().strip_prefix(V1_PREFIX) {
        None => true,
        Some(rest) => matches!(rest, "leader" | "isLeader"),
    };
    if exempt {
        return next.run(req).await;
    }
    let leadership = s.master.leadership();
    if leadership.is_leader() {
        return next.run(req).await;
    }
    // An Overlord that names itself leader without leading has a stale view of the latch:
    // redirecting to itself would loop.
    let leader = leadership.leader.filter(|url| *url != s.config.self_url);
    let Some(leader) = leader else {
        return unavailable(
            "No Overlord is leading at the moment (an election is under way); retry later",
        );
    };
    let target = match req.uri().path_and_query() {
        Some(pq) => format!("{}{pq}", leader.trim_end_matches('/')),
        None => format!("{}{}", leader.trim_end_matches('/'), req.uri().path()),
    };
    match HeaderValue::try_from(target) {
        Ok(location) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => unavailable("The leader's URL cannot be used in a redirect"),
    }
}

// ----- submission -------------------------------------------------------------------------------

async fn submit_task(
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
    let task = Task::from_json(value).map_err(|e| match e {
        TaskError::Mapping(m) => ApiError::Simple(StatusCode::BAD_REQUEST, m),
        TaskError::Invalid(m) => invalid_input(m),
    })?;
    // Druid's check: WRITE on the datasource the task writes to.
    if !s.allows(
        who.as_ref(),
        &Resource::datasource(task.data_source()),
        Action::Write,
    ) {
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

/// The stored row of a finished (or not yet known to memory) task, as `TaskStatusPlus`.
fn status_plus_from_info(info: TaskInfo) -> TaskStatusPlus {
    let runner = if info.active {
        RunnerTaskState::Waiting
    } else {
        RunnerTaskState::None
    };
    TaskStatusPlus {
        id: info.id,
        group_id: info.group_id,
        task_type: info.task_type,
        created_time: format_ts(info.created_time),
        queue_insertion_time: format_ts(Timestamp::UNIX_EPOCH),
        status_code: info.status.status,
        status: info.status.status,
        runner_status_code: runner,
        duration: info.status.duration,
        location: info.status.location,
        data_source: info.data_source,
        error_msg: info.status.error_msg,
    }
}

async fn find_status(s: &AppState, id: &str) -> ApiResult<Option<TaskStatusPlus>> {
    let key = id.to_string();
    if let Some(Some(v)) = s.overlord()?.query(move |c| c.active_status(&key)).await {
        return Ok(Some(v));
    }
    Ok(s.overlord()?
        .store()
        .get_info(id)
        .await?
        .map(status_plus_from_info))
}

async fn get_task(State(s): State<AppState>, TaskId(id): TaskId) -> ApiResult<Json<Value>> {
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

async fn get_task_status(State(s): State<AppState>, TaskId(id): TaskId) -> ApiResult<Json<Value>> {
    match find_status(&s, &id).await? {
        Some(status) => Ok(Json(json!({ "task": id, "status": status }))),
        None => Err(task_not_found(&id)),
    }
}

async fn get_task_log(
    State(s): State<AppState>,
    TaskId(id): TaskId,
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
        .query(move |c| c.runner.worker_of(&key).cloned())
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
            if find_status(&s, &id).await?.is_none() {
                return Err(task_not_found(&id));
            }
            Err(ApiError::Simple(
                StatusCode::NOT_FOUND,
                format!("No log was found for this task. The task may not exist, or it may not have begun running yet. (task [{id}])"),
            ))
        }
    }
}

fn text(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn get_task_reports(State(s): State<AppState>, TaskId(id): TaskId) -> ApiResult<Response> {
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
            if find_status(&s, &id).await?.is_none() {
                return Err(task_not_found(&id));
            }
            Err(ApiError::Simple(
                StatusCode::NOT_FOUND,
                "No task reports were found for this task. The task may not exist, or it may not have completed yet.".into(),
            ))
        }
    }
}

async fn get_task_segments(
    State(s): State<AppState>,
    TaskId(id): TaskId,
) -> ApiResult<Json<Value>> {
    if find_status(&s, &id).await?.is_none() {
        return Err(task_not_found(&id));
    }
    Err(ApiError::Simple(
        StatusCode::NOT_FOUND,
        "Segment IDs committed by a task action are not persisted anymore. Use the metric 'segment/added/bytes' to identify the segments created by a task.".into(),
    ))
}

async fn shutdown_task(State(s): State<AppState>, TaskId(id): TaskId) -> ApiResult<Json<Value>> {
    if s.overlord()?.shutdown(&id, SHUTDOWN_BY_USER).await {
        return Ok(Json(json!({ "task": id })));
    }
    // Shutting down a task that has already ended is a no-op, as in Druid.
    match find_status(&s, &id).await? {
        Some(_) => Ok(Json(json!({ "task": id }))),
        None => Err(task_not_found(&id)),
    }
}

async fn shutdown_all(
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

async fn task_statuses(State(s): State<AppState>, body: Bytes) -> ApiResult<Json<Value>> {
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

fn status_of(plus: &TaskStatusPlus) -> TaskStatus {
    TaskStatus {
        id: plus.id.clone(),
        status: plus.status_code,
        duration: plus.duration,
        error_msg: plus.error_msg.clone(),
        location: plus.location.clone(),
    }
}

// ----- listings ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateFilter {
    Waiting,
    Pending,
    Running,
    Complete,
}

struct ListParams {
    state: Option<StateFilter>,
    data_source: Option<String>,
    task_type: Option<String>,
    interval: Option<(Timestamp, Timestamp)>,
    max: Option<usize>,
}

fn parse_list_params(
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
    let interval = match params.get("createdTimeInterval") {
        None => None,
        Some(v) => {
            let (a, b) = v
                .split_once('_')
                .or_else(|| v.split_once('/'))
                .ok_or_else(|| {
                    bad_param(format!(
                        "Invalid createdTimeInterval [{v}]: expected <start>_<end>"
                    ))
                })?;
            let start = parse_instant(a)
                .map_err(|e| bad_param(format!("Invalid createdTimeInterval [{v}]: {e}")))?;
            let end = parse_instant(b)
                .map_err(|e| bad_param(format!("Invalid createdTimeInterval [{v}]: {e}")))?;
            if end < start {
                return Err(bad_param(format!(
                    "Invalid createdTimeInterval [{v}]: the end is before the start"
                )));
            }
            Some((start, end))
        }
    };
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

async fn list_state(
    State(s): State<AppState>,
    Caller(who): Caller,
    Query(params): Query<HashMap<String, String>>,
    state: &'static str,
) -> ApiResult<Json<Vec<TaskStatusPlus>>> {
    let p = parse_list_params(&params, Some(state))?;
    list(&s, who.as_ref(), p).await.map(Json)
}

async fn list_tasks(
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
async fn list(
    s: &AppState,
    who: Option<&Identity>,
    p: ListParams,
) -> ApiResult<Vec<TaskStatusPlus>> {
    if let Some(ds) = &p.data_source {
        if !s.allows(who, &Resource::datasource(ds.clone()), Action::Read) {
            return Err(ApiError::Forbidden);
        }
    }
    let mut out = list_unfiltered(s, p).await?;
    if s.config.security.is_some() {
        let mut readable: HashMap<String, bool> = HashMap::new();
        out.retain(|t| {
            *readable.entry(t.data_source.clone()).or_insert_with(|| {
                s.allows(
                    who,
                    &Resource::datasource(t.data_source.clone()),
                    Action::Read,
                )
            })
        });
    }
    Ok(out)
}

async fn list_unfiltered(s: &AppState, p: ListParams) -> ApiResult<Vec<TaskStatusPlus>> {
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

fn filter_runner(v: Vec<TaskStatusPlus>, state: RunnerTaskState) -> Vec<TaskStatusPlus> {
    v.into_iter()
        .filter(|t| t.runner_status_code == state)
        .collect()
}

// ----- cluster ----------------------------------------------------------------------------------

/// Druid's `worker/{host}/enable|disable`: relayed to the MiddleManager's own API, which
/// re-announces itself; the answer is the MiddleManager's.
async fn toggle_worker(
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

async fn workers(State(s): State<AppState>) -> ApiResult<Json<Vec<Value>>> {
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
                "currParallelIndexCapacityUsed": 0,
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

// ----- dynamic worker config -------------------------------------------------------------------

/// The stored config as it was posted. Never set: 200 with an empty body, as Druid answers
/// (the runner then uses Druid's default, `equalDistribution`).
async fn get_worker_config(State(s): State<AppState>) -> ApiResult<Response> {
    let body = s.overlord()?.worker_config().await?.unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Druid's audit headers.
const AUTHOR_HEADER: &str = "X-Druid-Author";
const COMMENT_HEADER: &str = "X-Druid-Comment";

/// Who changed the config, for its audit entry: the identity the caller authenticated as, and
/// what its headers say. The address is the connection's peer, as Druid records it, when the
/// server was started with connect info; otherwise the first `X-Forwarded-For` entry, else
/// empty.
fn audit_info(headers: &HeaderMap, peer: Option<SocketAddr>, who: Option<&Identity>) -> AuditInfo {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    let ip = match peer {
        Some(addr) => addr.ip().to_string(),
        None => header("X-Forwarded-For")
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    AuditInfo {
        author: header(AUTHOR_HEADER),
        identity: who.map(|w| w.name.clone()).unwrap_or_default(),
        comment: header(COMMENT_HEADER),
        ip,
    }
}

async fn set_worker_config(
    State(s): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    let audit = audit_info(&headers, peer, who.as_ref());
    match s.overlord()?.set_worker_config(&body, audit).await {
        Ok(()) => Ok(StatusCode::OK),
        Err(WorkerConfigError::Invalid(e)) => Err(ApiError::Simple(StatusCode::BAD_REQUEST, e.0)),
        Err(WorkerConfigError::Store(e)) => Err(e.into()),
        Err(WorkerConfigError::NotStarted) => Err(not_leading()),
    }
}

/// Druid's `druid.audit.manager.auditHistoryMillis` default: without `interval` or `count` the
/// history covers the last week.
const DEFAULT_AUDIT_HISTORY: Duration = Duration::from_secs(7 * 86_400);

/// Which audit entries `worker/history` lists.
#[derive(Debug, Clone, PartialEq)]
struct HistoryParams {
    created_after: Option<Timestamp>,
    created_before: Option<Timestamp>,
    limit: Option<usize>,
}

/// `interval` (ISO `start/end`, end exclusive) and `count` (the newest n) combine; with neither,
/// the last week. Druid ignores `count` when `interval` is given; Steward applies both.
fn parse_history_params(
    params: &HashMap<String, String>,
    now: Timestamp,
) -> Result<HistoryParams, String> {
    let interval = params
        .get("interval")
        .map(|v| parse_interval(v))
        .transpose()?;
    let limit = match params.get("count") {
        None => None,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            Ok(_) => return Err("Limit must be greater than zero!".into()),
            Err(_) => return Err(format!("Invalid count [{v}]: must be a positive integer")),
        },
    };
    Ok(match (interval, limit) {
        (Some((start, end)), limit) => HistoryParams {
            created_after: Some(start),
            created_before: Some(end),
            limit,
        },
        (None, Some(limit)) => HistoryParams {
            created_after: None,
            created_before: None,
            limit: Some(limit),
        },
        (None, None) => HistoryParams {
            created_after: Some(now.saturating_sub(DEFAULT_AUDIT_HISTORY).unwrap_or(now)),
            created_before: None,
            limit: None,
        },
    })
}

/// Druid's `AuditEntry` JSON.
fn audit_entry_json(e: AuditEntry) -> Value {
    json!({
        "key": e.key,
        "type": e.audit_type,
        "auditInfo": e.audit_info,
        "payload": e.payload,
        "auditTime": format_ts(e.audit_time),
    })
}

async fn worker_config_history(
    State(s): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<Value>>> {
    let p = parse_history_params(&params, Timestamp::now())
        .map_err(|e| ApiError::Simple(StatusCode::BAD_REQUEST, e))?;
    let entries = s
        .overlord()?
        .worker_config_history(p.created_after, p.created_before, p.limit)
        .await?;
    Ok(Json(entries.into_iter().map(audit_entry_json).collect()))
}

async fn total_worker_capacity(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let (total, used) = s
        .overlord()?
        .query(|c| c.runner.capacity())
        .await
        .unwrap_or((0, 0));
    Ok(Json(json!({
        "currentClusterCapacity": total,
        "maximumCapacityWithAutoScale": total,
        "usedClusterCapacity": used,
    })))
}

/// The leader's URL as bare text, as Druid answers; 503 (empty) while no leader is known (Druid
/// answers an empty body then).
async fn leader(State(s): State<AppState>) -> Response {
    match s.master.leadership().leader {
        Some(url) => ([(header::CONTENT_TYPE, "application/json")], url).into_response(),
        None => unavailable(
            "No Overlord is leading at the moment (an election is under way); retry later",
        ),
    }
}

/// 200 `{"leader":true}` on a leader whose term is running, else 404 `{"leader":false}`: load
/// balancers use it as a health check that only the leader passes.
async fn is_leader(State(s): State<AppState>) -> Response {
    if s.master.overlord().is_some() {
        Json(json!({ "leader": true })).into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({ "leader": false }))).into_response()
    }
}

async fn status() -> Json<Value> {
    Json(status_body())
}

/// Druid's `/status` body, with the process's resident memory added as `memory.rssBytes` (the
/// figure operators actually watch for a native process).
pub fn status_body() -> Value {
    let rss = proc_status_kb("VmRSS").unwrap_or(0) * 1024;
    let total = proc_meminfo_kb("MemTotal").unwrap_or(0) * 1024;
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "modules": [],
        "memory": {
            "maxMemory": total,
            "totalMemory": rss,
            "freeMemory": total.saturating_sub(rss),
            "usedMemory": rss,
            "directMemory": 0,
            "rssBytes": rss,
        }
    })
}

fn read_kb(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn proc_status_kb(key: &str) -> Option<u64> {
    read_kb("/proc/self/status", key)
}

fn proc_meminfo_kb(key: &str) -> Option<u64> {
    read_kb("/proc/meminfo", key)
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
