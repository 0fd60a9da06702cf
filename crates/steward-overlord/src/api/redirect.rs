//! Druid's `RedirectFilter`: what an Overlord that does not lead answers in front of the task
//! API; and the leadership check of routes that answer from the store alone.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::unavailable;
use super::state::AppState;

pub(super) const V1_PREFIX: &str = "/druid/indexer/v1/";

/// Druid's redirect on a non-leader: 307 to the same path and query on the leader, 503 when no
/// leader is known. `leader` and `isLeader` are exempt, and so is everything outside the task
/// API.
pub(super) async fn redirect_to_leader(
    State(s): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
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

/// In front of an Overlord route whose handler needs only the store (its segment changes):
/// 503 unless this Overlord's term runs, as Druid's `isHalfOrFullLeader` check answers, so that
/// a leader whose term has not started yet does not act as one.
pub(super) async fn require_term(State(s): State<AppState>, req: Request, next: Next) -> Response {
    match s.overlord() {
        Ok(_) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}
