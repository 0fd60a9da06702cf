//! The worker HTTP API (Druid's `WorkerResource`), with Druid's paths and bodies.
//!
//! Reads come from the [`View`] the driver publishes; changes are requests to the driver,
//! answered once it has carried them out. Every error answers `{"error": ...}`, and a task id
//! in a path is checked against the id rules before it is looked up.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use steward_http::json_errors;
use steward_model::ids::validate_id;
use steward_security::{guarded, Action, Resource, Security};
use tokio::sync::{mpsc, oneshot, watch};

use crate::requests::{Answer, Request, View};
use crate::shared::Shared;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) shared: Arc<Shared>,
    pub(crate) requests: mpsc::UnboundedSender<Request>,
    pub(crate) view: watch::Receiver<View>,
}

impl Api {
    fn host(&self) -> String {
        self.view.borrow().worker.host.clone()
    }

    /// Sends a change to the driver and waits for its answer.
    async fn ask(
        &self,
        request: impl FnOnce(Answer) -> Request,
    ) -> Result<Result<(), String>, Response> {
        let (reply, answer) = oneshot::channel();
        let stopped = || {
            let body = Json(json!({"error": "the MiddleManager is not running"}));
            (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
        };
        self.requests.send(request(reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())
    }
}

/// The routes; with `security`, every request but the health check must authenticate, and
/// each route requires Druid's permission for it (`STATE` to read or stop tasks and to read
/// `/metrics`, `CONFIG` to enable or disable the worker, as Druid's `WorkerResource` has it).
pub(crate) fn router(api: Api, security: Option<&Security>) -> Router {
    let guard = |route, resource, action| guarded(security, route, resource, action);
    let (state, config) = (Resource::state, Resource::config);
    let router = Router::new()
        .route("/status/health", get(|| async { Json(true) }))
        .route("/metrics", guard(get(metrics), state(), Action::Read))
        .route(
            "/druid/worker/v1/enabled",
            guard(get(enabled), state(), Action::Read),
        )
        .route(
            "/druid/worker/v1/enable",
            guard(post(enable), config(), Action::Write),
        )
        .route(
            "/druid/worker/v1/disable",
            guard(post(disable), config(), Action::Write),
        )
        .route(
            "/druid/worker/v1/tasks",
            guard(get(tasks), state(), Action::Read),
        )
        .route(
            "/druid/worker/v1/task/{id}/shutdown",
            guard(post(shutdown), state(), Action::Write),
        )
        .route(
            "/druid/worker/v1/task/{id}/log",
            guard(get(log), state(), Action::Read),
        );
    let router = match security {
        Some(security) => router.layer(security.layer()),
        None => router,
    };
    router
        .layer(axum::middleware::from_fn(json_errors))
        .with_state(api)
}

/// `GET /metrics`, in Prometheus' text format (see [`crate::metrics`]).
async fn metrics(State(api): State<Api>) -> Response {
    let view = api.view.borrow().clone();
    steward_metrics::response(api.shared.metrics.render(view).await)
}

async fn enabled(State(api): State<Api>) -> Json<serde_json::Value> {
    let worker = api.view.borrow().worker.clone();
    let enabled = worker.is_enabled();
    Json(json!({ worker.host: enabled }))
}

async fn enable(State(api): State<Api>) -> Response {
    set_enabled(api, true).await
}

async fn disable(State(api): State<Api>) -> Response {
    set_enabled(api, false).await
}

async fn set_enabled(api: Api, enabled: bool) -> Response {
    match api
        .ask(|reply| Request::SetEnabled { enabled, reply })
        .await
    {
        Ok(Ok(())) => {
            let word = if enabled { "enabled" } else { "disabled" };
            Json(json!({ api.host(): word })).into_response()
        }
        Ok(Err(e)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e}))).into_response()
        }
        Err(response) => response,
    }
}

async fn tasks(State(api): State<Api>) -> Json<Vec<String>> {
    Json(api.view.borrow().logs.keys().cloned().collect())
}

async fn shutdown(State(api): State<Api>, Path(id): Path<String>) -> Response {
    if let Err(e) = validate_id("Task ID", &id) {
        return error(StatusCode::BAD_REQUEST, e);
    }
    let task = id.clone();
    match api.ask(|reply| Request::Shutdown { id: task, reply }).await {
        Ok(_) => Json(json!({ "task": id })).into_response(),
        Err(response) => response,
    }
}

async fn log(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(e) = validate_id("Task ID", &id) {
        return error(StatusCode::BAD_REQUEST, e);
    }
    let offset = match params.get("offset").map(|o| o.trim().parse::<i64>()) {
        None => 0,
        Some(Ok(offset)) => offset,
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "offset must be an integer".to_string(),
            )
        }
    };
    let not_here = || {
        error(
            StatusCode::NOT_FOUND,
            format!("No log was found for task [{id}]: it is not running on this MiddleManager"),
        )
    };
    let Some(path) = api.view.borrow().logs.get(&id).cloned() else {
        return not_here();
    };
    match tokio::task::spawn_blocking(move || steward_cluster::read_log(&path, offset)).await {
        Ok(Ok(bytes)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response()
        }
        // The task ended and its dir went away after the lookup.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => not_here(),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Cannot read the log of task [{id}]: {e}"),
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Cannot read the log of task [{id}]: {e}"),
        ),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}
