//! [`TaskActionClient`]: sends task actions to whichever Overlord leads, through leader changes.
//!
//! One attempt: ask the Overlords in turn who leads (unless the last attempt succeeded, whose
//! leader is kept), `POST` the action there, follow a standby's 307 to its leader (the client
//! keeps its credentials across the redirect, as `steward_http::send` does), read `result`.
//! Druid's `ServiceClientImpl` retries connection failures and 500, 502, 503 and 504 answers,
//! waiting `minWait · 2^n` up to `maxWait` between attempts; a failed attempt forgets the
//! leader, so the next one locates it again and a task survives a failover. Any other answer
//! is the Overlord refusing the action, returned at once.
//!
//! [`TaskActionClient::call`] reaches the rest of the Overlord's API the same way, as the task:
//! an `index_parallel` supervisor submits, watches and shuts down its sub-tasks through it.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use steward_http::InternalClient;
use steward_model::peon::RetryPolicy;
use steward_model::Task;

use super::TaskAction;
use crate::log::info;

const ACTION_PATH: &str = "/druid/indexer/v1/action";
const LEADER_PATH: &str = "/druid/indexer/v1/leader";
/// A candidate that does not accept a connection within this is skipped for this attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Asking who leads is quick when the Overlord is well.
const LEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Druid's `druid.global.http.readTimeout` (PT15M): an answer that stalls this long is a
/// failed attempt. Not a bound on the whole request: `lockAcquire` may wait its `timeoutMs`.
const READ_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Why an action did not get its answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// The Overlord answered with an error that retrying cannot cure (a 4xx, or a 5xx other
    /// than 500, 502, 503 and 504); `message` is its `error` (or `errorMessage`).
    #[error("Overlord refused the action with status [{status}]: {message}")]
    Refused { status: u16, message: String },
    /// Every attempt failed with a retryable error; `last_error` is the last one's.
    #[error(
        "No Overlord completed the action after {attempts} attempts; last error: {last_error}"
    )]
    Unavailable { attempts: u32, last_error: String },
    /// The Overlord answered 2xx with a body that is not the expected result.
    #[error("Overlord answered an unreadable result: {0}")]
    BadResponse(String),
    /// The client cannot be built (no Overlord URL, a malformed one, TLS setup).
    #[error("{0}")]
    Config(String),
}

/// The Overlords a peon may ask, and the leader it last reached.
#[derive(Debug)]
pub struct OverlordLocator {
    candidates: Vec<Url>,
    leader: Mutex<Option<Url>>,
}

impl OverlordLocator {
    /// `candidates` are the Overlords' base URLs (`http://host:port`), asked in this order.
    pub fn new<S: AsRef<str>>(
        candidates: impl IntoIterator<Item = S>,
    ) -> Result<OverlordLocator, ActionError> {
        let candidates = candidates
            .into_iter()
            .map(|c| base_url(c.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ActionError::Config)?;
        if candidates.is_empty() {
            return Err(ActionError::Config(
                "No Overlord URL is known: the task-action client has nobody to ask".into(),
            ));
        }
        Ok(OverlordLocator {
            candidates,
            leader: Mutex::new(None),
        })
    }

    fn leader(&self) -> Option<Url> {
        self.leader.lock().expect("leader lock poisoned").clone()
    }

    fn set_leader(&self, leader: Option<Url>) {
        *self.leader.lock().expect("leader lock poisoned") = leader;
    }
}

/// An `http(s)://host:port` URL without path, query or fragment.
fn base_url(s: &str) -> Result<Url, String> {
    let mut url = Url::parse(s.trim()).map_err(|e| format!("[{s}] is not an Overlord URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("[{s}] is not an http(s) URL of an Overlord"));
    }
    url.set_path("");
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// Druid's `RemoteTaskActionClient` for one task.
#[derive(Debug)]
pub struct TaskActionClient {
    http: reqwest::Client,
    locator: OverlordLocator,
    task: Value,
    retry: RetryPolicy,
}

/// How one attempt failed.
enum Failure {
    Retryable(String),
    Refused { status: u16, message: String },
    BadResponse(String),
}

impl TaskActionClient {
    /// A client acting for `task`. `internal` carries the CA to trust and the escalator's
    /// credentials (an Overlord with authentication on requires them).
    pub fn new(
        locator: OverlordLocator,
        task: &Task,
        internal: &InternalClient,
        retry: RetryPolicy,
    ) -> Result<TaskActionClient, ActionError> {
        let http = internal
            .builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| ActionError::Config(format!("Cannot build the HTTP client: {e}")))?;
        Ok(TaskActionClient {
            http,
            locator,
            task: task.to_json(),
            retry,
        })
    }

    /// Performs `action` and reads its `result` as `T` (a missing `result` reads as null).
    pub async fn submit<T: DeserializeOwned>(&self, action: &TaskAction) -> Result<T, ActionError> {
        let body = json!({"task": self.task, "action": action});
        let what = format!("Task action [{}]", action.type_name());
        let mut answer = self
            .call(&what, Method::POST, ACTION_PATH, Some(&body))
            .await?;
        let result = answer
            .get_mut("result")
            .map(Value::take)
            .unwrap_or(Value::Null);
        serde_json::from_value(result).map_err(|e| {
            ActionError::BadResponse(format!(
                "[{}] answered a result of another shape: {e}",
                action.type_name()
            ))
        })
    }

    /// Calls the leading Overlord's API (`path` from its root, such as
    /// `/druid/indexer/v1/task`) as this task, with the same leader discovery, redirects and
    /// retries as an action; the answer's JSON body (null when empty). `what` names the call
    /// in the log.
    pub async fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ActionError> {
        let body = body.map(|b| serde_json::to_vec(b).expect("JSON serializes"));
        let attempts = self.retry.max_attempts();
        let mut attempt = 0;
        loop {
            let failure = match self.attempt(&method, path, body.as_deref()).await {
                Ok(answer) => return Ok(answer),
                Err(Failure::Refused { status, message }) => {
                    return Err(ActionError::Refused { status, message })
                }
                Err(Failure::BadResponse(e)) => return Err(ActionError::BadResponse(e)),
                Err(Failure::Retryable(e)) => e,
            };
            // The leader may have moved: the next attempt asks again.
            self.locator.set_leader(None);
            attempt += 1;
            if attempt >= attempts {
                return Err(ActionError::Unavailable {
                    attempts,
                    last_error: failure,
                });
            }
            let wait = self.retry.backoff(attempt - 1);
            info(&format!(
                "{what} failed on attempt #{attempt} of {attempts}: {failure}; retrying in {} ms",
                wait.as_millis()
            ));
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Value, Failure> {
        let leader = match self.locator.leader() {
            Some(leader) => leader,
            None => self.locate().await?,
        };
        let url = leader
            .join(path)
            .map_err(|e| Failure::BadResponse(format!("[{path}] is not a path: {e}")))?;
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = steward_http::send(request)
            .await
            .map_err(|e| Failure::Retryable(format!("{method} {url}: {}", error_chain(&e))))?;
        let status = response.status();
        // After a redirect this is the Overlord that answered: the leader from now on.
        let answered_by = base_url(response.url().as_str()).ok();
        let text = response
            .text()
            .await
            .map_err(|e| Failure::Retryable(format!("{method} {url}: {}", error_chain(&e))))?;
        if status.is_success() {
            self.locator.set_leader(answered_by);
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|e| {
                Failure::BadResponse(format!(
                    "{method} {url} answered [{status}] with no JSON: {e}"
                ))
            });
        }
        let message = error_message(&text);
        if is_retryable(status) {
            return Err(Failure::Retryable(format!(
                "{method} {url} answered [{status}]: {message}"
            )));
        }
        Err(Failure::Refused {
            status: status.as_u16(),
            message,
        })
    }

    /// Asks each candidate in turn who leads; the first to name a leader is believed.
    async fn locate(&self) -> Result<Url, Failure> {
        let mut answers = Vec::new();
        for candidate in &self.locator.candidates {
            let url = candidate
                .join(LEADER_PATH)
                .expect("a base URL takes a path");
            let named = async {
                let response = self
                    .http
                    .get(url.clone())
                    .timeout(LEADER_TIMEOUT)
                    .send()
                    .await
                    .map_err(|e| error_chain(&e))?;
                let status = response.status();
                let text = response.text().await.map_err(|e| error_chain(&e))?;
                if status != StatusCode::OK {
                    return Err(format!("[{status}] {}", error_message(&text)));
                }
                base_url(&text)
            };
            match named.await {
                Ok(leader) => {
                    self.locator.set_leader(Some(leader.clone()));
                    return Ok(leader);
                }
                Err(e) => answers.push(format!("{url}: {e}")),
            }
        }
        Err(Failure::Retryable(format!(
            "no Overlord named its leader ({})",
            answers.join("; ")
        )))
    }
}

/// Druid's `StandardRetryPolicy.retryHttpResponse`. A 3xx here is a redirect `send` did not
/// follow (too many, or no usable `Location`): a standby whose leader is not settled yet.
fn is_retryable(status: StatusCode) -> bool {
    status.is_redirection()
        || matches!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        )
}

/// The message of a Druid error body (`{"error": ...}`, or a `DruidException`'s
/// `errorMessage`), else the body itself.
fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    field("errorMessage")
        .or_else(|| field("error"))
        .unwrap_or_else(|| body.trim().to_string())
}

/// reqwest's error with its causes ("error sending request: connection refused").
pub(crate) fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
