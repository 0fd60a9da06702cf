//! Segment ids for an overwriting parallel ingestion, given out by its supervisor (Druid's
//! `SinglePhaseParallelIndexTaskRunner.allocateNewSegment` with lineage), and the chunks
//! closed at publish.
//!
//! Every segment of a time chunk takes the version of the supervisor's lock on it and a
//! partition number no other sub-task has, counted per chunk. Requests come in sequences, one
//! per sub-task spec, each naming the id it was given last: a retried attempt walking the same
//! sequence gets the same ids again, so retries neither skip numbers nor push under new ones.
//! Sub-tasks push with Druid's `building_numbered` shard spec; at publish each chunk's
//! segments become its core partitions (`numbered`, `partitions` = their count), which is only
//! right if no number was given out and never pushed, so that is checked.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde_json::{json, Map, Value};
use steward_ingest::spec::GranularitySpec;
use steward_model::{DataSegment, Interval, SegmentIdWithShardSpec, ShardSpec, TaskLock};

/// Druid's `BuildingNumberedShardSpec` type name.
const BUILDING_NUMBERED: &str = "building_numbered";

/// The supervisor's allocation state.
#[derive(Debug)]
pub(crate) struct SegmentAllocator {
    data_source: String,
    granularity: GranularitySpec,
    /// The supervisor's time-chunk locks: interval and version.
    locks: Vec<(Interval, String)>,
    next_partition: HashMap<Interval, u32>,
    /// Spec id → the ids given to it, in order.
    sequences: HashMap<String, Vec<SegmentIdWithShardSpec>>,
}

impl SegmentAllocator {
    /// `locks` are those the supervisor holds already (taken at `isReady` when the spec names
    /// its intervals).
    pub(crate) fn new(
        data_source: &str,
        granularity: GranularitySpec,
        locks: &[TaskLock],
    ) -> SegmentAllocator {
        let mut allocator = SegmentAllocator {
            data_source: data_source.to_string(),
            granularity,
            locks: Vec::new(),
            next_partition: HashMap::new(),
            sequences: HashMap::new(),
        };
        for lock in locks {
            allocator.add_lock(lock);
        }
        allocator
    }

    /// The chunk of a row at `timestamp` and, when the supervisor holds no lock on it yet, the
    /// interval to lock first. Refused when the spec's intervals leave the row out, or name
    /// the chunk but no lock covers it.
    pub(crate) fn bucket(&self, timestamp: Timestamp) -> Result<(Interval, bool), String> {
        let bucket = self
            .granularity
            .bucket_interval(timestamp.as_millisecond())
            .ok_or_else(|| format!("Could not find interval for timestamp [{timestamp}]"))?;
        let locked = self.version(&bucket).is_some();
        if !locked && !self.granularity.intervals.is_empty() {
            return Err(format!("Cannot find a version for interval[{bucket}]"));
        }
        Ok((bucket, !locked))
    }

    pub(crate) fn add_lock(&mut self, lock: &TaskLock) {
        self.locks.push((lock.interval, lock.version.clone()));
    }

    fn version(&self, bucket: &Interval) -> Option<&str> {
        self.locks
            .iter()
            .find(|(interval, _)| interval.contains(bucket))
            .map(|(_, version)| version.as_str())
    }

    /// The id after `previous` in `sequence`: the one given before if a retry asks again,
    /// else a new one with the chunk's next partition number.
    pub(crate) fn allocate(
        &mut self,
        bucket: Interval,
        sequence: &str,
        previous: Option<&str>,
    ) -> Result<SegmentIdWithShardSpec, String> {
        let given = self
            .sequences
            .get(sequence)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let next = match previous {
            None => 0,
            Some(previous) => {
                if given.is_empty() {
                    return Err(format!(
                        "Can't find previous segmentIds for sequence[{sequence}]"
                    ));
                }
                1 + given
                    .iter()
                    .position(|id| id.id().to_string() == previous)
                    .ok_or_else(|| {
                        format!(
                            "Can't find previously allocated segmentId[{previous}] for sequence[{sequence}]"
                        )
                    })?
            }
        };
        if let Some(again) = given.get(next) {
            return Ok(again.clone());
        }
        let version = self
            .version(&bucket)
            .ok_or_else(|| format!("Cannot find a version for interval[{bucket}]"))?
            .to_string();
        let counter = self.next_partition.entry(bucket).or_insert(0);
        let partition_id = *counter;
        *counter += 1;
        let id = SegmentIdWithShardSpec {
            data_source: self.data_source.clone(),
            interval: bucket,
            version,
            shard_spec: building_numbered(partition_id),
        };
        self.sequences
            .entry(sequence.to_string())
            .or_default()
            .push(id.clone());
        Ok(id)
    }

    /// A spec succeeded: its sequence will not be asked again (Druid's completion callback).
    pub(crate) fn forget(&mut self, sequence: &str) {
        self.sequences.remove(sequence);
    }
}

fn building_numbered(partition_id: u32) -> ShardSpec {
    let mut spec = Map::new();
    spec.insert("type".into(), json!(BUILDING_NUMBERED));
    spec.insert("partitionId".into(), Value::from(partition_id));
    ShardSpec::Other(spec)
}

/// Druid's `SegmentPublisherHelper.annotateShardSpec`: the `building_numbered` segments of each
/// chunk become `numbered` with `partitions` = how many there are. Refused if a chunk's
/// partition numbers are not exactly `0..n`: such a chunk would never be complete.
pub(crate) fn close_chunks(mut segments: Vec<DataSegment>) -> Result<Vec<DataSegment>, String> {
    let mut chunks: BTreeMap<Interval, Vec<u32>> = BTreeMap::new();
    for segment in &segments {
        if segment.shard_spec.type_name() == BUILDING_NUMBERED {
            chunks
                .entry(segment.interval)
                .or_default()
                .push(segment.shard_spec.partition_num());
        }
    }
    for (interval, numbers) in &mut chunks {
        numbers.sort_unstable();
        if numbers.iter().copied().ne(0..numbers.len() as u32) {
            return Err(format!(
                "The segments of interval[{interval}] have partition numbers {numbers:?}: \
                 a sub-task allocated an id it never pushed, and the chunk would never be complete"
            ));
        }
    }
    for segment in &mut segments {
        if let Some(numbers) = chunks.get(&segment.interval) {
            if segment.shard_spec.type_name() == BUILDING_NUMBERED {
                segment.shard_spec = ShardSpec::Numbered {
                    partition_num: segment.shard_spec.partition_num(),
                    partitions: numbers.len() as u32,
                };
            }
        }
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(s: &str) -> Interval {
        s.parse().unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn lock(interval: &str, version: &str) -> TaskLock {
        serde_json::from_value(
            json!({"type": "EXCLUSIVE", "groupId": "g", "dataSource": "wiki",
            "interval": interval, "version": version, "priority": 50, "revoked": false}),
        )
        .unwrap()
    }

    fn granularity(intervals: &[&str]) -> GranularitySpec {
        GranularitySpec {
            intervals: intervals.iter().map(|i| iv(i)).collect(),
            ..GranularitySpec::default()
        }
    }

    fn ids(allocated: &[SegmentIdWithShardSpec]) -> Vec<String> {
        allocated.iter().map(|a| a.id().to_string()).collect()
    }

    // Druid's SinglePhaseParallelIndexTaskRunner.allocateNewSegment (lineage-based).
    #[test]
    fn partitions_are_unique_per_chunk_across_sequences_and_a_retry_gets_its_ids_again() {
        let locks = [lock("2015-09-12/2015-09-14", "v1")];
        let mut a = SegmentAllocator::new("wiki", granularity(&["2015-09-12/2015-09-14"]), &locks);
        let (day1, lock_first) = a.bucket(ts("2015-09-12T05:00:00Z")).unwrap();
        assert_eq!(day1, iv("2015-09-12/2015-09-13"));
        assert!(!lock_first);
        let (day2, _) = a.bucket(ts("2015-09-13T01:00:00Z")).unwrap();

        let s0_first = a.allocate(day1, "sup_0", None).unwrap();
        let s1_first = a.allocate(day1, "sup_1", None).unwrap();
        let s0_prev = s0_first.id().to_string();
        let s0_second = a.allocate(day1, "sup_0", Some(&s0_prev)).unwrap();
        let s0_prev = s0_second.id().to_string();
        let s0_third = a.allocate(day2, "sup_0", Some(&s0_prev)).unwrap();
        assert_eq!(
            ids(&[
                s0_first.clone(),
                s1_first,
                s0_second.clone(),
                s0_third.clone()
            ]),
            [
                "wiki_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_v1",
                "wiki_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_v1_1",
                "wiki_2015-09-12T00:00:00.000Z_2015-09-13T00:00:00.000Z_v1_2",
                "wiki_2015-09-13T00:00:00.000Z_2015-09-14T00:00:00.000Z_v1",
            ]
        );
        assert_eq!(
            serde_json::to_value(&s0_second.shard_spec).unwrap(),
            json!({"type": "building_numbered", "partitionId": 2})
        );

        // A retry of sup_0 walks the same sequence and gets the same ids, then new ones.
        assert_eq!(a.allocate(day1, "sup_0", None).unwrap(), s0_first);
        let again = a
            .allocate(day1, "sup_0", Some(&s0_first.id().to_string()))
            .unwrap();
        assert_eq!(again, s0_second);
        let last = s0_third.id().to_string();
        let fourth = a.allocate(day1, "sup_0", Some(&last)).unwrap();
        assert_eq!(fourth.shard_spec.partition_num(), 3);

        let err = a.allocate(day1, "sup_9", Some("nope")).unwrap_err();
        assert_eq!(err, "Can't find previous segmentIds for sequence[sup_9]");
        let err = a.allocate(day1, "sup_0", Some("nope")).unwrap_err();
        assert!(err.starts_with("Can't find previously allocated segmentId[nope]"));
        // Once a spec succeeded its sequence starts over.
        a.forget("sup_0");
        assert!(a.allocate(day1, "sup_0", Some(&last)).is_err());
    }

    #[test]
    fn a_chunk_without_a_lock_is_locked_first_unless_the_spec_names_its_intervals() {
        let mut open = SegmentAllocator::new("wiki", granularity(&[]), &[]);
        let (day, lock_first) = open.bucket(ts("2015-09-12T05:00:00Z")).unwrap();
        assert!(lock_first);
        assert!(open.allocate(day, "s", None).is_err());
        open.add_lock(&lock("2015-09-12/2015-09-13", "v2"));
        assert_eq!(
            open.bucket(ts("2015-09-12T06:00:00Z")).unwrap(),
            (day, false)
        );
        assert_eq!(open.allocate(day, "s", None).unwrap().version, "v2");

        let closed = SegmentAllocator::new("wiki", granularity(&["2015-09-12/2015-09-13"]), &[]);
        assert_eq!(
            closed.bucket(ts("2015-09-12T05:00:00Z")).unwrap_err(),
            "Cannot find a version for interval[2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z]"
        );
        assert!(closed
            .bucket(ts("2015-09-20T05:00:00Z"))
            .unwrap_err()
            .starts_with("Could not find interval for timestamp"));
    }

    fn pushed(interval: &str, partition_id: u32) -> DataSegment {
        DataSegment {
            data_source: "wiki".into(),
            interval: iv(interval),
            version: "v1".into(),
            load_spec: Map::new(),
            dimensions: vec![],
            metrics: vec![],
            shard_spec: building_numbered(partition_id),
            last_compaction_state: None,
            binary_version: Some(9),
            size: 1,
        }
    }

    #[test]
    fn chunks_close_with_their_count_as_core_partitions_and_gaps_are_refused() {
        let day1 = "2015-09-12/2015-09-13";
        let day2 = "2015-09-13/2015-09-14";
        let closed = close_chunks(vec![
            pushed(day1, 1),
            pushed(day2, 0),
            pushed(day1, 0),
            pushed(day1, 2),
        ])
        .unwrap();
        let specs: Vec<ShardSpec> = closed.iter().map(|s| s.shard_spec.clone()).collect();
        let numbered = |partition_num, partitions| ShardSpec::Numbered {
            partition_num,
            partitions,
        };
        assert_eq!(
            specs,
            [
                numbered(1, 3),
                numbered(0, 1),
                numbered(0, 3),
                numbered(2, 3)
            ]
        );
        let gap = close_chunks(vec![pushed(day1, 0), pushed(day1, 2)]).unwrap_err();
        assert!(gap.contains("[0, 2]"), "{gap}");
    }
}
