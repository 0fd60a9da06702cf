//! The whole spec read from task JSON: Druid's own wikiticker task, defaults, and each
//! submit-time error with its path from the task root.

use serde_json::{json, Value};

use super::*;
use crate::input::{InputFormatSpec, InputSourceSpec};
use crate::timestamp::TimestampFormat;
use steward_model::{BatchIngestSpec, Granularity, IngestionMode, Interval, Task};

/// What the Overlord reads of the same task: it must agree with the full spec.
fn model_facts(task: &Value) -> BatchIngestSpec {
    let task = Task::from_json(task.clone()).unwrap();
    task.kind().batch_ingest().unwrap().clone()
}

const WIKITICKER_TASK: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/druid/data/wikiticker_index_task.json"
));

fn data_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/druid/data").to_string()
}

/// Druid's integration-test task with its placeholders filled in.
fn wikiticker() -> Value {
    let text = WIKITICKER_TASK
        .replace("%%DATASOURCE%%", "wikipedia")
        .replace("/shared/wikiticker-it", &data_dir());
    serde_json::from_str(&text).unwrap()
}

fn iv(s: &str) -> Interval {
    s.parse().unwrap()
}

/// A small valid spec of `type` to break one field at a time.
fn minimal(task_type: &str) -> Value {
    json!({
        "type": task_type,
        "spec": {
            "dataSchema": {"dataSource": "ds", "granularitySpec": {"intervals": ["2015-09-12/2015-09-13"]}},
            "ioConfig": {"inputSource": {"type": "inline", "data": "{}"}, "inputFormat": {"type": "json"}}
        }
    })
}

/// Sets the value at a dotted path, creating objects on the way.
fn with(mut task: Value, path: &str, value: Value) -> Value {
    let mut node = &mut task;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        node = node
            .as_object_mut()
            .unwrap()
            .entry(part.to_string())
            .or_insert_with(|| json!({}));
    }
    node.as_object_mut()
        .unwrap()
        .insert(parts[parts.len() - 1].to_string(), value);
    task
}

#[test]
fn druids_wikiticker_task_reads_with_its_defaults() {
    let spec = IngestionSpec::from_task_json(&wikiticker()).unwrap();
    assert_eq!(spec.task_type, IngestionTaskType::Index);
    let schema = &spec.data_schema;
    assert_eq!(schema.data_source, "wikipedia");
    assert_eq!(schema.timestamp_spec.column, "time");
    assert_eq!(schema.timestamp_spec.format, TimestampFormat::Auto);
    let names: Vec<&str> = schema.metrics_spec.iter().map(|m| m.name()).collect();
    assert_eq!(names, ["count", "added", "deleted", "delta"]);
    let granularity = &schema.granularity_spec;
    assert_eq!(
        granularity.segment_granularity,
        Some(Granularity::from_name("DAY").unwrap())
    );
    assert_eq!(granularity.query_granularity, Granularity::None);
    assert!(granularity.rollup);
    assert_eq!(granularity.intervals, vec![iv("2015-09-12/2015-09-13")]);
    let InputSourceSpec::Local(local) = &spec.io_config.input_source else {
        panic!("local")
    };
    assert_eq!(
        local.filter.as_deref(),
        Some("wikiticker-2015-09-12-sampled.json.gz")
    );
    assert_eq!(
        spec.io_config.input_format,
        Some(InputFormatSpec::Json {
            flatten_spec: None,
            keep_null_columns: false
        })
    );
    assert!(!spec.io_config.append_to_existing && !spec.io_config.drop_existing);
    // `targetPartitionSize` is the deprecated name of maxRowsPerSegment.
    assert_eq!(
        spec.tuning_config.partitions_spec,
        PartitionsSpec::Dynamic {
            max_rows_per_segment: 10000,
            max_total_rows: 20_000_000
        }
    );
    let facts = model_facts(&wikiticker());
    assert_eq!(facts.mode, IngestionMode::ReplaceLegacy);
    assert_eq!(facts.lock_intervals(), vec![iv("2015-09-12/2015-09-13")]);
    assert_eq!(
        facts.segment_granularity,
        spec.data_schema.granularity_spec.segment_granularity
    );
}

#[test]
fn a_minimal_spec_gets_every_default() {
    let task = json!({"type": "index", "spec": {
        "dataSchema": {"dataSource": "ds"},
        "ioConfig": {"inputSource": {"type": "inline", "data": "{}"}, "inputFormat": {"type": "json"}}
    }});
    let spec = IngestionSpec::from_task_json(&task).unwrap();
    assert_eq!(
        spec.data_schema.timestamp_spec,
        crate::timestamp::TimestampSpec::default()
    );
    assert_eq!(
        spec.data_schema.granularity_spec,
        GranularitySpec::default()
    );
    assert!(spec.data_schema.metrics_spec.is_empty());
    assert_eq!(
        spec.tuning_config,
        TuningConfig::from_json(None, IngestionTaskType::Index).unwrap()
    );
    assert!(model_facts(&task).lock_intervals().is_empty());
}

#[test]
fn parallel_perfect_rollup_facts() {
    let task = with(
        with(
            with(
                minimal("index_parallel"),
                "spec.tuningConfig",
                json!({
                    "type": "index_parallel", "forceGuaranteedRollup": true, "maxNumConcurrentSubTasks": 4,
                    "partitionsSpec": {"type": "hashed", "numShards": 2, "partitionDimensions": ["page"]}
                }),
            ),
            "spec.ioConfig.type",
            json!("index_parallel"),
        ),
        "spec.dataSchema.granularitySpec",
        json!({"segmentGranularity": "HOUR", "intervals": ["2015-09-12T01:30Z/2015-09-12T02:10Z"]}),
    );
    let spec = IngestionSpec::from_task_json(&task).unwrap();
    assert_eq!(spec.tuning_config.max_num_concurrent_sub_tasks, 4);
    assert!(spec.tuning_config.force_guaranteed_rollup);
    assert_eq!(
        model_facts(&task).lock_intervals(),
        vec![iv("2015-09-12T01:00Z/2015-09-12T03:00Z")]
    );
    // A sub-task's spec has the same shape.
    let sub = with(task, "type", json!("single_phase_sub_task"));
    assert_eq!(
        IngestionSpec::from_task_json(&sub).unwrap().task_type,
        IngestionTaskType::SinglePhaseSubTask
    );
}

#[test]
fn parallel_mode_needs_sub_tasks_and_a_splittable_input_and_refuses_what_it_cannot_do() {
    let local = json!({"type": "local", "baseDir": data_dir(), "filter": "*.json.gz"});
    let parallel = with(
        with(
            with(
                minimal("index_parallel"),
                "spec.ioConfig.type",
                json!("index_parallel"),
            ),
            "spec.ioConfig.inputSource",
            local,
        ),
        "spec.tuningConfig.maxNumConcurrentSubTasks",
        json!(2),
    );
    assert!(IngestionSpec::from_task_json(&parallel)
        .unwrap()
        .is_parallel_mode());
    let one = with(
        parallel.clone(),
        "spec.tuningConfig.maxNumConcurrentSubTasks",
        json!(1),
    );
    assert!(!IngestionSpec::from_task_json(&one)
        .unwrap()
        .is_parallel_mode());
    let inline = with(
        parallel.clone(),
        "spec.ioConfig.inputSource",
        json!({"type": "inline", "data": "{}"}),
    );
    assert!(!IngestionSpec::from_task_json(&inline)
        .unwrap()
        .is_parallel_mode());
    let sub = with(parallel.clone(), "type", json!("single_phase_sub_task"));
    assert!(!IngestionSpec::from_task_json(&sub)
        .unwrap()
        .is_parallel_mode());

    let hashed = with(
        with(
            parallel.clone(),
            "spec.tuningConfig.forceGuaranteedRollup",
            json!(true),
        ),
        "spec.tuningConfig.partitionsSpec",
        json!({"type": "hashed", "numShards": 2}),
    );
    // Two phases, with numShards buckets per chunk.
    assert!(IngestionSpec::from_task_json(&hashed)
        .unwrap()
        .is_parallel_mode());
    let counted = with(
        hashed.clone(),
        "spec.tuningConfig.partitionsSpec",
        json!({"type": "hashed", "targetRowsPerSegment": 1000}),
    );
    let err = IngestionSpec::from_task_json(&counted).unwrap_err();
    assert_eq!(err.path, "spec.tuningConfig.partitionsSpec.numShards");
    assert!(err.message.contains("needs numShards"), "{err}");
    // In one peon, the index task counts the rows of each chunk itself.
    assert!(IngestionSpec::from_task_json(&with(
        counted,
        "spec.tuningConfig.maxNumConcurrentSubTasks",
        json!(1)
    ))
    .is_ok());
    // The first phase's sub-task reads a split with the same spec.
    assert!(
        IngestionSpec::from_task_json(&with(hashed, "type", json!("partial_index_generate")))
            .is_ok()
    );
    let replace = with(parallel, "spec.ioConfig.dropExisting", json!(true));
    let err = IngestionSpec::from_task_json(&replace).unwrap_err();
    assert_eq!(err.path, "spec.ioConfig.dropExisting");
    assert!(
        err.message.contains("not supported by Steward yet"),
        "{err}"
    );
}

#[test]
fn append_and_replace_modes() {
    let append = with(
        minimal("index"),
        "spec.ioConfig.appendToExisting",
        json!(true),
    );
    let spec = IngestionSpec::from_task_json(&append).unwrap();
    assert!(spec.io_config.append_to_existing);
    assert_eq!(model_facts(&append).mode, IngestionMode::Append);
    let replace = with(minimal("index"), "spec.ioConfig.dropExisting", json!(true));
    let spec = IngestionSpec::from_task_json(&replace).unwrap();
    assert!(spec.io_config.drop_existing);
    assert_eq!(model_facts(&replace).mode, IngestionMode::Replace);
}

#[test]
fn the_operator_decides_which_protocols_http_sources_use() {
    let task = with(
        minimal("index"),
        "spec.ioConfig.inputSource",
        json!({"type": "http", "uris": ["http://example.com/a.json"]}),
    );
    assert!(IngestionSpec::from_task_json(&task).is_ok());
    let https_only = InputSourceConfig {
        allowed_protocols: vec!["https".into()],
        allowed_headers: vec![],
    };
    let err = IngestionSpec::from_task_json_with(&task, &https_only).unwrap_err();
    assert_eq!(err.path, "spec.ioConfig.inputSource.uris[0]");
    assert_eq!(err.message, "Only [\"https\"] protocols are allowed");
}

// Each mistake, the path Steward names and the words of Druid's message.
#[test]
fn submit_time_errors_name_their_path_from_the_task_root() {
    let base = minimal("index");
    let cases: Vec<(Value, &str, &str)> = vec![
        (with(base.clone(), "dataSource", json!("other")), "spec.dataSchema.dataSource",
         "dataSource [ds] does not match the task's dataSource [other]"),
        (with(base.clone(), "spec.dataSchema.dataSource", json!("a/b")), "spec.dataSchema.dataSource",
         "cannot contain '/'"),
        (with(base.clone(), "spec.dataSchema.dataSource", json!("")), "spec.dataSchema.dataSource",
         "must not be null or empty"),
        (with(base.clone(), "spec.dataSchema.granularitySpec.segmentGranularity", json!("fortnight")),
         "spec.dataSchema.granularitySpec.segmentGranularity", "Unknown granularity [fortnight]"),
        (with(base.clone(), "spec.dataSchema.granularitySpec.intervals", json!(["2015-09-13/2015-09-12"])),
         "spec.dataSchema.granularitySpec.intervals[0]", "the end is before the start"),
        (with(base.clone(), "spec.dataSchema.timestampSpec", json!({"format": "yyyy-MM-dd qq"})),
         "spec.dataSchema.timestampSpec.format", "Unable to parse timestamps with format [yyyy-MM-dd qq]"),
        (with(base.clone(), "spec.dataSchema.metricsSpec", json!({"type": "count"})),
         "spec.dataSchema.metricsSpec", "invalid type"),
        (with(base.clone(), "spec.dataSchema.metricsSpec",
              json!([{"type": "count", "name": "count"}, {"type": "longSum", "name": "count", "fieldName": "x"}])),
         "spec.dataSchema", "Cannot specify a column more than once: [count] seen in metricsSpec list (2 occurrences)"),
        (with(base.clone(), "spec.dataSchema.metricsSpec", json!([{"type": "count", "name": "__time"}])),
         "spec.dataSchema",
         "[__time] seen in metricsSpec list, primary timestamp (__time cannot appear elsewhere except as long-typed dimension)"),
        (with(base.clone(), "spec.dataSchema.metricsSpec", json!([{"type": "count"}])),
         "spec.dataSchema.metricsSpec[0].name", "Must have a valid, non-null aggregator name"),
        (with(base.clone(), "spec.dataSchema.parser", json!({"type": "string"})),
         "spec.dataSchema.parser", "legacy [parser] is not supported"),
        (with(base.clone(), "spec.ioConfig.inputSource", json!({"type": "local", "filter": "*"})),
         "spec.ioConfig.inputSource.baseDir", "At least one of baseDir or files should be specified"),
        (with(base.clone(), "spec.ioConfig.inputSource", json!({"type": "hdfs", "paths": "/x"})),
         "spec.ioConfig.inputSource.type", "Input source type [hdfs] is not supported yet"),
        (with(base.clone(), "spec.ioConfig.inputSource", Value::Null),
         "spec.ioConfig.inputSource", "Missing [inputSource]"),
        (with(base.clone(), "spec.ioConfig.inputFormat", Value::Null),
         "spec.ioConfig.inputFormat", "At least one of [parser] or [inputFormat] must be present"),
        (with(base.clone(), "spec.ioConfig.inputFormat", json!({"type": "json", "flattenSpec": {"fields": [{"type": "jq", "name": "a", "expr": ".a"}]}})),
         "spec.ioConfig.inputFormat.flattenSpec.fields[0].type", "[jq] are not supported yet"),
        (with(base.clone(), "spec.ioConfig.type", json!("hadoop")),
         "spec.ioConfig.type", "Could not resolve type id 'hadoop' as a subtype of `IndexIOConfig`"),
        (with(minimal("index_parallel"), "spec.ioConfig.type", json!("index")),
         "spec.ioConfig.type", "Could not resolve type id 'index' as a subtype of `ParallelIndexIOConfig`"),
        (with(base.clone(), "spec.ioConfig.firehose", json!({"type": "local"})),
         "spec.ioConfig.firehose", "Firehoses are not supported"),
        (with(base.clone(), "spec.ioConfig.appendToExisting", json!("yes")),
         "spec.ioConfig.appendToExisting", "invalid type"),
        (with(with(base.clone(), "spec.ioConfig.appendToExisting", json!(true)), "spec.ioConfig.dropExisting", json!(true)),
         "spec.ioConfig.dropExisting", "Cannot simultaneously replace and append to existing segments"),
        (with(with(base.clone(), "spec.ioConfig.dropExisting", json!(true)), "spec.dataSchema.granularitySpec.intervals", Value::Null),
         "spec.dataSchema.granularitySpec.intervals", "GranularitySpec's intervals cannot be empty for replace."),
        (with(with(base.clone(), "spec.ioConfig.appendToExisting", json!(true)), "spec.tuningConfig.forceGuaranteedRollup", json!(true)),
         "spec.tuningConfig.forceGuaranteedRollup", "Perfect rollup cannot be guaranteed when appending to existing dataSources"),
        (with(base.clone(), "spec.tuningConfig.partitionsSpec", json!({"type": "dynamic", "maxRowsPerSegment": 0})),
         "spec.tuningConfig.partitionsSpec.maxRowsPerSegment", "maxRowsPerSegment must be greater than 0"),
        (with(with(base.clone(), "spec.tuningConfig.forceGuaranteedRollup", json!(true)), "spec.tuningConfig.partitionsSpec", json!({"type": "dynamic"})),
         "spec.tuningConfig.partitionsSpec", "DynamicPartitionsSpec cannot be used for perfect rollup"),
        (with(base.clone(), "spec.tuningConfig.partitionsSpec", json!({"type": "hashed", "numShards": 2})),
         "spec.tuningConfig.partitionsSpec", "DynamicPartitionsSpec must be used for best-effort rollup"),
        (with(base.clone(), "spec.tuningConfig.maxParseExceptions", json!(1.5)),
         "spec.tuningConfig.maxParseExceptions", "invalid type"),
        (with(base.clone(), "spec", Value::Null), "spec", "Missing [spec]"),
        (with(base.clone(), "spec.dataSchema", Value::Null), "spec.dataSchema", "Missing [dataSchema]"),
        (with(base.clone(), "spec", json!([])), "spec", "Expected an ingestion spec as a JSON object"),
        (with(base.clone(), "type", json!("kill")), "type", "Task type [kill] has no ingestion spec"),
    ];
    for (task, path, message) in cases {
        let err = IngestionSpec::from_task_json(&task).unwrap_err();
        assert_eq!(err.path, path, "{task}");
        assert!(
            err.message.contains(message),
            "{task}\n  got: {}",
            err.message
        );
    }
}
