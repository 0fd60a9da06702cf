//! Druid's `TaskLock` JSON (`TimeChunkLock`): what the lockbox holds, `druid_tasklocks` stores,
//! and the lock actions and `activeLocks` answer.

use serde::{Deserialize, Serialize};

use crate::interval::Interval;

/// Druid's `TaskLockType`, with its compatibility rules in the Overlord's lockbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskLockType {
    Exclusive,
    Shared,
    Replace,
    Append,
}

impl TaskLockType {
    /// The name Druid writes (`EXCLUSIVE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskLockType::Exclusive => "EXCLUSIVE",
            TaskLockType::Shared => "SHARED",
            TaskLockType::Replace => "REPLACE",
            TaskLockType::Append => "APPEND",
        }
    }

    /// Parses a context value (`taskLockType`), case-insensitively as Jackson's enum reading
    /// with Druid's settings does.
    pub fn parse(s: &str) -> Result<TaskLockType, String> {
        match s.to_ascii_uppercase().as_str() {
            "EXCLUSIVE" => Ok(TaskLockType::Exclusive),
            "SHARED" => Ok(TaskLockType::Shared),
            "REPLACE" => Ok(TaskLockType::Replace),
            "APPEND" => Ok(TaskLockType::Append),
            _ => Err(format!(
                "Invalid taskLockType [{s}]: must be one of [EXCLUSIVE, SHARED, REPLACE, APPEND]"
            )),
        }
    }
}

/// Druid's `LockGranularity`: Steward takes time-chunk locks only (segment locks serve
/// Druid's minor-version overwrites, which Steward does not do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum LockGranularity {
    #[default]
    #[serde(rename = "timeChunk")]
    TimeChunk,
    #[serde(rename = "segment")]
    Segment,
}

fn exclusive() -> TaskLockType {
    TaskLockType::Exclusive
}

/// A lock held by a task group on a time chunk of a datasource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskLock {
    /// Missing in locks written before segment locks existed: time chunk.
    #[serde(default)]
    pub granularity: LockGranularity,
    /// Missing in locks written before lock types existed: EXCLUSIVE.
    #[serde(rename = "type", default = "exclusive")]
    pub lock_type: TaskLockType,
    pub group_id: String,
    pub data_source: String,
    pub interval: Interval,
    /// The version the holder writes segments with (an ISO instant; the epoch for APPEND).
    pub version: String,
    /// Missing in locks written before priorities existed; filled in from the task.
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub revoked: bool,
}

impl TaskLock {
    /// The same lock, revoked.
    pub fn revoked(&self) -> TaskLock {
        TaskLock {
            revoked: true,
            ..self.clone()
        }
    }

    /// The lock's priority; a lock stored without one has its task's (see `priority`).
    pub fn priority_or(&self, task_priority: i64) -> i64 {
        self.priority.unwrap_or(task_priority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes_druids_time_chunk_lock() {
        let druid = json!({"granularity":"timeChunk","type":"EXCLUSIVE","groupId":"g",
            "dataSource":"ds","interval":"2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z",
            "version":"2025-10-28T10:00:00.000Z","priority":50,"revoked":false});
        let lock: TaskLock = serde_json::from_value(druid.clone()).unwrap();
        assert_eq!(lock.lock_type, TaskLockType::Exclusive);
        assert_eq!(lock.priority, Some(50));
        assert_eq!(serde_json::to_value(&lock).unwrap(), druid);
    }

    #[test]
    fn old_locks_default_to_exclusive_time_chunk() {
        let lock: TaskLock = serde_json::from_value(json!({"groupId":"g","dataSource":"ds",
            "interval":"2024-01-01/2024-01-02","version":"v"}))
        .unwrap();
        assert_eq!(lock.granularity, LockGranularity::TimeChunk);
        assert_eq!(lock.lock_type, TaskLockType::Exclusive);
        assert_eq!(lock.priority_or(25), 25);
        assert!(!lock.revoked && lock.revoked().revoked);
    }

    #[test]
    fn lock_type_names_parse_case_insensitively() {
        assert_eq!(TaskLockType::parse("append"), Ok(TaskLockType::Append));
        assert!(TaskLockType::parse("weird").unwrap_err().contains("weird"));
    }
}
