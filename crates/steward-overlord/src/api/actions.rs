//! `POST /druid/indexer/v1/action`: Druid's task action endpoint, through which a peon takes and
//! gives back locks, allocates segment ids and publishes segments, all on the leader.
//!
//! The envelope is Druid's (`{"task":…,"action":…}` → `{"result":…}`). The task is named by the
//! envelope but acted for as the leader holds it: an action of a task that is not active here
//! (unknown, finished, or ending) is refused with 404, and the stored task's group, datasource
//! and priority decide, not what the caller sent. Druid answers every failure with a 500; here a
//! refusal the caller must not retry is a 4xx (400 invalid, 404 not active, 409 locks that do not
//! cover the segments), and only what may pass is a 503, so the peon's client retries exactly
//! what a retry can fix.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use steward_metadata::UnusedSegmentsQuery;
use steward_model::{
    Granularity, LockGranularity, PartialShardSpec, TaskAction, TaskActionHolder, TaskLockType,
};

use super::errors::{invalid_input, ApiError, ApiResult};
use super::state::AppState;
use crate::actions::ActionRefused;
use crate::driver::{ActionError, AllocateSegment, Publish};
use crate::lockbox::LockRequest;

/// Actions carry segment lists: a large publish is megabytes, not gigabytes.
const MAX_ACTION_BYTES: usize = 64 * 1024 * 1024;

/// How long a `lockAcquire` with `timeoutMs` 0 waits: Druid waits without end; here until the
/// lock comes, the task ends, or a day has passed.
const UNBOUNDED_LOCK_WAIT: Duration = Duration::from_secs(24 * 3600);

impl From<ActionError> for ApiError {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::Refused(ActionRefused::NotActive(id)) => ApiError::Simple(
                StatusCode::NOT_FOUND,
                format!(
                    "Task [{id}] is not active on this Overlord: it is unknown, finished or ending"
                ),
            ),
            ActionError::Refused(ActionRefused::Invalid(m)) => invalid_input(m),
            ActionError::Refused(ActionRefused::Conflict(m)) => {
                ApiError::druid(StatusCode::CONFLICT, "CONFLICT", "general", m)
            }
            ActionError::Store(e) => e.into(),
            ActionError::NotStarted => super::errors::not_leading(),
        }
    }
}

pub(super) async fn do_action(State(s): State<AppState>, req: Request) -> ApiResult<Json<Value>> {
    let overlord = s.overlord()?;
    let body = axum::body::to_bytes(req.into_body(), MAX_ACTION_BYTES)
        .await
        .map_err(|_| invalid_input(format!("Task action exceeds [{MAX_ACTION_BYTES}] bytes")))?;
    let holder: TaskActionHolder = serde_json::from_slice(&body)
        .map_err(|e| invalid_input(format!("Invalid task action: {e}")))?;
    let task_id = holder
        .task
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_input("Invalid task action: the task has no [id]"))?
        .to_string();
    let id = task_id.as_str();
    let lock_request = |lock_type, interval| LockRequest {
        lock_type,
        interval,
        preferred_version: None,
    };
    let result = match holder.action {
        TaskAction::LockTryAcquire {
            lock_type,
            interval,
        } => json!(
            overlord
                .lock_try_acquire(id, lock_request(lock_type, interval))
                .await?
        ),
        TaskAction::LockAcquire {
            lock_type,
            interval,
            timeout_ms,
        } => {
            let wait = match timeout_ms {
                0 => UNBOUNDED_LOCK_WAIT,
                ms => Duration::from_millis(ms),
            };
            json!(
                overlord
                    .lock_acquire(id, lock_request(lock_type, interval), wait)
                    .await?
            )
        }
        TaskAction::LockList => json!(overlord.lock_list(id).await?),
        TaskAction::LockRelease { interval } => {
            overlord.lock_release(id, interval).await?;
            Value::Null
        }
        TaskAction::SegmentAllocate(a) => {
            if a.lock_granularity == Some(LockGranularity::Segment) {
                return Err(invalid_input(
                    "segmentAllocate with lockGranularity [SEGMENT] is not supported: Steward takes time-chunk locks only",
                ));
            }
            let bad =
                |what: &str, e: String| invalid_input(format!("segmentAllocate [{what}]: {e}"));
            let request = AllocateSegment {
                data_source: a.data_source,
                timestamp: a.timestamp,
                query_granularity: Granularity::from_json(&a.query_granularity)
                    .map_err(|e| bad("queryGranularity", e))?,
                preferred_segment_granularity: Granularity::from_json(
                    &a.preferred_segment_granularity,
                )
                .map_err(|e| bad("preferredSegmentGranularity", e))?,
                sequence_name: a.sequence_name,
                previous_segment_id: a.previous_segment_id,
                skip_segment_lineage_check: a.skip_segment_lineage_check,
                partial_shard_spec: partial_shard_spec_of(a.partial_shard_spec.as_ref())?,
                lock_type: a.task_lock_type.unwrap_or(TaskLockType::Exclusive),
            };
            json!(overlord.allocate_segment(id, request).await?)
        }
        TaskAction::SegmentTransactionalInsert {
            segments,
            segments_to_be_overwritten,
            start_metadata,
            end_metadata,
            segment_schema_mapping,
        } => {
            if start_metadata.is_some() || end_metadata.is_some() {
                return Err(invalid_input(
                    "segmentTransactionalInsert with startMetadata/endMetadata (streaming commit metadata) is not supported yet",
                ));
            }
            let publish = Publish {
                overwritten: segments_to_be_overwritten.unwrap_or_default(),
                ..Publish::new(segments, segment_schema_mapping, None)
            };
            json!(overlord.publish_segments(id, publish).await?)
        }
        TaskAction::SegmentTransactionalAppend {
            segments,
            segment_schema_mapping,
        } => {
            let append = Some(TaskLockType::Append);
            let publish = Publish::new(segments, segment_schema_mapping, append);
            json!(overlord.publish_segments(id, publish).await?)
        }
        TaskAction::SegmentTransactionalReplace {
            segments,
            segment_schema_mapping,
        } => {
            let replace = Some(TaskLockType::Replace);
            let publish = Publish::new(segments, segment_schema_mapping, replace);
            json!(overlord.publish_segments(id, publish).await?)
        }
        // Overshadowed segments are marked unused when they are overshadowed, so used segments
        // are the visible ones and both visibilities list the same.
        TaskAction::RetrieveUsedSegments {
            data_source,
            intervals,
            visibility: _,
        } => {
            if intervals.is_empty() {
                return Err(invalid_input("segmentListUsed needs [intervals]"));
            }
            json!(overlord.used_segments(id, &data_source, &intervals).await?)
        }
        TaskAction::RetrieveUnusedSegments {
            data_source,
            interval,
            versions,
            limit,
            max_used_status_last_updated_time,
        } => {
            let query = UnusedSegmentsQuery {
                data_source,
                interval: Some(interval),
                versions,
                limit: limit.map(|n| n as usize),
                max_used_status_last_updated: max_used_status_last_updated_time,
            };
            json!(overlord.unused_segments(id, &query).await?)
        }
        TaskAction::SegmentNuke { segments } => {
            overlord.nuke_segments(id, segments).await?;
            Value::Null
        }
    };
    Ok(Json(json!({ "result": result })))
}

/// Druid's `PartialShardSpec` of an allocation: the kinds of dynamic partitioning.
fn partial_shard_spec_of(v: Option<&Value>) -> ApiResult<PartialShardSpec> {
    let kind = match v {
        None | Some(Value::Null) => return Ok(PartialShardSpec::Numbered),
        Some(v) => v.get("type").and_then(Value::as_str),
    };
    match kind {
        Some("numbered") => Ok(PartialShardSpec::Numbered),
        Some("linear") => Ok(PartialShardSpec::Linear),
        other => Err(invalid_input(format!(
            "segmentAllocate [shardSpecFactory] of type [{}] is not supported yet: only [numbered] and [linear]",
            other.unwrap_or("")
        ))),
    }
}
