//! A small `index` task of datasource `wiki` on inline rows of one day, for the suites that
//! need real segments published without reading files, and one such task caught running.

use serde_json::{json, Value};

use super::input_server::InputServer;
use super::{wait_for, Api};

/// How long the running ingestion may take to read its first rows.
const T: std::time::Duration = std::time::Duration::from_secs(120);

/// An `index` task of `wiki` over `2024-01-01` reading `input_source`, rolled up by minute.
pub fn wiki_task(input_source: Value, io_extra: Value, tuning: Value) -> Value {
    let mut io = json!({"type": "index", "inputSource": input_source,
                        "inputFormat": {"type": "json"}});
    for (k, v) in io_extra.as_object().unwrap() {
        io[k] = v.clone();
    }
    let mut tuning_config = json!({"type": "index"});
    for (k, v) in tuning.as_object().unwrap() {
        tuning_config[k] = v.clone();
    }
    json!({"type": "index", "spec": {
        "dataSchema": {
            "dataSource": "wiki",
            "timestampSpec": {"column": "ts", "format": "iso"},
            "dimensionsSpec": {"dimensions": ["page"]},
            "metricsSpec": [{"type": "count", "name": "count"},
                            {"type": "longSum", "name": "added", "fieldName": "added"}],
            "granularitySpec": {"segmentGranularity": "DAY", "queryGranularity": "MINUTE",
                                "intervals": ["2024-01-01/2024-01-02"]}
        },
        "ioConfig": io,
        "tuningConfig": tuning_config
    }})
}

pub fn inline(rows: &[Value]) -> Value {
    let data: Vec<String> = rows.iter().map(Value::to_string).collect();
    json!({"type": "inline", "data": data.join("\n")})
}

pub fn edit(page: &str, minute: u32, added: i64) -> Value {
    json!({"ts": format!("2024-01-01T00:{minute:02}:00Z"), "page": page, "added": added})
}

pub fn minutes(n: u32) -> Vec<Value> {
    (0..n).map(|i| edit(&format!("p{i}"), i % 60, 1)).collect()
}

/// Starts an ingestion that has read 1,024 rows (two of the reader's batches of 512, so the
/// index has them all) and waits for 10 more, which the returned server sends once released;
/// returns once the task's live report shows the 1,024.
pub async fn ingestion_in_progress(qs: &Api) -> (String, InputServer) {
    let text = |rows: Vec<Value>| rows.iter().map(|r| format!("{r}\n")).collect();
    let server = InputServer::start_split(vec![(text(minutes(1024)), text(minutes(10)))]).await;
    let id = qs
        .submit_ok(wiki_task(
            json!({"type": "http", "uris": [server.uri(true, 0)]}),
            json!({}),
            json!({}),
        ))
        .await;
    wait_for("1,024 rows in the live report", T, || async {
        let r = qs.get(&format!("task/{id}/reports")).await;
        let report: Value = r.json().await.ok()?;
        let payload = &report["ingestionStatsAndErrors"]["payload"];
        (payload["ingestionState"] == "BUILD_SEGMENTS"
            && payload["rowStats"]["totals"]["buildSegments"]["processed"] == 1024)
            .then_some(())
    })
    .await;
    (id, server)
}
