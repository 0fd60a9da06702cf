//! Druid's compaction (`CompactionTask`) as a re-indexing: the `index` spec that re-ingests a
//! datasource's segments in an interval through the `druid` input source, with the schema the
//! segments have unless the compaction task gives one.
//!
//! What Druid's `CompactionTask.createDataSchemas` derives, and Steward the same way:
//! - dimensions: those of the segments, newest segment first, each once, typed by its column;
//! - metrics: the combining form of the aggregators in the segments' `metadata.drd` (a count
//!   becomes a `longSum` of its column), which must agree where names repeat;
//! - query granularity and rollup: the segments', when they all agree (else none and no
//!   rollup);
//! - segment granularity: the one given, else the segments' own intervals are kept (an
//!   `arbitrary` granularity spec over them, overlapping ones merged).
//!
//! The result is checked as any `index` spec is; the compaction task's `tuningConfig` (Druid's
//! is an `index_parallel` one) is read as an `index` task's.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};
use steward_model::Interval;
use steward_segment::column::ColumnData;
use steward_segment::QueryableIndex;

use crate::aggregate::AggregatorFactory;

/// What compaction needs of one input segment.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSegment {
    pub id: String,
    pub interval: Interval,
    pub version: String,
    /// Dimensions in the segment's order, with Druid's dimension type.
    pub dimensions: Vec<(String, &'static str)>,
    /// `metadata.drd`'s `aggregators`, `queryGranularity` and `rollup`, when it has them.
    pub aggregators: Option<Vec<Value>>,
    pub query_granularity: Option<Value>,
    pub rollup: Option<bool>,
}

impl InputSegment {
    /// Reads what compaction needs from the segment whose files are at `path`.
    pub fn read(
        path: &std::path::Path,
        id: String,
        interval: Interval,
        version: String,
    ) -> Result<InputSegment, String> {
        let index =
            QueryableIndex::open(path).map_err(|e| format!("Cannot read segment [{id}]: {e}"))?;
        Ok(InputSegment::of(&index, id, interval, version))
    }

    /// Reads what compaction needs from an opened segment.
    pub fn of(index: &QueryableIndex, id: String, interval: Interval, version: String) -> Self {
        let dimensions = index
            .dimensions
            .iter()
            .map(|name| {
                let kind = match index.column(name).map(|c| (&c.data, c.type_name())) {
                    Some((ColumnData::Numeric(_), t)) if t == "LONG" => "long",
                    Some((ColumnData::Numeric(_), t)) if t == "FLOAT" => "float",
                    Some((ColumnData::Numeric(_), _)) => "double",
                    _ => "string",
                };
                (name.clone(), kind)
            })
            .collect();
        let metadata = index.metadata.as_ref();
        let field = |name: &str| metadata.and_then(|m| m.get(name)).filter(|v| !v.is_null());
        InputSegment {
            id,
            interval,
            version,
            dimensions,
            aggregators: field("aggregators").and_then(|a| a.as_array().cloned()),
            query_granularity: field("queryGranularity").cloned(),
            rollup: field("rollup").and_then(Value::as_bool),
        }
    }
}

/// The `index` task that compacts `inputs` as the compaction task `compact` (its payload)
/// says, under the compaction task's own id and context.
pub fn index_task(
    compact: &Map<String, Value>,
    id: &str,
    data_source: &str,
    interval: Interval,
    inputs: &[InputSegment],
) -> Result<Value, String> {
    if let Some(outside) = inputs.iter().find(|s| !interval.contains(&s.interval)) {
        return Err(format!(
            "Segment [{}] lies partly outside the compaction interval [{interval}]: compact an interval that covers whole segments",
            outside.id
        ));
    }
    let given = |name: &str| compact.get(name).filter(|v| !v.is_null());
    let granularity = given("granularitySpec");
    let from_granularity = |name: &str| {
        granularity
            .and_then(|g| g.get(name))
            .filter(|v| !v.is_null())
    };

    let dimensions_spec = match given("dimensionsSpec") {
        Some(spec) => spec.clone(),
        None => json!({"dimensions": dimensions_of(inputs)}),
    };
    let metrics_spec = match given("metricsSpec") {
        Some(spec) => spec.clone(),
        None => Value::Array(metrics_of(inputs)?),
    };
    let query_granularity = from_granularity("queryGranularity")
        .cloned()
        .or_else(|| agreed(inputs, |s| s.query_granularity.clone()))
        .unwrap_or_else(|| json!("NONE"));
    let rollup = from_granularity("rollup")
        .and_then(Value::as_bool)
        .or_else(|| agreed(inputs, |s| s.rollup))
        .unwrap_or(false);
    let segment_granularity =
        from_granularity("segmentGranularity").or_else(|| given("segmentGranularity"));
    let granularity_spec = match segment_granularity {
        Some(g) => json!({"type": "uniform", "segmentGranularity": g,
            "queryGranularity": query_granularity, "rollup": rollup,
            "intervals": [interval.to_string()]}),
        None => {
            let kept = overlaps_merged(inputs.iter().map(|s| s.interval).collect());
            let kept: Vec<String> = match kept.is_empty() {
                true => vec![interval.to_string()],
                false => kept.iter().map(Interval::to_string).collect(),
            };
            json!({"type": "arbitrary", "queryGranularity": query_granularity,
                "rollup": rollup, "intervals": kept})
        }
    };
    let mut data_schema = json!({
        "dataSource": data_source,
        "timestampSpec": {"column": "__time", "format": "millis"},
        "dimensionsSpec": dimensions_spec,
        "metricsSpec": metrics_spec,
        "granularitySpec": granularity_spec,
    });
    if let Some(transform) = given("transformSpec") {
        data_schema["transformSpec"] = transform.clone();
    }
    let drop_existing = compact
        .get("ioConfig")
        .and_then(|io| io.get("dropExisting"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut tuning = given("tuningConfig")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    tuning.insert("type".into(), json!("index"));
    let mut task = json!({
        "type": "index",
        "id": id,
        "spec": {
            "dataSchema": data_schema,
            "ioConfig": {"type": "index",
                "inputSource": {"type": "druid", "dataSource": data_source,
                    "interval": interval.to_string()},
                "appendToExisting": false, "dropExisting": drop_existing},
            "tuningConfig": tuning,
        }
    });
    if let Some(context) = given("context") {
        task["context"] = context.clone();
    }
    Ok(task)
}

/// The `index` task that merges the partial segments of one time chunk's hash bucket, the
/// second phase of a hash-partitioned parallel ingestion (Druid's
/// `PartialGenericSegmentMergeTask`): `spec` is the merge sub-task's ingestion spec (its
/// supervisor's, with the partitions as `ioConfig`). The rows were parsed, transformed and
/// rolled up in the first phase, so they are read back as they are (`__time` in millis, no
/// transform) into the spec's dimensions (when it lists none, those of `partials` in Druid's
/// merged order) and combined by the combining form of its metrics, into one segment of
/// `interval`. `partials` is called only when the spec lists no dimensions.
pub fn merge_index_task(
    spec: &Value,
    id: &str,
    data_source: &str,
    interval: Interval,
    partials: impl FnOnce() -> Result<Vec<InputSegment>, String>,
) -> Result<Value, String> {
    let data_schema = spec
        .get("dataSchema")
        .and_then(Value::as_object)
        .ok_or("The merge task's spec has no dataSchema")?;
    let mut dimensions_spec = data_schema
        .get("dimensionsSpec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let listed = dimensions_spec
        .get("dimensions")
        .and_then(Value::as_array)
        .is_some_and(|d| !d.is_empty());
    if !listed {
        dimensions_spec.insert("dimensions".into(), json!(merged_dimensions(&partials()?)));
    }
    let metrics: Vec<Value> = match data_schema.get("metricsSpec") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(metrics)) => metrics
            .iter()
            .map(|m| {
                serde_json::from_value::<AggregatorFactory>(m.clone())
                    .map(|f| f.combining_json())
                    .map_err(|e| format!("Metric {m} cannot be merged: {e}"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("metricsSpec must be a list, not {other}")),
    };
    let granularity = data_schema.get("granularitySpec");
    let from_granularity = |name: &str| {
        granularity
            .and_then(|g| g.get(name))
            .filter(|v| !v.is_null())
            .cloned()
    };
    // One chunk, the partition's: its rows are already in it, truncated to the query
    // granularity.
    let granularity_spec = json!({"type": "arbitrary",
        "queryGranularity": from_granularity("queryGranularity").unwrap_or_else(|| json!("NONE")),
        "rollup": from_granularity("rollup").unwrap_or_else(|| json!(true)),
        "intervals": [interval.to_string()]});
    let mut tuning = spec
        .get("tuningConfig")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    tuning.insert("type".into(), json!("index"));
    tuning.insert("forceGuaranteedRollup".into(), json!(false));
    // The deprecated top-level partitioning fields would clash with the one segment asked for.
    for legacy in [
        "maxRowsPerSegment",
        "targetPartitionSize",
        "maxTotalRows",
        "numShards",
        "partitionDimensions",
    ] {
        tuning.remove(legacy);
    }
    tuning.insert(
        "partitionsSpec".into(),
        json!({"type": "dynamic", "maxRowsPerSegment": i32::MAX, "maxTotalRows": null}),
    );
    Ok(json!({
        "type": "index",
        "id": id,
        "spec": {
            "dataSchema": {
                "dataSource": data_source,
                "timestampSpec": {"column": "__time", "format": "millis"},
                "dimensionsSpec": dimensions_spec,
                "metricsSpec": metrics,
                "granularitySpec": granularity_spec,
            },
            "ioConfig": {"type": "index",
                "inputSource": {"type": "druid", "dataSource": data_source,
                    "interval": interval.to_string()},
                "appendToExisting": false, "dropExisting": false},
            "tuningConfig": tuning,
        }
    }))
}

/// The segments' intervals, sorted, with overlapping ones (a newer version over part of an
/// older one) merged, so the new segments overshadow all they replace; adjacent ones stay
/// apart, as Druid keeps each interval's segments.
fn overlaps_merged(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(intervals.len());
    for interval in intervals {
        match out.last_mut() {
            Some(last) if interval.start < last.end => last.end = last.end.max(interval.end),
            _ => out.push(interval),
        }
    }
    out
}

/// Newest segment first (latest interval, then latest version), each dimension once.
fn dimensions_of(inputs: &[InputSegment]) -> Vec<Value> {
    let mut newest_first: Vec<&InputSegment> = inputs.iter().collect();
    newest_first.sort_by(|a, b| (b.interval.end, &b.version).cmp(&(a.interval.end, &a.version)));
    let mut seen = BTreeSet::new();
    let all = newest_first.into_iter().flat_map(|s| &s.dimensions);
    dimension_specs(all.filter(|(name, _)| seen.insert(name.clone())))
}

/// Druid's `IndexMerger.getMergedDimensions` without a listed order: the longest dimension
/// list of the partials, if every other list follows its order; else all names sorted.
fn merged_dimensions(partials: &[InputSegment]) -> Vec<Value> {
    let longest = partials.iter().map(|p| &p.dimensions).fold(
        None::<&Vec<(String, &'static str)>>,
        |best, d| match best {
            Some(b) if b.len() >= d.len() => Some(b),
            _ => Some(d),
        },
    );
    let Some(longest) = longest else {
        return Vec::new();
    };
    let follows = |dims: &[(String, &'static str)]| {
        let mut rest = longest.iter();
        dims.iter().all(|(name, _)| rest.any(|(n, _)| n == name))
    };
    if partials.iter().all(|p| follows(&p.dimensions)) {
        return dimension_specs(longest.iter());
    }
    let mut sorted: Vec<&(String, &'static str)> =
        partials.iter().flat_map(|p| &p.dimensions).collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.dedup_by(|a, b| a.0 == b.0);
    dimension_specs(sorted.into_iter())
}

/// Dimension specs of (name, type) pairs: a string dimension by its name alone.
fn dimension_specs<'a>(dims: impl Iterator<Item = &'a (String, &'static str)>) -> Vec<Value> {
    dims.map(|(name, kind)| match *kind {
        "string" => json!(name),
        kind => json!({"type": kind, "name": name}),
    })
    .collect()
}

/// The combining aggregators of the segments' metadata, each name once; a segment without
/// them, or two that disagree on one, leaves the metrics for the task to give.
fn metrics_of(inputs: &[InputSegment]) -> Result<Vec<Value>, String> {
    let mut out: Vec<Value> = Vec::new();
    for segment in inputs {
        let Some(aggregators) = &segment.aggregators else {
            return Err(format!(
                "Segment [{}] records no aggregators: set [metricsSpec] to compact it",
                segment.id
            ));
        };
        for aggregator in aggregators {
            let factory: AggregatorFactory =
                serde_json::from_value(aggregator.clone()).map_err(|e| {
                    format!(
                        "Aggregator {aggregator} of segment [{}] cannot be compacted: {e}; set [metricsSpec]",
                        segment.id
                    )
                })?;
            let combining = factory.combining_json();
            match out.iter().find(|m| m["name"] == combining["name"]) {
                None => out.push(combining),
                Some(known) if *known == combining => {}
                Some(known) => {
                    return Err(format!(
                    "Segments disagree on metric [{}]: {known} and {combining}; set [metricsSpec]",
                    combining["name"].as_str().unwrap_or_default()
                ))
                }
            }
        }
    }
    Ok(out)
}

/// The value every input has, if they all have the same one.
fn agreed<T: PartialEq>(
    inputs: &[InputSegment],
    value: impl Fn(&InputSegment) -> Option<T>,
) -> Option<T> {
    let mut values = inputs.iter().map(value);
    let first = values.next()??;
    values.all(|v| v.as_ref() == Some(&first)).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(s: &str) -> Interval {
        s.parse().unwrap()
    }

    fn input(day: &str, version: &str, dims: &[(&str, &'static str)], aggs: Value) -> InputSegment {
        let start: u32 = day.parse().unwrap();
        InputSegment {
            id: format!("wiki_{day}_{version}"),
            interval: iv(&format!("2024-01-{start:02}/2024-01-{:02}", start + 1)),
            version: version.into(),
            dimensions: dims.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
            aggregators: aggs.as_array().cloned(),
            query_granularity: Some(json!({"type": "minute"})),
            rollup: Some(true),
        }
    }

    fn compact(extra: Value) -> Map<String, Value> {
        let mut task = json!({"type": "compact", "dataSource": "wiki",
            "ioConfig": {"type": "compact", "inputSpec": {"type": "interval",
                "interval": "2024-01-01/2024-01-03"}}});
        for (k, v) in extra.as_object().unwrap() {
            task[k] = v.clone();
        }
        task.as_object().unwrap().clone()
    }

    // Druid's CompactionTaskTest.testCreateDimensionSchema / metrics from segment metadata.
    #[test]
    fn the_schema_comes_from_the_segments_newest_first_with_combining_metrics() {
        let druid_written = json!([{"type": "count", "name": "count"},
            {"type": "longSum", "name": "added", "fieldName": "added_raw"}]);
        let steward_written = json!([{"type": "longSum", "name": "count", "fieldName": "count"},
            {"type": "longSum", "name": "added", "fieldName": "added"}]);
        let inputs = [
            input(
                "01",
                "v1",
                &[("page", "string"), ("user", "string")],
                druid_written,
            ),
            input(
                "02",
                "v1",
                &[("user", "string"), ("delta", "long")],
                steward_written,
            ),
        ];
        let task = index_task(
            &compact(json!({})),
            "c1",
            "wiki",
            iv("2024-01-01/2024-01-03"),
            &inputs,
        )
        .unwrap();
        let schema = &task["spec"]["dataSchema"];
        assert_eq!(
            schema["dimensionsSpec"]["dimensions"],
            json!(["user", {"type": "long", "name": "delta"}, "page"])
        );
        assert_eq!(
            schema["metricsSpec"],
            json!([{"type": "longSum", "name": "count", "fieldName": "count"},
                   {"type": "longSum", "name": "added", "fieldName": "added"}])
        );
        assert_eq!(
            schema["granularitySpec"],
            json!({"type": "arbitrary", "queryGranularity": {"type": "minute"}, "rollup": true,
                "intervals": ["2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z",
                              "2024-01-02T00:00:00.000Z/2024-01-03T00:00:00.000Z"]})
        );
        assert_eq!(
            task["spec"]["ioConfig"]["inputSource"],
            json!({"type": "druid", "dataSource": "wiki",
                   "interval": "2024-01-01T00:00:00.000Z/2024-01-03T00:00:00.000Z"})
        );
        assert_eq!(
            (task["id"].as_str(), task["type"].as_str()),
            (Some("c1"), Some("index"))
        );
    }

    #[test]
    fn what_the_task_gives_wins_and_disagreements_are_refused() {
        let aggs = json!([{"type": "count", "name": "count"}]);
        let inputs = [input("01", "v1", &[("page", "string")], aggs.clone())];
        let task = index_task(
            &compact(json!({"granularitySpec": {"segmentGranularity": "MONTH",
                "queryGranularity": "DAY", "rollup": false},
                "tuningConfig": {"type": "index_parallel", "maxRowsPerSegment": 10}})),
            "c2",
            "wiki",
            iv("2024-01-01/2024-02-01"),
            &inputs,
        )
        .unwrap();
        assert_eq!(
            task["spec"]["dataSchema"]["granularitySpec"],
            json!({"type": "uniform", "segmentGranularity": "MONTH", "queryGranularity": "DAY",
                "rollup": false,
                "intervals": ["2024-01-01T00:00:00.000Z/2024-02-01T00:00:00.000Z"]})
        );
        assert_eq!(
            task["spec"]["tuningConfig"],
            json!({"type": "index", "maxRowsPerSegment": 10})
        );

        let sum = json!([{"type": "doubleSum", "name": "count", "fieldName": "count"}]);
        let disagree = [inputs[0].clone(), input("02", "v1", &[], sum)];
        let e = index_task(
            &compact(json!({})),
            "c",
            "wiki",
            iv("2024-01-01/2024-01-03"),
            &disagree,
        )
        .unwrap_err();
        assert!(e.contains("disagree on metric [count]"), "{e}");
        let sketch = json!([{"type": "hyperUnique", "name": "u", "fieldName": "user"}]);
        let e = index_task(
            &compact(json!({})),
            "c",
            "wiki",
            iv("2024-01-01/2024-01-03"),
            &[input("01", "v1", &[], sketch)],
        )
        .unwrap_err();
        assert!(e.contains("cannot be compacted"), "{e}");
        let e = index_task(
            &compact(json!({})),
            "c",
            "wiki",
            iv("2024-01-01/2024-01-02T12:00Z"),
            &inputs[..1],
        )
        .err();
        assert_eq!(e, None, "a segment inside the interval");
        let e = index_task(
            &compact(json!({})),
            "c",
            "wiki",
            iv("2024-01-01T06:00Z/2024-01-03"),
            &inputs,
        )
        .unwrap_err();
        assert!(e.contains("partly outside the compaction interval"), "{e}");

        let mut hour = input("01", "v2", &[("page", "string")], aggs.clone());
        hour.interval = iv("2024-01-01T05:00Z/2024-01-01T06:00Z");
        let day2 = input("02", "v1", &[], aggs.clone());
        let task = index_task(
            &compact(json!({})),
            "c",
            "wiki",
            iv("2024-01-01/2024-01-03"),
            &[inputs[0].clone(), hour, day2],
        )
        .unwrap();
        assert_eq!(
            task["spec"]["dataSchema"]["granularitySpec"]["intervals"],
            json!([
                "2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z",
                "2024-01-02T00:00:00.000Z/2024-01-03T00:00:00.000Z"
            ]),
            "the hour inside the first day merges with it; the days stay apart"
        );
    }

    // Druid's IndexMergerTestBase.testMergeSpecificDimensionOrder / getMergedDimensions.
    #[test]
    fn a_merge_keeps_the_longest_shared_dimension_order_or_sorts() {
        let with = |dims: &[(&str, &'static str)]| input("01", "v", dims, json!([]));
        let names = |partials: &[InputSegment]| merged_dimensions(partials);
        assert_eq!(
            names(&[
                with(&[("b", "string"), ("c", "string")]),
                with(&[("a", "string"), ("b", "string"), ("c", "long")])
            ]),
            vec![json!("a"), json!("b"), json!({"type": "long", "name": "c"})]
        );
        // Orders that disagree: every name once, sorted.
        assert_eq!(
            names(&[
                with(&[("c", "string"), ("a", "string")]),
                with(&[("a", "string"), ("b", "string"), ("c", "string")])
            ]),
            vec![json!("a"), json!("b"), json!("c")]
        );
        assert!(names(&[]).is_empty());
    }

    // Druid's PartialGenericSegmentMergeTask: the partials' rows are combined, not re-parsed.
    #[test]
    fn a_partitions_merge_reads_back_rows_with_combining_metrics_into_one_segment() {
        let spec = json!({
            "dataSchema": {"dataSource": "wiki",
                "timestampSpec": {"column": "time", "format": "iso"},
                "dimensionsSpec": {"dimensions": []},
                "metricsSpec": [{"type": "count", "name": "count"},
                    {"type": "longSum", "name": "added", "fieldName": "added_raw"}],
                "transformSpec": {"filter": {"type": "selector", "dimension": "page", "value": "x"}},
                "granularitySpec": {"segmentGranularity": "day", "queryGranularity": "hour",
                    "rollup": true}},
            "ioConfig": {"type": "partial_index_generic_merge", "partitionLocations": []},
            "tuningConfig": {"type": "index_parallel", "maxRowsInMemory": 1000, "numShards": 3,
                "forceGuaranteedRollup": true,
                "partitionsSpec": {"type": "hashed", "numShards": 3}}
        });
        let day = iv("2024-01-01/2024-01-02");
        let partials = || Ok(vec![input("01", "v", &[("page", "string")], json!([]))]);
        let task = merge_index_task(&spec, "m1", "wiki", day, partials).unwrap();
        let schema = &task["spec"]["dataSchema"];
        assert_eq!(
            schema["timestampSpec"],
            json!({"column": "__time", "format": "millis"})
        );
        assert_eq!(schema["dimensionsSpec"]["dimensions"], json!(["page"]));
        assert_eq!(
            schema["metricsSpec"],
            json!([{"type": "longSum", "name": "count", "fieldName": "count"},
                   {"type": "longSum", "name": "added", "fieldName": "added"}])
        );
        assert!(
            schema.get("transformSpec").is_none(),
            "applied in the first phase"
        );
        assert_eq!(
            schema["granularitySpec"],
            json!({"type": "arbitrary", "queryGranularity": "hour", "rollup": true,
                "intervals": [day.to_string()]})
        );
        let tuning = &task["spec"]["tuningConfig"];
        assert_eq!(tuning["maxRowsInMemory"], 1000);
        assert_eq!(tuning["forceGuaranteedRollup"], false);
        assert!(tuning.get("numShards").is_none());
        assert_eq!(tuning["partitionsSpec"]["type"], "dynamic");
        assert_eq!(task["spec"]["ioConfig"]["inputSource"]["type"], "druid");
        // The spec it makes is one Steward runs.
        crate::spec::IngestionSpec::from_task_json(&task).unwrap();
        // Listed dimensions are kept, and the partials are not opened for them.
        let mut listed = spec.clone();
        listed["dataSchema"]["dimensionsSpec"]["dimensions"] = json!(["user", "page"]);
        let task = merge_index_task(&listed, "m1", "wiki", day, || {
            panic!("the partials are not read")
        })
        .unwrap();
        assert_eq!(
            task["spec"]["dataSchema"]["dimensionsSpec"]["dimensions"],
            json!(["user", "page"])
        );
    }
}
