//! The `kill` task (Druid's `KillUnusedSegmentsTask`): deletes the unused segments of a
//! datasource in an interval, their metadata rows and their files, in batches.
//!
//! The order of each batch is what keeps metadata and deep storage consistent whenever the
//! peon stops: list a batch of unused segments, check the task's locks still cover them, delete
//! their rows (`segmentNuke`), and only then their files. A peon killed in between leaves files
//! without rows (orphans, harmless), never a row pointing at deleted files. A file is deleted
//! only if no used segment's `loadSpec` names it, read after the rows are gone: segments
//! upgraded by a concurrent replace share their parent's files.
//!
//! As in Druid, the peon first takes its lock again (`isReady`, idempotent when the Overlord
//! already granted it) and re-reads its locks before every batch, since a lock may be revoked
//! between batches. Counting follows Druid's report: `numSegmentsKilled` counts segments whose
//! files were deleted, and `limit` bounds those, with at most `ceil(limit / batchSize)`
//! batches.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use steward_model::{DataSegment, KillSpec, Task, TaskLock, TaskLockType};

use crate::actions::{TaskAction, Visibility};
use crate::log::info;
use crate::Toolbox;

/// Druid's `KillTaskReport.REPORT_KEY`.
const REPORT_KEY: &str = "killUnusedSegments";

/// What a kill did, Druid's `KillTaskReport.Stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct KillStats {
    pub num_segments_killed: u32,
    pub num_batches_processed: u32,
}

impl KillStats {
    /// Druid's report map entry for these stats.
    pub(crate) fn report(&self, task_id: &str) -> (String, Value) {
        (
            REPORT_KEY.to_string(),
            json!({
                "type": REPORT_KEY,
                "taskId": task_id,
                "payload": {
                    "numSegmentsKilled": self.num_segments_killed,
                    "numBatchesProcessed": self.num_batches_processed,
                },
            }),
        )
    }
}

/// Runs the kill; `Err` is the task's error message.
pub(crate) async fn run(
    task: &Task,
    spec: &KillSpec,
    toolbox: &Toolbox,
) -> Result<KillStats, String> {
    let (id, data_source) = (task.id(), task.data_source());
    let total_batches = spec.limit.map(|limit| limit.div_ceil(spec.batch_size));
    info(&format!(
        "Starting kill for datasource[{data_source}] in interval[{}] and versions[{}] with \
         batchSize[{}], up to limit[{}] segments before maxUsedStatusLastUpdatedTime[{}] will be \
         deleted{}",
        spec.interval,
        spec.versions
            .as_ref()
            .map_or("null".to_string(), |v| format!("{v:?}")),
        spec.batch_size,
        spec.limit.map_or("null".to_string(), |l| l.to_string()),
        spec.max_used_status_last_updated_time
            .map_or("null".to_string(), steward_model::time::format_ts),
        total_batches.map_or(".".to_string(), |n| format!(" in [{n}] batches.")),
    ));
    take_lock(task, spec, toolbox).await?;

    let mut stats = KillStats::default();
    loop {
        let batch_size = match spec.limit {
            Some(limit) => limit
                .saturating_sub(stats.num_segments_killed)
                .min(spec.batch_size),
            None => spec.batch_size,
        };
        if batch_size == 0 {
            break;
        }
        let unused: Vec<DataSegment> = toolbox
            .act(TaskAction::RetrieveUnusedSegments {
                data_source: data_source.to_string(),
                interval: spec.interval,
                versions: spec.versions.clone(),
                limit: Some(batch_size),
                max_used_status_last_updated_time: spec.max_used_status_last_updated_time,
            })
            .await?;
        // A lock may have been revoked since the last batch.
        let locks: Vec<TaskLock> = toolbox.act(TaskAction::LockList).await?;
        if !locks_cover(&locks, &unused) {
            return Err(format!(
                "Locks[{}] for task[{id}] can't cover segments[{}]",
                serde_json::to_string(&locks).expect("locks serialize"),
                ids(&unused)
            ));
        }
        if !unused.is_empty() {
            let () = toolbox
                .act(TaskAction::SegmentNuke {
                    segments: unused.clone(),
                })
                .await?;
        }
        let killable = unreferenced(toolbox, data_source, &unused).await?;
        if killable.len() < unused.len() {
            info(&format!(
                "Skipping kill of [{}] segments from deep storage as their load specs are used by other segments.",
                unused.len() - killable.len()
            ));
        }
        for segment in &killable {
            toolbox.storage.kill(segment).map_err(|e| {
                format!(
                    "Deleted the metadata of segment [{}] but not its files: {e}",
                    segment.id()
                )
            })?;
        }
        stats.num_batches_processed += 1;
        stats.num_segments_killed += u32::try_from(killable.len()).expect("a batch fits a u32");
        info(&format!(
            "Processed [{}] batches for kill task[{id}].",
            stats.num_batches_processed
        ));
        let all_batches_done =
            total_batches.is_some_and(|total| stats.num_batches_processed >= total);
        if unused.is_empty() || all_batches_done {
            break;
        }
    }
    info(&format!(
        "Finished kill task[{id}] for dataSource[{data_source}] and interval[{}]. Deleted total \
         [{}] unused segments in [{}] batches.",
        spec.interval, stats.num_segments_killed, stats.num_batches_processed
    ));
    Ok(stats)
}

/// Druid's `isReady` for a kill, which its peon runs again before the task: a time-chunk lock
/// on the interval, not revoked.
async fn take_lock(task: &Task, spec: &KillSpec, toolbox: &Toolbox) -> Result<(), String> {
    let lock_type = KillSpec::lock_type(task.context())?;
    let lock: Option<TaskLock> = toolbox
        .act(TaskAction::LockTryAcquire {
            lock_type,
            interval: spec.interval,
        })
        .await?;
    match lock {
        None => Err(format!("Task[{}] is not ready to run yet!", task.id())),
        Some(lock) if lock.revoked => Err(format!(
            "Lock[{}] for task[{}] is revoked",
            serde_json::to_string(&lock).expect("a lock serializes"),
            task.id()
        )),
        Some(_) => Ok(()),
    }
}

/// The segments of `batch` whose files no used segment references.
async fn unreferenced(
    toolbox: &Toolbox,
    data_source: &str,
    batch: &[DataSegment],
) -> Result<Vec<DataSegment>, String> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let mut intervals: Vec<_> = batch.iter().map(|s| s.interval).collect();
    intervals.sort();
    intervals.dedup();
    let used: Vec<DataSegment> = toolbox
        .act(TaskAction::RetrieveUsedSegments {
            data_source: data_source.to_string(),
            intervals,
            visibility: Some(Visibility::IncludingOvershadowed),
        })
        .await?;
    Ok(batch
        .iter()
        .filter(|segment| {
            let referenced = used.iter().any(|u| u.load_spec == segment.load_spec);
            if referenced {
                info(&format!(
                    "Skipping kill of segment[{}] as its load spec is also used by other segments.",
                    segment.id()
                ));
            }
            !referenced
        })
        .cloned()
        .collect())
}

/// Druid's `TaskLocks.isLockCoversSegments`: each segment lies in a non-revoked lock of its
/// datasource whose version is at least the segment's (any version for APPEND), among the
/// locks starting latest at or before the segment.
fn locks_cover(locks: &[TaskLock], segments: &[DataSegment]) -> bool {
    let mut by_start: BTreeMap<_, Vec<&TaskLock>> = BTreeMap::new();
    for lock in locks.iter().filter(|l| !l.revoked) {
        by_start.entry(lock.interval.start).or_default().push(lock);
    }
    segments.iter().all(|segment| {
        let Some((_, candidates)) = by_start.range(..=segment.interval.start).next_back() else {
            return false;
        };
        candidates.iter().any(|lock| {
            lock.interval.contains(&segment.interval)
                && lock.data_source == segment.data_source
                && (lock.version >= segment.version || lock.lock_type == TaskLockType::Append)
        })
    })
}

fn ids(segments: &[DataSegment]) -> String {
    segments
        .iter()
        .map(|s| s.id().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(interval: &str, version: &str, lock_type: TaskLockType, revoked: bool) -> TaskLock {
        TaskLock {
            granularity: Default::default(),
            lock_type,
            group_id: "g".into(),
            data_source: "wiki".into(),
            interval: interval.parse().unwrap(),
            version: version.into(),
            priority: Some(0),
            revoked,
        }
    }

    fn segment(interval: &str, version: &str) -> DataSegment {
        serde_json::from_value(
            json!({"dataSource":"wiki","interval":interval,"version":version,
            "shardSpec":{"type":"none"},"size":0}),
        )
        .unwrap()
    }

    #[test]
    fn locks_cover_segments_as_druids_do() {
        let month = "2024-01-01/2024-02-01";
        let day = segment("2024-01-05/2024-01-06", "2024-03-01");
        let exclusive = lock(month, "2024-04-01", TaskLockType::Exclusive, false);
        assert!(locks_cover(
            std::slice::from_ref(&exclusive),
            std::slice::from_ref(&day)
        ));
        assert!(locks_cover(&[], &[]), "an empty batch needs no lock");
        assert!(!locks_cover(&[], std::slice::from_ref(&day)));
        // A lock older than the segment's version does not cover it, unless it appends.
        let old = lock(month, "2024-02-01", TaskLockType::Exclusive, false);
        assert!(!locks_cover(&[old], std::slice::from_ref(&day)));
        let append = lock(
            month,
            "1970-01-01T00:00:00.000Z",
            TaskLockType::Append,
            false,
        );
        assert!(locks_cover(&[append], std::slice::from_ref(&day)));
        let revoked = lock(month, "2024-04-01", TaskLockType::Exclusive, true);
        assert!(!locks_cover(&[revoked], std::slice::from_ref(&day)));
        let elsewhere = lock(
            "2024-02-01/2024-03-01",
            "2024-04-01",
            TaskLockType::Exclusive,
            false,
        );
        assert!(!locks_cover(&[elsewhere], std::slice::from_ref(&day)));
        // Only the locks starting latest before the segment count (Druid's floorEntry).
        let later = lock(
            "2024-01-05/2024-01-05T01:00Z",
            "2024-04-01",
            TaskLockType::Exclusive,
            false,
        );
        assert!(!locks_cover(&[exclusive, later], &[day]));
    }

    #[test]
    fn the_report_has_druids_shape() {
        let stats = KillStats {
            num_segments_killed: 3,
            num_batches_processed: 2,
        };
        let (key, report) = stats.report("kill_1");
        assert_eq!(key, "killUnusedSegments");
        assert_eq!(
            report,
            json!({"type":"killUnusedSegments","taskId":"kill_1",
                "payload":{"numSegmentsKilled":3,"numBatchesProcessed":2}})
        );
    }
}
