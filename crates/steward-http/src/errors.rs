//! Druid's error shape for every error answer: `{"error": "..."}` as JSON.
//!
//! Handlers answer their own errors in Druid's shapes, but some answers come from the framework
//! (405 for a wrong method, 404 for an unknown path, 400 for a query string that does not
//! parse, 413 for a body over a limit) as empty or plain-text bodies. A client that parses
//! every error as JSON (Druid's console and clients do) would choke on those, so this layer
//! rewrites any error answer that is not JSON into the shape, keeping status and headers.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// The longest plain-text error body carried over into the JSON message; framework messages
/// are one line.
const MAX_TEXT: usize = 16 * 1024;

/// `{"error": message}` as a response body.
pub fn error_body(message: &str) -> Body {
    Body::from(serde_json::json!({ "error": message }).to_string())
}

/// Axum middleware (`axum::middleware::from_fn(json_errors)`) that turns every non-JSON error
/// answer into `{"error": "<its text or the status's reason>"}`.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_TEXT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        default_message(status)
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, error_body(&message))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn default_message(status: StatusCode) -> String {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed on this path".to_string(),
        StatusCode::NOT_FOUND => "Not found".to_string(),
        s => s.canonical_reason().unwrap_or("Error").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    async fn call(router: Router, method: &str, uri: &str) -> (StatusCode, String, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let res = router.oneshot(req).await.unwrap();
        let status = res.status();
        let ct = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    fn router() -> Router {
        Router::new()
            .route("/ok", get(|| async { "fine" }))
            .route(
                "/text",
                get(|| async { (StatusCode::BAD_REQUEST, "offset must be an integer") }),
            )
            .route(
                "/json",
                get(|| async {
                    (
                        StatusCode::CONFLICT,
                        [(header::CONTENT_TYPE, "application/json")],
                        r#"{"error":"mine"}"#,
                    )
                }),
            )
            .layer(axum::middleware::from_fn(json_errors))
    }

    #[tokio::test]
    async fn error_answers_become_druid_json_and_others_are_untouched() {
        assert_eq!(
            call(router(), "GET", "/ok").await,
            (
                StatusCode::OK,
                "text/plain; charset=utf-8".into(),
                "fine".into()
            )
        );
        let (status, ct, body) = call(router(), "GET", "/text").await;
        assert_eq!(
            (status, ct.as_str()),
            (StatusCode::BAD_REQUEST, "application/json")
        );
        assert_eq!(body, r#"{"error":"offset must be an integer"}"#);
        let (status, _, body) = call(router(), "POST", "/ok").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body, r#"{"error":"Method not allowed on this path"}"#);
        let (status, _, body) = call(router(), "GET", "/nowhere").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, r#"{"error":"Not found"}"#);
        assert_eq!(
            call(router(), "GET", "/json").await.2,
            r#"{"error":"mine"}"#
        );
    }
}
