//! `steward task ...` and `steward workers`: a command-line client for the Overlord's HTTP API.
//!
//! It speaks only Druid's public Overlord API (`/druid/indexer/v1/...`), so the same commands work
//! against a Steward Overlord and, for that API, against Druid itself. Every failure becomes one
//! `error:` line on stderr and an exit code scripts can rely on: 1 when the Overlord answered with
//! an error (or the input was bad), 2 when it could not be reached at all. `--json` prints the
//! server's own JSON, pretty-printed, so scripts are not tied to the human layout.

use std::collections::HashMap;
use std::error::Error as _;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use steward_model::time::parse_instant;
use steward_model::{TaskState, TaskStatus, TaskStatusPlus, Worker};

/// A stalled Overlord is reported after this long without a byte. It is a per-read limit rather
/// than a total one so that downloading a long task log is not cut off.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// `submit --wait` polls this often: fast enough that short tasks do not feel slow.
const WAIT_POLL: Duration = Duration::from_millis(100);
const FOLLOW_POLL: Duration = Duration::from_millis(250);
/// After a followed task ends, its log may still be on its way to the log store; a 404 is
/// retried for this many polls before it is reported.
const FOLLOW_FINAL_RETRIES: u32 = 8;
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

    fn indexer_url(&self, path: &[&str]) -> Url {
        let mut full = vec!["druid", "indexer", "v1"];
        full.extend_from_slice(path);
        self.url(&full)
    }

    fn unreachable(&self, err: &reqwest::Error) -> ClientError {
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
struct StatusAnswer {
    status: Option<TaskStatusPlus>,
}

/// Why no HTTP answer arrived, in a few words.
fn unreachable_reason(err: &reqwest::Error) -> String {
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

/// `steward task ...`
#[derive(clap::Subcommand, Debug)]
pub enum TaskCommand {
    /// Submit a task spec file (JSON); prints the task id.
    Submit {
        /// Path of the task spec (a JSON object with a "type").
        file: PathBuf,
        /// Wait for the task to end, showing its progress; exit 0 on SUCCESS, 1 on FAILED.
        #[arg(long)]
        wait: bool,
    },
    /// Show a task's status.
    Status { id: String },
    /// Print a task's log.
    Log {
        id: String,
        /// Keep printing new output until the task ends.
        #[arg(long)]
        follow: bool,
        /// Start at this byte; a negative value prints only the last |offset| bytes.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        offset: i64,
    },
    /// Ask the Overlord to stop a task (it is marked FAILED at once).
    Shutdown { id: String },
    /// List tasks.
    List {
        /// pending, waiting, running or complete (default: all).
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        datasource: Option<String>,
        /// At most this many complete tasks.
        #[arg(long)]
        max: Option<u32>,
        /// Only tasks of this type.
        #[arg(long = "type")]
        task_type: Option<String>,
    },
}

/// Runs one `steward task` subcommand against the Overlord at `overlord` and returns the exit
/// code. Failures are printed on stderr (`error: ...`) and turned into the exit code here, so
/// the `Err` case does not occur; the signature matches the other subcommands'.
pub async fn run_task_command(
    overlord: &ClientOptions,
    json: bool,
    cmd: TaskCommand,
) -> anyhow::Result<i32> {
    Ok(report(task_command(overlord, json, cmd).await))
}

/// Runs `steward workers`; exit code and error handling as for [`run_task_command`].
pub async fn run_workers(overlord: &ClientOptions, json: bool) -> anyhow::Result<i32> {
    Ok(report(workers(overlord, json).await))
}

/// Prints a command's failure and chooses its exit code.
fn report(result: anyhow::Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        // The reader went away (`steward task log x | head`): not worth a message.
        Err(err) if is_broken_pipe(&err) => 0,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit_code(&err)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

async fn task_command(
    options: &ClientOptions,
    json: bool,
    cmd: TaskCommand,
) -> anyhow::Result<i32> {
    let client = OverlordClient::new(options)?;
    match cmd {
        TaskCommand::Submit { file, wait } => submit(&client, json, read_spec(&file)?, wait).await,
        TaskCommand::Status { id } => {
            let answer = client.task_status_raw(&id).await?;
            if json {
                print_json(&answer)?;
            } else {
                print_line(&status_summary(&parse_status(&answer)?))?;
            }
            Ok(0)
        }
        TaskCommand::Log {
            id,
            follow: false,
            offset,
        } => {
            let mut resp = client.task_log(&id, offset).await?;
            while let Some(chunk) = resp.chunk().await.map_err(|e| client.unreachable(&e))? {
                write_out(&chunk)?;
            }
            Ok(0)
        }
        TaskCommand::Log {
            id,
            follow: true,
            offset,
        } => follow_log(&client, &id, offset).await,
        TaskCommand::Shutdown { id } => {
            let answer = client.shutdown(&id).await?;
            if json {
                print_json(&answer)?;
            } else {
                print_line(&format!("shutdown requested for {id}"))?;
            }
            Ok(0)
        }
        TaskCommand::List {
            state,
            datasource,
            max,
            task_type,
        } => {
            let filter = TaskFilter {
                state,
                datasource,
                max,
                task_type,
            };
            let answer = client.tasks_raw(&filter).await?;
            if json {
                print_json(&answer)?;
            } else {
                let tasks: Vec<TaskStatusPlus> = from_answer(&client, &["tasks"], answer)?;
                if tasks.is_empty() {
                    print_line("no tasks")?;
                } else {
                    write_out(task_table(&tasks).as_bytes())?;
                }
            }
            Ok(0)
        }
    }
}

async fn workers(options: &ClientOptions, json: bool) -> anyhow::Result<i32> {
    let client = OverlordClient::new(options)?;
    let answer = client.workers_raw().await?;
    if json {
        print_json(&answer)?;
    } else {
        let workers: Vec<WorkerEntry> = from_answer(&client, &["workers"], answer)?;
        if workers.is_empty() {
            print_line("no workers")?;
        } else {
            write_out(worker_table(&workers).as_bytes())?;
        }
    }
    Ok(0)
}

/// Reads a task spec, checking it is a JSON object; returns the file's bytes unchanged so the
/// server sees exactly what the user wrote.
fn read_spec(file: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes =
        std::fs::read(file).with_context(|| format!("cannot read task spec {}", file.display()))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(_)) => Ok(bytes),
        Ok(_) => bail!("task spec {} is not a JSON object", file.display()),
        Err(e) => bail!("task spec {} is not valid JSON: {e}", file.display()),
    }
}

async fn submit(
    client: &OverlordClient,
    json: bool,
    spec: Vec<u8>,
    wait: bool,
) -> anyhow::Result<i32> {
    let answer = client.submit_raw(spec).await?;
    let id = client.submitted_id(&answer)?;
    if json && !wait {
        print_json(&answer)?;
        return Ok(0);
    }
    if !json {
        print_line(&id)?;
    }
    if !wait {
        return Ok(0);
    }
    wait_for(client, json, &id).await
}

/// Polls a task until it ends, reporting each change of state on stderr.
async fn wait_for(client: &OverlordClient, json: bool, id: &str) -> anyhow::Result<i32> {
    let started = Instant::now();
    let mut last_shown = None;
    loop {
        let answer = client.task_status_raw(id).await?;
        let status = parse_status(&answer)?;
        if status.status_code.is_complete() {
            if json {
                print_json(&answer)?;
            } else {
                print_line(&final_line(&status))?;
            }
            return Ok(if status.status_code == TaskState::Success {
                0
            } else {
                1
            });
        }
        let shown = (status.runner_status_code, status.location.host.clone());
        if last_shown.as_ref() != Some(&shown) {
            eprintln!("{}", progress_line(&status, started.elapsed()));
            last_shown = Some(shown);
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// One line of `submit --wait` progress: the runner's view, since `statusCode` stays RUNNING
/// until the task ends.
fn progress_line(status: &TaskStatusPlus, elapsed: Duration) -> String {
    let mut line = format!(
        "{:>7.1}s  {}",
        elapsed.as_secs_f64(),
        status.runner_status_code.as_str()
    );
    if let Some(host) = &status.location.host {
        line.push_str(&format!(" on {host}:{}", status.location.port));
    }
    line
}

fn final_line(status: &TaskStatusPlus) -> String {
    let mut line = format!(
        "{} {} (duration {})",
        status.status_code.as_str(),
        status.id,
        format_millis(status.duration)
    );
    if let Some(msg) = status.error_msg.as_deref().filter(|m| !m.is_empty()) {
        line.push_str(": ");
        line.push_str(msg);
    }
    line
}

fn parse_status(answer: &Value) -> Result<TaskStatusPlus, ClientError> {
    let bad = |detail: String| ClientError::BadAnswer {
        url: "task status".to_string(),
        detail,
    };
    let status = answer
        .get("status")
        .filter(|s| !s.is_null())
        .ok_or_else(|| bad("no status".into()))?;
    TaskStatusPlus::deserialize(status).map_err(|e| bad(e.to_string()))
}

fn from_answer<T: DeserializeOwned>(
    client: &OverlordClient,
    path: &[&str],
    answer: Value,
) -> Result<T, ClientError> {
    serde_json::from_value(answer).map_err(|e| ClientError::BadAnswer {
        url: client.indexer_url(path).to_string(),
        detail: e.to_string(),
    })
}

fn status_summary(s: &TaskStatusPlus) -> String {
    let mut rows = vec![
        ("Task", s.id.clone()),
        ("Type", s.task_type.clone()),
        ("Datasource", s.data_source.clone()),
    ];
    if s.group_id != s.id {
        rows.push(("Group", s.group_id.clone()));
    }
    rows.push((
        "Status",
        format!(
            "{} (runner: {})",
            s.status_code.as_str(),
            s.runner_status_code.as_str()
        ),
    ));
    rows.push(("Created", short_time(&s.created_time)));
    if s.status_code.is_complete() {
        rows.push(("Duration", format_millis(s.duration)));
    }
    if let Some(host) = &s.location.host {
        rows.push(("Location", format!("{host}:{}", s.location.port)));
    }
    if let Some(msg) = s.error_msg.as_deref().filter(|m| !m.is_empty()) {
        rows.push(("Error", msg.to_string()));
    }
    rows.iter()
        .map(|(k, v)| format!("{:<12}{v}", format!("{k}:")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints a task's log from `offset` and then whatever is appended, until the task has ended.
async fn follow_log(client: &OverlordClient, id: &str, offset: i64) -> anyhow::Result<i32> {
    let mut cursor = LogCursor::new(offset);
    let mut final_retries = FOLLOW_FINAL_RETRIES;
    loop {
        // Checked before reading, so the read after the task is seen complete gets everything.
        let done = client.task_status(id).await?.status_code.is_complete();
        match client.task_log_bytes(id, cursor.request_offset()).await {
            Ok(bytes) => {
                write_out(cursor.accept(&bytes))?;
                if done {
                    return Ok(0);
                }
            }
            // No log before the task starts running, nor until the worker has pushed it.
            Err(ClientError::Http {
                status: StatusCode::NOT_FOUND,
                ..
            }) if !done || final_retries > 0 => {
                if done {
                    final_retries -= 1;
                }
            }
            Err(err) => return Err(err.into()),
        }
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}

/// How far `log --follow` has printed, in bytes from the log's start, so each poll asks the
/// server only for new bytes (`offset=<pos>`).
#[derive(Debug, PartialEq, Eq)]
struct LogCursor {
    pos: u64,
    /// For a negative starting offset: print only this many trailing bytes of the first answer.
    /// The server's own negative-offset answer cannot be used, as it does not say where in the
    /// log it starts.
    tail: Option<u64>,
}

impl LogCursor {
    fn new(offset: i64) -> Self {
        if offset < 0 {
            LogCursor {
                pos: 0,
                tail: Some(offset.unsigned_abs()),
            }
        } else {
            LogCursor {
                pos: offset.unsigned_abs(),
                tail: None,
            }
        }
    }

    /// The `offset` parameter of the next request.
    fn request_offset(&self) -> i64 {
        i64::try_from(self.pos).unwrap_or(i64::MAX)
    }

    /// Takes the answer to a request at [`LogCursor::request_offset`]; returns what to print.
    fn accept<'a>(&mut self, chunk: &'a [u8]) -> &'a [u8] {
        self.pos += chunk.len() as u64;
        match self.tail.take() {
            Some(n) => {
                let keep = usize::try_from(n).unwrap_or(usize::MAX).min(chunk.len());
                &chunk[chunk.len() - keep..]
            }
            None => chunk,
        }
    }
}

/// One entry of `GET /druid/indexer/v1/workers`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkerEntry {
    worker: Worker,
    #[serde(default)]
    curr_capacity_used: u32,
    #[serde(default)]
    running_tasks: Vec<String>,
    #[serde(default)]
    last_completed_task_time: Option<String>,
    #[serde(default)]
    blacklisted_until: Option<String>,
}

/// A table column: its title and the widest its cells may be before they are cut.
struct Column {
    title: &'static str,
    max_width: usize,
}

const fn col(title: &'static str, max_width: usize) -> Column {
    Column { title, max_width }
}

/// Task ids are what users copy from this table, so the column fits a generated id
/// (`noop_<timestamp>_<uuid>`, 66 characters) whole.
const TASK_COLUMNS: [Column; 7] = [
    col("ID", 80),
    col("TYPE", 24),
    col("DATASOURCE", 32),
    col("STATUS", 7),
    col("RUNNER", 7),
    col("CREATED", 19),
    col("DURATION", 12),
];

const WORKER_COLUMNS: [Column; 7] = [
    col("HOST", 40),
    col("CAPACITY", 8),
    col("USED", 4),
    col("ENABLED", 7),
    col("RUNNING TASKS", 60),
    col("LAST COMPLETED", 19),
    col("BLACKLISTED UNTIL", 19),
];

fn task_table(tasks: &[TaskStatusPlus]) -> String {
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.task_type.clone(),
                t.data_source.clone(),
                t.status_code.as_str().to_string(),
                t.runner_status_code.as_str().to_string(),
                short_time(&t.created_time),
                if t.status_code.is_complete() {
                    format_millis(t.duration)
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    render_table(&TASK_COLUMNS, &rows)
}

fn worker_table(workers: &[WorkerEntry]) -> String {
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|w| {
            vec![
                w.worker.host.clone(),
                w.worker.capacity.to_string(),
                w.curr_capacity_used.to_string(),
                if w.worker.is_enabled() { "yes" } else { "no" }.to_string(),
                if w.running_tasks.is_empty() {
                    "-".into()
                } else {
                    w.running_tasks.join(",")
                },
                w.last_completed_task_time
                    .as_deref()
                    .map_or("-".into(), short_time),
                w.blacklisted_until
                    .as_deref()
                    .map_or("-".into(), short_time),
            ]
        })
        .collect();
    render_table(&WORKER_COLUMNS, &rows)
}

/// Lays out rows under a header, each column as wide as its widest cell (capped at its
/// `max_width`, cutting longer cells), two spaces apart, without trailing blanks.
fn render_table(columns: &[Column], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let widest = rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
            widest.min(c.max_width).max(c.title.chars().count())
        })
        .collect();
    let mut out = String::new();
    let titles: Vec<String> = columns.iter().map(|c| c.title.to_string()).collect();
    for row in std::iter::once(&titles).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{:<w$}", truncate(cell, w)))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Cuts `text` to at most `max` characters, marking the cut with `…`.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `2026-03-08T10:30:00.000Z` → `2026-03-08 10:30:00` (UTC); anything unparsable is kept as is.
fn short_time(iso: &str) -> String {
    parse_instant(iso)
        .map(|ts| ts.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| iso.to_string())
}

/// A task duration in milliseconds for people; negative means unknown (Druid's -1).
fn format_millis(ms: i64) -> String {
    match ms {
        ..0 => "-".to_string(),
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

fn print_json(value: &Value) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    print_line(&text)
}

/// Writes through a short-lived lock: a held `StdoutLock` would make the futures `!Send`.
fn print_line(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

fn write_out(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_model::{RunnerTaskState, TaskLocation};

    fn task(id: &str, state: TaskState, runner: RunnerTaskState) -> TaskStatusPlus {
        TaskStatusPlus {
            id: id.to_string(),
            group_id: id.to_string(),
            task_type: "noop".to_string(),
            created_time: "2026-03-08T10:30:00.000Z".to_string(),
            queue_insertion_time: "1970-01-01T00:00:00.000Z".to_string(),
            status_code: state,
            status: state,
            runner_status_code: runner,
            duration: if state.is_complete() { 1500 } else { -1 },
            location: TaskLocation::unknown(),
            data_source: "wiki".to_string(),
            error_msg: None,
        }
    }

    #[test]
    fn error_message_reads_all_three_body_shapes() {
        let druid = r#"{"error":"druidException","errorCode":"invalidInput","persona":"USER",
            "category":"INVALID_INPUT","errorMessage":"Task [x] already exists","context":{}}"#;
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, druid),
            "Task [x] already exists"
        );
        let legacy = r#"{"error":"Could not resolve type id 'nope'"}"#;
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, legacy),
            "Could not resolve type id 'nope'"
        );
        let text = "Cannot find any task with id: [t1]\n";
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, text),
            "Cannot find any task with id: [t1]"
        );
    }

    #[test]
    fn error_message_falls_back_to_body_or_status() {
        assert_eq!(
            error_message(StatusCode::SERVICE_UNAVAILABLE, ""),
            "Service Unavailable"
        );
        let odd = r#"{"task":"t1","status":null}"#;
        assert_eq!(error_message(StatusCode::NOT_FOUND, odd), odd);
        let bare = r#"{"error":"druidException","errorMessage":null}"#;
        assert_eq!(error_message(StatusCode::INTERNAL_SERVER_ERROR, bare), bare);
        let long = "x".repeat(5000);
        assert_eq!(
            error_message(StatusCode::INTERNAL_SERVER_ERROR, &long)
                .chars()
                .count(),
            1000
        );
    }

    #[test]
    fn client_errors_read_well_and_map_to_exit_codes() {
        let unreachable = ClientError::Unreachable {
            overlord: "http://localhost:8090".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(
            unreachable.to_string(),
            "cannot reach the Overlord at http://localhost:8090 (connection refused). Is \
             'steward quickstart' running? Set --overlord or STEWARD_OVERLORD."
        );
        assert_eq!(exit_code(&anyhow::Error::new(unreachable)), 2);
        let http = ClientError::Http {
            status: StatusCode::NOT_FOUND,
            message: "nope".into(),
        };
        assert_eq!(http.to_string(), "nope (HTTP 404 Not Found)");
        assert_eq!(exit_code(&anyhow::Error::new(http)), 1);
        assert_eq!(exit_code(&anyhow!("bad file")), 1);
    }

    #[test]
    fn urls_are_built_below_the_base_with_ids_encoded() {
        let c = OverlordClient::new(&ClientOptions::url("localhost:8090/")).unwrap();
        assert_eq!(c.base(), "http://localhost:8090");
        assert_eq!(
            c.indexer_url(&["task", "a b/c", "status"]).as_str(),
            "http://localhost:8090/druid/indexer/v1/task/a%20b%2Fc/status"
        );
        let prefixed = OverlordClient::new(&ClientOptions::url("http://gw:80/ovl")).unwrap();
        assert_eq!(prefixed.url(&["status"]).as_str(), "http://gw/ovl/status");
        assert!(OverlordClient::new(&ClientOptions::url("https://secure:8290")).is_ok());
        assert!(OverlordClient::new(&ClientOptions::url("ftp://files:21")).is_err());
    }

    #[test]
    fn read_spec_rejects_missing_and_non_json_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, r#"{"type":"noop"}"#).unwrap();
        assert_eq!(read_spec(&good).unwrap(), br#"{"type":"noop"}"#);
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{not json").unwrap();
        assert!(read_spec(&bad)
            .unwrap_err()
            .to_string()
            .contains("is not valid JSON"));
        let array = dir.path().join("array.json");
        std::fs::write(&array, "[1]").unwrap();
        assert!(read_spec(&array)
            .unwrap_err()
            .to_string()
            .contains("not a JSON object"));
        let missing = dir.path().join("missing.json");
        assert!(read_spec(&missing)
            .unwrap_err()
            .to_string()
            .contains("cannot read task spec"));
    }

    #[test]
    fn table_columns_fit_their_cells_and_cut_long_ones() {
        let columns = [col("ID", 6), col("STATE", 10)];
        let rows = vec![
            vec!["a".to_string(), "RUNNING".to_string()],
            vec!["abcdefghij".to_string(), "-".to_string()],
        ];
        assert_eq!(
            render_table(&columns, &rows),
            "ID      STATE\na       RUNNING\nabcde…  -\n"
        );
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo!", 5), "héll…");
    }

    #[test]
    fn task_table_shows_every_column() {
        let mut failed = task("t2", TaskState::Failed, RunnerTaskState::None);
        failed.duration = 61_000;
        let table = task_table(&[
            task("t1", TaskState::Running, RunnerTaskState::Pending),
            failed,
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "ID  TYPE  DATASOURCE  STATUS   RUNNER   CREATED              DURATION",
                "t1  noop  wiki        RUNNING  PENDING  2026-03-08 10:30:00  -",
                "t2  noop  wiki        FAILED   NONE     2026-03-08 10:30:00  1m01s",
            ]
        );
    }

    #[test]
    fn worker_table_reads_the_workers_listing() {
        let answer = serde_json::json!([{
            "worker": {"scheme":"http","host":"mm1:8091","ip":"mm1","capacity":4,"version":"0",
                "category":"_default_worker_category"},
            "currCapacityUsed": 2, "currParallelIndexCapacityUsed": 0,
            "availabilityGroups": ["a","b"], "runningTasks": ["a","b"],
            "lastCompletedTaskTime": "2026-03-08T10:30:00.000Z"
        }, {
            "worker": {"host":"mm2:8091","ip":"mm2","capacity":1,"version":""},
            "lastCompletedTaskTime": "2026-03-08T10:31:00.000Z",
            "blacklistedUntil": "2026-03-08T11:00:00.000Z"
        }]);
        let workers: Vec<WorkerEntry> = serde_json::from_value(answer).unwrap();
        let table = worker_table(&workers);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "HOST      CAPACITY  USED  ENABLED  RUNNING TASKS  LAST COMPLETED       BLACKLISTED UNTIL");
        assert_eq!(
            lines[1],
            "mm1:8091  4         2     yes      a,b            2026-03-08 10:30:00  -"
        );
        assert_eq!(lines[2], "mm2:8091  1         0     no       -              2026-03-08 10:31:00  2026-03-08 11:00:00");
    }

    #[test]
    fn summary_and_progress_lines() {
        let mut t = task("t1", TaskState::Failed, RunnerTaskState::None);
        t.error_msg = Some("Shutdown request from user".into());
        t.location = TaskLocation::new("mm1", 8100);
        assert_eq!(
            final_line(&t),
            "FAILED t1 (duration 1.5 s): Shutdown request from user"
        );
        let summary = status_summary(&t);
        assert!(
            summary.starts_with("Task:       t1\nType:       noop\n"),
            "{summary}"
        );
        assert!(summary.contains("Status:     FAILED (runner: NONE)\n"));
        assert!(summary.contains("Location:   mm1:8100\n"));
        assert!(summary.ends_with("Error:      Shutdown request from user"));
        let running = task("t1", TaskState::Running, RunnerTaskState::Running);
        assert_eq!(
            progress_line(&running, Duration::from_millis(250)),
            "    0.2s  RUNNING"
        );
        assert!(parse_status(&serde_json::json!({"task":"t1","status":null})).is_err());
        let answer = serde_json::json!({"task":"t1","status":serde_json::to_value(&t).unwrap()});
        assert_eq!(parse_status(&answer).unwrap(), t);
    }

    #[test]
    fn durations_and_times_read_well() {
        assert_eq!(format_millis(-1), "-");
        assert_eq!(format_millis(42), "42 ms");
        assert_eq!(format_millis(1_500), "1.5 s");
        assert_eq!(format_millis(125_000), "2m05s");
        assert_eq!(format_millis(3_600_000 * 2 + 60_000 * 3), "2h03m");
        assert_eq!(
            short_time("2026-03-08T10:30:00.123Z"),
            "2026-03-08 10:30:00"
        );
        assert_eq!(short_time("whenever"), "whenever");
    }

    #[test]
    fn log_cursor_asks_only_for_new_bytes() {
        let mut c = LogCursor::new(0);
        assert_eq!(c.request_offset(), 0);
        assert_eq!(c.accept(b"hello "), b"hello ");
        assert_eq!(c.request_offset(), 6);
        assert_eq!(c.accept(b""), b"");
        assert_eq!(c.accept(b"world"), b"world");
        assert_eq!(c.request_offset(), 11);

        let mut from = LogCursor::new(4);
        assert_eq!(from.request_offset(), 4);
        assert_eq!(from.accept(b"rest"), b"rest");
        assert_eq!(from.request_offset(), 8);
    }

    #[test]
    fn log_cursor_with_negative_offset_prints_the_tail_then_follows() {
        let mut c = LogCursor::new(-3);
        assert_eq!(
            c.request_offset(),
            0,
            "the whole log is needed to know where it ends"
        );
        assert_eq!(c.accept(b"abcdef"), b"def");
        assert_eq!(c.request_offset(), 6);
        assert_eq!(c.accept(b"gh"), b"gh");

        let mut short = LogCursor::new(-100);
        assert_eq!(short.accept(b"abc"), b"abc");
        assert_eq!(short.request_offset(), 3);
    }
}
