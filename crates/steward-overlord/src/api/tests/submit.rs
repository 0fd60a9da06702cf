//! Refused submissions name the field they are about (`field`, a JSON path from the task's
//! root) next to Druid's message, in either of Druid's error shapes; a body that is not JSON
//! names none.

use super::segments::{grant_all, serve_secured, Api, PASSWORD};
use super::*;

/// An `index_parallel` task Steward accepts, with the value at dotted `path` replaced (removed
/// when `null`).
fn ingestion_task_with(path: &str, value: Value) -> String {
    let mut task = json!({
        "type": "index_parallel",
        "spec": {
            "dataSchema": {
                "dataSource": "wiki",
                "timestampSpec": {"column": "time"},
                "granularitySpec": {"intervals": ["2015-09-12/2015-09-13"]}
            },
            "ioConfig": {
                "type": "index_parallel",
                "inputSource": {"type": "inline", "data": "{}"},
                "inputFormat": {"type": "json"}
            }
        }
    });
    let (parent, last) = path.rsplit_once('.').unwrap();
    let node = parent
        .split('.')
        .fold(&mut task, |node, part| node.get_mut(part).unwrap());
    match value {
        Value::Null => drop(node.as_object_mut().unwrap().remove(last)),
        value => drop(node.as_object_mut().unwrap().insert(last.into(), value)),
    }
    task.to_string()
}

#[tokio::test]
async fn refused_submissions_name_the_field_they_are_about() {
    let fx = Fixture::new().await;
    let overlord = fx.start().await;
    let api = Api::new(&serve(overlord.clone()).await);
    let submit = "/druid/indexer/v1/task";
    let cases = [
        (
            ingestion_task_with(
                "spec.ioConfig.inputSource",
                json!({"type": "hdfs", "paths": "/x"}),
            ),
            "spec.ioConfig.inputSource.type",
            "Input source type [hdfs] is not supported yet",
        ),
        (
            ingestion_task_with(
                "spec.ioConfig.inputSource",
                json!({"type": "local", "filter": "*"}),
            ),
            "spec.ioConfig.inputSource.baseDir",
            "At least one of baseDir or files should be specified",
        ),
        (
            ingestion_task_with(
                "spec.dataSchema.granularitySpec.segmentGranularity",
                json!("fortnight"),
            ),
            "spec.dataSchema.granularitySpec.segmentGranularity",
            "Task field [spec.dataSchema.granularitySpec.segmentGranularity] is invalid",
        ),
        (
            ingestion_task_with("spec.dataSchema.dataSource", Value::Null),
            "spec.dataSchema.dataSource",
            "Task field [spec.dataSchema.dataSource] is required",
        ),
        (
            json!({"type": "noop", "id": "a/b"}).to_string(),
            "id",
            "Task ID [a/b] cannot contain '/'",
        ),
        (
            json!({"type": "noop", "context": {"priority": "high"}}).to_string(),
            "context.priority",
            "Task context [priority] must be an integer",
        ),
        (
            json!({"type": "nope"}).to_string(),
            "type",
            "Could not resolve type id 'nope'",
        ),
        // A compaction's own fields are checked in the spec it will run.
        (
            json!({"type": "compact", "dataSource": "wiki",
                "ioConfig": {"type": "compact", "inputSpec": {"type": "interval",
                    "interval": "2024-01-01/2024-01-02"}},
                "granularitySpec": {"queryGranularity": "fortnight"}})
            .to_string(),
            "granularitySpec.queryGranularity",
            "fortnight",
        ),
        (
            json!({"type": "compact", "dataSource": "wiki",
                "ioConfig": {"type": "compact", "inputSpec": {"type": "interval",
                    "interval": "2024-01-01/2024-01-02"}},
                "tuningConfig": {"type": "index_parallel", "maxRowsInMemory": "lots"}})
            .to_string(),
            "tuningConfig.maxRowsInMemory",
            "lots",
        ),
    ];
    for (body, field, message) in &cases {
        let (status, answer) = api.post(submit, body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["field"], *field, "{body}: {answer}");
        let got = answer["errorMessage"].as_str().or(answer["error"].as_str());
        assert!(got.unwrap().contains(*message), "{body}: {answer}");
    }
    // A rule the task breaks keeps Druid's exception shape.
    let (_, bad_id) = api.post(submit, &cases[4].0).await;
    assert_eq!(
        (&bad_id["error"], &bad_id["category"]),
        (&json!("druidException"), &json!("INVALID_INPUT"))
    );

    let (status, answer) = api.post(submit, "{\"type\": ").await;
    assert_eq!(status, 400);
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .starts_with("Malformed JSON in the task payload"));
    assert!(answer.get("field").is_none(), "{answer}");
    overlord.stop().await;
}

// Re-indexing copies a datasource's rows: with security on, the submitter must be allowed to
// read the datasource the `druid` input source reads, not only to write the one it writes.
#[tokio::test]
async fn reindexing_needs_read_on_the_datasource_it_reads() {
    let fx = Fixture::new().await;
    let url = serve_secured(&fx).await;
    let admin = Api::new(&url).as_user("admin", "admin-pw");
    grant_all(&admin, "copier", &[("copy", "WRITE")]).await;
    grant_all(&admin, "reader", &[("copy", "WRITE"), ("wiki", "READ")]).await;
    let reindex = json!({"type": "index", "spec": {
        "dataSchema": {"dataSource": "copy",
            "timestampSpec": {"column": "__time", "format": "millis"},
            "granularitySpec": {"intervals": ["2015-09-12/2015-09-13"]}},
        "ioConfig": {"type": "index", "inputSource": {"type": "druid", "dataSource": "wiki",
            "interval": "2015-09-12/2015-09-13"}}}})
    .to_string();
    let (status, answer) = Api::new(&url)
        .as_user("copier", PASSWORD)
        .post("/druid/indexer/v1/task", &reindex)
        .await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = Api::new(&url)
        .as_user("reader", PASSWORD)
        .post("/druid/indexer/v1/task", &reindex)
        .await;
    assert_eq!(status, 200, "{answer}");
}
