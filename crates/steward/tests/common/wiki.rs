//! A small `index` task of datasource `wiki` on inline rows of one day, for the suites that
//! need real segments published without reading files.

use serde_json::{json, Value};

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
