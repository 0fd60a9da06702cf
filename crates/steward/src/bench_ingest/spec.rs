//! The task the benchmark submits: Druid's wikipedia tutorial schema with rollup, as the
//! issue asks (every string dimension of the sample, `count` and `longSum`s of `added`,
//! `deleted` and `delta`, query granularity HOUR, segment granularity DAY), with default tuning
//! so that memory is bounded by the defaults an operator gets.

use std::path::Path;

use serde_json::{json, Value};

/// The tutorial's dimensions, in its order.
pub const DIMENSIONS: [&str; 16] = [
    "channel",
    "cityName",
    "comment",
    "countryIsoCode",
    "countryName",
    "isAnonymous",
    "isMinor",
    "isNew",
    "isRobot",
    "isUnpatrolled",
    "metroCode",
    "namespace",
    "page",
    "regionIsoCode",
    "regionName",
    "user",
];

/// `longSum` metrics: (input field, metric name).
pub const SUMMED: [(&str, &str); 3] = [
    ("added", "sum_added"),
    ("deleted", "sum_deleted"),
    ("delta", "sum_delta"),
];

/// An `index` task over the JSON files of `input_dir` into `data_source`, or with
/// `parallel: Some(n)` an `index_parallel` task running up to `n` sub-tasks at once; with
/// `hashed: Some(n)`, perfect rollup into `n` hash buckets per day (`index_parallel` then
/// runs Druid's two phases).
pub fn task(
    data_source: &str,
    input_dir: &Path,
    interval: &str,
    parallel: Option<u32>,
    hashed: Option<u32>,
) -> Value {
    let mut metrics = vec![json!({"type": "count", "name": "count"})];
    metrics.extend(
        SUMMED
            .iter()
            .map(|(field, name)| json!({"type": "longSum", "name": name, "fieldName": field})),
    );
    let kind = match parallel {
        None => "index",
        Some(_) => "index_parallel",
    };
    let mut tuning = json!({"type": kind});
    if let Some(n) = parallel {
        tuning["maxNumConcurrentSubTasks"] = json!(n);
    }
    if let Some(n) = hashed {
        tuning["forceGuaranteedRollup"] = json!(true);
        tuning["partitionsSpec"] = json!({"type": "hashed", "numShards": n});
    }
    json!({
        "type": kind,
        "spec": {
            "dataSchema": {
                "dataSource": data_source,
                "timestampSpec": {"column": "time", "format": "iso"},
                "dimensionsSpec": {"dimensions": DIMENSIONS},
                "metricsSpec": metrics,
                "granularitySpec": {
                    "type": "uniform",
                    "segmentGranularity": "day",
                    "queryGranularity": "hour",
                    "rollup": true,
                    "intervals": [interval],
                },
            },
            "ioConfig": {
                "type": kind,
                "inputSource": {
                    "type": "local",
                    "baseDir": input_dir.display().to_string(),
                    "filter": "*.json",
                },
                "inputFormat": {"type": "json"},
                "appendToExisting": false,
            },
            "tuningConfig": tuning,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_task_or_a_parallel_one_with_its_sub_task_limit_and_perfect_rollup() {
        let t = task(
            "wiki",
            Path::new("/data"),
            "2015-09-12/2015-09-15",
            None,
            None,
        );
        assert_eq!(t["type"], "index");
        assert_eq!(t["spec"]["tuningConfig"], json!({"type": "index"}));
        assert_eq!(
            t["spec"]["dataSchema"]["dimensionsSpec"]["dimensions"][15],
            "user"
        );
        assert_eq!(
            t["spec"]["dataSchema"]["metricsSpec"][3],
            json!({"type": "longSum", "name": "sum_delta", "fieldName": "delta"})
        );
        assert_eq!(t["spec"]["ioConfig"]["inputSource"]["baseDir"], "/data");
        let p = task(
            "wiki",
            Path::new("/data"),
            "2015-09-12/2015-09-15",
            Some(2),
            None,
        );
        assert_eq!(p["type"], "index_parallel");
        assert_eq!(p["spec"]["ioConfig"]["type"], "index_parallel");
        assert_eq!(
            p["spec"]["tuningConfig"],
            json!({"type": "index_parallel", "maxNumConcurrentSubTasks": 2})
        );
        let h = task(
            "wiki",
            Path::new("/data"),
            "2015-09-12/2015-09-15",
            Some(2),
            Some(3),
        );
        assert_eq!(
            h["spec"]["tuningConfig"],
            json!({"type": "index_parallel", "maxNumConcurrentSubTasks": 2,
                "forceGuaranteedRollup": true,
                "partitionsSpec": {"type": "hashed", "numShards": 3}})
        );
    }
}
