//! Shapes of the Overlord's API answers that are not plain statuses: `TaskStatusPlus` and
//! Druid's error body.

use serde::{Deserialize, Serialize};

use crate::{RunnerTaskState, TaskLocation, TaskState};

/// One row of `GET /druid/indexer/v1/tasks` and the `status` of `task/{id}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatusPlus {
    pub id: String,
    pub group_id: String,
    #[serde(rename = "type")]
    pub task_type: String,
    pub created_time: String,
    pub queue_insertion_time: String,
    pub status_code: TaskState,
    /// Deprecated duplicate of `statusCode`, kept because Druid still sends it.
    pub status: TaskState,
    pub runner_status_code: RunnerTaskState,
    pub duration: i64,
    pub location: TaskLocation,
    pub data_source: String,
    pub error_msg: Option<String>,
}

/// Druid's `DruidException` error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DruidError {
    pub error: String,
    pub error_code: String,
    pub persona: String,
    pub category: String,
    pub error_message: String,
    pub context: serde_json::Map<String, serde_json::Value>,
}

impl DruidError {
    /// A user error: `category` is one of Druid's (`INVALID_INPUT`, `CAPACITY_EXCEEDED`, ...).
    pub fn user(category: &str, error_code: &str, message: impl Into<String>) -> Self {
        DruidError {
            error: "druidException".into(),
            error_code: error_code.into(),
            persona: "USER".into(),
            category: category.into(),
            error_message: message.into(),
            context: Default::default(),
        }
    }
}
