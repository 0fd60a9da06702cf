//! Druid's task actions as they travel from a peon to the Overlord's
//! `POST /druid/indexer/v1/action`: the envelope `{"task": <task>, "action": <action>}` and each
//! action's JSON (Druid's `TaskAction` subtypes, with their type names and property names), so
//! the peon's client and the Overlord read and write one definition.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::interval::Interval;
use crate::lock::{LockGranularity, TaskLockType};
use crate::segment::DataSegment;

fn exclusive() -> Option<TaskLockType> {
    Some(TaskLockType::Exclusive)
}

/// One action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TaskAction {
    /// `TimeChunkLockTryAcquireAction`: a lock now, or `null`.
    #[serde(rename = "lockTryAcquire", rename_all = "camelCase")]
    LockTryAcquire {
        /// Missing in old clients: EXCLUSIVE.
        #[serde(default = "exclusive")]
        lock_type: Option<TaskLockType>,
        interval: Interval,
    },
    /// `TimeChunkLockAcquireAction`: waits up to `timeoutMs` for the lock; `null` on timeout.
    #[serde(rename = "lockAcquire", rename_all = "camelCase")]
    LockAcquire {
        #[serde(default = "exclusive")]
        lock_type: Option<TaskLockType>,
        interval: Interval,
        #[serde(default)]
        timeout_ms: i64,
    },
    /// `LockListAction`: the task's locks.
    #[serde(rename = "lockList")]
    LockList {},
    /// `LockReleaseAction`.
    #[serde(rename = "lockRelease")]
    LockRelease { interval: Interval },
    /// `SegmentAllocateAction`: a new pending segment id for a row at `timestamp`.
    #[serde(rename = "segmentAllocate", rename_all = "camelCase")]
    SegmentAllocate {
        data_source: String,
        /// An ISO instant.
        timestamp: String,
        /// Granularity JSON (a name or an object), read by `Granularity::from_json`.
        query_granularity: Value,
        preferred_segment_granularity: Value,
        sequence_name: String,
        #[serde(default)]
        previous_segment_id: Option<String>,
        #[serde(default)]
        skip_segment_lineage_check: bool,
        /// Druid's `PartialShardSpec` (`{"type":"numbered"}` when missing).
        #[serde(default, rename = "shardSpecFactory")]
        partial_shard_spec: Option<Value>,
        #[serde(default)]
        lock_granularity: Option<LockGranularity>,
        #[serde(default)]
        task_lock_type: Option<TaskLockType>,
    },
    /// `SegmentTransactionalInsertAction`: publishes all of `segments` or none.
    #[serde(rename = "segmentTransactionalInsert", rename_all = "camelCase")]
    SegmentTransactionalInsert {
        #[serde(default)]
        segments: Vec<DataSegment>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        segments_to_be_overwritten: Option<Vec<DataSegment>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_metadata: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end_metadata: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_source: Option<String>,
    },
    /// `SegmentTransactionalAppendAction` (APPEND locks).
    #[serde(rename = "segmentTransactionalAppend", rename_all = "camelCase")]
    SegmentTransactionalAppend { segments: Vec<DataSegment> },
    /// `SegmentTransactionalReplaceAction` (REPLACE locks).
    #[serde(rename = "segmentTransactionalReplace", rename_all = "camelCase")]
    SegmentTransactionalReplace { segments: Vec<DataSegment> },
    /// `RetrieveUsedSegmentsAction`.
    #[serde(rename = "segmentListUsed", rename_all = "camelCase")]
    SegmentListUsed {
        data_source: String,
        /// Druid's older clients sent one `interval`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval: Option<Interval>,
        #[serde(default)]
        intervals: Vec<Interval>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visibility: Option<String>,
    },
    /// `RetrieveUnusedSegmentsAction`.
    #[serde(rename = "segmentListUnused", rename_all = "camelCase")]
    SegmentListUnused {
        data_source: String,
        interval: Interval,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        versions: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
        /// An ISO instant.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_used_status_last_updated_time: Option<String>,
    },
    /// `SegmentNukeAction`: deletes the segments' rows.
    #[serde(rename = "segmentNuke")]
    SegmentNuke { segments: Vec<DataSegment> },
}

impl TaskAction {
    /// Druid's type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            TaskAction::LockTryAcquire { .. } => "lockTryAcquire",
            TaskAction::LockAcquire { .. } => "lockAcquire",
            TaskAction::LockList {} => "lockList",
            TaskAction::LockRelease { .. } => "lockRelease",
            TaskAction::SegmentAllocate { .. } => "segmentAllocate",
            TaskAction::SegmentTransactionalInsert { .. } => "segmentTransactionalInsert",
            TaskAction::SegmentTransactionalAppend { .. } => "segmentTransactionalAppend",
            TaskAction::SegmentTransactionalReplace { .. } => "segmentTransactionalReplace",
            TaskAction::SegmentListUsed { .. } => "segmentListUsed",
            TaskAction::SegmentListUnused { .. } => "segmentListUnused",
            TaskAction::SegmentNuke { .. } => "segmentNuke",
        }
    }
}

/// Druid's `TaskActionHolder`: the task (its JSON as the peon holds it) and the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskActionHolder {
    pub task: Map<String, Value>,
    pub action: TaskAction,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_druids_action_json() {
        let a: TaskAction = serde_json::from_value(json!({"type":"lockTryAcquire",
            "lockType":"SHARED","interval":"2024-01-01/2024-01-02"}))
        .unwrap();
        assert_eq!(
            a,
            TaskAction::LockTryAcquire {
                lock_type: Some(TaskLockType::Shared),
                interval: "2024-01-01/2024-01-02".parse().unwrap()
            }
        );
        let a: TaskAction = serde_json::from_value(
            json!({"type":"lockAcquire","interval":"2024-01-01/2024-01-02","timeoutMs":5000}),
        )
        .unwrap();
        assert!(matches!(
            a,
            TaskAction::LockAcquire {
                lock_type: Some(TaskLockType::Exclusive),
                timeout_ms: 5000,
                ..
            }
        ));
        let a: TaskAction = serde_json::from_value(json!({"type":"segmentAllocate",
            "dataSource":"wiki","timestamp":"2015-09-12T10:00:00.000Z","queryGranularity":"HOUR",
            "preferredSegmentGranularity":"DAY","sequenceName":"s","previousSegmentId":null,
            "skipSegmentLineageCheck":false,"shardSpecFactory":{"type":"numbered"},
            "lockGranularity":"timeChunk","taskLockType":"APPEND"}))
        .unwrap();
        assert_eq!(a.type_name(), "segmentAllocate");
        assert!(serde_json::from_value::<TaskAction>(json!({"type":"launchMissiles"})).is_err());
    }

    #[test]
    fn an_envelope_round_trips() {
        let holder: TaskActionHolder = serde_json::from_value(json!({
            "task":{"type":"noop","id":"t1"},
            "action":{"type":"lockList"}}))
        .unwrap();
        assert_eq!(holder.action, TaskAction::LockList {});
        let back = serde_json::to_value(&holder).unwrap();
        assert_eq!(back["action"], json!({"type":"lockList"}));
        let release = serde_json::to_value(TaskAction::LockRelease {
            interval: "2024-01-01/2024-01-02".parse().unwrap(),
        })
        .unwrap();
        assert_eq!(
            release,
            json!({"type":"lockRelease",
                "interval":"2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z"})
        );
    }
}
