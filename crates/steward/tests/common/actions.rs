//! Playing a peon through the task action API: long `noop` tasks of datasource `wiki` stand in
//! for ingestion tasks, and the test calls `POST /druid/indexer/v1/action` with their identity.

use serde_json::{json, Value};

use super::Api;

pub const DAY: &str = "2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z";

/// A noop of datasource `wiki` that runs until it is shut down, with a priority.
pub fn long_noop(id: &str, priority: i64) -> Value {
    json!({"type": "noop", "id": id, "dataSource": "wiki", "runTime": 600_000,
           "context": {"priority": priority}})
}

/// `POST /druid/indexer/v1/action` with the identity of task `task`.
pub async fn action(api: &Api, task: &str, action: Value) -> reqwest::Response {
    api.post(
        "action",
        json!({"task": {"type": "noop", "id": task}, "action": action}),
    )
    .await
}

/// An action that must succeed; its `result`.
pub async fn action_ok(api: &Api, task: &str, act: Value) -> Value {
    let r = action(api, task, act.clone()).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{act}: {body}");
    body["result"].clone()
}

/// A segment of `wiki` (its files are nowhere: only its metadata is published).
pub fn segment(interval: &str, version: &str, partition: u32) -> Value {
    json!({"dataSource": "wiki", "interval": interval, "version": version,
           "loadSpec": {"type": "local", "path": format!("/nowhere/{partition}/index/")},
           "dimensions": "page", "metrics": "count",
           "shardSpec": {"type": "numbered", "partitionNum": partition, "partitions": 1},
           "binaryVersion": 9, "size": 100})
}

/// `POST activeLocks` for `wiki` at priority 0 and above.
pub async fn active_locks(api: &Api) -> Vec<Value> {
    let r = api
        .post(
            "activeLocks",
            json!([{"datasource": "wiki", "priority": 0}]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["datasourceToLocks"]["wiki"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}
