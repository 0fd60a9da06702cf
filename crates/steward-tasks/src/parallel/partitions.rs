//! The shuffle between the two phases of a hash-partitioned `index_parallel` ingestion: what a
//! `partial_index_generate` sub-task reports of the partial segments it pushed (Druid's
//! `GeneratedPartitionsMetadataReport` of `DeepStoragePartitionStat`s), and how the supervisor
//! deals them out to `partial_index_generic_merge` sub-tasks (Druid's
//! `groupGenericPartitionLocationsPerPartition` and `createMergeIOConfigs`).
//!
//! Every partial segment of one time chunk and hash bucket, from whichever sub-task, becomes
//! one final segment. The supervisor numbers each chunk's non-empty buckets `0..k` in bucket
//! order before the merge starts, so the merge sub-tasks write final `hashed` shard specs
//! (`partitions` = k) and push to the final place at once. Druid hands them a `building`
//! spec and fixes `partitions` at publish; Steward knows k already, so its merge sub-tasks
//! get the final spec in each location's `shardSpec`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use steward_ingest::pipeline::HashBucket;
use steward_model::{HashedShardSpec, Interval, ShardSpec};

/// Druid's `DeepStoragePartitionStat`: one partial segment a first-phase sub-task pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "deepstore", rename_all = "camelCase")]
pub(crate) struct PartitionStat {
    pub(crate) interval: Interval,
    pub(crate) shard_spec: HashBucket,
    pub(crate) load_spec: Map<String, Value>,
}

/// Druid's `GeneratedPartitionsMetadataReport`: what a first-phase sub-task pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename = "generated_partitions_metadata",
    rename_all = "camelCase"
)]
pub(crate) struct GeneratedPartitionsReport {
    pub(crate) task_id: String,
    pub(crate) partition_stats: Vec<PartitionStat>,
    /// The sub-task's completion report map.
    #[serde(default)]
    pub(crate) task_report: Map<String, Value>,
}

/// Druid's `DeepStoragePartitionLocation`: one partial segment a merge sub-task reads, with
/// the final shard spec of the segment it goes into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "deepstore", rename_all = "camelCase")]
pub(crate) struct PartitionLocation {
    pub(crate) sub_task_id: String,
    pub(crate) interval: Interval,
    pub(crate) shard_spec: ShardSpec,
    pub(crate) load_spec: Map<String, Value>,
}

/// The `partitionLocations` of each merge sub-task: at most `total_num_merge_tasks` lists,
/// each holding whole partitions (every partial segment of a chunk's bucket), in chunk and
/// bucket order.
pub(crate) fn merge_assignments<'a>(
    reports: impl IntoIterator<Item = &'a GeneratedPartitionsReport>,
    total_num_merge_tasks: usize,
) -> Vec<Vec<PartitionLocation>> {
    let mut partitions: BTreeMap<(Interval, u32), Vec<(&str, &PartitionStat)>> = BTreeMap::new();
    for report in reports {
        for stat in &report.partition_stats {
            partitions
                .entry((stat.interval, stat.shard_spec.bucket_id))
                .or_default()
                .push((&report.task_id, stat));
        }
    }
    let mut core: BTreeMap<Interval, u32> = BTreeMap::new();
    for (interval, _) in partitions.keys() {
        *core.entry(*interval).or_default() += 1;
    }
    let mut next_partition: BTreeMap<Interval, u32> = BTreeMap::new();
    let numbered: Vec<Vec<PartitionLocation>> = partitions
        .into_iter()
        .map(|((interval, bucket_id), partials)| {
            let partition_num = next_partition.entry(interval).or_default();
            let bucket = &partials[0].1.shard_spec;
            let shard_spec = ShardSpec::Hashed(HashedShardSpec {
                partition_num: *partition_num,
                partitions: core[&interval],
                bucket_id,
                num_buckets: bucket.num_buckets,
                partition_dimensions: bucket.partition_dimensions.clone(),
                partition_function: Some(bucket.partition_function),
            });
            *partition_num += 1;
            partials
                .into_iter()
                .map(|(sub_task_id, stat)| PartitionLocation {
                    sub_task_id: sub_task_id.to_string(),
                    interval,
                    shard_spec: shard_spec.clone(),
                    load_spec: stat.load_spec.clone(),
                })
                .collect()
        })
        .collect();
    if numbered.is_empty() {
        return Vec::new();
    }
    // Druid's `createMergeIOConfigs`: partitions spread evenly, the first tasks one more.
    let tasks = total_num_merge_tasks.clamp(1, numbered.len());
    let (each, extra) = (numbered.len() / tasks, numbered.len() % tasks);
    let mut partitions = numbered.into_iter();
    (0..tasks)
        .map(|i| {
            let take = each + usize::from(i < extra);
            partitions.by_ref().take(take).flatten().collect()
        })
        .collect()
}

/// A merge sub-task's partitions: its locations grouped by final segment, in order.
pub(crate) fn by_partition(
    locations: Vec<PartitionLocation>,
) -> Vec<(Interval, ShardSpec, Vec<PartitionLocation>)> {
    let mut out: Vec<(Interval, ShardSpec, Vec<PartitionLocation>)> = Vec::new();
    for location in locations {
        match out.last_mut() {
            Some((interval, spec, group))
                if *interval == location.interval && *spec == location.shard_spec =>
            {
                group.push(location)
            }
            _ => out.push((
                location.interval,
                location.shard_spec.clone(),
                vec![location],
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use steward_model::HashPartitionFunction;

    fn stat(day: u32, bucket_id: u32, path: &str) -> PartitionStat {
        PartitionStat {
            interval: format!("2015-09-{day:02}/2015-09-{:02}", day + 1)
                .parse()
                .unwrap(),
            shard_spec: HashBucket {
                bucket_id,
                num_buckets: 4,
                partition_dimensions: vec!["page".into()],
                partition_function: HashPartitionFunction::Murmur3_32Abs,
            },
            load_spec: json!({"type": "local", "path": path})
                .as_object()
                .unwrap()
                .clone(),
        }
    }

    fn report(task_id: &str, stats: Vec<PartitionStat>) -> GeneratedPartitionsReport {
        GeneratedPartitionsReport {
            task_id: task_id.into(),
            partition_stats: stats,
            task_report: Map::new(),
        }
    }

    #[test]
    fn reports_and_locations_have_druids_json() {
        let r = report(
            "gen_1",
            vec![stat(12, 3, "/deep/shuffle-data/s/gen_1/x/3/index/")],
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            json!({"type": "generated_partitions_metadata", "taskId": "gen_1", "taskReport": {},
                "partitionStats": [{"type": "deepstore",
                    "interval": "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z",
                    "shardSpec": {"type": "bucket_hash", "bucketId": 3, "numBuckets": 4,
                        "partitionDimensions": ["page"], "partitionFunction": "murmur3_32_abs"},
                    "loadSpec": {"type": "local", "path": "/deep/shuffle-data/s/gen_1/x/3/index/"}}]})
        );
        assert_eq!(
            serde_json::from_value::<GeneratedPartitionsReport>(json).unwrap(),
            r
        );
    }

    // Druid's HashPartitionMultiPhaseParallelIndexingTest: each chunk's non-empty buckets are
    // numbered in bucket order, and every partial of a bucket goes to the same merge task.
    #[test]
    fn each_chunks_buckets_are_numbered_and_dealt_out_whole() {
        let reports = [
            report(
                "a",
                vec![
                    stat(12, 3, "a12_3"),
                    stat(12, 1, "a12_1"),
                    stat(13, 2, "a13_2"),
                ],
            ),
            report("b", vec![stat(12, 3, "b12_3"), stat(13, 0, "b13_0")]),
        ];
        let tasks = merge_assignments(&reports, 3);
        // (day, bucket, partitionNum, partitions, partial) of each task's locations.
        type Shape = (String, u32, u32, u32, String);
        let shape: Vec<Vec<Shape>> = tasks
            .iter()
            .map(|locations| {
                locations
                    .iter()
                    .map(|l| {
                        let ShardSpec::Hashed(h) = &l.shard_spec else {
                            panic!("hashed")
                        };
                        (
                            l.interval.to_string()[8..10].to_string(),
                            h.bucket_id,
                            h.partition_num,
                            h.partitions,
                            l.load_spec["path"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .collect();
        let row = |d: &str, b, p, k, path: &str| (d.to_string(), b, p, k, path.to_string());
        assert_eq!(
            shape,
            vec![
                // Four partitions over three tasks: the first gets two.
                vec![
                    row("12", 1, 0, 2, "a12_1"),
                    row("12", 3, 1, 2, "a12_3"),
                    row("12", 3, 1, 2, "b12_3")
                ],
                vec![row("13", 0, 0, 2, "b13_0")],
                vec![row("13", 2, 1, 2, "a13_2")],
            ]
        );
        let groups = by_partition(tasks[0].clone());
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[1].2.len(), 2);
        assert_eq!(
            serde_json::to_value(&groups[1].1).unwrap(),
            json!({"type": "hashed", "partitionNum": 1, "partitions": 2, "bucketId": 3,
                "numBuckets": 4, "partitionDimensions": ["page"],
                "partitionFunction": "murmur3_32_abs"})
        );
        // More tasks than partitions: one partition each; none at all: no task.
        assert_eq!(merge_assignments(&reports, 10).len(), 4);
        assert!(merge_assignments(&[report("c", vec![])], 10).is_empty());
    }
}
