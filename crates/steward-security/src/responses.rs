//! The answers Druid gives when security says no, as JSON: 401 with a `WWW-Authenticate`
//! challenge so that browsers and `curl --anyauth` ask for credentials, 403 with Druid's
//! `Access-Check-Result`, and the `{"error": ...}` bodies of the management API.

use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::authenticator::AuthFailure;

/// The challenge. Druid sends a bare `Basic`; RFC 7617 asks for a realm, and the charset tells
/// browsers to send non-ASCII passwords as UTF-8, which is what the passwords were hashed as.
const CHALLENGE: &str = r#"Basic realm="druid", charset="UTF-8""#;

/// 403 as Druid answers a failed authorization check: `{"Access-Check-Result":"Unauthorized"}`.
pub fn forbidden() -> Response {
    let body = json!({"Access-Check-Result": "Unauthorized"});
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

/// 401 with the body of Druid's `PreResponseAuthorizationCheckFilter` (a `QueryException` with
/// error `Unauthorized request` and the answering host). Druid answers a wrong password with a
/// container error page instead; here it is the same JSON, with `errorMessage` saying so.
pub(crate) fn unauthorized(host: &str, failure: AuthFailure) -> Response {
    let message = match failure {
        AuthFailure::NoCredentials => None,
        AuthFailure::Malformed | AuthFailure::BadCredentials => Some("User authentication failed."),
        AuthFailure::Busy => return busy(),
    };
    let body = json!({
        "error": "Unauthorized request",
        "errorMessage": message,
        "errorClass": null,
        "host": host,
    });
    let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
    response
}

/// 503 while too many password checks wait: the client may come back in a second.
fn busy() -> Response {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Too many logins are being checked at the moment; retry later",
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Druid's `{"error": "..."}` answer.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}
