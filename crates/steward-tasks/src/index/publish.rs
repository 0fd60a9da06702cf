//! From built segments to published ones: the version and partition of each segment, its
//! files in deep storage, and one transaction that makes them all visible at once.
//!
//! An overwriting ingestion writes each time chunk under the version of its time-chunk lock,
//! numbering the chunk's segments `0..n` with `n` core partitions, so a query sees the whole
//! chunk or the old one (Druid's `NumberedShardSpec`; `HashBasedNumberedShardSpec` under hashed
//! partitioning, numbered in bucket order, each naming its bucket). An appending one asks the Overlord for
//! each segment's id (`segmentAllocate`), which numbers it after the chunk's existing
//! segments. Nothing is visible until the publish: files pushed by a task that fails before it
//! are removed again, and the publish itself is one metadata transaction.

use std::path::PathBuf;

use steward_model::action::{SegmentAllocate, SegmentPublishResult};
use steward_model::segment::BINARY_VERSION_V9;
use steward_model::{
    DataSegment, HashedShardSpec, Interval, SegmentIdWithShardSpec, SegmentSchemaMapping,
    ShardSpec, Task, TaskAction, TaskLock, TaskLockType,
};

use steward_ingest::pipeline::BuiltSegment;

use crate::log::{info, warn};
use crate::Toolbox;

/// Takes (`wait_ms` `None`: tries once) or confirms the time-chunk lock on each of
/// `intervals` and returns them: each holds the version segments of its interval get.
pub(crate) async fn lock_intervals(
    task: &Task,
    toolbox: &Toolbox,
    lock_type: TaskLockType,
    intervals: &[Interval],
    wait_ms: Option<u64>,
) -> Result<Vec<TaskLock>, String> {
    let mut locks = Vec::with_capacity(intervals.len());
    for &interval in intervals {
        let action = match wait_ms {
            None => TaskAction::LockTryAcquire {
                lock_type,
                interval,
            },
            Some(timeout_ms) => TaskAction::LockAcquire {
                lock_type,
                interval,
                timeout_ms,
            },
        };
        let lock: Option<TaskLock> = toolbox.act(action).await?;
        match lock {
            None => {
                return Err(format!(
                    "Failed to get locks for intervals[{interval}] of task[{}]",
                    task.id()
                ))
            }
            Some(lock) if lock.revoked => {
                return Err(format!(
                    "Lock for interval [{interval}] of task[{}] was revoked",
                    task.id()
                ))
            }
            Some(lock) => locks.push(lock),
        }
    }
    Ok(locks)
}

/// Names overwriting segments: the version of the lock covering each bucket, and numbered
/// partitions `0..n` per bucket (`segments` come grouped by bucket, in order), `hashed` ones
/// for segments that hold a hash bucket.
pub(crate) fn name_overwriting(
    task: &Task,
    locks: &[TaskLock],
    segments: &[BuiltSegment],
) -> Result<Vec<DataSegment>, String> {
    let mut named = Vec::with_capacity(segments.len());
    for chunk in segments.chunk_by(|a, b| a.bucket == b.bucket) {
        let bucket = chunk[0].bucket;
        let lock = locks
            .iter()
            .find(|l| l.interval.contains(&bucket))
            .ok_or_else(|| {
                format!(
                    "No lock of task[{}] covers interval[{bucket}] its rows fall in",
                    task.id()
                )
            })?;
        let partitions = u32::try_from(chunk.len()).map_err(|_| "Too many segments".to_string())?;
        for (partition_num, local) in (0..partitions).zip(chunk) {
            let shard_spec = match &local.hash_bucket {
                None => ShardSpec::Numbered {
                    partition_num,
                    partitions,
                },
                Some(hash) => ShardSpec::Hashed(HashedShardSpec {
                    partition_num,
                    partitions,
                    bucket_id: hash.bucket_id,
                    num_buckets: hash.num_buckets,
                    partition_dimensions: hash.partition_dimensions.clone(),
                    partition_function: Some(hash.partition_function),
                }),
            };
            named.push(segment(task, local, bucket, &lock.version, shard_spec));
        }
    }
    Ok(named)
}

/// Names appended segments through the Overlord: one `segmentAllocate` each, in one sequence
/// (the task's id) so that a retried allocation answers the same id.
pub(crate) async fn name_appended(
    task: &Task,
    toolbox: &Toolbox,
    lock_type: TaskLockType,
    query_granularity: &serde_json::Value,
    segment_granularity: &serde_json::Value,
    segments: &[BuiltSegment],
) -> Result<Vec<DataSegment>, String> {
    let mut named = Vec::with_capacity(segments.len());
    let mut previous: Option<String> = None;
    for local in segments {
        let allocated = allocate_appended(
            task,
            toolbox,
            lock_type,
            (query_granularity, segment_granularity),
            local.bucket,
            task.id(),
            previous.take(),
        )
        .await?;
        previous = Some(allocated.id().to_string());
        named.push(segment(
            task,
            local,
            allocated.interval,
            &allocated.version,
            allocated.shard_spec,
        ));
    }
    Ok(named)
}

/// The id of an appended segment for rows in `bucket`: the one after `previous` in
/// `sequence_name`, from the Overlord (`segmentAllocate` with the task's query and segment
/// granularities as submitted).
pub(crate) async fn allocate_appended(
    task: &Task,
    toolbox: &Toolbox,
    lock_type: TaskLockType,
    (query_granularity, segment_granularity): (&serde_json::Value, &serde_json::Value),
    bucket: Interval,
    sequence_name: &str,
    previous: Option<String>,
) -> Result<SegmentIdWithShardSpec, String> {
    let allocated: Option<SegmentIdWithShardSpec> = toolbox
        .act(TaskAction::SegmentAllocate(SegmentAllocate {
            data_source: task.data_source().to_string(),
            timestamp: bucket.start,
            query_granularity: query_granularity.clone(),
            preferred_segment_granularity: segment_granularity.clone(),
            sequence_name: sequence_name.to_string(),
            previous_segment_id: previous,
            skip_segment_lineage_check: false,
            partial_shard_spec: Some(serde_json::json!({"type": "numbered"})),
            lock_granularity: Some(steward_model::LockGranularity::TimeChunk),
            task_lock_type: Some(lock_type),
        }))
        .await?;
    let allocated = allocated.ok_or_else(|| {
        format!(
            "Could not allocate a segment of [{}] for interval[{bucket}]",
            task.data_source(),
        )
    })?;
    // Existing segments of a finer granularity make the Overlord allocate a smaller
    // chunk, which cannot hold a bucket already written.
    if !allocated.interval.contains(&bucket) {
        return Err(format!(
            "The Overlord allocated interval[{}] for rows in [{bucket}]: existing segments of [{}] \
             have a finer segment granularity than this task's; append with theirs",
            allocated.interval,
            task.data_source()
        ));
    }
    Ok(allocated)
}

/// The metadata of the built segment `local` under the given id; pushing fills in its
/// `loadSpec` and size.
pub(crate) fn segment(
    task: &Task,
    local: &BuiltSegment,
    interval: Interval,
    version: &str,
    shard_spec: ShardSpec,
) -> DataSegment {
    DataSegment {
        data_source: task.data_source().to_string(),
        interval,
        version: version.to_string(),
        load_spec: Default::default(),
        dimensions: local.dimensions.clone(),
        metrics: local.metrics.clone(),
        shard_spec,
        last_compaction_state: None,
        binary_version: Some(BINARY_VERSION_V9),
        size: 0,
    }
}

/// Pushes every segment's files to deep storage, into `pushed`; on a failure, the error (what
/// `pushed` holds is removed when it is dropped).
pub(crate) fn push_all(
    pushed: &mut Unpublished<'_>,
    segments: Vec<(DataSegment, PathBuf)>,
) -> Result<(), String> {
    for (segment, dir) in segments {
        let done = pushed
            .toolbox
            .storage
            .push(&dir, &segment)
            .map_err(|e| format!("Cannot push segment[{}]: {e}", segment.id()))?;
        pushed.segments.push(done);
    }
    Ok(())
}

/// Segments pushed to deep storage that nothing published or handed on yet. Their files are
/// removed when the guard is dropped: on an error, and when a stopped task's future is
/// dropped between its push and its publish or report.
pub(crate) struct Unpublished<'a> {
    toolbox: &'a Toolbox,
    segments: Vec<DataSegment>,
}

impl<'a> Unpublished<'a> {
    pub(crate) fn new(toolbox: &'a Toolbox) -> Self {
        Unpublished {
            toolbox,
            segments: Vec::new(),
        }
    }

    pub(crate) fn segments(&self) -> &[DataSegment] {
        &self.segments
    }

    /// The segments are published, or their publisher has them: their files stay.
    pub(crate) fn keep(mut self) -> Vec<DataSegment> {
        std::mem::take(&mut self.segments)
    }
}

impl Drop for Unpublished<'_> {
    fn drop(&mut self) {
        remove_pushed(self.toolbox, &self.segments);
    }
}

/// Best effort: files of segments that will never be published.
pub(crate) fn remove_pushed(toolbox: &Toolbox, pushed: &[DataSegment]) {
    for segment in pushed {
        if let Err(e) = toolbox.storage.kill(segment) {
            warn(&format!(
                "Cannot remove the files of unpublished segment[{}]: {e}",
                segment.id()
            ));
        }
    }
}

/// Publishes `segments` in one transaction, with the action their lock type calls for, and
/// their row counts in `schema` for the segment table.
pub(crate) async fn publish(
    toolbox: &Toolbox,
    lock_type: TaskLockType,
    segments: Vec<DataSegment>,
    schema: SegmentSchemaMapping,
) -> Result<Vec<DataSegment>, String> {
    let segment_schema_mapping = Some(schema);
    let action = match lock_type {
        TaskLockType::Replace => TaskAction::SegmentTransactionalReplace {
            segments,
            segment_schema_mapping,
        },
        TaskLockType::Append => TaskAction::SegmentTransactionalAppend {
            segments,
            segment_schema_mapping,
        },
        TaskLockType::Exclusive | TaskLockType::Shared => TaskAction::SegmentTransactionalInsert {
            segments,
            segments_to_be_overwritten: None,
            start_metadata: None,
            end_metadata: None,
            segment_schema_mapping,
        },
    };
    let result: SegmentPublishResult = toolbox.act(action).await?;
    if !result.success {
        return Err(format!(
            "Failed to publish segments: {}",
            result
                .error_msg
                .as_deref()
                .unwrap_or("the Overlord refused them")
        ));
    }
    info(&format!("Published [{}] segments", result.segments.len()));
    Ok(result.segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use steward_ingest::pipeline::HashBucket;
    use steward_model::HashPartitionFunction;

    fn local(bucket: &str) -> BuiltSegment {
        BuiltSegment {
            bucket: bucket.parse().unwrap(),
            dir: PathBuf::from("/x"),
            num_rows: 1,
            size_bytes: 1,
            dimensions: vec!["page".into()],
            metrics: vec!["count".into()],
            hash_bucket: None,
        }
    }

    fn lock(interval: &str, version: &str) -> TaskLock {
        serde_json::from_value(
            json!({"type": "EXCLUSIVE", "groupId": "g", "dataSource": "wiki",
            "interval": interval, "version": version, "priority": 50, "revoked": false}),
        )
        .unwrap()
    }

    #[test]
    fn overwriting_segments_take_their_lock_version_and_number_partitions_per_chunk() {
        let task = Task::from_json(json!({"type": "index", "id": "t",
            "spec": {"dataSchema": {"dataSource": "wiki"}}}))
        .unwrap();
        let locks = [
            lock("2015-09-12/2015-09-14", "v1"),
            lock("2015-09-20/2015-09-21", "v2"),
        ];
        let segments = [
            local("2015-09-12/2015-09-13"),
            local("2015-09-12/2015-09-13"),
            local("2015-09-13/2015-09-14"),
            local("2015-09-20/2015-09-21"),
        ];
        let named = name_overwriting(&task, &locks, &segments).unwrap();
        let ids: Vec<String> = named.iter().map(|s| s.id().to_string()).collect();
        assert_eq!(
            ids,
            [
                "wiki_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_v1",
                "wiki_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_v1_1",
                "wiki_2015-09-13T00:00:00.000Z_2015-09-14T00:00:00.000Z_v1",
                "wiki_2015-09-20T00:00:00.000Z_2015-09-21T00:00:00.000Z_v2",
            ]
        );
        assert_eq!(
            named[1].shard_spec,
            ShardSpec::Numbered {
                partition_num: 1,
                partitions: 2
            }
        );
        assert_eq!(
            named[2].shard_spec,
            ShardSpec::Numbered {
                partition_num: 0,
                partitions: 1
            }
        );
        let uncovered = name_overwriting(&task, &locks[..1], &segments).unwrap_err();
        assert!(uncovered.contains("2015-09-20"), "{uncovered}");
    }

    #[test]
    fn hash_buckets_are_numbered_in_bucket_order_with_druids_hashed_shard_spec() {
        let task = Task::from_json(json!({"type": "index", "id": "t",
            "spec": {"dataSchema": {"dataSource": "wiki"}}}))
        .unwrap();
        let locks = [lock("2015-09-12/2015-09-13", "v1")];
        // Buckets 0 and 2 of 3 hold rows; bucket 1 is empty and written nowhere.
        let segments: Vec<BuiltSegment> = [0, 2]
            .map(|bucket_id| BuiltSegment {
                hash_bucket: Some(HashBucket {
                    bucket_id,
                    num_buckets: 3,
                    partition_dimensions: vec!["page".into()],
                    partition_function: HashPartitionFunction::Murmur3_32Abs,
                }),
                ..local("2015-09-12/2015-09-13")
            })
            .into();
        let named = name_overwriting(&task, &locks, &segments).unwrap();
        let specs: Vec<serde_json::Value> = named
            .iter()
            .map(|s| serde_json::to_value(&s.shard_spec).unwrap())
            .collect();
        assert_eq!(
            specs,
            [
                json!({"type": "hashed", "partitionNum": 0, "partitions": 2, "bucketId": 0,
                       "numBuckets": 3, "partitionDimensions": ["page"],
                       "partitionFunction": "murmur3_32_abs"}),
                json!({"type": "hashed", "partitionNum": 1, "partitions": 2, "bucketId": 2,
                       "numBuckets": 3, "partitionDimensions": ["page"],
                       "partitionFunction": "murmur3_32_abs"}),
            ]
        );
        assert_eq!(
            named[1].id().to_string(),
            "wiki_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_v1_1"
        );
    }
}
