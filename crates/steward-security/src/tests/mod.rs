//! Tests of the request side and the management API through HTTP requests to in-memory routers
//! (`tower::ServiceExt::oneshot`, no sockets), against real SQLite stores in temporary
//! directories.

mod management;
mod middleware;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Extension;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use steward_metadata::{open_store, MetadataStore};
use tempfile::TempDir;
use tower::ServiceExt;

use crate::config::tests::{example, read};
use crate::{Identity, Security, SecurityConfig};

/// Druid's example configuration with `changes` applied.
fn config(changes: &[(&str, &str)]) -> SecurityConfig {
    let mut properties = example();
    for (key, value) in changes {
        properties.insert(key.to_string(), value.to_string());
    }
    read(&properties).unwrap().unwrap()
}

/// A SQLite metadata store in a temporary directory.
struct TestStore {
    dir: TempDir,
}

impl TestStore {
    fn new() -> TestStore {
        TestStore {
            dir: TempDir::new().unwrap(),
        }
    }

    /// A new connection to the store, as a second Overlord would have.
    async fn open(&self) -> Arc<dyn MetadataStore> {
        let uri = format!("sqlite:{}", self.dir.path().join("metadata.db").display());
        open_store(&uri, None, None, "druid").await.unwrap()
    }
}

/// A process's routes: `/whoami` answers the request's identity; the management API; all under
/// the authentication layer, as the Overlord wires them.
fn app(security: &Security) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|Extension(who): Extension<Identity>| async move {
                Json(json!({"name": who.name, "authorizer": who.authorizer}))
            }),
        )
        .route("/status/health", get(|| async { Json(true) }))
        .merge(security.router())
        .layer(security.layer())
}

fn basic(user: &str, password: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "Basic {}",
        STANDARD.encode(format!("{user}:{password}"))
    ))
    .unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// Sends one request; `body` is sent as is (JSON text or anything else). The answer's body is
/// parsed as JSON, `null` when empty.
async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    credentials: Option<(&str, &str)>,
    body: Option<&str>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some((user, password)) = credentials {
        request = request.header(AUTHORIZATION, basic(user, password));
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Waits until `condition` holds, failing the test after a deadline.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, condition: impl Fn() -> F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
