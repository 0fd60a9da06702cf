//! The wikiticker sample of Druid's tutorial, shared by the end-to-end ingestion tests: the
//! task spec, an independent rollup of the file, and readers of what a task published.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use steward_ingest::hash_partitioner::hash_bucket;
use steward_model::HashPartitionFunction;
use steward_segment::{dump, DumpOptions, DumpType, QueryableIndex};

use crate::common::Api;

pub const T: Duration = Duration::from_secs(120);

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/druid/data")
}

/// Druid's integration-test spec for the wikiticker sample, placeholders filled in.
pub fn wikiticker_task(data_source: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join("wikiticker_index_task.json")).unwrap();
    let mut task: Value =
        serde_json::from_str(&text.replace("%%DATASOURCE%%", data_source)).unwrap();
    task["spec"]["ioConfig"]["inputSource"]["baseDir"] =
        json!(fixtures().canonicalize().unwrap().display().to_string());
    task
}

/// Rolled-up rows by (time, channel, page, user): count, added, deleted, delta.
pub type Rollup = BTreeMap<(i64, String, String, String), [i64; 4]>;

/// The sample's lines, the first `limit` of them.
pub fn lines(limit: usize) -> Vec<String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(fixtures().join("wikiticker-2015-09-12-sampled.json.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    text.lines().take(limit).map(str::to_string).collect()
}

/// `lines` cut into `n` files' contents, in order.
pub fn split_lines(lines: &[String], n: usize) -> Vec<String> {
    lines
        .chunks(lines.len().div_ceil(n))
        .map(|chunk| chunk.iter().map(|l| format!("{l}\n")).collect())
        .collect()
}

/// `lines` rolled up the way the spec asks (time, channel, page, user; count and sums of
/// added, deleted, delta), computed without Steward's code.
pub fn rollup_lines(lines: &[String]) -> Rollup {
    let mut rolled = Rollup::new();
    for line in lines {
        let row: Value = serde_json::from_str(line).unwrap();
        let time = row["time"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond();
        let text = |c: &str| row[c].as_str().unwrap_or_default().to_string();
        let sums = rolled
            .entry((time, text("channel"), text("page"), text("user")))
            .or_default();
        sums[0] += 1;
        for (i, field) in ["added", "deleted", "delta"].iter().enumerate() {
            sums[i + 1] += row[field].as_i64().unwrap();
        }
    }
    rolled
}

/// The whole sample rolled up (see [`rollup_lines`]).
pub fn expected_rollup() -> Rollup {
    rollup_lines(&lines(usize::MAX))
}

/// Segment rows (as dumped) keyed and valued like [`expected_rollup`].
pub fn rollup_of(rows: &[Value]) -> Rollup {
    rows.iter()
        .map(|r| {
            let text = |c: &str| r[c].as_str().unwrap_or_default().to_string();
            (
                (
                    r["__time"].as_i64().unwrap(),
                    text("channel"),
                    text("page"),
                    text("user"),
                ),
                ["count", "added", "deleted", "delta"].map(|m| r[m].as_i64().unwrap()),
            )
        })
        .collect()
}

/// The rows of a published segment, read back from deep storage with the segment reader.
pub fn segment_rows(segment: &Value) -> Vec<Value> {
    let path = segment["loadSpec"]["path"].as_str().unwrap();
    let index = QueryableIndex::open(Path::new(path)).unwrap();
    let mut out = Vec::new();
    dump(&index, DumpType::Rows, &DumpOptions::default(), &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The rows of a datasource's segments published with hashed partitions: checks that they
/// are one chunk of `2015-09-12` with Druid's `hashed` shard specs, one per bucket of 3,
/// and that every row is in the segment of its bucket.
pub async fn hashed_rows(api: &Api, data_source: &str) -> Vec<Value> {
    let mut segments = used_segments(api, data_source).await;
    segments.sort_by_key(|s| s["shardSpec"]["partitionNum"].as_u64());
    assert_eq!(segments.len(), 3, "{segments:?}");
    let mut rows = Vec::new();
    for (n, segment) in segments.iter().enumerate() {
        assert_eq!(
            segment["shardSpec"],
            json!({"type": "hashed", "partitionNum": n, "partitions": 3, "bucketId": n,
                   "numBuckets": 3, "partitionDimensions": [],
                   "partitionFunction": "murmur3_32_abs"})
        );
        assert_eq!(
            segment["interval"],
            "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z"
        );
        assert_eq!(segment["version"], segments[0]["version"]);
        let part = segment_rows(segment);
        for row in &part {
            let key = group_key(row);
            let bucket = hash_bucket(HashPartitionFunction::Murmur3_32Abs, key.as_bytes(), 3);
            assert_eq!(bucket as usize, n, "{key}");
        }
        rows.extend(part);
    }
    rows
}

/// Druid's group key of a wikiticker row without partition dimensions (`Rows.toGroupKey`):
/// the time, then the non-null dimensions by name; what hashed partitioning hashes.
fn group_key(row: &Value) -> String {
    let dims: Vec<String> = ["channel", "page", "user"]
        .iter()
        .filter_map(|d| {
            let value = row[d].as_str()?;
            Some(format!(
                "\"{d}\":[{}]",
                serde_json::to_string(value).unwrap()
            ))
        })
        .collect();
    format!("[{},{{{}}}]", row["__time"], dims.join(","))
}

/// Every row of the published `segments` rolled up again by key: best-effort rollup may leave
/// one key in several segments.
pub fn published_rollup(segments: &[Value]) -> Rollup {
    let mut rolled = Rollup::new();
    for segment in segments {
        for (key, sums) in rollup_of(&segment_rows(segment)) {
            let total = rolled.entry(key).or_default();
            for (t, s) in total.iter_mut().zip(sums) {
                *t += s;
            }
        }
    }
    rolled
}

/// The used segments of `data_source`, as Druid's Coordinator metadata API lists them.
pub async fn used_segments(api: &Api, data_source: &str) -> Vec<Value> {
    let url = format!(
        "{}/druid/coordinator/v1/metadata/datasources/{data_source}/segments?full",
        api.url
    );
    let r = api.http.get(url).send().await.unwrap();
    match r.status().as_u16() {
        200 => r.json().await.unwrap(),
        // A datasource without used segments is unknown to the Coordinator's API.
        404 => Vec::new(),
        other => panic!(
            "segments of {data_source}: {other} {}",
            r.text().await.unwrap()
        ),
    }
}

/// The rows the segment table holds for `data_source`'s used segments, as the console's
/// datasources API adds them up: null until a publish stored row counts.
pub async fn stored_rows(api: &Api, data_source: &str) -> Value {
    let table: Value = api.get("steward/datasources").await.json().await.unwrap();
    let entry = table
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == data_source)
        .unwrap_or_else(|| panic!("{data_source} is not in {table}"));
    entry["rows"].clone()
}
