//! End-to-end: task locks and the task action API on a real quickstart. Long `noop` tasks stand
//! in for ingestion tasks: the test calls `POST /druid/indexer/v1/action` with their identity,
//! as their peon would.

mod common;

use std::time::Duration;

use common::actions::{action, action_ok, active_locks, long_noop, segment, DAY};
use common::{wait_for, Quickstart};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(30);
#[tokio::test]
async fn a_higher_priority_lock_revokes_a_lower_one_whose_publish_is_then_refused() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let low = qs.submit_ok(long_noop("low", 10)).await;
    let high = qs.submit_ok(long_noop("high", 80)).await;
    qs.wait_runner_state(&low, "RUNNING", T).await;
    qs.wait_runner_state(&high, "RUNNING", T).await;

    // A noop holds nothing until it asks.
    assert!(active_locks(&qs).await.is_empty());
    let lock = action_ok(
        &qs,
        &low,
        json!({"type": "lockTryAcquire", "lockType": "EXCLUSIVE", "interval": DAY}),
    )
    .await;
    assert_eq!(lock["groupId"], "low");
    assert_eq!(lock["priority"], 10);
    assert_eq!(lock["revoked"], false);
    let low_version = lock["version"].as_str().unwrap().to_string();
    assert_eq!(active_locks(&qs).await, vec![lock.clone()]);
    let intervals: Value = qs
        .post(
            "lockedIntervals/v2",
            json!([{"datasource": "wiki", "priority": 0}]),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(intervals, json!({"wiki": [DAY]}));
    // Above the lock's priority, nothing is locked.
    let intervals: Value = qs
        .post(
            "lockedIntervals/v2",
            json!([{"datasource": "wiki", "priority": 50}]),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(intervals, json!({}));

    // The higher-priority task takes the day: the lower one's lock is revoked, not removed.
    let high_lock = action_ok(
        &qs,
        &high,
        json!({"type": "lockTryAcquire", "interval": DAY}),
    )
    .await;
    assert_eq!(high_lock["groupId"], "high");
    // Active locks are the unrevoked ones (Druid's `getActiveLocks`).
    assert_eq!(active_locks(&qs).await, vec![high_lock.clone()]);
    let listed = action_ok(&qs, &low, json!({"type": "lockList"})).await;
    assert_eq!(listed[0]["revoked"], true);

    // The revoked task's publish is refused (a revoked lock covers nothing, as in Druid's
    // `TaskLocks.isLockCoversSegments`) and writes nothing.
    let refused = action(
        &qs,
        &low,
        json!({"type": "segmentTransactionalInsert",
               "segments": [segment(DAY, &low_version, 0)]}),
    )
    .await;
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    let message = body["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("not covered") && message.contains("revoked"),
        "{message}"
    );

    // A segment outside every lock of the task: 409, nothing written.
    let high_version = high_lock["version"].as_str().unwrap().to_string();
    let outside = action(
        &qs,
        &high,
        json!({"type": "segmentTransactionalInsert",
               "segments": [segment(DAY, &high_version, 0),
                            segment("2024-01-02/2024-01-03", &high_version, 0)]}),
    )
    .await;
    assert_eq!(outside.status(), 409);
    let used = action_ok(
        &qs,
        &high,
        json!({"type": "segmentListUsed", "dataSource": "wiki", "intervals": ["2024-01-01/2024-01-03"]}),
    )
    .await;
    assert_eq!(used, json!([]));

    // The holder publishes.
    let published = action_ok(
        &qs,
        &high,
        json!({"type": "segmentTransactionalInsert",
               "segments": [segment(DAY, &high_version, 0)]}),
    )
    .await;
    assert_eq!(published["success"], true, "{published}");
    assert_eq!(published["segments"].as_array().unwrap().len(), 1);
    let used = action_ok(
        &qs,
        &high,
        json!({"type": "segmentListUsed", "dataSource": "wiki", "intervals": [DAY]}),
    )
    .await;
    assert_eq!(used[0]["version"], high_version.as_str());

    // Ending releases every lock of a task, the revoked one too.
    for id in [&low, &high] {
        assert_eq!(
            qs.post(&format!("task/{id}/shutdown"), json!({}))
                .await
                .status(),
            200
        );
        qs.wait_complete(id, T).await;
    }
    wait_for("the locks to be released", T, || async {
        active_locks(&qs).await.is_empty().then_some(())
    })
    .await;
    // And an ended task can no longer act.
    let r = action(&qs, &high, json!({"type": "lockList"})).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_task_that_needs_a_held_interval_waits_until_the_holder_ends() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let holder = qs.submit_ok(long_noop("holder", 50)).await;
    qs.wait_runner_state(&holder, "RUNNING", T).await;
    action_ok(
        &qs,
        &holder,
        json!({"type": "lockTryAcquire", "interval": "2024-01-01/2024-02-01"}),
    )
    .await;
    // A kill (priority 0) needs the same month: it cannot revoke a priority-50 lock, so it
    // waits.
    let kill = qs
        .submit_ok(json!({"type": "kill", "dataSource": "wiki", "interval": DAY}))
        .await;
    qs.wait_runner_state(&kill, "WAITING", T).await;
    let second = action(
        &qs,
        &kill,
        json!({"type": "lockTryAcquire", "interval": DAY}),
    )
    .await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.json::<Value>().await.unwrap()["result"], Value::Null);

    // A lockAcquire with a timeout waits for it and gives up without it.
    let started = std::time::Instant::now();
    let waited = action_ok(
        &qs,
        &kill,
        json!({"type": "lockAcquire", "interval": DAY, "timeoutMs": 300}),
    )
    .await;
    assert_eq!(waited, Value::Null);
    assert!(started.elapsed() >= Duration::from_millis(300));
    // The holder's own lock on the month covers the day.
    let own = action_ok(
        &qs,
        &holder,
        json!({"type": "lockAcquire", "interval": DAY, "timeoutMs": 300}),
    )
    .await;
    assert_eq!(own["groupId"], "holder");

    // When the holder ends, the kill takes the lock and runs.
    qs.post(&format!("task/{holder}/shutdown"), json!({})).await;
    let done = qs.wait_complete(&kill, T).await;
    assert_eq!(done["statusCode"], "SUCCESS", "{done}");
}

#[tokio::test]
async fn bad_actions_are_refused_with_a_clear_error_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let id = qs.submit_ok(long_noop("actor", 50)).await;
    qs.wait_runner_state(&id, "RUNNING", T).await;
    for (body, status) in [
        (json!("not an envelope"), 400),
        (
            json!({"task": {"id": id}, "action": {"type": "launchMissiles"}}),
            400,
        ),
        (json!({"task": {}, "action": {"type": "lockList"}}), 400),
        (
            json!({"task": {"id": "nobody"}, "action": {"type": "lockList"}}),
            404,
        ),
        (
            json!({"task": {"id": id}, "action": {"type": "lockTryAcquire",
                   "interval": "2024-01-01/2024-01-01"}}),
            400,
        ),
    ] {
        let r = qs.post("action", body.clone()).await;
        assert_eq!(r.status(), status, "{body}");
        let err: Value = r.json().await.unwrap();
        assert!(
            err.get("error").is_some() || err.get("errorMessage").is_some(),
            "{err}"
        );
    }
    assert!(active_locks(&qs).await.is_empty());
    let r = qs.post("activeLocks", json!([])).await;
    assert_eq!(r.status(), 400);
}

/// A segment whose files exist where Druid's local deep storage keeps them.
fn stored_segment(deep: &std::path::Path, day: &str, version: &str) -> Value {
    let interval: steward_model::Interval = day.parse().unwrap();
    let dir = deep
        .join("wiki")
        .join(format!(
            "{}_{}",
            steward_model::time::format_ts(interval.start),
            steward_model::time::format_ts(interval.end)
        ))
        .join(version)
        .join("0")
        .join("index");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("version.bin"), [0, 0, 0, 9]).unwrap();
    let mut s = segment(day, version, 0);
    s["loadSpec"]["path"] = json!(format!("{}/", dir.display()));
    s
}

fn segment_dir(segment: &Value) -> std::path::PathBuf {
    std::path::PathBuf::from(segment["loadSpec"]["path"].as_str().unwrap())
}

#[tokio::test]
async fn kill_deletes_exactly_the_unused_segments_of_its_interval_from_the_store_and_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("deep");
    let qs = Quickstart::start(
        dir.path(),
        &format!("druid.storage.storageDirectory={}\n", deep.display()),
    )
    .await;
    let month = "2024-01-01/2024-02-01";
    let (day1, day2) = ("2024-01-01/2024-01-02", "2024-01-02/2024-01-03");
    let day3 = "2024-01-03/2024-01-04";

    // A first writer publishes three days.
    let first = qs.submit_ok(long_noop("first", 50)).await;
    qs.wait_runner_state(&first, "RUNNING", T).await;
    let lock = action_ok(
        &qs,
        &first,
        json!({"type": "lockTryAcquire", "interval": month}),
    )
    .await;
    let v1 = lock["version"].as_str().unwrap().to_string();
    let old: Vec<Value> = [day1, day2, day3]
        .iter()
        .map(|d| stored_segment(&deep, d, &v1))
        .collect();
    let published = action_ok(
        &qs,
        &first,
        json!({"type": "segmentTransactionalInsert", "segments": old}),
    )
    .await;
    assert_eq!(published["success"], true, "{published}");
    qs.post(&format!("task/{first}/shutdown"), json!({})).await;
    qs.wait_complete(&first, T).await;

    // A second writer overwrites day 1 with a newer version: the old day 1 becomes unused.
    let second = qs.submit_ok(long_noop("second", 50)).await;
    qs.wait_runner_state(&second, "RUNNING", T).await;
    let lock = wait_for("the first writer's lock to be released", T, || async {
        let l = action_ok(
            &qs,
            &second,
            json!({"type": "lockTryAcquire", "interval": day1}),
        )
        .await;
        (!l.is_null()).then_some(l)
    })
    .await;
    let v2 = lock["version"].as_str().unwrap().to_string();
    assert!(v2 > v1);
    let newer = stored_segment(&deep, day1, &v2);
    let published = action_ok(
        &qs,
        &second,
        json!({"type": "segmentTransactionalInsert", "segments": [newer.clone()]}),
    )
    .await;
    assert_eq!(published["success"], true, "{published}");
    let unused = action_ok(
        &qs,
        &second,
        json!({"type": "segmentListUnused", "dataSource": "wiki", "interval": month}),
    )
    .await;
    assert_eq!(unused.as_array().unwrap().len(), 1, "{unused}");
    assert_eq!(unused[0]["version"], v1.as_str());
    qs.post(&format!("task/{second}/shutdown"), json!({})).await;
    qs.wait_complete(&second, T).await;

    // Kill the first two days: only the unused old day 1 goes, from the store and the disk.
    let kill = qs
        .submit_ok(json!({"type": "kill", "dataSource": "wiki",
                          "interval": "2024-01-01/2024-01-03", "batchSize": 1}))
        .await;
    let done = qs.wait_complete(&kill, T).await;
    assert_eq!(done["statusCode"], "SUCCESS", "{done}");
    assert!(
        !segment_dir(&old[0]).exists(),
        "the killed segment's files are gone"
    );
    for kept in [&old[1], &old[2], &newer] {
        assert!(segment_dir(kept).exists(), "{kept}");
    }
    let reports: Value = qs.reports(&kill).await;
    assert_eq!(
        reports["killUnusedSegments"]["payload"]["numSegmentsKilled"], 1,
        "{reports}"
    );

    // The store: nothing unused left, the three used segments untouched.
    let reader = qs.submit_ok(long_noop("reader", 50)).await;
    let unused = action_ok(
        &qs,
        &reader,
        json!({"type": "segmentListUnused", "dataSource": "wiki", "interval": month}),
    )
    .await;
    assert_eq!(unused, json!([]));
    let used = action_ok(
        &qs,
        &reader,
        json!({"type": "segmentListUsed", "dataSource": "wiki", "intervals": [month]}),
    )
    .await;
    let versions: Vec<(&str, &str)> = used
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["interval"].as_str().unwrap(),
                s["version"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions.len(), 3, "{used}");
    assert!(versions.contains(&(DAY, v2.as_str())), "{versions:?}");
}

fn allocate(sequence: &str, timestamp: &str, preferred: &str) -> Value {
    json!({"type": "segmentAllocate", "dataSource": "wiki", "timestamp": timestamp,
           "queryGranularity": "NONE", "preferredSegmentGranularity": preferred,
           "sequenceName": sequence, "previousSegmentId": null,
           "skipSegmentLineageCheck": true})
}

#[tokio::test]
async fn segment_allocation_numbers_partitions_under_the_tasks_lock_and_repeats_itself() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let id = qs.submit_ok(long_noop("appender", 50)).await;
    qs.wait_runner_state(&id, "RUNNING", T).await;

    let first = action_ok(&qs, &id, allocate("s0", "2024-01-01T05:00:00Z", "DAY")).await;
    assert_eq!(first["interval"], DAY, "{first}");
    assert_eq!(first["shardSpec"]["partitionNum"], 0);
    // The allocation took the task's lock on the day, and its version is the lock's.
    let locks = action_ok(&qs, &id, json!({"type": "lockList"})).await;
    assert_eq!(locks[0]["interval"], DAY);
    assert_eq!(first["version"], locks[0]["version"]);
    let again = action_ok(&qs, &id, allocate("s0", "2024-01-01T06:00:00Z", "DAY")).await;
    assert_eq!(
        again, first,
        "the same sequence in the same interval gets the same id"
    );
    let second = action_ok(&qs, &id, allocate("s1", "2024-01-01T07:00:00Z", "DAY")).await;
    assert_eq!(second["shardSpec"]["partitionNum"], 1);
    assert_eq!(second["version"], first["version"]);

    // Publish both: a later allocation in that day joins the published chunk even when it
    // prefers hours.
    let published = action_ok(
        &qs,
        &id,
        json!({"type": "segmentTransactionalInsert", "segments": [
            segment(DAY, first["version"].as_str().unwrap(), 0),
            segment(DAY, first["version"].as_str().unwrap(), 1)]}),
    )
    .await;
    assert_eq!(published["success"], true, "{published}");
    let joined = action_ok(&qs, &id, allocate("s2", "2024-01-01T08:00:00Z", "HOUR")).await;
    assert_eq!(joined["interval"], DAY);
    assert_eq!(joined["shardSpec"]["partitionNum"], 2);

    // Another task cannot allocate in the day while this one holds it.
    let other = qs.submit_ok(long_noop("other", 50)).await;
    let refused = action_ok(&qs, &other, allocate("x", "2024-01-01T05:00:00Z", "DAY")).await;
    assert_eq!(refused, Value::Null);
    // A task of another datasource may not allocate for this one.
    let r = action(
        &qs,
        &other,
        json!({"type": "segmentAllocate", "dataSource": "elsewhere",
               "timestamp": "2024-01-01T05:00:00Z", "queryGranularity": "NONE",
               "preferredSegmentGranularity": "DAY", "sequenceName": "x"}),
    )
    .await;
    assert_eq!(r.status(), 400);
}
