//! Error answers in Druid's shapes: `{"error": ...}`, Druid's `DruidException` body, 403's
//! `Access-Check-Result`, and 503s that say when to come back.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use steward_metadata::StoreError;
use steward_model::DruidError;
use steward_security::forbidden;

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
    /// An error about one field of the request body: the inner error's body with a `field`
    /// member naming it, a JSON path such as `spec.ioConfig.inputSource.baseDir`.
    Field(Box<ApiError>, String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = match self {
            ApiError::Simple(code, msg) => (code, Json(json!({ "error": msg }))).into_response(),
            ApiError::Druid(code, body) => (code, Json(*body)).into_response(),
            ApiError::Unavailable(msg) => unavailable(&msg),
            ApiError::Forbidden => forbidden(),
            ApiError::Field(error, field) => with_field(*error, field),
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

/// `error`'s answer with `field` added to its JSON body.
fn with_field(error: ApiError, field: String) -> Response {
    let (code, mut body) = match error {
        ApiError::Simple(code, msg) => (code, json!({ "error": msg })),
        ApiError::Druid(code, body) => (
            code,
            serde_json::to_value(*body).expect("a DruidError serialises"),
        ),
        other => return other.into_response(),
    };
    body["field"] = field.into();
    (code, Json(body)).into_response()
}

impl ApiError {
    /// The same error, naming the field it is about, if known.
    pub(super) fn about(self, field: Option<&str>) -> ApiError {
        match field {
            Some(field) => ApiError::Field(Box::new(self), field.to_string()),
            None => self,
        }
    }

    pub(super) fn druid(
        code: StatusCode,
        category: &str,
        error_code: &str,
        msg: impl Into<String>,
    ) -> Self {
        ApiError::Druid(code, Box::new(DruidError::user(category, error_code, msg)))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(_) => invalid_input(e.to_string()),
            // What is stored contradicts the request: a retry fails alike until the rows change.
            StoreError::Conflict(m) => {
                ApiError::druid(StatusCode::CONFLICT, "CONFLICT", "general", m)
            }
            e => ApiError::druid(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "serviceUnavailable",
                e.to_string(),
            ),
        }
    }
}

pub(super) fn invalid_input(msg: impl Into<String>) -> ApiError {
    ApiError::druid(
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
        "invalidInput",
        msg,
    )
}

pub(super) fn bad_param(msg: impl Into<String>) -> ApiError {
    ApiError::Simple(StatusCode::BAD_REQUEST, msg.into())
}

/// Druid's resource filter answers this (as plain text; Steward answers JSON like every other
/// error).
pub(super) fn task_not_found(id: &str) -> ApiError {
    ApiError::Simple(
        StatusCode::NOT_FOUND,
        format!("Cannot find any task with id: [{id}]"),
    )
}

/// Seconds a client is asked to wait before retrying a 503: about the time a standby needs to
/// take over or a new term to load.
pub(super) const RETRY_AFTER_SECS: &str = "5";

pub(super) fn not_leading() -> ApiError {
    ApiError::Unavailable(
        "This Overlord is not leading at the moment (a leader election or the start of its term is under way); retry later".into(),
    )
}

pub(super) fn unavailable(msg: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, RETRY_AFTER_SECS)],
        Json(json!({ "error": msg })),
    )
        .into_response()
}

pub(super) type ApiResult<T> = Result<T, ApiError>;
