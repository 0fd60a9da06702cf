//! Who leads (`leader`, `isLeader`) and how this process is (`/status`).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::errors::unavailable;
use super::state::AppState;

/// The leader's URL as bare text, as Druid answers; 503 (empty) while no leader is known (Druid
/// answers an empty body then).
pub(super) async fn leader(State(s): State<AppState>) -> Response {
    match s.master.leadership().leader {
        Some(url) => ([(header::CONTENT_TYPE, "application/json")], url).into_response(),
        None => unavailable(
            "No Overlord is leading at the moment (an election is under way); retry later",
        ),
    }
}

/// 200 `{"leader":true}` on a leader whose term is running, else 404 `{"leader":false}`: load
/// balancers use it as a health check that only the leader passes.
pub(super) async fn is_leader(State(s): State<AppState>) -> Response {
    if s.master.overlord().is_some() {
        Json(json!({ "leader": true })).into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({ "leader": false }))).into_response()
    }
}

pub(super) async fn status() -> Json<Value> {
    Json(status_body())
}

/// Druid's `/status` body, with the process's resident memory added as `memory.rssBytes` (the
/// figure operators actually watch for a native process).
fn status_body() -> Value {
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

pub(super) fn read_kb(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub(super) fn proc_status_kb(key: &str) -> Option<u64> {
    read_kb("/proc/self/status", key)
}

pub(super) fn proc_meminfo_kb(key: &str) -> Option<u64> {
    read_kb("/proc/meminfo", key)
}
