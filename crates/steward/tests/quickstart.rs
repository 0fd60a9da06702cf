//! End-to-end: a real `steward quickstart` process, real peon processes, Druid's HTTP API.

mod common;

use std::time::Duration;

use common::{alive, noop, peon_pids, wait_for, Quickstart};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(30);

#[tokio::test]
async fn noop_runs_to_success_and_its_log_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let id = qs
        .submit_ok(json!({"type": "noop", "runTime": 50, "myOwnField": [1, 2]}))
        .await;
    assert!(id.starts_with("noop_"), "{id}");
    // Visible the moment the submit returned.
    let first = qs.status(&id).await;
    assert_eq!(first["statusCode"], "RUNNING");
    let done = qs.wait_complete(&id, T).await;
    assert_eq!(done["statusCode"], "SUCCESS");
    assert_eq!(done["status"], "SUCCESS");
    assert_eq!(done["runnerStatusCode"], "NONE");
    assert_eq!(done["dataSource"], "none");
    assert!(done["duration"].as_i64().unwrap() >= 50);

    let payload: Value = qs.get(&format!("task/{id}")).await.json().await.unwrap();
    assert_eq!(payload["payload"]["myOwnField"], json!([1, 2]));
    assert_eq!(payload["payload"]["runTime"], 50);
    assert_eq!(payload["payload"]["context"]["forceTimeChunkLock"], true);

    let log = qs.get(&format!("task/{id}/log")).await;
    assert_eq!(log.status(), 200);
    let text = log.text().await.unwrap();
    assert!(text.contains(&id), "log should mention the task: {text}");
    let len = text.len() as i64;
    let tail = qs
        .get(&format!("task/{id}/log?offset=-10"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(tail, text[(len - 10) as usize..]);
    let from5 = qs
        .get(&format!("task/{id}/log?offset=5"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(from5, text[5..]);
    let report = qs.get(&format!("task/{id}/reports")).await;
    assert_eq!(report.status(), 200);

    let complete: Vec<Value> = qs.get("completeTasks").await.json().await.unwrap();
    assert!(complete.iter().any(|t| t["id"] == id.as_str()));
    let statuses: Value = qs
        .post("taskStatus", json!([id, "nope"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(statuses[&id]["status"], "SUCCESS");
    assert!(statuses.get("nope").is_none());
}

#[tokio::test]
async fn readiness_results_follow_druid() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let failed = qs
        .submit_ok(json!({"type": "noop", "isReadyResult": "exception"}))
        .await;
    let s = qs.wait_complete(&failed, T).await;
    assert_eq!(s["statusCode"], "FAILED");
    assert!(
        s["errorMsg"]
            .as_str()
            .unwrap()
            .contains("while waiting for task to be ready"),
        "{s}"
    );

    let waiting = qs
        .submit_ok(json!({"type": "noop", "isReadyResult": "No"}))
        .await;
    let s = qs.status(&waiting).await;
    assert_eq!(s["statusCode"], "RUNNING");
    assert_eq!(s["runnerStatusCode"], "WAITING");
    let listed: Vec<Value> = qs.get("waitingTasks").await.json().await.unwrap();
    assert!(listed.iter().any(|t| t["id"] == waiting.as_str()));
    // A waiting task can be shut down.
    assert_eq!(
        qs.post(&format!("task/{waiting}/shutdown"), json!({}))
            .await
            .status(),
        200
    );
    let s = qs.wait_complete(&waiting, T).await;
    assert_eq!(s["errorMsg"], "Shutdown request from user");
}

#[tokio::test]
async fn shutdown_of_a_long_task_fails_it_and_stops_its_peon() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "").await;
    let id = qs.submit_ok(noop("long-one", 600_000)).await;
    // The worker announces the task running, then its peon's location (Druid's order).
    wait_for("the running task's location", T, || async {
        let s = qs.status(&id).await;
        (s["runnerStatusCode"] == "RUNNING" && s["location"]["host"] != Value::Null).then_some(())
    })
    .await;
    let pids = wait_for("the peon process", T, || async {
        let p = peon_pids(&id);
        (!p.is_empty()).then_some(p)
    })
    .await;
    let r = qs.post(&format!("task/{id}/shutdown"), json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"task": id}));
    let s = qs.wait_complete(&id, T).await;
    assert_eq!(s["statusCode"], "FAILED");
    assert_eq!(s["errorMsg"], "Shutdown request from user");
    wait_for("the peon to exit", T, || async {
        pids.iter().all(|p| !alive(*p)).then_some(())
    })
    .await;
    // Its status announcement gets cleaned up: the worker ends with no running task.
    wait_for("the worker to be idle", T, || async {
        let w: Vec<Value> = qs.get("workers").await.json().await.unwrap();
        (w[0]["currCapacityUsed"] == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn restart_keeps_every_task_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let mut qs = Quickstart::start(dir.path(), "").await;
    let ok = qs.submit_ok(noop("will-succeed", 10)).await;
    let bad = qs
        .submit_ok(json!({"type": "noop", "id": "will-fail", "isReadyResult": "EXCEPTION"}))
        .await;
    let waiting = qs
        .submit_ok(json!({"type": "noop", "id": "waits", "isReadyResult": "NO"}))
        .await;
    qs.wait_complete(&ok, T).await;
    qs.wait_complete(&bad, T).await;
    let before: Vec<Value> = qs.all_tasks().await;
    qs.stop_with(nix::sys::signal::Signal::SIGTERM);
    qs.spawn().await;
    let after: Vec<Value> = qs.all_tasks().await;
    let summary = |v: &Vec<Value>| {
        let mut s: Vec<(String, String)> = v
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap().to_string(),
                    t["statusCode"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        s.sort();
        s
    };
    assert_eq!(summary(&before), summary(&after));
    assert_eq!(qs.status(&waiting).await["runnerStatusCode"], "WAITING");
}

#[tokio::test]
async fn a_peon_outlives_a_killed_quickstart_and_its_end_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut qs = Quickstart::start(dir.path(), "").await;
    let id = qs.submit_ok(noop("survivor", 3_000)).await;
    qs.wait_runner_state(&id, "RUNNING", T).await;
    let pids = wait_for("the peon process", T, || async {
        let p = peon_pids(&id);
        (!p.is_empty()).then_some(p)
    })
    .await;
    qs.stop_with(nix::sys::signal::Signal::SIGKILL);
    assert!(
        pids.iter().all(|p| alive(*p)),
        "the peon must survive its MiddleManager"
    );
    qs.spawn().await;
    let s = qs.wait_complete(&id, T).await;
    assert_eq!(s["statusCode"], "SUCCESS", "{s}");
}

#[tokio::test]
async fn bad_input_gets_a_4xx_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "druid.indexer.queue.maxTaskPayloadSize=2048").await;
    let existing = qs.submit_ok(noop("existing", 10)).await;
    qs.wait_complete(&existing, T).await;
    let before = qs.all_tasks().await;

    let raw = |body: &'static str| {
        let http = qs.http.clone();
        let url = qs.v1("task");
        async move {
            http.post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let cases: Vec<(reqwest::Response, u16, &str)> = vec![
        (raw("{not json").await, 400, "Malformed JSON"),
        (raw("[1,2]").await, 400, "Task"),
        (
            qs.submit(json!({"type": "no_such_type"})).await,
            400,
            "no_such_type",
        ),
        (qs.submit(json!({"id": "x"})).await, 400, "type"),
        (qs.submit(noop("existing", 10)).await, 400, "already exists"),
        (
            qs.submit(noop("bad/id", 10)).await,
            400,
            "cannot contain '/'",
        ),
        (
            qs.submit(noop(".hidden", 10)).await,
            400,
            "cannot start with '.'",
        ),
        (
            qs.submit(json!({"type": "noop", "runTime": "soon"})).await,
            400,
            "runTime",
        ),
        (
            qs.submit(json!({"type": "noop", "pad": "x".repeat(4096)}))
                .await,
            400,
            "exceeds the limit",
        ),
        (qs.get("tasks?state=sideways").await, 400, "Invalid state"),
        (qs.get("tasks?max=-1").await, 400, "max"),
        (
            qs.get("tasks?createdTimeInterval=yesterday").await,
            400,
            "createdTimeInterval",
        ),
        (qs.get("completeTasks?n=lots").await, 400, "n"),
        (qs.get("task/existing/log?offset=abc").await, 400, "offset"),
        (
            qs.get("task/nope/status").await,
            404,
            "Cannot find any task with id: [nope]",
        ),
        (qs.get("task/nope").await, 404, "Cannot find any task"),
        (qs.get("task/nope/log").await, 404, "Cannot find any task"),
        (
            qs.get("task/nope/reports").await,
            404,
            "Cannot find any task",
        ),
        (
            qs.post("task/nope/shutdown", json!({})).await,
            404,
            "Cannot find any task",
        ),
        (
            qs.post("datasources/nothing/shutdownAllTasks", json!({}))
                .await,
            404,
            "",
        ),
        (
            qs.post("taskStatus", json!([])).await,
            400,
            "No Task IDs provided.",
        ),
    ];
    for (resp, code, needle) in cases {
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, code, "body: {body}");
        assert!(body.contains(needle), "expected {needle:?} in {body}");
    }
    assert_eq!(
        qs.all_tasks().await,
        before,
        "bad input must not change stored tasks"
    );
    // Still serving.
    let id = qs.submit_ok(noop("after-bad-input", 10)).await;
    assert_eq!(qs.wait_complete(&id, T).await["statusCode"], "SUCCESS");
}

#[tokio::test]
async fn listings_filters_and_cluster_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let qs = Quickstart::start(dir.path(), "druid.worker.capacity=2").await;
    let a = qs
        .submit_ok(json!({"type": "noop", "id": "a1", "dataSource": "alpha", "runTime": 10}))
        .await;
    let b = qs
        .submit_ok(json!({"type": "noop", "id": "b1", "dataSource": "beta", "runTime": 600000}))
        .await;
    qs.wait_complete(&a, T).await;
    qs.wait_runner_state(&b, "RUNNING", T).await;

    let running: Vec<Value> = qs.get("runningTasks").await.json().await.unwrap();
    assert_eq!(
        running.iter().map(|t| t["id"].clone()).collect::<Vec<_>>(),
        vec![json!("b1")]
    );
    let alpha: Vec<Value> = qs.get("tasks?datasource=alpha").await.json().await.unwrap();
    assert_eq!(alpha.len(), 1);
    assert_eq!(alpha[0]["id"], "a1");
    let complete: Vec<Value> = qs
        .get("tasks?state=COMPLETE&max=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(complete.len(), 1);
    let none: Vec<Value> = qs
        .get("tasks?state=complete&createdTimeInterval=2000-01-01_2000-01-02")
        .await
        .json()
        .await
        .unwrap();
    assert!(none.is_empty());
    let typed: Vec<Value> = qs.get("tasks?type=noop").await.json().await.unwrap();
    assert_eq!(typed.len(), 2);

    let workers: Vec<Value> = qs.get("workers").await.json().await.unwrap();
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0]["worker"]["capacity"], 2);
    assert_eq!(workers[0]["currCapacityUsed"], 1);
    assert_eq!(workers[0]["runningTasks"], json!(["b1"]));
    let cap: Value = qs.get("totalWorkerCapacity").await.json().await.unwrap();
    assert_eq!(cap["currentClusterCapacity"], 2);
    assert_eq!(cap["usedClusterCapacity"], 1);
    assert_eq!(qs.get("leader").await.text().await.unwrap(), qs.url);
    assert_eq!(
        qs.get("isLeader").await.json::<Value>().await.unwrap(),
        json!({"leader": true})
    );
    let status: Value = qs
        .http
        .get(format!("{}/status", qs.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(status["memory"]["rssBytes"].as_u64().unwrap() > 0);

    // Worker API: shows the running task, streams its log, can be disabled and enabled.
    let mm = format!("http://127.0.0.1:{}/druid/worker/v1", qs.worker_port);
    let tasks: Value = qs
        .http
        .get(format!("{mm}/tasks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tasks, json!(["b1"]));
    let log = qs
        .http
        .get(format!("{mm}/task/b1/log?offset=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(log.status(), 200);
    let host = format!("127.0.0.1:{}", qs.worker_port);
    let r: Value = qs
        .http
        .post(format!("{mm}/disable"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r, json!({ &host: "disabled" }));
    let en: Value = qs
        .http
        .get(format!("{mm}/enabled"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(en, json!({ &host: false }));
    // A disabled worker gets no new task.
    let c = qs
        .submit_ok(json!({"type": "noop", "id": "c1", "dataSource": "beta", "runTime": 10}))
        .await;
    assert_eq!(qs.status(&c).await["runnerStatusCode"], "PENDING");
    // Enabled again through the Overlord, which relays to the MiddleManager.
    let r: Value = qs
        .post(&format!("worker/{host}/enable"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r, json!({ &host: "enabled" }));
    assert_eq!(
        qs.post("worker/nobody:1/enable", json!({})).await.status(),
        404
    );
    assert_eq!(qs.wait_complete(&c, T).await["statusCode"], "SUCCESS");

    let r = qs
        .post("datasources/beta/shutdownAllTasks", json!({}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"dataSource": "beta"})
    );
    assert_eq!(qs.wait_complete(&b, T).await["statusCode"], "FAILED");
}
