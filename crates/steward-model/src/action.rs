//! Druid's task actions as they travel from a peon to the Overlord's
//! `POST /druid/indexer/v1/action`: the envelope `{"task": …, "action": …}` ([`TaskActionHolder`])
//! and each action's JSON, defined once for the peon's client and the Overlord's endpoint. Each
//! variant's `type` is the name Druid registers in `TaskAction`'s `@JsonSubTypes`, its fields
//! are the class's `@JsonProperty` names (note `lockType`, not `type`, in the lock actions, and
//! `segmentListUsed` / `segmentListUnused` for the classes `RetrieveUsedSegmentsAction` /
//! `RetrieveUnusedSegmentsAction`). Optional fields Druid reads as null are left out when
//! absent.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::interval::Interval;
use crate::lock::{LockGranularity, TaskLockType};
use crate::segment::DataSegment;
use crate::segment_schema::SegmentSchemaMapping;
use crate::time::Timestamp;

/// A task action, serialized as the `action` of Druid's envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TaskAction {
    /// Takes a time-chunk lock if it is free now; answers the `TaskLock` or null.
    #[serde(rename = "lockTryAcquire", rename_all = "camelCase")]
    LockTryAcquire {
        #[serde(default = "exclusive")]
        lock_type: TaskLockType,
        interval: Interval,
    },
    /// Waits up to `timeout_ms` for a time-chunk lock; answers the `TaskLock` or null.
    #[serde(rename = "lockAcquire", rename_all = "camelCase")]
    LockAcquire {
        #[serde(default = "exclusive")]
        lock_type: TaskLockType,
        interval: Interval,
        timeout_ms: u64,
    },
    /// The task's locks: a list of `TaskLock`.
    #[serde(rename = "lockList")]
    LockList,
    /// Releases the task's lock on `interval`; answers null.
    #[serde(rename = "lockRelease")]
    LockRelease { interval: Interval },
    /// Allocates a segment id for a row at `timestamp`; answers a [`SegmentIdWithShardSpec`]
    /// or null.
    #[serde(rename = "segmentAllocate")]
    SegmentAllocate(SegmentAllocate),
    /// Publishes segments in one transaction; answers a [`SegmentPublishResult`].
    #[serde(rename = "segmentTransactionalInsert", rename_all = "camelCase")]
    SegmentTransactionalInsert {
        segments: Vec<DataSegment>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        segments_to_be_overwritten: Option<Vec<DataSegment>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_metadata: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end_metadata: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        segment_schema_mapping: Option<SegmentSchemaMapping>,
    },
    /// `SegmentTransactionalAppendAction`: publishes segments written under APPEND locks.
    #[serde(rename = "segmentTransactionalAppend", rename_all = "camelCase")]
    SegmentTransactionalAppend {
        segments: Vec<DataSegment>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        segment_schema_mapping: Option<SegmentSchemaMapping>,
    },
    /// `SegmentTransactionalReplaceAction`: publishes segments written under REPLACE locks.
    #[serde(rename = "segmentTransactionalReplace", rename_all = "camelCase")]
    SegmentTransactionalReplace {
        segments: Vec<DataSegment>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        segment_schema_mapping: Option<SegmentSchemaMapping>,
    },
    /// Druid's `RetrieveUsedSegmentsAction`: used segments overlapping `intervals`; a list of
    /// `DataSegment`.
    #[serde(rename = "segmentListUsed", rename_all = "camelCase")]
    RetrieveUsedSegments {
        data_source: String,
        intervals: Vec<Interval>,
        /// Druid's default: [`Visibility::OnlyVisible`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visibility: Option<Visibility>,
    },
    /// Druid's `RetrieveUnusedSegmentsAction`: unused segments within `interval`, at most
    /// `limit`; a list of `DataSegment`.
    #[serde(rename = "segmentListUnused", rename_all = "camelCase")]
    RetrieveUnusedSegments {
        data_source: String,
        interval: Interval,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        versions: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "optional_instant"
        )]
        max_used_status_last_updated_time: Option<Timestamp>,
    },
    /// Deletes the segments' metadata rows; answers null.
    #[serde(rename = "segmentNuke")]
    SegmentNuke { segments: Vec<DataSegment> },
}

impl TaskAction {
    /// The JSON `type`, for log lines.
    pub fn type_name(&self) -> &'static str {
        match self {
            TaskAction::LockTryAcquire { .. } => "lockTryAcquire",
            TaskAction::LockAcquire { .. } => "lockAcquire",
            TaskAction::LockList => "lockList",
            TaskAction::LockRelease { .. } => "lockRelease",
            TaskAction::SegmentAllocate(_) => "segmentAllocate",
            TaskAction::SegmentTransactionalInsert { .. } => "segmentTransactionalInsert",
            TaskAction::SegmentTransactionalAppend { .. } => "segmentTransactionalAppend",
            TaskAction::SegmentTransactionalReplace { .. } => "segmentTransactionalReplace",
            TaskAction::RetrieveUsedSegments { .. } => "segmentListUsed",
            TaskAction::RetrieveUnusedSegments { .. } => "segmentListUnused",
            TaskAction::SegmentNuke { .. } => "segmentNuke",
        }
    }
}

fn exclusive() -> TaskLockType {
    TaskLockType::Exclusive
}

/// Druid's `SegmentAllocateAction`. Granularities and the partial shard spec are kept as JSON
/// (Druid's `Granularity` and `PartialShardSpec` have many forms; the Overlord interprets
/// them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentAllocate {
    pub data_source: String,
    #[serde(with = "instant")]
    pub timestamp: Timestamp,
    pub query_granularity: Value,
    pub preferred_segment_granularity: Value,
    pub sequence_name: String,
    #[serde(default)]
    pub previous_segment_id: Option<String>,
    #[serde(default)]
    pub skip_segment_lineage_check: bool,
    /// Druid's `partialShardSpec`, under its old JSON name; `numbered` when absent.
    #[serde(
        rename = "shardSpecFactory",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub partial_shard_spec: Option<Value>,
    /// Druid writes this enum by its Java name (`TIME_CHUNK`), unlike a lock's `granularity`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "lock_granularity_name"
    )]
    pub lock_granularity: Option<LockGranularity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_lock_type: Option<TaskLockType>,
}

/// Druid's `Segments`: whether overshadowed segments are listed too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Visibility {
    OnlyVisible,
    IncludingOvershadowed,
}

/// Druid's `TaskActionHolder`: the task (its JSON as the peon holds it) and the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskActionHolder {
    pub task: Map<String, Value>,
    pub action: TaskAction,
}

/// What `segmentTransactionalInsert` answers (Druid's `SegmentPublishResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentPublishResult {
    pub segments: Vec<DataSegment>,
    pub success: bool,
    #[serde(default)]
    pub retryable: bool,
    #[serde(default)]
    pub error_msg: Option<String>,
}

/// An instant as Druid writes a `DateTime` (`2024-01-01T00:00:00.000Z`).
mod instant {
    use crate::time::{format_ts, parse_instant, Timestamp};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_ts(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        parse_instant(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

mod optional_instant {
    use crate::time::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::instant::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::instant")] Timestamp);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(t)| t))
    }
}

mod lock_granularity_name {
    use crate::lock::LockGranularity;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(g: &Option<LockGranularity>, s: S) -> Result<S::Ok, S::Error> {
        match g {
            Some(LockGranularity::TimeChunk) => s.serialize_str("TIME_CHUNK"),
            Some(LockGranularity::Segment) => s.serialize_str("SEGMENT"),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<LockGranularity>, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None => Ok(None),
            Some("TIME_CHUNK") => Ok(Some(LockGranularity::TimeChunk)),
            Some("SEGMENT") => Ok(Some(LockGranularity::Segment)),
            Some(other) => Err(serde::de::Error::custom(format!(
                "lockGranularity must be TIME_CHUNK or SEGMENT, not [{other}]"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::SegmentIdWithShardSpec;
    use serde_json::json;

    fn iv(s: &str) -> Interval {
        s.parse().unwrap()
    }

    fn segment() -> DataSegment {
        serde_json::from_value(json!({"dataSource":"wiki",
            "interval":"2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z",
            "version":"v1","loadSpec":{"type":"local","path":"/s/index/"},
            "dimensions":"","metrics":"","shardSpec":{"type":"numbered","partitionNum":0,"partitions":1},
            "binaryVersion":9,"size":10}))
        .unwrap()
    }

    /// Each action against the JSON Druid's classes read, and read back.
    #[test]
    fn actions_write_druids_json() {
        let day = "2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z";
        let seg = serde_json::to_value(segment()).unwrap();
        let cases = vec![
            (
                TaskAction::LockTryAcquire {
                    lock_type: TaskLockType::Replace,
                    interval: iv(day),
                },
                json!({"type":"lockTryAcquire","lockType":"REPLACE","interval":day}),
            ),
            (
                TaskAction::LockAcquire {
                    lock_type: TaskLockType::Exclusive,
                    interval: iv(day),
                    timeout_ms: 300_000,
                },
                json!({"type":"lockAcquire","lockType":"EXCLUSIVE","interval":day,"timeoutMs":300000}),
            ),
            (TaskAction::LockList, json!({"type":"lockList"})),
            (
                TaskAction::LockRelease { interval: iv(day) },
                json!({"type":"lockRelease","interval":day}),
            ),
            (
                TaskAction::SegmentTransactionalInsert {
                    segments: vec![segment()],
                    segments_to_be_overwritten: None,
                    start_metadata: None,
                    end_metadata: None,
                    segment_schema_mapping: None,
                },
                json!({"type":"segmentTransactionalInsert","segments":[seg]}),
            ),
            (
                TaskAction::SegmentTransactionalAppend {
                    segments: vec![segment()],
                    segment_schema_mapping: Some(SegmentSchemaMapping::of_rows([(
                        segment().id().to_string(),
                        7,
                    )])),
                },
                json!({"type":"segmentTransactionalAppend","segments":[seg],
                    "segmentSchemaMapping": {
                        "segmentIdToMetadataMap":
                            {(segment().id().to_string()): {"numRows": 7, "schemaFingerprint": null}},
                        "schemaFingerprintToPayloadMap": {}, "schemaVersion": 1}}),
            ),
            (
                TaskAction::RetrieveUsedSegments {
                    data_source: "wiki".into(),
                    intervals: vec![iv(day)],
                    visibility: Some(Visibility::IncludingOvershadowed),
                },
                json!({"type":"segmentListUsed","dataSource":"wiki","intervals":[day],
                    "visibility":"INCLUDING_OVERSHADOWED"}),
            ),
            (
                TaskAction::RetrieveUnusedSegments {
                    data_source: "wiki".into(),
                    interval: iv(day),
                    versions: Some(vec!["v1".into()]),
                    limit: Some(100),
                    max_used_status_last_updated_time: Some(
                        "2024-02-01T10:00:00Z".parse().unwrap(),
                    ),
                },
                json!({"type":"segmentListUnused","dataSource":"wiki","interval":day,
                    "versions":["v1"],"limit":100,
                    "maxUsedStatusLastUpdatedTime":"2024-02-01T10:00:00.000Z"}),
            ),
            (
                TaskAction::RetrieveUnusedSegments {
                    data_source: "wiki".into(),
                    interval: iv(day),
                    versions: None,
                    limit: None,
                    max_used_status_last_updated_time: None,
                },
                json!({"type":"segmentListUnused","dataSource":"wiki","interval":day}),
            ),
            (
                TaskAction::SegmentNuke {
                    segments: vec![segment()],
                },
                json!({"type":"segmentNuke","segments":[seg]}),
            ),
            (
                TaskAction::SegmentAllocate(SegmentAllocate {
                    data_source: "wiki".into(),
                    timestamp: "2024-01-01T05:00:00Z".parse().unwrap(),
                    query_granularity: json!("NONE"),
                    preferred_segment_granularity: json!("DAY"),
                    sequence_name: "seq_0".into(),
                    previous_segment_id: None,
                    skip_segment_lineage_check: false,
                    partial_shard_spec: Some(json!({"type":"numbered"})),
                    lock_granularity: Some(LockGranularity::TimeChunk),
                    task_lock_type: Some(TaskLockType::Append),
                }),
                json!({"type":"segmentAllocate","dataSource":"wiki",
                    "timestamp":"2024-01-01T05:00:00.000Z","queryGranularity":"NONE",
                    "preferredSegmentGranularity":"DAY","sequenceName":"seq_0",
                    "previousSegmentId":null,"skipSegmentLineageCheck":false,
                    "shardSpecFactory":{"type":"numbered"},"lockGranularity":"TIME_CHUNK",
                    "taskLockType":"APPEND"}),
            ),
        ];
        for (action, expected) in cases {
            assert_eq!(serde_json::to_value(&action).unwrap(), expected);
            assert_eq!(expected["type"], action.type_name());
            assert_eq!(
                serde_json::from_value::<TaskAction>(expected).unwrap(),
                action
            );
        }
    }

    #[test]
    fn an_envelope_reads_the_task_and_the_action() {
        let holder: TaskActionHolder = serde_json::from_value(json!({
            "task": {"type": "noop", "id": "t1"},
            "action": {"type": "segmentTransactionalReplace", "segments": []}}))
        .unwrap();
        assert_eq!(holder.task["id"], "t1");
        assert_eq!(holder.action.type_name(), "segmentTransactionalReplace");
        assert!(serde_json::from_value::<TaskAction>(json!({"type": "launchMissiles"})).is_err());
    }

    #[test]
    fn lock_actions_without_a_type_are_exclusive_as_in_druid() {
        let action: TaskAction = serde_json::from_value(
            json!({"type":"lockTryAcquire","interval":"2024-01-01/2024-01-02"}),
        )
        .unwrap();
        assert_eq!(
            action,
            TaskAction::LockTryAcquire {
                lock_type: TaskLockType::Exclusive,
                interval: iv("2024-01-01/2024-01-02"),
            }
        );
    }

    #[test]
    fn answers_read_druids_json() {
        let id: SegmentIdWithShardSpec = serde_json::from_value(json!({"dataSource":"wiki",
            "interval":"2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z","version":"v1",
            "shardSpec":{"type":"numbered","partitionNum":2,"partitions":0}}))
        .unwrap();
        assert_eq!(id.shard_spec.partition_num(), 2);
        let failed: SegmentPublishResult = serde_json::from_value(
            json!({"segments":[],"success":false,"retryable":true,"errorMsg":"conflict"}),
        )
        .unwrap();
        assert!(failed.retryable && !failed.success);
        assert_eq!(failed.error_msg.as_deref(), Some("conflict"));
    }
}
