//! Fetching a task too large for its assignment znode from the Overlord's task API.

use std::time::Duration;

use steward_http::InternalClient;
use steward_model::backoff::Backoff;
use steward_model::Task;
use tokio::time::Instant;

use super::codec::PayloadRef;

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub(crate) struct Fetcher {
    http: reqwest::Client,
    timeout: Duration,
}

enum Failure {
    /// Worth asking again: the Overlord may be restarting or electing a leader.
    Retry(String),
    /// Asking again cannot help.
    Final(String),
}

impl Fetcher {
    /// `timeout` bounds all attempts of one fetch together.
    pub(crate) fn new(timeout: Duration, client: &InternalClient) -> Result<Fetcher, String> {
        let http = client
            .builder()
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Fetcher { http, timeout })
    }

    /// `GET <url>` → `{"task": id, "payload": {...}}` (redirects followed, e.g. to the
    /// leader), retried with backoff until the timeout.
    pub(crate) async fn fetch(&self, payload: &PayloadRef) -> Result<Task, String> {
        let deadline = Instant::now() + self.timeout;
        let mut backoff = Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let error = match self.fetch_once(payload, remaining).await {
                Ok(task) => return Ok(task),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Retry(e)) => e,
            };
            let wait = backoff.next_wait();
            if Instant::now() + wait >= deadline {
                return Err(format!("{error} (gave up after {:?})", self.timeout));
            }
            tracing::warn!(
                task = payload.task_id,
                url = payload.url,
                error,
                "cannot fetch the task payload yet; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn fetch_once(&self, payload: &PayloadRef, timeout: Duration) -> Result<Task, Failure> {
        let retry = |e: reqwest::Error| Failure::Retry(e.to_string());
        let request = self.http.get(&payload.url).timeout(timeout);
        let response = steward_http::send(request).await.map_err(retry)?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(Failure::Final(format!(
                "the Overlord does not know task [{}]",
                payload.task_id
            )));
        }
        if !status.is_success() {
            return Err(Failure::Retry(format!("the Overlord answered {status}")));
        }
        let mut body: serde_json::Value = response.json().await.map_err(retry)?;
        let Some(json) = body.get_mut("payload").map(serde_json::Value::take) else {
            return Err(Failure::Final("the answer has no payload".into()));
        };
        let task = Task::from_json(json)
            .map_err(|e| Failure::Final(format!("the payload is not a task: {e}")))?;
        if task.id() != payload.task_id {
            return Err(Failure::Final(format!(
                "asked for task [{}], got [{}]",
                payload.task_id,
                task.id()
            )));
        }
        Ok(task)
    }
}
