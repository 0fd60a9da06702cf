//! Druid's Overlord HTTP API (`/druid/indexer/v1/...`, `/status`), on top of [`Overlord`].
//!
//! Paths, parameters, bodies and status codes follow Druid (reference §6.1–6.2). Where Druid
//! answers bad input with a 500 (malformed JSON) Steward answers 400: the client's mistake is
//! not a server error, and every error is JSON. Active tasks are answered from memory, finished
//! ones from the metadata store with bounded queries.
//!
//! One file per concept: `tasks` (one task at a time), `listings`, `workers`,
//! `dynamic_config`, `status` (leader, `/status`), `metrics` (`/metrics`, for Prometheus),
//! `actions` (the task action endpoint peons call), `locks` (what the lockbox holds),
//! `metadata` (Druid's Coordinator metadata API: datasources and segments), `datasources`
//! (marking segments used or unused, deleting pending segments), `console_tasks` and
//! `console_datasources` (Steward's own `/druid/indexer/v1/steward/...` reads for the web
//! console: a page of tasks, datasource summaries); `extract` checks ids and
//! per-task and per-datasource permissions before a handler runs, `errors` holds Druid's
//! error shapes, `state` what the handlers share, `redirect` the standby's redirect. Modules
//! depend downwards only (handlers on extract, state and errors; the router here on the
//! handlers).
//!
//! # No Coordinator
//!
//! Steward has no separate Coordinator: what Druid's Coordinator serves about segment metadata
//! (`/druid/coordinator/v1/metadata/...` and its deprecated segment changes under
//! `/druid/coordinator/v1/datasources/...`) every Overlord serves from the metadata store,
//! whether it leads or not; those paths are never redirected. The Overlord's own segment
//! changes (`/druid/indexer/v1/datasources/...`, `pendingSegments`) are task API paths like
//! any other: redirected by a standby, served by the leader during its term.
//!
//! # Leadership
//!
//! Every Overlord serves this API; only the leader serves it from its queue and runner. In front
//! of the routes, an Overlord that does not lead answers every `/druid/indexer/v1/*` request
//! with 307 to the same path and query on the leader, or 503 while no leader is known, as Druid
//! does; `leader` and `isLeader` are answered locally, as is `/status`. A leader whose term has
//! not started yet (or is stopping) answers 503 from the handlers.
//!
//! # Security
//!
//! With Druid's basic security on, every request but `/status/health` and `isLeader` is
//! authenticated before anything else (a standby does not redirect anonymous callers), routes
//! with a fixed permission (STATE, CONFIG) are guarded in the router, per-task and
//! per-datasource permissions are checked by the extractors, and listings leave out what the
//! caller may not read.
//!
//! # The web console
//!
//! The console's pages ([`crate::console`]) are merged into this router inside the
//! authentication layer, so that an anonymous browser gets the 401 challenge and logs in, and
//! outside the standby's redirect: every Overlord serves them, and the pages say where the
//! leader is.

mod actions;
mod console_datasources;
mod console_tasks;
mod datasources;
mod dynamic_config;
mod errors;
mod extract;
mod listings;
mod locks;
mod metadata;
mod metrics;
mod redirect;
mod state;
mod status;
mod tasks;
mod workers;

use axum::middleware;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use steward_cluster::{AlwaysLeader, LeaderElection};
use steward_http::json_errors;
use steward_security::{guarded, Action, Resource};

use crate::driver::Overlord;
use crate::master::TaskMaster;
use actions::do_action;
use console_datasources::data_source_table;
use console_tasks::task_page;
use datasources::{
    delete_pending_segments, mark_all_unused, mark_all_used, mark_filtered, mark_segment_unused,
    mark_segment_used,
};
use dynamic_config::{get_worker_config, set_worker_config, worker_config_history};
use listings::{list_state, list_tasks};
use locks::{active_locks, locked_intervals};
use metadata::{
    get_data_source, get_segment, get_unused_segments, get_used_segments, list_data_sources,
    list_segments, post_used_segments,
};
use metrics::metrics;
use redirect::{redirect_to_leader, require_term};
pub use state::ApiConfig;
use state::AppState;
use status::{is_leader, leader, status};
use tasks::{
    get_task, get_task_log, get_task_reports, get_task_segments, get_task_status, shutdown_all,
    shutdown_task, submit_task, task_statuses,
};
use workers::{toggle_worker, total_worker_capacity, workers};

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
        .route(&format!("{v1}/steward/tasks"), get(task_page))
        .route(&format!("{v1}/steward/datasources"), get(data_source_table))
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
        // Druid's `StateResourceFilter` asks WRITE of every POST, queries included.
        .route(&format!("{v1}/action"), state_write(post(do_action)))
        .route(
            &format!("{v1}/lockedIntervals/v2"),
            state_write(post(locked_intervals)),
        )
        .route(
            &format!("{v1}/activeLocks"),
            state_write(post(active_locks)),
        )
        .route(&format!("{v1}/leader"), state_read(get(leader)))
        .route(&format!("{v1}/isLeader"), get(is_leader))
        .route(
            &format!("{v1}/pendingSegments/{{ds}}"),
            delete(delete_pending_segments),
        )
        .route("/status", state_read(get(status)))
        .route("/metrics", state_read(get(metrics)))
        .route("/status/health", get(|| async { Json(true) }))
        .merge(
            segment_changes(v1)
                .route_layer(middleware::from_fn_with_state(state.clone(), require_term)),
        )
        .merge(segment_changes(COORDINATOR_V1))
        .merge(segment_metadata())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            redirect_to_leader,
        ))
        .with_state(state)
        .merge(crate::console::router());
    // Authentication comes before the redirect: a standby does not send anonymous callers on.
    let api = match &security {
        Some(security) => api.merge(security.router()).layer(security.layer()),
        None => api,
    };
    api.layer(middleware::from_fn(json_errors))
}

const COORDINATOR_V1: &str = "/druid/coordinator/v1";

/// Druid's `MetadataResource`: reads of datasources and their segments.
fn segment_metadata() -> Router<AppState> {
    let metadata = format!("{COORDINATOR_V1}/metadata");
    let ds = format!("{metadata}/datasources/{{ds}}");
    Router::new()
        .route(&format!("{metadata}/datasources"), get(list_data_sources))
        .route(&ds, get(get_data_source))
        .route(
            &format!("{ds}/segments"),
            get(get_used_segments).post(post_used_segments),
        )
        .route(&format!("{ds}/segments/{{segmentId}}"), get(get_segment))
        .route(&format!("{ds}/unusedSegments"), get(get_unused_segments))
        .route(&format!("{metadata}/segments"), get(list_segments))
}

/// Druid's segment changes of a datasource under `prefix`: the Overlord's
/// (`OverlordDataSourcesResource`) and the Coordinator's deprecated ones
/// (`DataSourcesResource`), the same paths below each.
fn segment_changes(prefix: &str) -> Router<AppState> {
    let ds = format!("{prefix}/datasources/{{ds}}");
    Router::new()
        .route(&ds, post(mark_all_used).delete(mark_all_unused))
        .route(
            &format!("{ds}/markUsed"),
            post(|s, d, b| mark_filtered(s, d, b, true)),
        )
        .route(
            &format!("{ds}/markUnused"),
            post(|s, d, b| mark_filtered(s, d, b, false)),
        )
        .route(
            &format!("{ds}/segments/{{segmentId}}"),
            post(mark_segment_used).delete(mark_segment_unused),
        )
}

#[cfg(test)]
mod tests;
