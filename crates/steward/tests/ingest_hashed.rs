//! End-to-end: perfect rollup with hashed partitions, and `dropExisting`, on a real quickstart:
//! what the metadata store lists afterwards, and what the segments in deep storage hold.

mod common;
mod wikiticker;

use common::Quickstart;
use serde_json::{json, Value};
use wikiticker::{expected_rollup, hashed_rows, rollup_of, used_segments, wikiticker_task, T};

#[tokio::test]
async fn a_hashed_index_task_writes_one_segment_per_bucket_holding_the_rows_that_hash_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let mut task = wikiticker_task("hashed");
    task["spec"]["tuningConfig"] = json!({"type": "index", "forceGuaranteedRollup": true,
        "partitionsSpec": {"type": "hashed", "numShards": 3}});
    let id = qs.submit_ok(task).await;
    let status = qs.wait_complete(&id, T).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}");

    let rows = hashed_rows(&qs, "hashed").await;
    // Every rolled-up row once, in the segment of its bucket.
    assert_eq!(rows.len(), expected_rollup().len());
    assert_eq!(rollup_of(&rows), expected_rollup());
}

/// An inline `index` task of `wiki` rows at `times`, over two days.
fn inline_task(times: &[&str], drop_existing: bool) -> Value {
    let data: String = times
        .iter()
        .map(|t| json!({"time": t, "page": "Main", "added": 1}).to_string() + "\n")
        .collect();
    json!({"type": "index", "spec": {
        "dataSchema": {
            "dataSource": "wiki",
            "timestampSpec": {"column": "time", "format": "iso"},
            "dimensionsSpec": {"dimensions": ["page"]},
            "metricsSpec": [{"type": "count", "name": "count"}],
            "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": "NONE",
                                "intervals": ["2015-09-12/2015-09-14"]}
        },
        "ioConfig": {"type": "index", "dropExisting": drop_existing,
                     "inputSource": {"type": "inline", "data": data},
                     "inputFormat": {"type": "json"}}
    }})
}

async fn run(qs: &Quickstart, task: Value) -> String {
    let id = qs.submit_ok(task).await;
    let status = qs.wait_complete(&id, T).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}");
    id
}

/// (interval start day, shard spec type) of the used segments, in order.
async fn used(qs: &Quickstart) -> Vec<(String, String)> {
    let mut listed: Vec<(String, String)> = used_segments(qs, "wiki")
        .await
        .iter()
        .map(|s| {
            (
                s["interval"].as_str().unwrap()[..10].to_string(),
                s["shardSpec"]["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    listed.sort();
    listed
}

#[tokio::test]
async fn drop_existing_tombstones_the_emptied_day_and_its_old_segments_can_be_killed() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let day = |d: &str| (d.to_string(), "numbered".to_string());

    run(
        &qs,
        inline_task(&["2015-09-12T01:00:00Z", "2015-09-13T01:00:00Z"], false),
    )
    .await;
    let old = used_segments(&qs, "wiki").await;
    assert_eq!(used(&qs).await, [day("2015-09-12"), day("2015-09-13")]);

    // The new data covers the 12th only: the 13th gets a tombstone of the new version.
    run(&qs, inline_task(&["2015-09-12T05:00:00Z"], true)).await;
    let listed = used_segments(&qs, "wiki").await;
    assert_eq!(
        used(&qs).await,
        [
            day("2015-09-12"),
            ("2015-09-13".to_string(), "tombstone".to_string())
        ]
    );
    let tombstone = listed
        .iter()
        .find(|s| s["shardSpec"]["type"] == "tombstone")
        .unwrap();
    assert_eq!(
        tombstone["loadSpec"],
        json!({"type": "tombstone", "path": null})
    );
    assert_eq!(
        tombstone["shardSpec"],
        json!({"type": "tombstone", "partitionNum": 0, "partitions": 0})
    );
    assert_eq!(tombstone["size"], 1);
    assert_eq!(
        tombstone["interval"],
        "2015-09-13T00:00:00.000Z/2015-09-14T00:00:00.000Z"
    );
    let new_version = &listed[0]["version"];
    assert_eq!(&tombstone["version"], new_version);
    for segment in &old {
        assert!(!listed.contains(segment), "{segment} is still used");
    }

    // Data on the 13th again overshadows the tombstone, which a kill then removes too.
    run(&qs, inline_task(&["2015-09-13T07:00:00Z"], false)).await;
    assert_eq!(used(&qs).await, [day("2015-09-12"), day("2015-09-13")]);
    let kill = run(
        &qs,
        json!({"type": "kill", "dataSource": "wiki", "interval": "2015-09-12/2015-09-14"}),
    )
    .await;
    let reports: Value = qs.reports(&kill).await;
    // The two old segments and the tombstone.
    assert_eq!(
        reports["killUnusedSegments"]["payload"]["numSegmentsKilled"], 3,
        "{reports}"
    );
    for segment in &old {
        let path = segment["loadSpec"]["path"].as_str().unwrap();
        assert!(
            !std::path::Path::new(path).exists(),
            "{path} is still there"
        );
    }
    assert_eq!(used(&qs).await, [day("2015-09-12"), day("2015-09-13")]);
}
