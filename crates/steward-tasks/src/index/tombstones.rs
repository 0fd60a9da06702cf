//! `dropExisting` (Druid's `TombstoneHelper` for native batch): the time chunks of the spec's
//! intervals that this task writes nothing into, but that hold used segments, get a tombstone,
//! published with the new segments in one transaction. The tombstone has the task's lock
//! version, so it overshadows the old segments of its chunk and they are marked unused with the
//! publish; it has no rows and no files.

use steward_model::{DataSegment, Interval, Task, TaskAction, TaskLock};

use crate::Toolbox;

/// The tombstones a replacing task publishes with `pushed` over `time_chunks` (the segment
/// granularity's buckets of its intervals), each with the version of the lock covering it.
pub(crate) async fn tombstones(
    task: &Task,
    toolbox: &Toolbox,
    time_chunks: &[Interval],
    locks: &[TaskLock],
    pushed: &[DataSegment],
) -> Result<Vec<DataSegment>, String> {
    let input = Interval::condense(time_chunks.to_vec());
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let used: Vec<DataSegment> = toolbox
        .act(TaskAction::RetrieveUsedSegments {
            data_source: task.data_source().to_string(),
            intervals: input,
            visibility: None,
        })
        .await?;
    let used = Interval::condense(used.iter().map(|s| s.interval).collect());
    let pushed = Interval::condense(pushed.iter().map(|s| s.interval).collect());
    tombstone_intervals(time_chunks, &pushed, &used)
        .into_iter()
        .map(|chunk| {
            let lock = locks
                .iter()
                .find(|l| l.interval.contains(&chunk))
                .ok_or_else(|| {
                    format!(
                        "No lock of task[{}] covers interval[{chunk}] to tombstone",
                        task.id()
                    )
                })?;
            Ok(DataSegment::tombstone(
                task.data_source(),
                chunk,
                &lock.version,
            ))
        })
        .collect()
}

/// Druid's `computeTombstoneIntervals`: the time chunks no pushed interval overlaps and some
/// used interval does (a chunk with nothing old needs no tombstone).
fn tombstone_intervals(
    time_chunks: &[Interval],
    pushed: &[Interval],
    used: &[Interval],
) -> Vec<Interval> {
    time_chunks
        .iter()
        .filter(|chunk| {
            !pushed.iter().any(|p| p.overlaps(chunk)) && used.iter().any(|u| u.overlaps(chunk))
        })
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(s: &str) -> Interval {
        s.parse().unwrap()
    }

    // Mirrors Druid's TombstoneHelperTest: only empty chunks over used data get a tombstone.
    #[test]
    fn empty_chunks_over_used_segments_are_tombstoned() {
        let chunks = [
            iv("2015-09-12/2015-09-13"),
            iv("2015-09-13/2015-09-14"),
            iv("2015-09-14/2015-09-15"),
            iv("2015-09-15/2015-09-16"),
        ];
        let pushed = [iv("2015-09-12/2015-09-13")];
        // Old data on the 12th (rewritten), the 13th (dropped) and part of the 15th; none on
        // the 14th.
        let used = [
            iv("2015-09-12/2015-09-14"),
            iv("2015-09-15T06:00Z/2015-09-15T07:00Z"),
        ];
        assert_eq!(
            tombstone_intervals(&chunks, &pushed, &used),
            [iv("2015-09-13/2015-09-14"), iv("2015-09-15/2015-09-16")]
        );
        assert!(tombstone_intervals(&chunks, &pushed, &[]).is_empty());
        assert!(tombstone_intervals(&chunks, &chunks, &used).is_empty());
    }
}
