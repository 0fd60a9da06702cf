//! End-to-end: `index` tasks on a real quickstart, from Druid's own tutorial spec to segments
//! in deep storage and rows in the metadata store, checked against an independent reading of
//! the input.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Quickstart;
use serde_json::{json, Value};
use steward_segment::{dump, DumpOptions, DumpType, QueryableIndex};

const T: Duration = Duration::from_secs(120);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/druid/data")
}

/// Druid's integration-test spec for the wikiticker sample, placeholders filled in.
fn wikiticker_task(data_source: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join("wikiticker_index_task.json")).unwrap();
    let mut task: Value =
        serde_json::from_str(&text.replace("%%DATASOURCE%%", data_source)).unwrap();
    task["spec"]["ioConfig"]["inputSource"]["baseDir"] =
        json!(fixtures().canonicalize().unwrap().display().to_string());
    task
}

/// The sample's rows rolled up the way the spec asks (time, channel, page, user; count and
/// sums of added, deleted, delta), computed without Steward's code.
fn expected_rollup() -> BTreeMap<(i64, String, String, String), [i64; 4]> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(fixtures().join("wikiticker-2015-09-12-sampled.json.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    let mut rolled = BTreeMap::new();
    for line in text.lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        let time = jiff::Timestamp::from_str_ms(row["time"].as_str().unwrap());
        let key = (
            time,
            row["channel"].as_str().unwrap_or_default().to_string(),
            row["page"].as_str().unwrap_or_default().to_string(),
            row["user"].as_str().unwrap_or_default().to_string(),
        );
        let sums: &mut [i64; 4] = rolled.entry(key).or_default();
        sums[0] += 1;
        for (i, field) in ["added", "deleted", "delta"].iter().enumerate() {
            sums[i + 1] += row[field].as_i64().unwrap();
        }
    }
    rolled
}

trait FromStrMs {
    fn from_str_ms(s: &str) -> i64;
}
impl FromStrMs for jiff::Timestamp {
    fn from_str_ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }
}

/// The rows of a published segment, read back from deep storage with the segment reader.
fn segment_rows(segment: &Value) -> Vec<Value> {
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

async fn used_segments(qs: &Quickstart, data_source: &str) -> Vec<Value> {
    let url = format!(
        "{}/druid/coordinator/v1/metadata/datasources/{data_source}/segments?full",
        qs.url
    );
    qs.http.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn druids_wikiticker_tutorial_ingests_into_segments_that_match_an_independent_rollup() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let id = qs.submit_ok(wikiticker_task("wikiticker")).await;
    let status = qs.wait_complete(&id, T).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}");

    let reports: Value = qs
        .get(&format!("task/{id}/reports"))
        .await
        .json()
        .await
        .unwrap();
    let payload = &reports["ingestionStatsAndErrors"]["payload"];
    assert_eq!(payload["ingestionState"], "COMPLETED");
    let stats = &payload["rowStats"]["buildSegments"];
    assert_eq!(stats["processed"], 39244, "{reports}");
    assert_eq!(stats["unparseable"], 0);
    assert_eq!(stats["thrownAway"], 0);
    assert!(stats["processedBytes"].as_u64().unwrap() > 10_000_000);
    // The spec's `targetPartitionSize` (maxRowsPerSegment) of 10,000 cuts the day's rolled-up
    // rows into four segments of one chunk, numbered 0..3 of 4 core partitions.
    assert_eq!(payload["segmentsPublished"], 4);
    let mut segments = used_segments(&qs, "wikiticker").await;
    segments.sort_by_key(|s| s["shardSpec"]["partitionNum"].as_u64());
    assert_eq!(segments.len(), 4, "{segments:?}");
    let mut rows = Vec::new();
    for (n, segment) in segments.iter().enumerate() {
        assert_eq!(
            segment["interval"],
            "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z"
        );
        assert_eq!(segment["dimensions"], "channel,page,user");
        assert_eq!(segment["metrics"], "added,count,deleted,delta");
        assert_eq!(
            segment["shardSpec"],
            json!({"type": "numbered", "partitionNum": n, "partitions": 4})
        );
        assert_eq!(segment["binaryVersion"], 9);
        assert_eq!(segment["version"], segments[0]["version"]);
        let part = segment_rows(segment);
        assert!(part.len() <= 10_000, "{} rows", part.len());
        rows.extend(part);
    }

    let expected = expected_rollup();
    assert_eq!(rows.len(), expected.len());
    let actual: BTreeMap<(i64, String, String, String), [i64; 4]> = rows
        .iter()
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
        .collect();
    assert_eq!(actual, expected);
}
