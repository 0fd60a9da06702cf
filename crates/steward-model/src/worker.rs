//! What a MiddleManager announces about itself (`Worker`) and about each task (`TaskAnnouncement`).

use serde::{Deserialize, Serialize};

use crate::{Task, TaskLocation, TaskResource, TaskState, TaskStatus};

pub const DEFAULT_WORKER_CATEGORY: &str = "_default_worker_category";

/// Druid's `Worker`: a MiddleManager's identity and capacity. `host` is `host:port`.
/// A disabled worker announces `version: ""`, which fails the minimum-version check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worker {
    #[serde(default = "default_scheme")]
    pub scheme: String,
    pub host: String,
    pub ip: String,
    pub capacity: u32,
    pub version: String,
    #[serde(default = "default_category")]
    pub category: String,
}

fn default_scheme() -> String {
    "http".to_string()
}

fn default_category() -> String {
    DEFAULT_WORKER_CATEGORY.to_string()
}

impl Worker {
    /// Base URL of the worker's HTTP API.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    pub fn is_enabled(&self) -> bool {
        !self.version.is_empty()
    }
}

/// Druid's `TaskAnnouncement`: a worker's statement about one task, kept until the Overlord
/// has recorded the task's end and removed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAnnouncement {
    pub id: String,
    #[serde(rename = "type")]
    pub task_type: String,
    pub status: TaskState,
    pub task_status: TaskStatus,
    pub task_resource: TaskResource,
    pub task_location: TaskLocation,
    pub task_data_source: Option<String>,
}

impl TaskAnnouncement {
    pub fn new(
        task_type: impl Into<String>,
        data_source: impl Into<String>,
        resource: TaskResource,
        status: TaskStatus,
        location: TaskLocation,
    ) -> Self {
        TaskAnnouncement {
            id: status.id.clone(),
            task_type: task_type.into(),
            status: status.status,
            task_status: status,
            task_resource: resource,
            task_location: location,
            task_data_source: Some(data_source.into()),
        }
    }

    /// What a worker announces about `task`: its type, datasource and resource with `status`.
    pub fn of(task: &Task, status: TaskStatus, location: TaskLocation) -> Self {
        TaskAnnouncement::new(
            task.task_type(),
            task.data_source(),
            task.resource().clone(),
            status,
            location,
        )
    }
}

/// Old MiddleManagers wrote only `id` and `status`; readers rebuild the rest (Druid's rule).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAnnouncement {
    id: Option<String>,
    #[serde(rename = "type")]
    task_type: Option<String>,
    status: Option<TaskState>,
    task_status: Option<TaskStatus>,
    task_resource: Option<TaskResource>,
    task_location: Option<TaskLocation>,
    task_data_source: Option<String>,
}

impl<'de> Deserialize<'de> for TaskAnnouncement {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawAnnouncement::deserialize(d)?;
        let task_status = match (raw.task_status, raw.id, raw.status) {
            (Some(s), _, _) => s,
            (None, Some(id), Some(status)) => TaskStatus {
                status,
                ..TaskStatus::running(id)
            },
            _ => {
                return Err(D::Error::custom(
                    "announcement has neither taskStatus nor id+status",
                ))
            }
        };
        let id = task_status.id.clone();
        Ok(TaskAnnouncement {
            task_type: raw.task_type.unwrap_or_default(),
            status: task_status.status,
            task_resource: raw
                .task_resource
                .unwrap_or_else(|| TaskResource::default_for(&id)),
            task_location: raw.task_location.unwrap_or_default(),
            task_data_source: raw.task_data_source,
            id,
            task_status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_round_trips_and_accepts_old_shape() {
        let a = TaskAnnouncement::new(
            "noop",
            "none",
            TaskResource::default_for("t1"),
            TaskStatus::running("t1"),
            TaskLocation::new("mm1", 8100),
        );
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<TaskAnnouncement>(&json).unwrap(), a);
        let old: TaskAnnouncement =
            serde_json::from_str(r#"{"id":"t2","status":"SUCCESS"}"#).unwrap();
        assert_eq!(old.task_status.status, TaskState::Success);
        assert_eq!(old.task_resource.availability_group, "t2");
        assert!(old.task_location.is_unknown());
    }

    #[test]
    fn worker_defaults_scheme_and_category() {
        let w: Worker =
            serde_json::from_str(r#"{"host":"mm:8091","ip":"mm","capacity":3,"version":"0"}"#)
                .unwrap();
        assert_eq!(w.scheme, "http");
        assert_eq!(w.category, DEFAULT_WORKER_CATEGORY);
        assert_eq!(w.url(), "http://mm:8091");
    }
}
