//! End-to-end: `index` tasks on a real quickstart, from Druid's own tutorial spec to segments
//! in deep storage and rows in the metadata store, checked against an independent reading of
//! the input.

mod common;
mod wikiticker;

use std::time::Duration;

use common::actions::active_locks;
use common::metrics::scrape;
use common::wiki::{edit, ingestion_in_progress, inline, wiki_task};
use common::{peon_pids, wait_for, Quickstart};
use serde_json::{json, Value};
use wikiticker::{
    expected_rollup, rollup_of, segment_rows, stored_rows, used_segments, wikiticker_task, T,
};

#[tokio::test]
async fn druids_wikiticker_tutorial_ingests_into_segments_that_match_an_independent_rollup() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let id = qs.submit_ok(wikiticker_task("wikiticker")).await;
    let status = qs.wait_complete(&id, T).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}");

    let reports: Value = qs.reports(&id).await;
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
    // The publish stored each segment's row count beside it.
    assert_eq!(stored_rows(&qs, "wikiticker").await, json!(rows.len()));
}

/// `(version, partitionNum, rows)` of every used segment of `wiki`, in that order.
async fn used_wiki(qs: &Quickstart) -> Vec<(String, u64, Vec<Value>)> {
    let mut out: Vec<(String, u64, Vec<Value>)> = used_segments(qs, "wiki")
        .await
        .iter()
        .map(|s| {
            (
                s["version"].as_str().unwrap().to_string(),
                s["shardSpec"]["partitionNum"].as_u64().unwrap(),
                segment_rows(s),
            )
        })
        .collect();
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out
}

/// The rows of the one used segment of `wiki` after a task rewrote the segments `before`
/// listed: it overshadows them all with a newer version.
async fn rewritten_wiki(qs: &Quickstart, before: &[(String, u64, Vec<Value>)]) -> Vec<Value> {
    let mut after = used_wiki(qs).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(
        before.iter().all(|b| after[0].0 > b.0),
        "{after:?} after {before:?}"
    );
    after.remove(0).2
}

/// A [`wiki_task`] into `data_source` re-indexing `wiki`'s day through the `druid` input
/// source, its metrics summing the stored ones.
fn reindex_task(data_source: &str) -> Value {
    let mut task = wiki_task(json!({}), json!({}), json!({}));
    task["spec"]["ioConfig"] = json!({"type": "index", "inputSource": {"type": "druid",
        "dataSource": "wiki", "interval": "2024-01-01/2024-01-02"}});
    let schema = &mut task["spec"]["dataSchema"];
    schema["dataSource"] = json!(data_source);
    schema["timestampSpec"] = json!({"column": "__time", "format": "millis"});
    schema["metricsSpec"] = json!([{"type": "longSum", "name": "count", "fieldName": "count"},
        {"type": "longSum", "name": "added", "fieldName": "added"}]);
    task
}

fn pages_and_sums(rows: &[Value]) -> Vec<(String, i64, i64)> {
    let mut out: Vec<(String, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["page"].as_str().unwrap().to_string(),
                r["count"].as_i64().unwrap(),
                r["added"].as_i64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn an_overwrite_replaces_the_chunk_and_an_append_adds_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let run = |task: Value| {
        let qs = &qs;
        async move {
            let id = qs.submit_ok(task).await;
            let status = qs.wait_complete(&id, T).await;
            assert_eq!(status["statusCode"], "SUCCESS", "{status}");
        }
    };
    run(wiki_task(
        inline(&[edit("a", 1, 1), edit("a", 1, 2), edit("b", 2, 5)]),
        json!({}),
        json!({}),
    ))
    .await;
    let first = used_wiki(&qs).await;
    assert_eq!(first.len(), 1);
    assert_eq!(
        pages_and_sums(&first[0].2),
        vec![("a".into(), 2, 3), ("b".into(), 1, 5)]
    );

    // A second overwrite of the day: a newer version, and the first segment is unused.
    run(wiki_task(inline(&[edit("c", 3, 7)]), json!({}), json!({}))).await;
    let second = used_wiki(&qs).await;
    assert_eq!(second.len(), 1);
    assert!(
        second[0].0 > first[0].0,
        "{} after {}",
        second[0].0,
        first[0].0
    );
    assert_eq!(pages_and_sums(&second[0].2), vec![("c".into(), 1, 7)]);

    // An append joins the chunk as its next partition, under the same version.
    run(wiki_task(
        inline(&[edit("d", 4, 1)]),
        json!({"appendToExisting": true}),
        json!({}),
    ))
    .await;
    let appended = used_wiki(&qs).await;
    assert_eq!(appended.len(), 2, "{appended:?}");
    assert_eq!(
        (appended[0].0.as_str(), appended[0].1),
        (second[0].0.as_str(), 0)
    );
    assert_eq!(
        (appended[1].0.as_str(), appended[1].1),
        (second[0].0.as_str(), 1)
    );
    assert_eq!(pages_and_sums(&appended[1].2), vec![("d".into(), 1, 1)]);
}

// Druid's "updating existing data" by re-indexing: an `index` task reading the datasource's
// own segments (the `druid` input source) rolls them up again, coarser, over the same day.
#[tokio::test]
async fn a_datasource_is_reindexed_in_place_from_its_own_segments() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    for (rows, io) in [
        (
            vec![edit("a", 1, 1), edit("a", 2, 2), edit("b", 3, 5)],
            json!({}),
        ),
        (vec![edit("c", 4, 7)], json!({"appendToExisting": true})),
    ] {
        let id = qs.submit_ok(wiki_task(inline(&rows), io, json!({}))).await;
        assert_eq!(qs.wait_complete(&id, T).await["statusCode"], "SUCCESS");
    }
    let before = used_wiki(&qs).await;
    assert_eq!(before.len(), 2, "two partitions of one version: {before:?}");
    assert_eq!(before[0].2.len(), 3, "minute rows: {before:?}");

    let mut reindex = reindex_task("wiki");
    reindex["spec"]["dataSchema"]["granularitySpec"]["queryGranularity"] = json!("DAY");
    let id = qs.submit_ok(reindex).await;
    let status = qs.wait_complete(&id, T).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}");

    let after = rewritten_wiki(&qs, &before).await;
    assert_eq!(
        pages_and_sums(&after),
        vec![("a".into(), 2, 3), ("b".into(), 1, 5), ("c".into(), 1, 7)]
    );
    assert!(after
        .iter()
        .all(|r| r["__time"] == json!(1_704_067_200_000i64)));
    assert_eq!(stored_rows(&qs, "wiki").await, json!(3));
    let log = qs.log(&id).await;
    assert!(log.contains("Reading [2] segments of [wiki]"), "{log}");
}

// Druid's timeline, as the druid input source reads it: where a newer version covers part of
// an older segment (an hour overwritten in a day), the older one's rows there are not read.
#[tokio::test]
async fn a_druid_input_source_reads_only_what_the_timeline_shows() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let at_five = json!({"ts": "2024-01-01T05:00:00Z", "page": "z", "added": 9});
    let day = wiki_task(inline(&[edit("a", 1, 1), at_five]), json!({}), json!({}));
    let mut hour = wiki_task(inline(&[edit("b", 2, 5)]), json!({}), json!({}));
    hour["spec"]["dataSchema"]["granularitySpec"] = json!({"segmentGranularity": "HOUR",
        "queryGranularity": "MINUTE", "intervals": ["2024-01-01T00:00Z/2024-01-01T01:00Z"]});
    for task in [day, hour] {
        let id = qs.submit_ok(task).await;
        assert_eq!(qs.wait_complete(&id, T).await["statusCode"], "SUCCESS");
    }
    assert_eq!(
        used_wiki(&qs).await.len(),
        2,
        "the day stays used beside the hour"
    );

    let id = qs.submit_ok(reindex_task("wiki_copy")).await;
    let status = qs.wait_complete(&id, T).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}");
    let rows: Vec<Value> = used_segments(&qs, "wiki_copy")
        .await
        .iter()
        .flat_map(segment_rows)
        .collect();
    assert_eq!(
        pages_and_sums(&rows),
        vec![("b".into(), 1, 5), ("z".into(), 1, 9)],
        "the hour's row from the newer version, page a's (under it) not at all"
    );
}

// Druid's compaction (`compact`, what the Coordinator's auto-compaction submits): the day's
// many small segments become one, with the schema and rollup they had, under a new version.
#[tokio::test]
async fn a_compaction_merges_a_days_segments_keeping_their_schema() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    // One segment per rolled-up row, then an appended one: three segments of one day.
    let first = wiki_task(
        inline(&[edit("a", 1, 1), edit("a", 1, 2), edit("b", 2, 5)]),
        json!({}),
        json!({"partitionsSpec": {"type": "dynamic", "maxRowsPerSegment": 1}}),
    );
    let appended = wiki_task(
        inline(&[edit("a", 1, 10)]),
        json!({"appendToExisting": true}),
        json!({}),
    );
    for task in [first, appended] {
        let id = qs.submit_ok(task).await;
        assert_eq!(qs.wait_complete(&id, T).await["statusCode"], "SUCCESS");
    }
    let before = used_wiki(&qs).await;
    assert_eq!(before.len(), 3, "{before:?}");

    let compact = json!({"type": "compact", "dataSource": "wiki",
        "ioConfig": {"type": "compact",
            "inputSpec": {"type": "interval", "interval": "2024-01-01/2024-01-02"}},
        "tuningConfig": {"type": "index_parallel", "maxRowsPerSegment": 5000000}});
    let id = qs.submit_ok(compact).await;
    assert!(id.starts_with("compact_wiki_"), "{id}");
    let status = qs.wait_complete(&id, T).await;
    let log = qs.log(&id).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}\n{log}");

    // Rolled up again at the segments' own MINUTE granularity: page a's minute-1 rows merge.
    assert_eq!(
        pages_and_sums(&rewritten_wiki(&qs, &before).await),
        vec![("a".into(), 3, 13), ("b".into(), 1, 5)]
    );
    let segment = &used_segments(&qs, "wiki").await[0];
    assert_eq!(segment["dimensions"], "page");
    assert_eq!(segment["metrics"], "added,count");
    assert_eq!(stored_rows(&qs, "wiki").await, json!(2));
    // The three stored rows were read (the first task had rolled two of its rows up).
    let reports = qs.reports(&id).await;
    assert_eq!(
        reports["ingestionStatsAndErrors"]["payload"]["rowStats"]["buildSegments"]["processed"],
        json!(3),
        "{reports}"
    );

    // An interval without segments fails as in Druid.
    let empty = json!({"type": "compact", "dataSource": "wiki",
        "ioConfig": {"type": "compact",
            "inputSpec": {"type": "interval", "interval": "2023-01-01/2023-01-02"}}});
    let id = qs.submit_ok(empty).await;
    let status = qs.wait_complete(&id, T).await;
    assert_eq!(status["statusCode"], "FAILED");
    assert!(
        status["errorMsg"]
            .as_str()
            .unwrap()
            .starts_with("No segments found for compaction"),
        "{status}"
    );
}

#[tokio::test]
async fn bad_rows_are_counted_and_past_max_parse_exceptions_fail_the_task_publishing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let data = [
        edit("a", 1, 1).to_string(),
        "{not json".to_string(),
        json!({"ts": "yesterday", "page": "b", "added": 1}).to_string(),
        edit("c", 2, 2).to_string(),
        // Outside the spec's interval: thrown away, not an error.
        json!({"ts": "2024-02-01T00:00:00Z", "page": "d", "added": 1}).to_string(),
    ]
    .join("\n");
    let source = json!({"type": "inline", "data": data});

    let tolerant = qs
        .submit_ok(wiki_task(
            source.clone(),
            json!({}),
            json!({"maxParseExceptions": 2, "maxSavedParseExceptions": 5}),
        ))
        .await;
    let status = qs.wait_complete(&tolerant, T).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}");
    let reports: Value = qs.reports(&tolerant).await;
    let payload = &reports["ingestionStatsAndErrors"]["payload"];
    let stats = &payload["rowStats"]["buildSegments"];
    assert_eq!(
        (
            &stats["processed"],
            &stats["unparseable"],
            &stats["thrownAway"]
        ),
        (&json!(2), &json!(2), &json!(1)),
        "{reports}"
    );
    let saved = payload["unparseableEvents"]["buildSegments"]
        .as_array()
        .unwrap();
    assert_eq!(saved.len(), 2);
    assert!(
        saved[0]["details"][0]
            .as_str()
            .unwrap()
            .contains("yesterday"),
        "{saved:?}"
    );
    let published = used_wiki(&qs).await;
    assert_eq!(published.len(), 1);

    let strict = qs
        .submit_ok(wiki_task(
            source,
            json!({}),
            json!({"maxParseExceptions": 1}),
        ))
        .await;
    let status = qs.wait_complete(&strict, T).await;
    assert_eq!(status["statusCode"], "FAILED");
    assert_eq!(status["errorMsg"], "Max parse exceptions[1] exceeded");
    // Nothing of the failed task is visible: the first task's segment is still the only one.
    assert_eq!(used_wiki(&qs).await, published);
    locks_released(&qs).await;
}

#[tokio::test]
async fn a_bad_spec_is_refused_at_submit_naming_its_field_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let mut task = wiki_task(inline(&[edit("a", 1, 1)]), json!({}), json!({}));
    task["id"] = json!("bad_spec");
    task["spec"]["dataSchema"]["timestampSpec"]["format"] = json!("yyyy-MM-dd'T");
    let r = qs.submit(task.clone()).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("spec.dataSchema.timestampSpec.format"),
        "{body}"
    );
    task["spec"]["dataSchema"]["timestampSpec"]["format"] = json!("iso");
    task["spec"]["dataSchema"]["metricsSpec"] =
        json!([{"type": "longFirst", "name": "f", "fieldName": "added"}]);
    let r = qs.submit(task).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not supported by Steward yet"),
        "{body}"
    );
    assert_eq!(qs.get("task/bad_spec/status").await.status(), 404);
}

/// Waits until no lock of `wiki` is held: a task's end is visible in its status a moment
/// before the lockbox has released its locks, as in Druid's `notifyStatus`.
async fn locks_released(qs: &Quickstart) {
    wait_for("the locks of wiki to be released", T, || async {
        active_locks(qs).await.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_peon_killed_mid_ingestion_publishes_nothing_and_its_locks_are_released() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let (id, _input) = ingestion_in_progress(&qs).await;
    // Its lock on the day was taken before it ran.
    let locks = active_locks(&qs).await;
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0]["groupId"], json!(id));

    let pids = peon_pids(&id);
    assert_eq!(pids.len(), 1, "one peon runs {id}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = qs.wait_complete(&id, T).await;
    assert_eq!(status["statusCode"], "FAILED", "{status}");
    assert!(used_segments(&qs, "wiki").await.is_empty());
    locks_released(&qs).await;
    // Nothing reached deep storage.
    assert!(!qs.data_dir.join("segments").join("wiki").exists());
}

#[tokio::test]
async fn a_task_shut_down_mid_ingestion_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let (id, _input) = ingestion_in_progress(&qs).await;
    let r = qs.post(&format!("task/{id}/shutdown"), json!({})).await;
    assert_eq!(r.status(), 200);
    let status = qs.wait_complete(&id, T).await;
    assert_eq!(status["statusCode"], "FAILED", "{status}");
    // The peon exits once its status is written, though its reading thread still waits on
    // the held input: sooner than the MiddleManager's kill after the graceful timeout (5 s).
    wait_for("the peon to exit", Duration::from_secs(3), || async {
        peon_pids(&id).is_empty().then_some(())
    })
    .await;
    assert!(used_segments(&qs, "wiki").await.is_empty());
    locks_released(&qs).await;
    assert!(!qs.data_dir.join("segments").join("wiki").exists());
}

#[tokio::test]
async fn the_middle_manager_serves_each_ingestion_tasks_row_counters_live_and_final() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let mm = format!("http://127.0.0.1:{}", qs.worker_port);
    let (id, input) = ingestion_in_progress(&qs).await;
    let task = [
        ("dataSource", "wiki"),
        ("taskId", id.as_str()),
        ("taskType", "index"),
    ];
    // While it runs, asked of its peon at each scrape.
    let live = scrape(&qs.http, &mm).await;
    assert_eq!(
        live.value("druid_ingest_events_processed_total", &task),
        Some(1024.0)
    );
    assert!(live.value("druid_ingest_input_bytes_total", &task) > Some(0.0));
    input.release();
    assert_eq!(qs.wait_complete(&id, T).await["statusCode"], "SUCCESS");
    // Once it ended, from its report: every row of the input.
    let done = wait_for("the final counters", T, || async {
        let m = scrape(&qs.http, &mm).await;
        (m.value("druid_ingest_events_processed_total", &task) == Some(1034.0)).then_some(m)
    })
    .await;
    for zero in [
        "druid_ingest_events_unparseable_total",
        "druid_ingest_events_thrownaway_total",
        "druid_ingest_events_processedwitherror_total",
    ] {
        assert_eq!(done.value(zero, &task), Some(0.0), "{zero}");
    }
    let worker = [
        ("category", "_default_worker_category"),
        ("workerVersion", "0"),
    ];
    assert_eq!(
        done.value("druid_worker_task_success_count_total", &worker),
        Some(1.0)
    );
}
