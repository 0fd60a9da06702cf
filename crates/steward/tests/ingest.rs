//! End-to-end: `index` tasks on a real quickstart, from Druid's own tutorial spec to segments
//! in deep storage and rows in the metadata store, checked against an independent reading of
//! the input.

mod common;
mod wikiticker;

use common::Quickstart;
use serde_json::{json, Value};
use wikiticker::{expected_rollup, rollup_of, segment_rows, used_segments, wikiticker_task, T};

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

    assert_eq!(rollup_of(&rows), expected_rollup());
}
