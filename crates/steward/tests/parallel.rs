//! End-to-end: `index_parallel` with sub-tasks (Druid's `ParallelIndexSupervisorTask` in
//! parallel mode, dynamic partitioning) on a real quickstart and on a cluster whose
//! MiddleManager dies mid-ingestion, checked against an independent rollup of the input.
//!
//! Sub-tasks that must still be running when the test acts read from an HTTP server of the
//! test's own, which holds their input until the test lets it go: what the test waits for is
//! observable (requests arrived, tasks listed), never a sleep.

mod common;
mod wikiticker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::cluster::Cluster;
use common::input_server::InputServer;
use common::{peon_pids, wait_for, Api, Quickstart};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use wikiticker::{
    hashed_rows, published_rollup, rollup_lines, rollup_of, segment_rows, split_lines, stored_rows,
    used_segments,
};

const T: Duration = Duration::from_secs(240);

/// Druid's wikiticker spec as an `index_parallel` task reading `input_source`.
fn parallel_task(id: &str, data_source: &str, input_source: Value, tuning: Value) -> Value {
    let mut tuning_config = json!({
        "type": "index_parallel",
        "maxNumConcurrentSubTasks": 2,
        "taskStatusCheckPeriodMs": 200,
        "partitionsSpec": {"type": "dynamic", "maxRowsPerSegment": 5000},
    });
    for (k, v) in tuning.as_object().unwrap() {
        tuning_config[k] = v.clone();
    }
    json!({
        "type": "index_parallel",
        "id": id,
        "spec": {
            "dataSchema": {
                "dataSource": data_source,
                "timestampSpec": {"column": "time", "format": "auto"},
                "dimensionsSpec": {"dimensions": ["channel", "page", "user"]},
                "metricsSpec": [
                    {"name": "count", "type": "count"},
                    {"name": "added", "type": "longSum", "fieldName": "added"},
                    {"name": "deleted", "type": "longSum", "fieldName": "deleted"},
                    {"name": "delta", "type": "longSum", "fieldName": "delta"}
                ],
                "granularitySpec": {"segmentGranularity": "day", "queryGranularity": "none",
                    "intervals": ["2015-09-12/2015-09-13"]}
            },
            "ioConfig": {"type": "index_parallel", "inputSource": input_source,
                "inputFormat": {"type": "json"}},
            "tuningConfig": tuning_config
        }
    })
}

/// The sub-tasks the Overlord lists for `supervisor` (every state, every phase).
async fn sub_tasks(api: &Api, supervisor: &str) -> Vec<Value> {
    api.all_tasks()
        .await
        .into_iter()
        .filter(|t| t["groupId"] == supervisor && t["id"] != supervisor)
        .collect()
}

/// Checks an overwrite's published chunk: one version, numbered partitions `0..n` of `n`.
fn assert_one_complete_chunk(segments: &[Value]) {
    let n = segments.len();
    let mut numbers: Vec<u64> = segments
        .iter()
        .map(|s| {
            assert_eq!(s["version"], segments[0]["version"], "{s}");
            assert_eq!(s["shardSpec"]["type"], "numbered", "{s}");
            assert_eq!(s["shardSpec"]["partitions"], n, "{s}");
            assert_eq!(
                s["interval"],
                "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z"
            );
            s["shardSpec"]["partitionNum"].as_u64().unwrap()
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..n as u64).collect::<Vec<_>>());
}

/// Files under `dir`, recursively (none if it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// `lines` as four files `part-<n>.json` in `<dir>/input`, which is returned.
fn write_splits(dir: &Path, lines: &[String]) -> PathBuf {
    let input = dir.join("input");
    std::fs::create_dir(&input).unwrap();
    for (i, contents) in split_lines(lines, 4).iter().enumerate() {
        std::fs::write(input.join(format!("part-{i}.json")), contents).unwrap();
    }
    input
}

// Druid's SinglePhaseParallelIndexingTest.testRunInParallel, on the wikiticker sample.
#[tokio::test]
async fn sub_tasks_ingest_the_splits_and_the_supervisor_publishes_their_segments_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let lines = wikiticker::lines(usize::MAX);
    let input = write_splits(dir.path(), &lines);
    // The supervisor, two sub-tasks and the index task to compare with run at once.
    let qs = Quickstart::start(dir.path(), "druid.worker.capacity=4").await;
    let local = json!({"type": "local", "baseDir": input, "filter": "*.json"});
    let supervisor = qs
        .submit_ok(parallel_task(
            "parallel_wiki",
            "wiki_parallel",
            local.clone(),
            json!({"splitHintSpec": {"type": "maxSize", "maxNumFiles": 1}}),
        ))
        .await;
    let mut index = parallel_task("index_wiki", "wiki_index", local.clone(), json!({}));
    index["type"] = json!("index");
    index["spec"]["ioConfig"]["type"] = json!("index");
    index["spec"]["tuningConfig"] = json!({"type": "index", "maxRowsPerSegment": 5000});
    let index = qs.submit_ok(index).await;
    // One sub-task at a time is Druid's sequential mode: the supervisor is an index task.
    let sequential = qs
        .submit_ok(parallel_task(
            "sequential_wiki",
            "wiki_sequential",
            local.clone(),
            json!({"maxNumConcurrentSubTasks": 1}),
        ))
        .await;

    let status = qs.wait_complete(&supervisor, T).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}");
    assert_eq!(qs.wait_complete(&index, T).await["statusCode"], "SUCCESS");
    assert_eq!(
        qs.wait_complete(&sequential, T).await["statusCode"],
        "SUCCESS"
    );
    assert!(sub_tasks(&qs, &sequential).await.is_empty());
    let sequential_report: Value = qs.reports(&sequential).await;
    assert_eq!(
        sequential_report["ingestionStatsAndErrors"]["payload"]["rowStats"]["buildSegments"]
            ["processed"],
        lines.len(),
        "the index task's report: {sequential_report}"
    );

    // One sub-task per file, all succeeded, in the supervisor's group.
    let subs = sub_tasks(&qs, &supervisor).await;
    assert_eq!(subs.len(), 4, "{subs:?}");
    for sub in &subs {
        assert_eq!(sub["statusCode"], "SUCCESS", "{sub}");
        assert!(!qs
            .log(sub["id"].as_str().unwrap())
            .await
            .contains("Published ["));
    }

    let reports: Value = qs.reports(&supervisor).await;
    let payload = &reports["ingestionStatsAndErrors"]["payload"];
    assert_eq!(payload["ingestionState"], "COMPLETED");
    let totals = &payload["rowStats"]["totals"]["buildSegments"];
    assert_eq!(totals["processed"], lines.len(), "{reports}");
    assert_eq!(totals["unparseable"], 0);
    assert_eq!(totals["thrownAway"], 0);

    let segments = used_segments(&qs, "wiki_parallel").await;
    assert_eq!(payload["segmentsPublished"], segments.len());
    assert_one_complete_chunk(&segments);
    // Each file's ~9,800 rows roll up into two segments of at most 5,000 rows.
    assert!(segments.len() >= 4, "{}", segments.len());
    // One transaction published them all.
    let log = qs.log(&supervisor).await;
    assert_eq!(
        log.matches("Published [").count(),
        1,
        "supervisor log:\n{log}"
    );
    assert!(log.contains(&format!("Published [{}] segments", segments.len())));

    let expected = rollup_lines(&lines);
    assert_eq!(published_rollup(&segments), expected);
    // The sub-tasks' row counts reached the segment table through the supervisor's publish.
    let rows: usize = segments.iter().map(|s| segment_rows(s).len()).sum();
    assert_eq!(stored_rows(&qs, "wiki_parallel").await, json!(rows));
    for other in ["wiki_index", "wiki_sequential"] {
        assert_eq!(
            published_rollup(&used_segments(&qs, other).await),
            expected,
            "{other}"
        );
    }

    // Appending two of the files again: the Overlord allocates the sub-tasks' segments after
    // the chunk's, which stay its core partitions.
    let appended_files: Vec<PathBuf> = (0..2)
        .map(|i| input.join(format!("part-{i}.json")))
        .collect();
    let mut append = parallel_task(
        "append_wiki",
        "wiki_parallel",
        json!({"type": "local", "files": appended_files}),
        json!({"splitHintSpec": {"type": "maxSize", "maxNumFiles": 1}}),
    );
    append["spec"]["ioConfig"]["appendToExisting"] = json!(true);
    let append = qs.submit_ok(append).await;
    let status = qs.wait_complete(&append, T).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}");
    assert_eq!(sub_tasks(&qs, &append).await.len(), 2);
    let all = used_segments(&qs, "wiki_parallel").await;
    let new: Vec<&Value> = all
        .iter()
        .filter(|s| s["shardSpec"]["partitionNum"].as_u64().unwrap() >= segments.len() as u64)
        .collect();
    assert_eq!(all.len(), segments.len() + new.len());
    assert!(!new.is_empty());
    for segment in &new {
        assert_eq!(segment["version"], segments[0]["version"], "{segment}");
        assert_eq!(
            segment["shardSpec"]["partitions"],
            segments.len(),
            "{segment}"
        );
    }
    let mut twice = expected;
    let appended_lines: Vec<String> = split_lines(&lines, 4)[..2]
        .concat()
        .lines()
        .map(str::to_string)
        .collect();
    for (key, sums) in rollup_lines(&appended_lines) {
        let total = twice.entry(key).or_default();
        for (t, s) in total.iter_mut().zip(sums) {
            *t += s;
        }
    }
    assert_eq!(published_rollup(&all), twice);
}

// Druid's HashPartitionMultiPhaseParallelIndexingTest: perfect rollup across sub-tasks.
#[tokio::test]
async fn hashed_partitions_are_generated_then_merged_into_one_segment_per_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let lines = wikiticker::lines(usize::MAX);
    let input = write_splits(dir.path(), &lines);
    let deep = dir.path().join("deep");
    let qs = Quickstart::start(
        dir.path(),
        &format!(
            "druid.worker.capacity=3\ndruid.storage.storageDirectory={}",
            deep.display()
        ),
    )
    .await;
    let local = json!({"type": "local", "baseDir": input, "filter": "*.json"});
    let hashed = |id: &str, data_source: &str, input: &Value| {
        parallel_task(
            id,
            data_source,
            input.clone(),
            json!({"forceGuaranteedRollup": true, "totalNumMergeTasks": 2,
                "splitHintSpec": {"type": "maxSize", "maxNumFiles": 1},
                "partitionsSpec": {"type": "hashed", "numShards": 3}}),
        )
    };
    // With its intervals locked at the start, and without: then the chunks the rows fell in
    // are locked between the phases.
    let with_intervals = qs
        .submit_ok(hashed("hashed_wiki", "wiki_hashed", &local))
        .await;
    let status = qs.wait_complete(&with_intervals, T).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}");
    // The same files, held by the test's server while the first phase reads them.
    let server = InputServer::start(split_lines(&lines, 4)).await;
    let uris: Vec<String> = (0..4).map(|i| server.uri(true, i)).collect();
    let mut found = hashed(
        "hashed_found",
        "wiki_found",
        &json!({"type": "http", "uris": uris}),
    );
    found["spec"]["dataSchema"]["granularitySpec"]
        .as_object_mut()
        .unwrap()
        .remove("intervals");
    let found = qs.submit_ok(found).await;
    wait_for(
        "two partial_index_generate sub-tasks reading",
        T,
        || async { (server.held_requests() >= 2).then_some(()) },
    )
    .await;
    // The supervisor's chat handler says which of Druid's phases runs (ParallelIndexSupervisorTask
    // `/phase` and `/progress`).
    let location = &qs.status(&found).await["location"];
    let chat = format!(
        "http://{}:{}/druid/worker/v1/chat/{found}",
        location["host"].as_str().unwrap(),
        location["port"]
    );
    let chat_get = |path: &str| {
        let request = qs.http.get(format!("{chat}/{path}"));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(chat_get("phase").await, "partial segment generation");
    let progress = chat_get("progress").await;
    assert_eq!(
        (
            &progress["running"],
            &progress["estimatedExpectedSucceeded"]
        ),
        (&json!(2), &json!(4)),
        "{progress}"
    );
    server.release();
    let status = qs.wait_complete(&found, T).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}");

    let expected = rollup_lines(&lines);
    for (supervisor, data_source) in [(&with_intervals, "wiki_hashed"), (&found, "wiki_found")] {
        // Four splits generated partials; the 3 buckets went to 2 merge sub-tasks.
        let subs = sub_tasks(&qs, supervisor).await;
        let count = |kind: &str| subs.iter().filter(|t| t["type"] == kind).count();
        assert_eq!(count("partial_index_generate"), 4, "{subs:?}");
        assert_eq!(count("partial_index_generic_merge"), 2, "{subs:?}");
        assert!(
            subs.iter().all(|t| t["statusCode"] == "SUCCESS"),
            "{subs:?}"
        );

        let rows = hashed_rows(&qs, data_source).await;
        // Perfect rollup: every key once, over all sub-tasks' input.
        assert_eq!(rows.len(), expected.len());
        assert_eq!(rollup_of(&rows), expected);
        assert_eq!(stored_rows(&qs, data_source).await, json!(rows.len()));

        let reports: Value = qs.reports(supervisor).await;
        let payload = &reports["ingestionStatsAndErrors"]["payload"];
        assert_eq!(
            payload["rowStats"]["totals"]["buildSegments"]["processed"],
            lines.len(),
            "the first phase's rows, counted once: {reports}"
        );
        assert_eq!(payload["segmentsPublished"], 3);
    }
    // The supervisors deleted their partial segments.
    assert_eq!(
        files_under(&deep.join("shuffle-data")),
        Vec::<PathBuf>::new()
    );
}

// Druid's TaskMonitor retries a failed sub-task (ParallelIndexSupervisorTaskResourceTest).
#[tokio::test]
async fn a_split_whose_middle_manager_dies_is_retried_and_nothing_is_published_twice() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("deep");
    let mut c = Cluster::start(
        dir.path(),
        2,
        "druid.indexer.runner.taskCleanupTimeout=PT2S",
        &format!(
            "druid.worker.capacity=3\ndruid.storage.storageDirectory={}",
            deep.display()
        ),
    )
    .await;
    let lines = wikiticker::lines(8000);
    let server = InputServer::start(split_lines(&lines, 4)).await;
    let uris: Vec<String> = (0..4).map(|i| server.uri(true, i)).collect();
    // Without intervals, the supervisor locks each chunk at its first allocation.
    let mut task = parallel_task(
        "parallel_retry",
        "wiki_retry",
        json!({"type": "http", "uris": uris}),
        json!({"maxRetry": 3}),
    );
    task["spec"]["dataSchema"]["granularitySpec"]
        .as_object_mut()
        .unwrap()
        .remove("intervals");
    let supervisor = c.submit_ok(task).await;

    // Two sub-tasks read; the one on the worker without the supervisor loses its worker.
    wait_for("two sub-tasks reading", T, || async {
        (server.held_requests() >= 2).then_some(())
    })
    .await;
    let supervisor_host = c.worker_of(&supervisor).await.expect("supervisor running");
    let mut elsewhere: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for sub in sub_tasks(&c, &supervisor).await {
        let id = sub["id"].as_str().unwrap().to_string();
        if let Some(host) = c.worker_of(&id).await.filter(|h| *h != supervisor_host) {
            elsewhere.entry(host).or_default().push(id);
        }
    }
    let Some((victim_host, victims)) = elsewhere.pop_first() else {
        panic!(
            "no sub-task runs on a worker other than the supervisor's\n{}",
            c.logs()
        )
    };
    let mm = c.mm_index(&victim_host);
    c.mms[mm].signal(Signal::SIGKILL);
    // The host is gone with its peons.
    for id in &victims {
        for pid in peon_pids(id) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    for id in &victims {
        let failed = c.wait_complete(id, T).await;
        assert_eq!(failed["statusCode"], "FAILED", "{failed}");
    }
    wait_for("the splits to be retried", T, || async {
        (sub_tasks(&c, &supervisor).await.len() >= 2 + victims.len()).then_some(())
    })
    .await;
    server.release();

    let status = c.wait_complete(&supervisor, T).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}\n{}", c.logs());
    let subs = sub_tasks(&c, &supervisor).await;
    assert_eq!(
        subs.len(),
        4 + victims.len(),
        "four splits and a retry of each lost one: {subs:?}"
    );
    let log = c.log(&supervisor).await;
    for id in &victims {
        assert!(log.contains(&format!("Sub-task[{id}] failed")), "{log}");
    }
    let reports: Value = c.reports(&supervisor).await;
    let payload = &reports["ingestionStatsAndErrors"]["payload"];
    assert_eq!(
        payload["rowStats"]["totals"]["buildSegments"]["processed"],
        lines.len(),
        "only the attempts that succeeded count: {reports}"
    );
    let segments = used_segments(&c, "wiki_retry").await;
    assert_eq!(payload["segmentsPublished"], segments.len());
    assert_one_complete_chunk(&segments);
    // Every input row once, in the rollup the spec asks for.
    assert_eq!(published_rollup(&segments), rollup_lines(&lines));
}

#[tokio::test]
async fn a_supervisor_shut_down_shuts_its_sub_tasks_down_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "druid.worker.capacity=4").await;
    let lines = wikiticker::lines(3000);
    // Dynamic partitions (segments pushed), then hashed ones (partial segments pushed).
    for (data_source, tuning) in [
        ("wiki_shutdown", json!({})),
        (
            "wiki_shutdown_hashed",
            json!({"forceGuaranteedRollup": true,
                "partitionsSpec": {"type": "hashed", "numShards": 2}}),
        ),
    ] {
        let server = InputServer::start(split_lines(&lines, 3)).await;
        // The first split is served at once, the others wait.
        let uris = vec![
            server.uri(false, 0),
            server.uri(true, 1),
            server.uri(true, 2),
        ];
        let supervisor = qs
            .submit_ok(parallel_task(
                &format!("parallel_{data_source}"),
                data_source,
                json!({"type": "http", "uris": uris}),
                tuning,
            ))
            .await;
        let storage = [
            qs.data_dir.join("segments").join(data_source),
            qs.data_dir.join("segments").join("shuffle-data"),
        ];
        let pushed = || {
            storage
                .iter()
                .flat_map(|d| files_under(d))
                .collect::<Vec<_>>()
        };
        // The first split's sub-task pushed and reported its segments; the other two read.
        wait_for("one split done and two reading", T, || async {
            let done = sub_tasks(&qs, &supervisor)
                .await
                .iter()
                .any(|s| s["statusCode"] == "SUCCESS");
            (done && server.held_requests() >= 2).then_some(())
        })
        .await;
        assert!(!pushed().is_empty(), "the first split pushed");
        // Live, the supervisor counts the finished split's rows and asks the running ones.
        let live: Value = qs.reports(&supervisor).await;
        let payload = &live["ingestionStatsAndErrors"]["payload"];
        assert_eq!(payload["ingestionState"], "BUILD_SEGMENTS", "{live}");
        assert!(
            payload["rowStats"]["totals"]["buildSegments"]["processed"]
                .as_u64()
                .unwrap()
                >= 1000,
            "{live}"
        );

        qs.post(&format!("task/{supervisor}/shutdown"), json!({}))
            .await;
        let status = qs.wait_complete(&supervisor, T).await;
        assert_eq!(status["statusCode"], "FAILED", "{status}");
        // The Overlord records the end at once; the supervisor cleans up before its peon exits.
        wait_for("the supervisor's peon to exit", T, || async {
            peon_pids(&supervisor).is_empty().then_some(())
        })
        .await;
        let subs = sub_tasks(&qs, &supervisor).await;
        assert_eq!(subs.len(), 3, "no sub-task after the shutdown: {subs:?}");
        let log = qs.log(&supervisor).await;
        for sub in subs.iter().filter(|s| s["statusCode"] != "SUCCESS") {
            let id = sub["id"].as_str().unwrap();
            assert!(
                log.contains(&format!("Shutting down sub-task[{id}]")),
                "{log}"
            );
            assert_eq!(qs.wait_complete(id, T).await["statusCode"], "FAILED");
        }
        assert!(!log.contains("Published ["), "{log}");
        assert!(used_segments(&qs, data_source).await.is_empty());
        assert!(
            pushed().is_empty(),
            "reported files and partials are removed: {:?}",
            pushed()
        );
        server.release();
    }
}

// Druid's ParallelIndexPhaseRunner: a spec out of attempts fails the phase.
#[tokio::test]
async fn a_split_that_fails_every_attempt_fails_the_supervisor_which_stops_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "druid.worker.capacity=4").await;
    let lines = wikiticker::lines(1000);
    let server = InputServer::start(split_lines(&lines, 1)).await;
    // The second URI answers 404, whichever attempt reads it.
    let uris = vec![server.uri(true, 0), server.uri(false, 7)];
    let supervisor = qs
        .submit_ok(parallel_task(
            "parallel_doomed",
            "wiki_doomed",
            json!({"type": "http", "uris": uris}),
            json!({"maxRetry": 2}),
        ))
        .await;
    let status = qs.wait_complete(&supervisor, T).await;
    assert_eq!(status["statusCode"], "FAILED", "{status}");
    assert_eq!(
        status["errorMsg"],
        "Failed in phase[segment generation]. See task logs for details."
    );
    wait_for("the supervisor's peon to exit", T, || async {
        peon_pids(&supervisor).is_empty().then_some(())
    })
    .await;
    // Two attempts of the bad split, and the good one, shut down.
    let subs = sub_tasks(&qs, &supervisor).await;
    assert_eq!(subs.len(), 3, "{subs:?}");
    let log = qs.log(&supervisor).await;
    assert_eq!(log.matches("failed (").count(), 2, "{log}");
    assert_eq!(log.matches("Shutting down sub-task[").count(), 1, "{log}");
    for sub in &subs {
        let id = sub["id"].as_str().unwrap();
        assert_eq!(qs.wait_complete(id, T).await["statusCode"], "FAILED");
    }
    assert!(used_segments(&qs, "wiki_doomed").await.is_empty());
    server.release();
}

// Druid's `parallelIndexTaskSlotRatio` (PR #12221): supervisors that could hold every slot
// would wait forever for sub-tasks that find none. Two slots, a ratio of 0.5: one supervisor
// runs, the other waits, and the slot kept free runs the first one's sub-tasks.
#[tokio::test]
async fn supervisors_keep_to_their_slot_ratio_and_leave_slots_to_their_sub_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let lines = wikiticker::lines(2000);
    let files = split_lines(&lines, 2);
    let input = InputServer::start(files.clone()).await;
    let qs = Quickstart::start(
        dir.path(),
        "druid.worker.capacity=2\ndruid.indexer.runner.parallelIndexTaskSlotRatio=0.5",
    )
    .await;
    let uris =
        |held: bool| json!({"type": "http", "uris": [input.uri(held, 0), input.uri(held, 1)]});
    let first = qs
        .submit_ok(parallel_task(
            "ratio_first",
            "wiki_first",
            uris(true),
            json!({}),
        ))
        .await;
    qs.wait_runner_state(&first, "RUNNING", T).await;
    let second = qs
        .submit_ok(parallel_task(
            "ratio_second",
            "wiki_second",
            uris(false),
            json!({}),
        ))
        .await;
    // The first supervisor's sub-task runs in the other slot and reads its held file.
    wait_for("a sub-task reading a held file", T, || async {
        (input.held_requests() >= 1).then_some(())
    })
    .await;
    let workers: Vec<Value> = qs.get("workers").await.json().await.unwrap();
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert_eq!(workers[0]["currCapacityUsed"], 2, "{workers:?}");
    assert_eq!(
        workers[0]["currParallelIndexCapacityUsed"], 1,
        "{workers:?}"
    );
    assert_eq!(qs.status(&second).await["runnerStatusCode"], "PENDING");

    input.release();
    for id in [&first, &second] {
        let status = qs.wait_complete(id, T).await;
        assert_eq!(status["statusCode"], "SUCCESS", "{status}");
    }
    for (id, data_source) in [(&first, "wiki_first"), (&second, "wiki_second")] {
        assert_eq!(sub_tasks(&qs, id).await.len(), 2, "{id}");
        assert_eq!(
            published_rollup(&used_segments(&qs, data_source).await),
            rollup_lines(&lines)
        );
    }
}

// Druid's parallel re-indexing: a druid input source splits by its segments, one sub-task
// per split, and the copy rolls up to what the source holds.
#[tokio::test]
async fn a_druid_input_source_splits_by_segments_among_sub_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let lines = wikiticker::lines(4000);
    let input = InputServer::start(split_lines(&lines, 2)).await;
    let qs = Quickstart::start(dir.path(), "druid.worker.capacity=4").await;
    let source = qs
        .submit_ok(parallel_task(
            "reindex_source",
            "wiki_source",
            json!({"type": "http", "uris": [input.uri(false, 0), input.uri(false, 1)]}),
            json!({"partitionsSpec": {"type": "dynamic", "maxRowsPerSegment": 1000}}),
        ))
        .await;
    assert_eq!(qs.wait_complete(&source, T).await["statusCode"], "SUCCESS");
    let source_segments = used_segments(&qs, "wiki_source").await;
    assert!(source_segments.len() >= 3, "{}", source_segments.len());

    let mut copy = parallel_task(
        "reindex_copy",
        "wiki_copy",
        json!({"type": "druid", "dataSource": "wiki_source",
               "interval": "2015-09-12/2015-09-13"}),
        json!({"splitHintSpec": {"type": "segments", "maxNumSegments": 1}}),
    );
    let schema = &mut copy["spec"]["dataSchema"];
    schema["timestampSpec"] = json!({"column": "__time", "format": "millis"});
    schema["metricsSpec"][0] = json!({"type": "longSum", "name": "count", "fieldName": "count"});
    copy["spec"]["ioConfig"]
        .as_object_mut()
        .unwrap()
        .remove("inputFormat");
    let copy = qs.submit_ok(copy).await;
    let status = qs.wait_complete(&copy, T).await;
    assert_eq!(status["statusCode"], "SUCCESS", "{status}");

    let subs = sub_tasks(&qs, &copy).await;
    assert_eq!(
        subs.len(),
        source_segments.len(),
        "one sub-task per segment"
    );
    assert!(
        subs.iter().all(|s| s["statusCode"] == "SUCCESS"),
        "{subs:?}"
    );
    assert_eq!(
        published_rollup(&used_segments(&qs, "wiki_copy").await),
        published_rollup(&source_segments)
    );
    assert_eq!(published_rollup(&source_segments), rollup_lines(&lines));
}
