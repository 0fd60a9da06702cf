//! Druid's dynamic worker config (`/worker`, `/worker/history`): stored in the metadata store
//! with an audit trail of who changed it; a `POST` answers once the runner assigns with it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use jiff::Timestamp;
use serde_json::{json, Value};
use steward_metadata::{AuditEntry, AuditInfo};
use steward_model::time::{format_ts, parse_interval};
use steward_security::Identity;

use super::errors::{not_leading, ApiError, ApiResult};
use super::extract::Caller;
use super::state::AppState;
use crate::driver::WorkerConfigError;

/// The stored config as it was posted. Never set: 200 with an empty body, as Druid answers
/// (the runner then uses Druid's default, `equalDistribution`).
pub(super) async fn get_worker_config(State(s): State<AppState>) -> ApiResult<Response> {
    let body = s.overlord()?.worker_config().await?.unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Druid's audit headers.
pub(super) const AUTHOR_HEADER: &str = "X-Druid-Author";
pub(super) const COMMENT_HEADER: &str = "X-Druid-Comment";

/// Who changed the config, for its audit entry: the identity the caller authenticated as, and
/// what its headers say. The address is the connection's peer, as Druid records it, when the
/// server was started with connect info; otherwise the first `X-Forwarded-For` entry, else
/// empty.
pub(super) fn audit_info(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    who: Option<&Identity>,
) -> AuditInfo {
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

pub(super) async fn set_worker_config(
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
pub(super) const DEFAULT_AUDIT_HISTORY: Duration = Duration::from_secs(7 * 86_400);

/// Which audit entries `worker/history` lists.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HistoryParams {
    created_after: Option<Timestamp>,
    created_before: Option<Timestamp>,
    limit: Option<usize>,
}

/// `interval` (ISO `start/end`, end exclusive) and `count` (the newest n) combine; with neither,
/// the last week. Druid ignores `count` when `interval` is given; Steward applies both.
pub(super) fn parse_history_params(
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
pub(super) fn audit_entry_json(e: AuditEntry) -> Value {
    json!({
        "key": e.key,
        "type": e.audit_type,
        "auditInfo": e.audit_info,
        "payload": e.payload,
        "auditTime": format_ts(e.audit_time),
    })
}

pub(super) async fn worker_config_history(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(instant: &str) -> Timestamp {
        steward_model::time::parse_instant(instant).unwrap()
    }

    #[test]
    fn audit_info_takes_the_peer_address_then_x_forwarded_for() {
        let mut headers = HeaderMap::new();
        headers.insert("X-Druid-Author", "alice".parse().unwrap());
        headers.insert("X-Druid-Comment", "why not".parse().unwrap());
        headers.insert("X-Forwarded-For", "203.0.113.7, 10.0.0.1".parse().unwrap());
        let peer: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        assert_eq!(
            audit_info(&headers, Some(peer), None),
            AuditInfo {
                author: "alice".into(),
                identity: String::new(),
                comment: "why not".into(),
                ip: "192.0.2.1".into(),
            }
        );
        assert_eq!(audit_info(&headers, None, None).ip, "203.0.113.7");
        assert_eq!(
            audit_info(&HeaderMap::new(), None, None),
            AuditInfo::default()
        );
        let bob = Identity {
            name: "bob".into(),
            authorizer: "basic".into(),
        };
        assert_eq!(audit_info(&headers, None, Some(&bob)).identity, "bob");
    }

    #[test]
    fn history_params_combine_interval_and_count_and_default_to_the_last_week() {
        let now = at("2026-03-08T12:00:00Z");
        let params = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            parse_history_params(&params(&[]), now).unwrap(),
            HistoryParams {
                created_after: Some(at("2026-03-01T12:00:00Z")),
                created_before: None,
                limit: None,
            }
        );
        assert_eq!(
            parse_history_params(&params(&[("count", "5")]), now).unwrap(),
            HistoryParams {
                created_after: None,
                created_before: None,
                limit: Some(5),
            },
            "count alone: the newest entries, however old"
        );
        assert_eq!(
            parse_history_params(
                &params(&[("interval", "2026-01-01/2026-02-01"), ("count", "2")]),
                now
            )
            .unwrap(),
            HistoryParams {
                created_after: Some(at("2026-01-01")),
                created_before: Some(at("2026-02-01")),
                limit: Some(2),
            }
        );
        for bad in [
            params(&[("count", "-1")]),
            params(&[("count", "1.5")]),
            params(&[("interval", "2026-02-01/2026-01-01")]),
            params(&[("interval", "2026-01-01")]),
        ] {
            assert!(parse_history_params(&bad, now).is_err(), "{bad:?}");
        }
    }
}
