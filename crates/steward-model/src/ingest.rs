//! What the Overlord needs to know of a batch ingestion task (`index`, `index_parallel` and
//! the sub-tasks of the latter) before it runs: its intervals, its segment granularity and its
//! ingestion mode, which decide the locks it waits for and its group.
//!
//! The whole spec is read and validated by `steward-ingest` when the task is submitted; this
//! is the part every process reads again from a stored payload, so it trusts the structure and
//! only says which field it could not read.

use serde_json::{Map, Value};

use crate::granularity::Granularity;
use crate::interval::Interval;
use crate::lock::TaskLockType;
use crate::task_error::TaskError;

/// Druid's `AbstractTask.IngestionMode`, from `appendToExisting` and `dropExisting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestionMode {
    /// `appendToExisting`: new segments join those already in the intervals.
    Append,
    /// `dropExisting`: the intervals hold only what this task writes (tombstones where empty).
    Replace,
    /// Neither: the intervals this task writes into are overwritten.
    ReplaceLegacy,
}

/// The facts of a batch ingestion spec the Overlord schedules by.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchIngestSpec {
    /// `granularitySpec.intervals`; empty when the task finds them in its input.
    pub intervals: Vec<Interval>,
    /// `None` for an `arbitrary` granularity spec, whose intervals are its segments.
    pub segment_granularity: Option<Granularity>,
    pub mode: IngestionMode,
}

impl BatchIngestSpec {
    /// Reads the facts from a task's `spec` object.
    pub(crate) fn parse(task: &Map<String, Value>) -> Result<BatchIngestSpec, TaskError> {
        let missing =
            |path: &str| TaskError::mapping_at(path, format!("Task field [{path}] is required"));
        let spec = task
            .get("spec")
            .filter(|s| !s.is_null())
            .ok_or_else(|| missing("spec"))?;
        let data_schema = spec
            .get("dataSchema")
            .filter(|s| !s.is_null())
            .ok_or_else(|| missing("spec.dataSchema"))?;
        let granularity_spec = data_schema.get("granularitySpec").filter(|g| !g.is_null());
        let field = |name: &str| {
            granularity_spec
                .and_then(|g| g.get(name))
                .filter(|v| !v.is_null())
        };
        let invalid = |path: &str, e: String| {
            let field = format!("spec.dataSchema.granularitySpec.{path}");
            let message = format!("Task field [{field}] is invalid: {e}");
            TaskError::mapping_at(field, message)
        };
        let intervals = match field("intervals") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => s
                        .parse::<Interval>()
                        .map_err(|e| invalid("intervals", e.to_string())),
                    other => Err(invalid(
                        "intervals",
                        format!("[{other}] is not an interval"),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(invalid("intervals", format!("[{other}] is not a list"))),
        };
        let arbitrary = matches!(field("type"), Some(Value::String(t)) if t == "arbitrary");
        let segment_granularity = match (arbitrary, field("segmentGranularity")) {
            (true, _) => None,
            (false, None) => Some(Granularity::from_name("DAY").expect("a simple name")),
            (false, Some(g)) => {
                Some(Granularity::from_json(g).map_err(|e| invalid("segmentGranularity", e))?)
            }
        };
        let io_config = spec.get("ioConfig");
        let flag = |name: &str| -> Result<bool, TaskError> {
            match io_config.and_then(|io| io.get(name)) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(other) => Err(TaskError::mapping_at(
                    format!("spec.ioConfig.{name}"),
                    format!(
                        "Task field [spec.ioConfig.{name}] must be true or false, not [{other}]"
                    ),
                )),
            }
        };
        let mode = match (flag("appendToExisting")?, flag("dropExisting")?) {
            (true, true) => {
                return Err(TaskError::Invalid(
                    "Cannot simultaneously replace and append to existing segments. Either \
                     dropExisting or appendToExisting should be set to false"
                        .into(),
                ))
            }
            (true, false) => IngestionMode::Append,
            (false, true) => IngestionMode::Replace,
            (false, false) => IngestionMode::ReplaceLegacy,
        };
        Ok(BatchIngestSpec {
            intervals,
            segment_granularity,
            mode,
        })
    }

    /// The intervals locked before the task runs (Druid's `tryTimeChunkLock`): the segment
    /// granularity's buckets covering `intervals`, adjacent ones condensed into one lock.
    pub fn lock_intervals(&self) -> Vec<Interval> {
        Interval::condense(self.bucket_intervals())
    }

    /// The time chunks of `intervals` (Druid's `sortedBucketIntervals`): the segment
    /// granularity's buckets overlapping them, in order, each once; an `arbitrary` spec's
    /// intervals as they are.
    pub fn bucket_intervals(&self) -> Vec<Interval> {
        let mut intervals = self.intervals.clone();
        intervals.sort();
        let mut buckets: Vec<Interval> = match &self.segment_granularity {
            Some(granularity) => intervals
                .iter()
                .flat_map(|i| granularity.buckets(i))
                .collect(),
            None => intervals,
        };
        buckets.sort();
        buckets.dedup();
        buckets
    }

    /// The lock type of the task's time-chunk locks (Druid's
    /// `AbstractBatchIndexTask.determineLockType`): with `useConcurrentLocks`, APPEND when
    /// appending and REPLACE otherwise; else `taskLockType`, else SHARED if `useSharedLock`,
    /// else EXCLUSIVE; SHARED and APPEND only when appending.
    pub fn lock_type(&self, context: &Map<String, Value>) -> Result<TaskLockType, String> {
        let appending = self.mode == IngestionMode::Append;
        if context_flag(context, "useConcurrentLocks")? {
            return Ok(if appending {
                TaskLockType::Append
            } else {
                TaskLockType::Replace
            });
        }
        let lock_type = match context.get("taskLockType") {
            None | Some(Value::Null) if context_flag(context, "useSharedLock")? => {
                TaskLockType::Shared
            }
            None | Some(Value::Null) => TaskLockType::Exclusive,
            Some(Value::String(s)) => TaskLockType::parse(s)?,
            Some(other) => return Err(invalid_lock_type(other)),
        };
        Ok(match lock_type {
            TaskLockType::Shared | TaskLockType::Append if !appending => TaskLockType::Exclusive,
            other => other,
        })
    }
}

/// A boolean task context flag, as Druid's `QueryContexts.getAsBoolean` reads it.
pub(crate) fn context_flag(context: &Map<String, Value>, key: &str) -> Result<bool, String> {
    match context.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(format!(
            "Task context [{key}] must be true or false, not [{other}]"
        )),
    }
}

pub(crate) fn invalid_lock_type(value: &Value) -> String {
    format!("Invalid taskLockType [{value}]: must be one of [EXCLUSIVE, SHARED, REPLACE, APPEND]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> Result<BatchIngestSpec, TaskError> {
        BatchIngestSpec::parse(v.as_object().unwrap())
    }

    fn interval(s: &str) -> Interval {
        s.parse().unwrap()
    }

    #[test]
    fn lock_intervals_are_condensed_granularity_buckets() {
        let s = spec(json!({"spec": {"dataSchema": {"granularitySpec": {
            "segmentGranularity": "day",
            "intervals": ["2015-09-14T05:00Z/2015-09-15T01:00Z", "2015-09-12/2015-09-13",
                          "2015-09-20/2015-09-21", "2015-09-14T01:00Z/2015-09-14T02:00Z"]}}}}))
        .unwrap();
        assert_eq!(
            s.bucket_intervals(),
            vec![
                interval("2015-09-12/2015-09-13"),
                interval("2015-09-14/2015-09-15"),
                interval("2015-09-15/2015-09-16"),
                interval("2015-09-20/2015-09-21"),
            ]
        );
        assert_eq!(
            s.lock_intervals(),
            vec![
                interval("2015-09-12/2015-09-13"),
                interval("2015-09-14/2015-09-16"),
                interval("2015-09-20/2015-09-21"),
            ]
        );
        assert_eq!(s.mode, IngestionMode::ReplaceLegacy);
        let arbitrary = spec(json!({"spec": {"dataSchema": {"granularitySpec": {
            "type": "arbitrary", "intervals": ["2015-09-12T05:00Z/2015-09-12T06:00Z"]}}}}))
        .unwrap();
        assert_eq!(
            arbitrary.lock_intervals(),
            vec![interval("2015-09-12T05:00Z/2015-09-12T06:00Z")]
        );
        let none = spec(json!({"spec": {"dataSchema": {}}})).unwrap();
        assert!(none.lock_intervals().is_empty());
        assert_eq!(none.segment_granularity, Granularity::from_name("DAY").ok());
    }

    #[test]
    fn lock_type_follows_druid_determine_lock_type() {
        let append =
            spec(json!({"spec": {"dataSchema": {}, "ioConfig": {"appendToExisting": true}}}))
                .unwrap();
        let replace =
            spec(json!({"spec": {"dataSchema": {}, "ioConfig": {"dropExisting": true}}})).unwrap();
        assert_eq!(append.mode, IngestionMode::Append);
        assert_eq!(replace.mode, IngestionMode::Replace);
        let ctx = |v: Value| v.as_object().unwrap().clone();
        let cases = [
            (&append, json!({}), TaskLockType::Exclusive),
            (
                &append,
                json!({"useSharedLock": true}),
                TaskLockType::Shared,
            ),
            (
                &replace,
                json!({"useSharedLock": true}),
                TaskLockType::Exclusive,
            ),
            (
                &append,
                json!({"useConcurrentLocks": true}),
                TaskLockType::Append,
            ),
            (
                &replace,
                json!({"useConcurrentLocks": "true"}),
                TaskLockType::Replace,
            ),
            (
                &append,
                json!({"taskLockType": "APPEND"}),
                TaskLockType::Append,
            ),
            (
                &replace,
                json!({"taskLockType": "APPEND"}),
                TaskLockType::Exclusive,
            ),
            (
                &replace,
                json!({"taskLockType": "REPLACE"}),
                TaskLockType::Replace,
            ),
        ];
        for (s, context, expected) in cases {
            assert_eq!(
                s.lock_type(&ctx(context.clone())),
                Ok(expected),
                "{context}"
            );
        }
        assert!(replace.lock_type(&ctx(json!({"taskLockType": 3}))).is_err());
        assert!(replace
            .lock_type(&ctx(json!({"useConcurrentLocks": 3})))
            .is_err());
    }

    #[test]
    fn unreadable_facts_name_their_field() {
        let err = |v: Value| spec(v).unwrap_err().to_string();
        assert_eq!(err(json!({})), "Task field [spec] is required");
        assert_eq!(
            err(json!({"spec": {}})),
            "Task field [spec.dataSchema] is required"
        );
        assert!(
            err(json!({"spec": {"dataSchema": {"granularitySpec": {"intervals": ["x"]}}}}))
                .contains("[spec.dataSchema.granularitySpec.intervals]")
        );
        assert!(err(json!({"spec": {"dataSchema": {"granularitySpec": {"segmentGranularity": "fortnight"}}}}))
            .contains("[spec.dataSchema.granularitySpec.segmentGranularity]"));
        assert!(err(json!({"spec": {"dataSchema": {}, "ioConfig": {"appendToExisting": true, "dropExisting": true}}}))
            .starts_with("Cannot simultaneously replace and append"));
    }
}
