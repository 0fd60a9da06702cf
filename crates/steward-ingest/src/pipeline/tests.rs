//! Whole builds from inline input: hashed partitioning splits each chunk's rolled-up rows among
//! its buckets, every row in exactly one, each where Druid's hash puts it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use steward_segment::{dump, DumpOptions, DumpType, QueryableIndex};

use super::*;
use crate::hash_partitioner::hash_bucket;
use crate::input::SegmentFile;

const DAY: i64 = 86_400_000;
/// 2015-09-12T00:00:00Z.
const T0: i64 = 1_442_016_000_000;

/// Input rows: `per_day[d]` rows on day `d`, with repeats that roll up.
fn input(per_day: &[usize]) -> String {
    let mut text = String::new();
    for (day, &n) in per_day.iter().enumerate() {
        for i in 0..n {
            let time = T0 + day as i64 * DAY + (i % 5) as i64 * 1000;
            let row = json!({"time": time, "page": format!("p{}", i % 37),
                "user": format!("u{}", i % 11), "added": i});
            text.push_str(&row.to_string());
            text.push('\n');
        }
    }
    text
}

/// The distinct (time, page, user) of `input`: the rolled-up rows.
fn rolled_up(input: &str) -> BTreeSet<(i64, String, String)> {
    input
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["time"].as_i64().unwrap(),
                v["page"].as_str().unwrap().to_string(),
                v["user"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn build(data: &str, tuning: serde_json::Value, work_dir: &Path) -> Vec<BuiltSegment> {
    let task = json!({"type": "index", "id": "t", "spec": {
        "dataSchema": {
            "dataSource": "wiki",
            "timestampSpec": {"column": "time", "format": "millis"},
            "dimensionsSpec": {"dimensions": ["user", "page"]},
            "metricsSpec": [{"type": "count", "name": "count"},
                            {"type": "longSum", "name": "added", "fieldName": "added"}],
            "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": "NONE"}
        },
        "ioConfig": {"type": "index", "inputSource": {"type": "inline", "data": data},
                     "inputFormat": {"type": "json"}},
        "tuningConfig": tuning
    }});
    build_spec(&IngestionSpec::from_task_json(&task).unwrap(), work_dir)
}

fn build_spec(spec: &IngestionSpec, work_dir: &Path) -> Vec<BuiltSegment> {
    let meters = RowIngestionMeters::default();
    let parse_exceptions = ParseExceptionHandler::new(false, u64::MAX, 0);
    build_segments(BuildRequest {
        spec,
        input: &spec.io_config.input_source,
        work_dir,
        meters: &meters,
        parse_exceptions: &parse_exceptions,
        cancel: &AtomicBool::new(false),
    })
    .unwrap()
}

fn rows(segment: &BuiltSegment) -> Vec<serde_json::Value> {
    let index = QueryableIndex::open(&segment.dir).unwrap();
    let mut out = Vec::new();
    dump(&index, DumpType::Rows, &DumpOptions::default(), &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Checks that every rolled-up row of `data` is in exactly one segment, the segment of the
/// bucket its group key hashes to; returns the buckets per chunk start.
fn check_hashed(
    data: &str,
    segments: &[BuiltSegment],
    key: impl Fn(&serde_json::Value) -> String,
) -> BTreeMap<i64, Vec<u32>> {
    let mut seen = BTreeSet::new();
    let mut buckets: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for segment in segments {
        let hash = segment.hash_bucket.as_ref().expect("a hashed segment");
        assert_eq!(
            hash.partition_function,
            HashPartitionFunction::Murmur3_32Abs
        );
        buckets
            .entry(segment.bucket.start.as_millisecond())
            .or_default()
            .push(hash.bucket_id);
        let rows = rows(segment);
        assert_eq!(rows.len() as u64, segment.num_rows);
        for row in rows {
            let bucket = hash_bucket(
                hash.partition_function,
                key(&row).as_bytes(),
                hash.num_buckets,
            );
            assert_eq!(bucket, hash.bucket_id, "{row}");
            let time = row["__time"].as_i64().unwrap();
            assert!(contains_millis(&segment.bucket, time));
            let fresh = seen.insert((
                time,
                row["page"].as_str().unwrap().to_string(),
                row["user"].as_str().unwrap().to_string(),
            ));
            assert!(fresh, "{row} is in two segments");
        }
    }
    assert_eq!(seen, rolled_up(data));
    buckets
}

#[test]
fn num_shards_splits_every_chunk_by_the_partition_dimensions_hash() {
    let dir = tempfile::tempdir().unwrap();
    let data = input(&[400, 300]);
    let segments = build(
        &data,
        json!({"type": "index", "forceGuaranteedRollup": true,
               "partitionsSpec": {"type": "hashed", "numShards": 3,
                                  "partitionDimensions": ["page"]}}),
        dir.path(),
    );
    let buckets = check_hashed(&data, &segments, |row| {
        format!("[[\"{}\"]]", row["page"].as_str().unwrap())
    });
    assert_eq!(
        buckets,
        BTreeMap::from([(T0, vec![0, 1, 2]), (T0 + DAY, vec![0, 1, 2])])
    );
    for segment in &segments {
        let hash = segment.hash_bucket.as_ref().unwrap();
        assert_eq!(
            (hash.num_buckets, hash.partition_dimensions.as_slice()),
            (3, &["page".to_string()][..])
        );
        assert_eq!(segment.dimensions, ["user", "page"]);
    }
}

#[test]
fn without_partition_dimensions_rows_hash_by_time_and_every_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let data = input(&[500]);
    // A small memory bound spills runs, so the merged stream is read from disk.
    let segments = build(
        &data,
        json!({"type": "index", "forceGuaranteedRollup": true, "maxRowsInMemory": 50,
               "partitionsSpec": {"type": "hashed", "numShards": 4}}),
        dir.path(),
    );
    let buckets = check_hashed(&data, &segments, |row| {
        format!(
            "[{},{{\"page\":[\"{}\"],\"user\":[\"{}\"]}}]",
            row["__time"],
            row["page"].as_str().unwrap(),
            row["user"].as_str().unwrap()
        )
    });
    assert_eq!(buckets, BTreeMap::from([(T0, vec![0, 1, 2, 3])]));
}

#[test]
fn a_row_target_gives_each_chunk_its_counted_rows_over_the_target_buckets() {
    let dir = tempfile::tempdir().unwrap();
    // Day 0 rolls up to few rows, day 1 to many; spilled both ways.
    let data = input(&[30, 2000]);
    let per_day: Vec<usize> = [T0, T0 + DAY]
        .iter()
        .map(|&start| {
            rolled_up(&data)
                .iter()
                .filter(|(t, _, _)| (start..start + DAY).contains(t))
                .count()
        })
        .collect();
    let target = 100;
    for max_rows_in_memory in [1_000_000, 64] {
        let segments = build(
            &data,
            json!({"type": "index", "forceGuaranteedRollup": true,
                   "maxRowsInMemory": max_rows_in_memory,
                   "partitionsSpec": {"type": "hashed", "targetRowsPerSegment": target,
                                      "partitionDimensions": ["user"]}}),
            dir.path(),
        );
        check_hashed(&data, &segments, |row| {
            format!("[[\"{}\"]]", row["user"].as_str().unwrap())
        });
        for (day, rows) in [T0, T0 + DAY].into_iter().zip(&per_day) {
            let num_buckets: BTreeSet<u32> = segments
                .iter()
                .filter(|s| s.bucket.start.as_millisecond() == day)
                .map(|s| s.hash_bucket.as_ref().unwrap().num_buckets)
                .collect();
            let expected = rows.div_ceil(target) as u32;
            assert_eq!(num_buckets, BTreeSet::from([expected]), "{rows} rows");
        }
    }
}

#[test]
fn empty_buckets_write_no_segment() {
    let dir = tempfile::tempdir().unwrap();
    // One page only: every row hashes to the same bucket of 5.
    let data: String = (0..20)
        .map(|i| {
            json!({"time": T0 + i, "page": "only", "user": "u", "added": 1}).to_string() + "\n"
        })
        .collect();
    let segments = build(
        &data,
        json!({"type": "index", "forceGuaranteedRollup": true,
               "partitionsSpec": {"type": "hashed", "numShards": 5,
                                  "partitionDimensions": ["page"]}}),
        dir.path(),
    );
    assert_eq!(segments.len(), 1);
    let hash = segments[0].hash_bucket.as_ref().unwrap();
    let expected = hash_bucket(HashPartitionFunction::Murmur3_32Abs, br#"[["only"]]"#, 5);
    assert_eq!((hash.bucket_id, hash.num_buckets), (expected, 5));
    assert_eq!(segments[0].num_rows, 20);
}

#[test]
fn dynamic_partitioning_cuts_at_max_rows_and_names_no_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let data = input(&[400, 10]);
    let segments = build(
        &data,
        json!({"type": "index", "partitionsSpec": {"type": "dynamic", "maxRowsPerSegment": 150}}),
        dir.path(),
    );
    let sizes: Vec<(i64, u64)> = segments
        .iter()
        .map(|s| (s.bucket.start.as_millisecond(), s.num_rows))
        .collect();
    let day0 = rolled_up(&data)
        .iter()
        .filter(|(t, _, _)| *t < T0 + DAY)
        .count() as u64;
    assert_eq!(
        sizes
            .iter()
            .filter(|(d, _)| *d == T0)
            .map(|(_, n)| n)
            .sum::<u64>(),
        day0
    );
    assert!(sizes.iter().all(|(_, n)| *n <= 150), "{sizes:?}");
    assert!(segments.iter().all(|s| s.hash_bucket.is_none()));
}

// Druid's re-indexing: a spec reading a datasource's segments (`druid` input source) rolls
// their rows up again under new dimensions and granularities, within the source's interval.
#[test]
fn the_druid_input_source_reads_segments_back_and_rolls_them_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = input(&[100, 50]);
    let first = build(&data, json!({"type": "index"}), &dir.path().join("first"));
    assert_eq!(first.len(), 2, "one segment a day");
    let task = json!({"type": "index", "id": "reindex", "spec": {
        "dataSchema": {
            "dataSource": "wiki_by_page",
            "timestampSpec": {"column": "__time", "format": "millis"},
            "dimensionsSpec": {"dimensions": ["page"]},
            "metricsSpec": [{"type": "longSum", "name": "count", "fieldName": "count"},
                            {"type": "longSum", "name": "added", "fieldName": "added"}],
            "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": "DAY"}
        },
        "ioConfig": {"type": "index", "inputSource": {"type": "druid", "dataSource": "wiki",
            "interval": "2015-09-12/2015-09-13", "dimensions": ["page"]}},
        "tuningConfig": {"type": "index"}
    }});
    let mut spec = IngestionSpec::from_task_json(&task).unwrap();
    assert_eq!(
        spec.io_config.input_format, None,
        "the druid source needs no format"
    );
    let InputSourceSpec::Druid(druid) = &mut spec.io_config.input_source else {
        panic!("a druid source")
    };
    // Both days' segments are opened; their windows (as the task finds them, within the
    // source's interval) keep the first day's rows only.
    let interval = druid.interval;
    druid.files = Some(
        first
            .iter()
            .map(|s| SegmentFile {
                path: s.dir.clone(),
                windows: interval.overlap(&s.bucket).into_iter().collect(),
            })
            .collect(),
    );
    let second = build_spec(&spec, &dir.path().join("second"));
    assert_eq!(second.len(), 1);

    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for i in 0..100i64 {
        let sums = expected.entry(format!("p{}", i % 37)).or_default();
        sums.0 += 1;
        sums.1 += i;
    }
    let got: BTreeMap<String, (i64, i64)> = rows(&second[0])
        .iter()
        .map(|r| {
            assert_eq!(r["__time"], json!(T0), "{r}");
            assert_eq!(r.get("user"), None, "{r}");
            let sums = (r["count"].as_i64().unwrap(), r["added"].as_i64().unwrap());
            (r["page"].as_str().unwrap().to_string(), sums)
        })
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn the_druid_input_source_refuses_complex_columns_and_reads_nothing_unresolved() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/druid/segments/hadoop-test-segment-2015/index.zip");
    let source = |dimensions: serde_json::Value| {
        let mut spec = IngestionSpec::from_task_json(&json!({"type": "index", "id": "r",
            "spec": {"dataSchema": {"dataSource": "d",
                "timestampSpec": {"column": "__time", "format": "millis"},
                "granularitySpec": {"segmentGranularity": "DAY"}},
            "ioConfig": {"type": "index", "inputSource": {"type": "druid", "dataSource": "x",
                "interval": "2000-01-01/2030-01-01", "metrics": dimensions}}}}))
        .unwrap();
        if let InputSourceSpec::Druid(druid) = &mut spec.io_config.input_source {
            druid.files = Some(vec![SegmentFile {
                path: fixture.clone(),
                windows: vec![druid.interval],
            }]);
        }
        spec
    };
    let fails = |spec: &IngestionSpec, dir: &Path| {
        let meters = RowIngestionMeters::default();
        build_segments(BuildRequest {
            spec,
            input: &spec.io_config.input_source,
            work_dir: dir,
            meters: &meters,
            parse_exceptions: &ParseExceptionHandler::new(false, u64::MAX, 0),
            cancel: &AtomicBool::new(false),
        })
        .err()
        .unwrap()
        .to_string()
    };
    let err = fails(&source(json!(null)), &dir.path().join("a"));
    assert!(
        err.contains("[unique_hosts]") && err.contains("complex type [hyperUnique]"),
        "{err}"
    );
    let mut unresolved = source(json!(null));
    if let InputSourceSpec::Druid(druid) = &mut unresolved.io_config.input_source {
        druid.files = None;
    }
    let err = fails(&unresolved, &dir.path().join("c"));
    assert!(err.contains("were not looked up"), "{err}");
    // Leaving the sketch out, the Druid-written segment's rows are read.
    let spec = source(json!(["visited_sum"]));
    let built = build_spec(&spec, &dir.path().join("b"));
    let read: u64 = built.iter().map(|s| s.num_rows).sum();
    assert!(read > 0);
}

// Druid's ArbitraryGranularitySpec: the intervals themselves are the segments' chunks.
#[test]
fn an_arbitrary_granularity_cuts_segments_at_its_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let task = json!({"type": "index", "id": "t", "spec": {
        "dataSchema": {
            "dataSource": "wiki",
            "timestampSpec": {"column": "time", "format": "millis"},
            "dimensionsSpec": {"dimensions": ["page"]},
            "granularitySpec": {"type": "arbitrary", "intervals": [
                "2015-09-12T00:00:00Z/2015-09-12T00:00:03Z", "2015-09-12T00:00:03Z/2015-09-14"]}
        },
        "ioConfig": {"type": "index", "inputSource": {"type": "inline", "data": input(&[10, 10])},
                     "inputFormat": {"type": "json"}}
    }});
    let built = build_spec(&IngestionSpec::from_task_json(&task).unwrap(), dir.path());
    let chunks: Vec<(String, u64)> = built
        .iter()
        .map(|s| (s.bucket.to_string(), s.num_rows))
        .collect();
    assert_eq!(
        chunks,
        [
            (
                "2015-09-12T00:00:00.000Z/2015-09-12T00:00:03.000Z".to_string(),
                6
            ),
            (
                "2015-09-12T00:00:03.000Z/2015-09-14T00:00:00.000Z".to_string(),
                14
            ),
        ]
    );
}
