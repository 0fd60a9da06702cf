//! End-to-end: cluster mode with real processes — ZooKeeper, `steward overlord`, three
//! `steward middle-manager`s — and real faults (SIGKILL, SIGSTOP, ZooKeeper stopped).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::cluster::Cluster;
use common::metrics::scrape;
use common::{alive, noop, peon_pids, wait_for};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(60);

/// Kills leftover peons of tasks whose MiddleManager was killed by the test.
fn kill_peons(ids: &[String]) {
    for id in ids {
        for pid in peon_pids(id) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

async fn submit_all(c: &Cluster, prefix: &str, n: usize, run_time_ms: u64) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            c.submit_ok(noop(&format!("{prefix}-{i}"), run_time_ms))
                .await,
        );
    }
    ids
}

#[tokio::test]
async fn tasks_run_on_every_worker_with_logs_from_worker_and_store() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(dir.path(), 3, "", "druid.worker.capacity=2").await;
    let ids = submit_all(&c, "spread", 6, 3_000).await;
    // Six slots, six tasks: all run at once, two per worker (equal distribution).
    wait_for("all six running", T, || async {
        let w = c.workers().await;
        w.iter().all(|w| w["currCapacityUsed"] == 2).then_some(())
    })
    .await;
    let hosts: BTreeSet<String> = {
        let mut h = BTreeSet::new();
        for id in &ids {
            h.insert(c.worker_of(id).await.expect("running somewhere"));
        }
        h
    };
    assert_eq!(hosts.len(), 3, "tasks spread over the three workers");
    // While running, the Overlord streams the log from the MiddleManager, once the peon has
    // written it (an assigned task counts as running before that).
    wait_for("the live log", T, || async {
        let r = c.get(&format!("task/{}/log", ids[0])).await;
        (r.status() == 200 && r.text().await.unwrap().contains(&ids[0])).then_some(())
    })
    .await;
    for id in &ids {
        assert_eq!(
            c.wait_complete(id, T).await["statusCode"],
            "SUCCESS",
            "{}",
            c.logs()
        );
    }
    // Afterwards it comes from the shared task-log store.
    let stored = c.get(&format!("task/{}/log?offset=-200", ids[0])).await;
    assert_eq!(stored.status(), 200);
    assert!(stored.text().await.unwrap().len() <= 200);
    assert_eq!(
        c.get(&format!("task/{}/reports", ids[0])).await.status(),
        200
    );
}

#[tokio::test]
async fn a_five_megabyte_task_runs() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(dir.path(), 1, "", "").await;
    let big = "x".repeat(5 * 1024 * 1024);
    let id = c
        .submit_ok(json!({"type": "noop", "id": "big", "runTime": 10, "blob": big}))
        .await;
    assert_eq!(
        c.wait_complete(&id, T).await["statusCode"],
        "SUCCESS",
        "{}",
        c.logs()
    );
    let payload: Value = c.get("task/big").await.json().await.unwrap();
    assert_eq!(
        payload["payload"]["blob"].as_str().unwrap().len(),
        big.len()
    );
}

#[tokio::test]
async fn killed_worker_fails_its_tasks_after_the_cleanup_timeout_while_others_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(
        dir.path(),
        3,
        "druid.indexer.runner.taskCleanupTimeout=PT3S",
        "druid.worker.capacity=1",
    )
    .await;
    let mut c = c;
    let long = submit_all(&c, "doomed", 3, 600_000).await;
    // Started by their workers (a peon's location is known), not only assigned: a task whose
    // worker vanishes before picking it up is assigned again instead of failed.
    wait_for("three running", T, || async {
        for id in &long {
            if c.status(id).await["location"]["host"].is_null() {
                return None;
            }
        }
        Some(())
    })
    .await;
    let victim_host = c.worker_of(&long[0]).await.unwrap();
    let victim = c.mm_index(&victim_host);
    c.mms[victim].signal(Signal::SIGKILL);
    let killed_at = std::time::Instant::now();
    c.wait_workers(2).await;
    // The other workers are busy with long tasks: stop one so there is room for new work.
    let survivor = long
        .iter()
        .find(|id| id.as_str() != long[0])
        .unwrap()
        .clone();
    c.post(&format!("task/{survivor}/shutdown"), json!({}))
        .await;
    let fresh = c.submit_ok(noop("fresh", 10)).await;
    assert_eq!(
        c.wait_complete(&fresh, T).await["statusCode"],
        "SUCCESS",
        "{}",
        c.logs()
    );
    let s = c.wait_complete(&long[0], T).await;
    assert_eq!(s["statusCode"], "FAILED");
    assert_eq!(
        s["errorMsg"],
        "Canceled for worker cleanup. See overlord logs for more details."
    );
    assert!(
        killed_at.elapsed() >= Duration::from_secs(3),
        "not before the cleanup timeout"
    );
    kill_peons(&long);
}

#[tokio::test]
async fn restarted_worker_readopts_its_running_peons() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(
        dir.path(),
        1,
        "druid.indexer.runner.taskCleanupTimeout=PT60S",
        "",
    )
    .await;
    let ids = submit_all(&c, "survivor", 2, 4_000).await;
    for id in &ids {
        c.wait_runner_state(id, "RUNNING", T).await;
    }
    let pids: Vec<i32> = ids.iter().flat_map(|id| peon_pids(id)).collect();
    assert_eq!(pids.len(), 2);
    c.mms[0].signal(Signal::SIGKILL);
    assert!(
        pids.iter().all(|p| alive(*p)),
        "peons outlive their MiddleManager"
    );
    c.mms[0].spawn();
    for id in &ids {
        assert_eq!(
            c.wait_complete(id, T).await["statusCode"],
            "SUCCESS",
            "{}",
            c.logs()
        );
    }
}

#[tokio::test]
async fn stuck_worker_fails_only_its_assignments_after_the_assignment_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // A session long enough that the frozen worker stays announced past the assignment timeout.
    let c = Cluster::start(
        dir.path(),
        2,
        "druid.indexer.runner.taskAssignmentTimeout=PT2S\ndruid.zk.service.sessionTimeoutMs=10000",
        "druid.zk.service.sessionTimeoutMs=10000\ndruid.worker.capacity=2",
    )
    .await;
    let mut c = c;
    c.mms[0].signal(Signal::SIGSTOP);
    let ids = submit_all(&c, "split", 4, 10).await;
    let mut failed = 0;
    for id in &ids {
        let s = c.wait_complete(id, T).await;
        if s["statusCode"] == "FAILED" {
            assert_eq!(
                s["errorMsg"],
                "The worker that this task is assigned did not start it in timeout[PT2S]. See overlord logs for more details."
            );
            failed += 1;
        }
    }
    assert_eq!(
        failed,
        2,
        "the frozen worker's share fails, the rest succeeds: {}",
        c.logs()
    );
    c.mms[0].signal(Signal::SIGCONT);
}

#[tokio::test]
async fn worker_session_expiry_is_survived() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(
        dir.path(),
        1,
        "druid.indexer.runner.taskCleanupTimeout=PT60S",
        "",
    )
    .await;
    let id = c.submit_ok(noop("through-expiry", 5_000)).await;
    c.wait_runner_state(&id, "RUNNING", T).await;
    c.mms[0].signal(Signal::SIGSTOP);
    // The session expires while the worker is frozen: the Overlord loses sight of it.
    c.wait_workers(0).await;
    c.mms[0].signal(Signal::SIGCONT);
    c.wait_workers(1).await;
    assert_eq!(
        c.wait_complete(&id, T).await["statusCode"],
        "SUCCESS",
        "{}",
        c.logs()
    );
    let after = c.submit_ok(noop("after-expiry", 10)).await;
    assert_eq!(c.wait_complete(&after, T).await["statusCode"], "SUCCESS");
}

#[tokio::test]
async fn zookeeper_restart_loses_no_task() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(dir.path(), 2, "", "druid.worker.capacity=4").await;
    let mut ids = submit_all(&c, "before", 8, 1_500).await;
    c.zk.stop().await;
    // Submissions go on while ZooKeeper is down: they are stored and wait for it.
    ids.extend(submit_all(&c, "during", 4, 10).await);
    c.zk.start_again().await;
    ids.extend(submit_all(&c, "after", 4, 10).await);
    for id in &ids {
        let s = c.wait_complete(id, T).await;
        assert_eq!(s["statusCode"], "SUCCESS", "{id}: {s}\n{}", c.logs());
    }
    let complete: Vec<Value> = c.get("tasks?state=complete").await.json().await.unwrap();
    assert_eq!(complete.len(), ids.len(), "each task recorded exactly once");
}

#[tokio::test]
async fn shutdown_reaches_the_peon_on_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(dir.path(), 1, "", "").await;
    let id = c.submit_ok(noop("to-stop", 600_000)).await;
    c.wait_runner_state(&id, "RUNNING", T).await;
    let pids = wait_for("its peon", T, || async {
        let p = peon_pids(&id);
        (!p.is_empty()).then_some(p)
    })
    .await;
    assert_eq!(
        c.post(&format!("task/{id}/shutdown"), json!({}))
            .await
            .status(),
        200
    );
    let s = c.wait_complete(&id, T).await;
    assert_eq!(s["errorMsg"], "Shutdown request from user");
    wait_for("the peon to exit", T, || async {
        pids.iter().all(|p| !alive(*p)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn disabled_worker_gets_no_new_tasks_and_finishes_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(dir.path(), 2, "", "druid.worker.capacity=4").await;
    let first = c.submit_ok(noop("on-first", 2_000)).await;
    c.wait_runner_state(&first, "RUNNING", T).await;
    let host = c.worker_of(&first).await.unwrap();
    let r: Value = c
        .post(&format!("worker/{host}/disable"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r, json!({ &host: "disabled" }));
    wait_for("the Overlord to see the worker disabled", T, || async {
        let w = c.workers().await;
        w.iter()
            .any(|w| w["worker"]["host"] == host.as_str() && w["worker"]["version"] == "")
            .then_some(())
    })
    .await;
    let others = submit_all(&c, "elsewhere", 4, 500).await;
    for id in &others {
        c.wait_runner_state(id, "RUNNING", T).await;
        assert_ne!(c.worker_of(id).await.as_deref(), Some(host.as_str()));
    }
    assert_eq!(c.wait_complete(&first, T).await["statusCode"], "SUCCESS");
    c.post(&format!("worker/{host}/enable"), json!({})).await;
}

#[tokio::test]
async fn fill_capacity_strategy_packs_one_worker_first() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(dir.path(), 3, "", "druid.worker.capacity=3").await;
    let r = c
        .http
        .post(c.v1("worker"))
        .header("X-Druid-Author", "test")
        .json(&json!({"type": "default", "selectStrategy": {"type": "fillCapacity"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ids = submit_all(&c, "packed", 3, 600_000).await;
    let mut hosts = BTreeSet::new();
    for id in &ids {
        c.wait_runner_state(id, "RUNNING", T).await;
        hosts.insert(c.worker_of(id).await.unwrap());
    }
    assert_eq!(hosts.len(), 1, "fillCapacity packs one worker: {hosts:?}");
    let history: Vec<Value> = c.get("worker/history").await.json().await.unwrap();
    assert_eq!(history[0]["auditInfo"]["author"], "test");
    c.post("datasources/none/shutdownAllTasks", json!({})).await;
}

#[tokio::test]
async fn overlord_and_middle_manager_serve_their_metrics_with_zookeeper_latencies() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(dir.path(), 1, "", "druid.worker.capacity=2").await;
    let id = c.submit_ok(noop("metrics-1", 10)).await;
    assert_eq!(c.wait_complete(&id, T).await["statusCode"], "SUCCESS");
    let none = ("dataSource", "none");
    let overlord = wait_for("the Overlord's count", T, || async {
        let m = scrape(&c.http, &c.url).await;
        (m.value("druid_task_success_count_total", &[none]) == Some(1.0)).then_some(m)
    })
    .await;
    assert!(
        overlord.observations("druid_zk_request_time", &[("operation", "assign")]) >= Some(1.0)
    );
    assert_eq!(
        overlord.value(
            "druid_worker_count",
            &[
                ("category", "_default_worker_category"),
                ("workerVersion", "0")
            ]
        ),
        Some(1.0)
    );
    let worker = [
        ("category", "_default_worker_category"),
        ("workerVersion", "0"),
    ];
    let mm = wait_for("the MiddleManager's count", T, || async {
        let m = scrape(&c.http, &c.mms[0].url()).await;
        (m.value("druid_worker_task_success_count_total", &worker) == Some(1.0)).then_some(m)
    })
    .await;
    let announced = [("operation", "announceStarted")];
    assert!(mm.observations("druid_zk_request_time", &announced) >= Some(1.0));
    assert_eq!(
        mm.value("druid_worker_taskslot_idle_count", &worker),
        Some(2.0)
    );
    // The Overlord's figures are its own.
    assert!(!mm.has_sample("druid_task_success_count_total"));
}
