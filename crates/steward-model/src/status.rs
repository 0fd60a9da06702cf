//! Task states, statuses and locations as Druid serialises them.

use serde::{Deserialize, Serialize};

/// The persisted state of a task: `RUNNING` until it ends, then `SUCCESS` or `FAILED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskState {
    Running,
    Success,
    Failed,
}

impl TaskState {
    pub fn is_complete(self) -> bool {
        self != TaskState::Running
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "RUNNING",
            TaskState::Success => "SUCCESS",
            TaskState::Failed => "FAILED",
        }
    }
}

/// Where a task stands from the runner's point of view (`runnerStatusCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunnerTaskState {
    /// Active in the queue but not handed to the runner (waiting for readiness or locks).
    Waiting,
    /// Known to the runner, not running on a worker yet.
    Pending,
    Running,
    /// Complete.
    None,
}

impl RunnerTaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunnerTaskState::Waiting => "WAITING",
            RunnerTaskState::Pending => "PENDING",
            RunnerTaskState::Running => "RUNNING",
            RunnerTaskState::None => "NONE",
        }
    }
}

/// Host and ports of a running peon; `{null, -1, -1}` while unknown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskLocation {
    pub host: Option<String>,
    pub port: i32,
    pub tls_port: i32,
}

impl TaskLocation {
    pub fn unknown() -> Self {
        TaskLocation {
            host: None,
            port: -1,
            tls_port: -1,
        }
    }

    pub fn new(host: impl Into<String>, port: i32) -> Self {
        TaskLocation {
            host: Some(host.into()),
            port,
            tls_port: -1,
        }
    }

    pub fn is_unknown(&self) -> bool {
        self.host.is_none()
    }
}

impl Default for TaskLocation {
    fn default() -> Self {
        Self::unknown()
    }
}

/// Druid's `TaskStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    pub id: String,
    pub status: TaskState,
    #[serde(default = "unknown_duration")]
    pub duration: i64,
    #[serde(default)]
    pub error_msg: Option<String>,
    #[serde(default)]
    pub location: TaskLocation,
}

fn unknown_duration() -> i64 {
    -1
}

/// Error messages longer than this are shortened, keeping both ends (Druid's rule).
const MAX_ERROR_MSG: usize = 1024;

impl TaskStatus {
    pub fn running(id: impl Into<String>) -> Self {
        TaskStatus {
            id: id.into(),
            status: TaskState::Running,
            duration: -1,
            error_msg: None,
            location: TaskLocation::unknown(),
        }
    }

    pub fn success(id: impl Into<String>) -> Self {
        TaskStatus {
            status: TaskState::Success,
            ..Self::running(id)
        }
    }

    pub fn failure(id: impl Into<String>, error_msg: impl Into<String>) -> Self {
        TaskStatus {
            status: TaskState::Failed,
            error_msg: Some(truncate_error(error_msg.into())),
            ..Self::running(id)
        }
    }

    pub fn is_complete(&self) -> bool {
        self.status.is_complete()
    }

    pub fn with_duration(mut self, duration: i64) -> Self {
        self.duration = duration;
        self
    }

    pub fn with_location(mut self, location: TaskLocation) -> Self {
        self.location = location;
        self
    }
}

/// Shortens an error message to Druid's limit: first 512 chars, a marker, last 512 chars.
pub fn truncate_error(msg: String) -> String {
    let chars: Vec<char> = msg.chars().collect();
    if chars.len() <= MAX_ERROR_MSG {
        return msg;
    }
    let half = MAX_ERROR_MSG / 2;
    let head: String = chars[..half].iter().collect();
    let tail: String = chars[chars.len() - half..].iter().collect();
    format!(
        "{head}...{} characters omitted...{tail}",
        chars.len() - MAX_ERROR_MSG
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_json_matches_druid() {
        let s = TaskStatus::running("t1");
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id":"t1","status":"RUNNING","duration":-1,"errorMsg":null,
                "location":{"host":null,"port":-1,"tlsPort":-1}})
        );
        let back: TaskStatus =
            serde_json::from_str(r#"{"id":"t1","status":"SUCCESS","duration":5}"#).unwrap();
        assert_eq!(back.status, TaskState::Success);
        assert!(back.location.is_unknown());
    }

    #[test]
    fn long_error_messages_are_truncated_in_the_middle() {
        let msg = format!("{}{}", "a".repeat(600), "b".repeat(600));
        let s = TaskStatus::failure("t", msg);
        let e = s.error_msg.unwrap();
        assert!(e.starts_with(&"a".repeat(512)));
        assert!(e.ends_with(&"b".repeat(512)));
        assert!(e.contains("...176 characters omitted..."));
        assert_eq!(truncate_error("short".into()), "short");
    }
}
