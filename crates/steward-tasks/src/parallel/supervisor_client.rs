//! How a sub-task talks to its supervisor (Druid's `ParallelIndexSupervisorTaskClient`): it
//! asks the supervisor's chat handler for segment ids (`POST segment/allocate`) and reports
//! what it pushed (`POST report`), as JSON.
//!
//! The supervisor is found through the Overlord: its task status carries the host and port of
//! its peon. Each call gets `chatHandlerTimeout` and is retried `chatHandlerNumRetries` times
//! when it did not get an answer or got one that another try may cure (5xx, 429); any other
//! answer is the supervisor refusing, and ends the call.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use steward_ingest::spec::TuningConfig;
use steward_model::backoff::Backoff;
use steward_model::{SegmentIdWithShardSpec, TaskState};

use super::overlord;
use super::report::SubTaskReport;
use crate::actions::error_chain;
use crate::Toolbox;

pub(crate) const ALLOCATE_PATH: &str = "/segment/allocate";
pub(crate) const REPORT_PATH: &str = "/report";

/// Druid's `SegmentAllocationRequest`: the id after `prevSegmentId` in sequence
/// `sequenceName`, for a row at `timestamp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SegmentAllocationRequest {
    pub(crate) timestamp: String,
    pub(crate) sequence_name: String,
    #[serde(default)]
    pub(crate) prev_segment_id: Option<String>,
}

/// A sub-task's client of its supervisor's chat handler.
pub(crate) struct SupervisorClient<'a> {
    http: &'a reqwest::Client,
    base: String,
    timeout: Duration,
    retries: u32,
}

impl<'a> SupervisorClient<'a> {
    /// Finds the running supervisor `supervisor_id` through the Overlord; calls it with the
    /// spec's `chatHandlerTimeout` and `chatHandlerNumRetries`.
    pub(crate) async fn locate(
        toolbox: &'a Toolbox,
        supervisor_id: &str,
        tuning: &TuningConfig,
    ) -> Result<SupervisorClient<'a>, String> {
        let timeout = tuning.chat_handler_timeout;
        let retries = u32::try_from(tuning.chat_handler_num_retries).unwrap_or(0);
        let status = overlord::status(toolbox, supervisor_id).await?;
        if status.status_code != TaskState::Running {
            return Err(format!(
                "Supervisor task[{supervisor_id}] is not running: [{}]",
                status.status_code.as_str()
            ));
        }
        let base = toolbox
            .peers
            .base_url(&status.location, supervisor_id)
            .ok_or_else(|| {
                format!("The location of supervisor task[{supervisor_id}] is not known")
            })?;
        Ok(SupervisorClient {
            http: toolbox.peers.http(),
            base,
            timeout,
            retries,
        })
    }

    pub(crate) async fn allocate(
        &self,
        request: &SegmentAllocationRequest,
    ) -> Result<SegmentIdWithShardSpec, String> {
        let body = serde_json::to_value(request).expect("a request serializes");
        let answer = self.post(ALLOCATE_PATH, &body).await?;
        serde_json::from_value(answer)
            .map_err(|e| format!("The supervisor answered an unreadable segment id: {e}"))
    }

    pub(crate) async fn report(&self, report: &SubTaskReport) -> Result<(), String> {
        let body = serde_json::to_value(report).expect("a report serializes");
        self.post(REPORT_PATH, &body).await.map(drop)
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        let mut attempt = 0;
        loop {
            let failure = match self
                .http
                .post(&url)
                .timeout(self.timeout)
                .json(body)
                .send()
                .await
            {
                Err(e) => error_chain(&e),
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    if status.is_success() {
                        return match text.trim() {
                            "" => Ok(Value::Null),
                            text => serde_json::from_str(text).map_err(|e| {
                                format!("POST {url} answered [{status}] with no JSON: {e}")
                            }),
                        };
                    }
                    let retryable = status.is_server_error() || status.as_u16() == 429;
                    if !retryable {
                        return Err(format!("POST {url} answered [{status}]: {}", text.trim()));
                    }
                    format!("[{status}] {}", text.trim())
                }
            };
            attempt += 1;
            if attempt > self.retries {
                return Err(format!(
                    "POST {url} failed after {attempt} attempts; last error: {failure}"
                ));
            }
            tokio::time::sleep(backoff.next_wait()).await;
        }
    }
}
