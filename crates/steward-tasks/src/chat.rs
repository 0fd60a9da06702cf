//! The peon's chat handler (Druid's `ChatHandlerResource`): the HTTP endpoints a running task
//! serves on the port its MiddleManager gave it, under `/druid/worker/v1/chat/{taskId}/`.
//!
//! Ingestion tasks serve `rowStats`, `unparseableEvents` and `liveReports` there while they
//! run; the Overlord's `reports` endpoint reads `liveReports` for a running task. The server
//! starts only when a task has something to serve, so a `noop` peon opens no port.
//!
//! Only Steward's own processes call it: with authentication on, a request must carry the
//! internal client's (escalator's) credentials, which every peon and Overlord has; users reach
//! the same data through the Overlord, which checks their own permissions first.
//!
//! [`ChatClient`] is the other side: how a peon calls another peon's chat handler (an
//! `index_parallel` sub-task its supervisor's), with those same credentials.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use steward_http::InternalClient;
use steward_http::{
    basic_authorization, error_body, json_errors, path_segment, serve, server_tls_config,
    Connections, ServerHandle, ServerLimits, TlsServerConfig,
};
use steward_model::peon::PeonConfig;
use steward_model::TaskLocation;

/// How this peon serves its chat handler.
#[derive(Clone)]
pub struct ChatServer {
    address: SocketAddr,
    tls: Option<Arc<TlsServerConfig>>,
    /// The `Authorization` header every request must carry, when authentication is on.
    authorization: Option<HeaderValue>,
}

impl std::fmt::Debug for ChatServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatServer")
            .field("address", &self.address)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Connections a peon's chat handler serves at once: its callers are a few Overlords and,
/// for a supervisor task, its sub-tasks.
const MAX_CONNECTIONS: usize = 256;

impl ChatServer {
    /// The chat server of a peon listening on `port`, as `config` (its MiddleManager's) says.
    pub fn new(config: &PeonConfig, port: u16) -> Result<ChatServer, String> {
        let ip = match &config.chat.bind_address {
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Some(a) => a
                .parse()
                .map_err(|_| format!("Chat handler bind address [{a}] is not an IP address"))?,
        };
        let tls = match &config.chat.tls {
            None => None,
            Some(tls) => {
                Some(server_tls_config(&tls.cert_path, &tls.key_path).map_err(|e| e.to_string())?)
            }
        };
        let authorization = match &config.escalator {
            None => None,
            Some(c) => Some(
                basic_authorization(&c.username, &c.password).ok_or_else(|| {
                    "The internal client's user name or password cannot be sent in an HTTP header"
                        .to_string()
                })?,
            ),
        };
        Ok(ChatServer {
            address: SocketAddr::new(ip, port),
            tls,
            authorization,
        })
    }

    /// Serves `routes` under `/druid/worker/v1/chat/{task_id}` until the handle is aborted
    /// or the peon exits.
    pub fn serve(&self, task_id: &str, routes: Router) -> Result<ServerHandle, String> {
        let listener = std::net::TcpListener::bind(self.address)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::TcpListener::from_std)
            .map_err(|e| format!("Cannot serve the chat handler on [{}]: {e}", self.address))?;
        let expected = self.authorization.clone();
        let router = Router::new()
            .nest(&chat_path(task_id), routes)
            .layer(middleware::from_fn(move |req: Request, next: Next| {
                let expected = expected.clone();
                async move { authorize(expected.as_ref(), req, next).await }
            }))
            .layer(middleware::from_fn(json_errors));
        let limits = ServerLimits {
            max_idle_time: Duration::from_secs(300),
            header_read_timeout: Duration::from_secs(30),
            max_request_header_size: 8 * 1024,
            connections: Connections::new(MAX_CONNECTIONS),
        };
        Ok(serve(listener, router, self.tls.clone(), limits))
    }
}

/// How this peon calls other peons' chat handlers.
#[derive(Debug, Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    /// Its MiddleManager's: every MiddleManager of a cluster serves the same scheme, and a
    /// task's location (from the Overlord) has a host and port only.
    scheme: &'static str,
}

impl ChatClient {
    /// A client with the internal client's CA and credentials, for a peon of a MiddleManager
    /// configured as `config` says.
    pub fn new(config: &PeonConfig, internal: &InternalClient) -> Result<ChatClient, String> {
        let http = internal
            .builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("Cannot build the chat handler client: {e}"))?;
        Ok(ChatClient {
            http,
            scheme: if config.chat.tls.is_some() {
                "https"
            } else {
                "http"
            },
        })
    }

    /// The root of `task_id`'s chat handler at `location`; `None` while the location is
    /// unknown.
    pub fn base_url(&self, location: &TaskLocation, task_id: &str) -> Option<String> {
        let host = location.host.as_deref()?;
        (location.port > 0).then(|| {
            format!(
                "{}://{host}:{}{}",
                self.scheme,
                location.port,
                chat_path(task_id)
            )
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// Where a task's chat handler lives on its peon.
pub fn chat_path(task_id: &str) -> String {
    format!("/druid/worker/v1/chat/{}", path_segment(task_id))
}

async fn authorize(expected: Option<&HeaderValue>, req: Request, next: Next) -> Response {
    match expected {
        Some(expected) if req.headers().get(header::AUTHORIZATION) != Some(expected) => (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            error_body("Unauthorized: the chat handler answers Steward's own processes only"),
        )
            .into_response(),
        _ => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use steward_model::peon::{BasicCredentials, RetryPolicy, StorageConfig};

    fn config(escalator: Option<BasicCredentials>) -> PeonConfig {
        PeonConfig {
            overlord_urls: vec![],
            storage: StorageConfig::Local {
                storage_directory: "/tmp".into(),
                zip: false,
            },
            retry: RetryPolicy::default(),
            escalator,
            ca_path: None,
            chat: steward_model::peon::ChatConfig {
                bind_address: Some("127.0.0.1".into()),
                tls: None,
            },
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[tokio::test]
    async fn serves_the_task_routes_to_internal_callers_only() {
        steward_http::install_crypto_provider();
        let port = free_port();
        let credentials = BasicCredentials {
            username: "druid_system".into(),
            password: "pw".into(),
        };
        let server = ChatServer::new(&config(Some(credentials)), port).unwrap();
        let handle = server
            .serve(
                "task 1",
                Router::new().route("/rowStats", get(|| async { "{}" })),
            )
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/druid/worker/v1/chat/task%201/rowStats");
        let client = reqwest::Client::new();
        let anonymous = client.get(&url).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let body: serde_json::Value = anonymous.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("Unauthorized"));
        let ok = client
            .get(&url)
            .basic_auth("druid_system", Some("pw"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.text().await.unwrap(), "{}");
        let other_task = client
            .get(format!(
                "http://127.0.0.1:{port}/druid/worker/v1/chat/task2/rowStats"
            ))
            .basic_auth("druid_system", Some("pw"))
            .send()
            .await
            .unwrap();
        assert_eq!(other_task.status(), StatusCode::NOT_FOUND);
        handle.abort();
    }

    #[test]
    fn a_bad_bind_address_is_refused() {
        let mut c = config(None);
        c.chat.bind_address = Some("not-an-ip".into());
        assert!(ChatServer::new(&c, 1).unwrap_err().contains("not-an-ip"));
    }
}
