//! The Overlord's HTTP API as the CLI calls it: where it is and how to log in
//! ([`ClientOptions`]), one pooled client ([`OverlordClient`]), and failures classified by
//! what the user can do about them ([`ClientError`], [`exit_code`]).

use std::collections::HashMap;
use std::error::Error as _;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use steward_model::{TaskStatus, TaskStatusPlus};

use super::tables::truncate;

/// A stalled Overlord is reported after this long without a byte. It is a per-read limit rather
/// than a total one so that downloading a long task log is not cut off.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Error bodies longer than this (HTML pages, stack traces) are cut so the error stays readable.
const MAX_ERROR_BODY: usize = 1000;

/// A failure talking to the Overlord, classified by what the user can do about it.
#[derive(Debug)]
pub enum ClientError {
    /// No HTTP answer: connection refused, unknown host, timeout, connection lost.
    Unreachable { overlord: String, reason: String },
    /// The Overlord answered with an error status; `message` is the server's own explanation.
    Http { status: StatusCode, message: String },
    /// A success status whose body is not what the API promises.
    BadAnswer { url: String, detail: String },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Unreachable { overlord, reason } => write!(
                f,
                "cannot reach the Overlord at {overlord} ({reason}). Is 'steward quickstart' \
                 running? Set --overlord or STEWARD_OVERLORD."
            ),
            ClientError::Http { status, message } => write!(f, "{message} (HTTP {status})"),
            ClientError::BadAnswer { url, detail } => {
                write!(f, "unexpected answer from the Overlord at {url}: {detail}")
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// The exit code for a failed command: 2 when the Overlord could not be reached, else 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    match err.downcast_ref::<ClientError>() {
        Some(ClientError::Unreachable { .. }) => 2,
        _ => 1,
    }
}

/// Where the Overlord is and how to talk to it: shared by every command that calls it.
#[derive(clap::Args, Clone)]
pub struct ClientOptions {
    /// Overlord base URL (http:// or https://).
    #[arg(
        long,
        global = true,
        env = "STEWARD_OVERLORD",
        default_value = "http://localhost:8090"
    )]
    pub overlord: String,
    /// User name when the Overlord requires authentication (Druid's basic security).
    #[arg(long, global = true, env = "STEWARD_USER")]
    pub user: Option<String>,
    /// Password of --user. Prefer the environment variable: a flag shows in `ps`.
    #[arg(long, global = true, env = "STEWARD_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// PEM file of CA certificates to trust for https:// besides the system's.
    #[arg(long, global = true, env = "STEWARD_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("overlord", &self.overlord)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

impl ClientOptions {
    /// Plain options for an Overlord at `url`: no credentials, the system's CAs.
    pub fn url(url: &str) -> Self {
        ClientOptions {
            overlord: url.to_string(),
            user: None,
            password: None,
            ca_cert: None,
        }
    }
}

/// A connection-pooling client for one Overlord.
#[derive(Debug, Clone)]
pub struct OverlordClient {
    http: reqwest::Client,
    base: Url,
    /// `base` without its trailing slash, for messages.
    shown: String,
}

impl OverlordClient {
    /// `options.overlord` is the Overlord's base URL, e.g. `http://localhost:8090`; a bare
    /// `host:port` means plain HTTP.
    pub fn new(options: &ClientOptions) -> anyhow::Result<Self> {
        let given = options.overlord.trim();
        let with_scheme = if given.contains("://") {
            given.to_string()
        } else {
            format!("http://{given}")
        };
        let base =
            Url::parse(&with_scheme).map_err(|e| anyhow!("invalid Overlord URL '{given}': {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            bail!("invalid Overlord URL '{given}': only http:// and https:// are supported");
        }
        let ca = match &options.ca_cert {
            Some(path) => steward_http::load_ca(path)?,
            None => Vec::new(),
        };
        let authorization = match (&options.user, &options.password) {
            (Some(user), password) => Some(
                steward_http::basic_authorization(user, password.as_deref().unwrap_or(""))
                    .context("the user name or password cannot be sent in an HTTP header")?,
            ),
            (None, Some(_)) => bail!("--password (STEWARD_PASSWORD) needs --user (STEWARD_USER)"),
            (None, None) => None,
        };
        // The Overlord is local or cluster-internal; an HTTP_PROXY meant for the internet would
        // only add a hop (and distort the benchmark's latencies).
        let http = steward_http::InternalClient { ca, authorization }
            .builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .no_proxy()
            .build()
            .context("cannot create the HTTP client")?;
        let shown = base.as_str().trim_end_matches('/').to_string();
        Ok(OverlordClient { http, base, shown })
    }

    /// The Overlord's base URL, scheme included, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.shown
    }

    /// The URL of `path` (segments, percent-encoded here) below the base URL.
    pub fn url(&self, path: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http:// URL always has a path")
            .pop_if_empty()
            .extend(path);
        url
    }

    pub(super) fn indexer_url(&self, path: &[&str]) -> Url {
        let mut full = vec!["druid", "indexer", "v1"];
        full.extend_from_slice(path);
        self.url(&full)
    }

    /// The URL of `path` below Druid's Coordinator API (`/druid/coordinator/v1`), which a
    /// Steward Overlord serves itself.
    pub(super) fn coordinator_url(&self, path: &[&str]) -> Url {
        let mut full = vec!["druid", "coordinator", "v1"];
        full.extend_from_slice(path);
        self.url(&full)
    }

    pub(super) fn unreachable(&self, err: &reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            overlord: self.shown.clone(),
            reason: unreachable_reason(err),
        }
    }

    /// Sends a request; any non-2xx answer becomes [`ClientError::Http`] with the server's message.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let resp = steward_http::send(req)
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        Err(ClientError::Http {
            status,
            message: error_message(status, &body),
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = self.send(req).await?;
        let url = resp.url().to_string();
        let body = resp.bytes().await.map_err(|e| self.unreachable(&e))?;
        serde_json::from_slice(&body).map_err(|e| ClientError::BadAnswer {
            url,
            detail: e.to_string(),
        })
    }

    /// `POST /druid/indexer/v1/task` with a JSON task spec; returns the server's answer
    /// (`{"task": id}`).
    pub async fn submit_raw(&self, spec: impl Into<reqwest::Body>) -> Result<Value, ClientError> {
        let req = self
            .http
            .post(self.indexer_url(&["task"]))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(spec);
        self.json(req).await
    }

    /// Submits a task spec and returns the new task's id.
    pub async fn submit(&self, spec: impl Into<reqwest::Body>) -> Result<String, ClientError> {
        let answer = self.submit_raw(spec).await?;
        self.submitted_id(&answer)
    }

    /// The task id in an answer of [`OverlordClient::submit_raw`].
    pub fn submitted_id(&self, answer: &Value) -> Result<String, ClientError> {
        match answer.get("task").and_then(Value::as_str) {
            Some(id) => Ok(id.to_string()),
            None => Err(ClientError::BadAnswer {
                url: self.indexer_url(&["task"]).to_string(),
                detail: format!("no task id in {answer}"),
            }),
        }
    }

    /// `GET task/{id}/status` as the server sent it (`{"task": id, "status": TaskStatusPlus}`).
    pub async fn task_status_raw(&self, id: &str) -> Result<Value, ClientError> {
        self.json(self.http.get(self.indexer_url(&["task", id, "status"])))
            .await
    }

    /// `GET task/{id}/reports`: live from a running task's peon, stored once it ended.
    pub async fn task_reports_raw(&self, id: &str) -> Result<Value, ClientError> {
        self.json(self.http.get(self.indexer_url(&["task", id, "reports"])))
            .await
    }

    /// The status of one task.
    pub async fn task_status(&self, id: &str) -> Result<TaskStatusPlus, ClientError> {
        let url = self.indexer_url(&["task", id, "status"]);
        let answer: StatusAnswer = self.json(self.http.get(url.clone())).await?;
        answer.status.ok_or_else(|| ClientError::BadAnswer {
            url: url.to_string(),
            detail: format!("no status for task {id}"),
        })
    }

    /// `POST taskStatus`: the statuses of many tasks in one request; unknown ids are left out.
    pub async fn task_statuses(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, TaskStatus>, ClientError> {
        self.json(self.http.post(self.indexer_url(&["taskStatus"])).json(ids))
            .await
    }

    /// `GET task/{id}/log?offset=n`, as a response to stream from.
    pub async fn task_log(&self, id: &str, offset: i64) -> Result<reqwest::Response, ClientError> {
        let mut url = self.indexer_url(&["task", id, "log"]);
        url.query_pairs_mut()
            .append_pair("offset", &offset.to_string());
        self.send(self.http.get(url)).await
    }

    /// The whole answer of `GET task/{id}/log?offset=n`.
    pub async fn task_log_bytes(&self, id: &str, offset: i64) -> Result<Vec<u8>, ClientError> {
        let resp = self.task_log(id, offset).await?;
        let body = resp.bytes().await.map_err(|e| self.unreachable(&e))?;
        Ok(body.to_vec())
    }

    /// `POST task/{id}/shutdown`.
    pub async fn shutdown(&self, id: &str) -> Result<Value, ClientError> {
        self.json(self.http.post(self.indexer_url(&["task", id, "shutdown"])))
            .await
    }

    /// `GET tasks` with the given filters, as the server sent it.
    pub async fn tasks_raw(&self, filter: &TaskFilter) -> Result<Value, ClientError> {
        let mut url = self.indexer_url(&["tasks"]);
        {
            let mut query = url.query_pairs_mut();
            let max = filter.max.map(|m| m.to_string());
            let params = [
                ("state", filter.state.as_deref()),
                ("datasource", filter.datasource.as_deref()),
                ("max", max.as_deref()),
                ("type", filter.task_type.as_deref()),
            ];
            for (name, value) in params {
                if let Some(value) = value {
                    query.append_pair(name, value);
                }
            }
        }
        // `Url` leaves a bare `?` behind when no pair was added.
        if url.query() == Some("") {
            url.set_query(None);
        }
        self.json(self.http.get(url)).await
    }

    /// `GET /druid/indexer/v1/<path_and_query>` as JSON (the path is taken as written).
    pub async fn get_json(&self, path_and_query: &str) -> Result<Value, ClientError> {
        let url = format!(
            "{}/druid/indexer/v1/{path_and_query}",
            self.base.as_str().trim_end_matches('/')
        );
        self.json(self.http.get(url)).await
    }

    /// `POST /druid/indexer/v1/action`: one task action on behalf of `task_id`; returns its
    /// `result`.
    pub async fn action(
        &self,
        task_id: &str,
        action: &steward_model::TaskAction,
    ) -> Result<Value, ClientError> {
        let body = serde_json::json!({"task": {"id": task_id}, "action": action});
        let req = self.http.post(self.indexer_url(&["action"])).json(&body);
        let mut answer: Value = self.json(req).await?;
        Ok(answer["result"].take())
    }

    /// `DELETE /druid/indexer/v1/<path_and_query>` (the path is taken as written); the answer
    /// as JSON, `null` if it has no body.
    pub async fn delete(&self, path_and_query: &str) -> Result<Value, ClientError> {
        let url = format!(
            "{}/druid/indexer/v1/{path_and_query}",
            self.base.as_str().trim_end_matches('/')
        );
        let resp = self.send(self.http.delete(url)).await?;
        let body = resp.bytes().await.map_err(|e| self.unreachable(&e))?;
        Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// `GET /druid/coordinator/v1/metadata/datasources?full`: every datasource with used
    /// segments, with those segments.
    pub async fn data_sources_full(&self) -> Result<Value, ClientError> {
        let mut url = self.coordinator_url(&["metadata", "datasources"]);
        url.set_query(Some("full"));
        self.json(self.http.get(url)).await
    }

    /// The used segments of a datasource, in full: `GET metadata/datasources/{ds}/segments?full`
    /// (404 when it has none), or with an interval `POST` of `[interval]` there (those
    /// overlapping it).
    pub async fn used_segments(
        &self,
        data_source: &str,
        interval: Option<&str>,
    ) -> Result<Value, ClientError> {
        let mut url = self.coordinator_url(&["metadata", "datasources", data_source, "segments"]);
        url.set_query(Some("full"));
        let req = match interval {
            None => self.http.get(url),
            Some(interval) => self.http.post(url).json(&[interval]),
        };
        self.json(req).await
    }

    /// `GET metadata/datasources/{ds}/unusedSegments[?interval=]`: the unused segments (lying
    /// within the interval), each as Druid's `DataSegmentPlus`.
    pub async fn unused_segments(
        &self,
        data_source: &str,
        interval: Option<&str>,
    ) -> Result<Value, ClientError> {
        let mut url =
            self.coordinator_url(&["metadata", "datasources", data_source, "unusedSegments"]);
        if let Some(interval) = interval {
            url.query_pairs_mut().append_pair("interval", interval);
        }
        self.json(self.http.get(url)).await
    }

    /// `POST /druid/indexer/v1/datasources/{ds}/markUsed` (or `markUnused`) with
    /// `{"interval": ...}`; the answer is `{"numChangedSegments": n}`.
    pub async fn mark_segments(
        &self,
        data_source: &str,
        used: bool,
        interval: &str,
    ) -> Result<Value, ClientError> {
        let action = if used { "markUsed" } else { "markUnused" };
        let url = self.indexer_url(&["datasources", data_source, action]);
        let body = serde_json::json!({ "interval": interval });
        self.json(self.http.post(url).json(&body)).await
    }

    /// `GET workers`, as the server sent it.
    pub async fn workers_raw(&self) -> Result<Value, ClientError> {
        self.json(self.http.get(self.indexer_url(&["workers"])))
            .await
    }

    /// The server's resident memory from `GET /status` (`memory.rssBytes`, a Steward extension
    /// of Druid's memory object); `None` when the server does not report it.
    pub async fn rss_bytes(&self) -> Result<Option<u64>, ClientError> {
        match self
            .json::<Value>(self.http.get(self.url(&["status"])))
            .await
        {
            Ok(status) => Ok(status.pointer("/memory/rssBytes").and_then(Value::as_u64)),
            Err(err @ ClientError::Unreachable { .. }) => Err(err),
            Err(_) => Ok(None),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct StatusAnswer {
    status: Option<TaskStatusPlus>,
}

/// Why no HTTP answer arrived, in a few words.
pub(super) fn unreachable_reason(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("no answer within {} s", READ_TIMEOUT.as_secs());
    }
    if err.is_dns() {
        return "unknown host".to_string();
    }
    let mut innermost = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return "connection refused".to_string(),
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof => return "connection lost".to_string(),
                _ => {}
            }
        }
        innermost = cause.to_string();
        source = cause.source();
    }
    innermost
}

/// The server's explanation in an error answer. Three shapes occur: Druid's `DruidException`
/// (`{"error":"druidException","errorMessage":...}`), the older `{"error": "..."}`, and plain
/// text (e.g. the 404 of an unknown task id).
pub fn error_message(status: StatusCode, body: &str) -> String {
    let body = body.trim();
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) {
        let text = |key: &str| {
            map.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        if let Some(msg) = text("errorMessage") {
            return msg.to_string();
        }
        if let Some(msg) = text("error").filter(|m| *m != "druidException") {
            return msg.to_string();
        }
    }
    if body.is_empty() {
        return status
            .canonical_reason()
            .unwrap_or("no message")
            .to_string();
    }
    truncate(body, MAX_ERROR_BODY)
}

/// Filters of `GET /druid/indexer/v1/tasks`; `None` leaves a filter out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub state: Option<String>,
    pub datasource: Option<String>,
    pub max: Option<u32>,
    pub task_type: Option<String>,
}
