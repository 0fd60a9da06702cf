//! The tuning config: memory bounds, segment partitioning, parse-error limits, and for
//! `index_parallel` the sub-task settings (Druid's `IndexTuningConfig` and
//! `ParallelIndexTuningConfig`, with `DynamicPartitionsSpec`, `HashedPartitionsSpec` and the
//! `maxSize` split hint).
//!
//! Partitioning follows Druid's pairing: best-effort rollup (the default) uses `dynamic`
//! partitions, perfect rollup (`forceGuaranteedRollup`) uses `hashed`, and the other pairings
//! are refused. Without a `partitionsSpec`, the deprecated top-level `maxRowsPerSegment` (or
//! `targetPartitionSize`), `maxTotalRows`, `numShards` and `partitionDimensions` build one.

use std::time::Duration;

pub use steward_model::HashPartitionFunction;

use super::fields::{within, Obj};
use super::IngestionTaskType;
use crate::SpecError;

/// Druid's `PartitionsSpec.DEFAULT_MAX_ROWS_PER_SEGMENT`.
pub const DEFAULT_MAX_ROWS_PER_SEGMENT: i32 = 5_000_000;
/// Druid's `DynamicPartitionsSpec.DEFAULT_MAX_TOTAL_ROWS`.
pub const DEFAULT_MAX_TOTAL_ROWS: i64 = 20_000_000;
/// Druid's `MaxSizeSplitHintSpec` defaults: 1 GiB and 1000 files a split.
pub const DEFAULT_MAX_SPLIT_SIZE: u64 = 1 << 30;
pub const DEFAULT_MAX_NUM_FILES: u32 = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct TuningConfig {
    pub max_rows_in_memory: i32,
    /// 0: a sixth of the heap in Druid; the caller picks the bound.
    pub max_bytes_in_memory: i64,
    pub skip_bytes_in_memory_overhead_check: bool,
    /// The given spec, or the default for the rollup mode.
    pub partitions_spec: PartitionsSpec,
    pub force_guaranteed_rollup: bool,
    pub max_pending_persists: i32,
    /// Milliseconds; 0 waits forever.
    pub push_timeout: i64,
    pub max_parse_exceptions: i32,
    pub max_saved_parse_exceptions: i32,
    pub log_parse_exceptions: bool,
    /// -1: unlimited.
    pub max_columns_to_merge: i32,
    pub await_segment_availability_timeout_millis: i64,
    pub num_persist_threads: i32,
    /// Druid's `indexSpec` as given (bitmap and compression settings), for the segment writer.
    pub index_spec: Option<serde_json::Value>,
    pub index_spec_for_intermediate_persists: Option<serde_json::Value>,
    /// `index_parallel` only from here on; the defaults elsewhere.
    pub max_num_concurrent_sub_tasks: i32,
    pub max_retry: i32,
    pub task_status_check_period_ms: i64,
    pub chat_handler_timeout: Duration,
    pub chat_handler_num_retries: i32,
    pub max_num_segments_to_merge: i32,
    pub total_num_merge_tasks: i32,
    /// -1: unlimited.
    pub max_allowed_lock_count: i32,
    pub split_hint_spec: SplitHintSpec,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PartitionsSpec {
    /// Segments cut at `maxRowsPerSegment`, pushed at `maxTotalRows`.
    Dynamic {
        max_rows_per_segment: i32,
        max_total_rows: i64,
    },
    Hashed(HashedPartitionsSpec),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HashedPartitionsSpec {
    /// Target rows per segment; `None` when `numShards` is given.
    pub max_rows_per_segment: Option<i32>,
    pub num_shards: Option<i32>,
    /// Empty: hash all dimensions.
    pub partition_dimensions: Vec<String>,
    pub partition_function: HashPartitionFunction,
}

/// How `index_parallel` cuts its input among sub-tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitHintSpec {
    MaxSize {
        max_split_size: u64,
        max_num_files: u32,
    },
    /// For the druid input source, which Steward does not read yet.
    Segments {
        max_input_segment_bytes_per_task: u64,
        max_num_segments: u32,
    },
}

impl Default for SplitHintSpec {
    fn default() -> Self {
        SplitHintSpec::MaxSize {
            max_split_size: DEFAULT_MAX_SPLIT_SIZE,
            max_num_files: DEFAULT_MAX_NUM_FILES,
        }
    }
}

impl PartitionsSpec {
    pub fn max_rows_per_segment(&self) -> Option<i32> {
        match self {
            PartitionsSpec::Dynamic {
                max_rows_per_segment,
                ..
            } => Some(*max_rows_per_segment),
            PartitionsSpec::Hashed(h) => h.max_rows_per_segment,
        }
    }
}

/// Druid reads -1 as "not set" in partition specs, for historical reasons.
fn effectively_set<T: PartialEq + From<i8>>(value: Option<T>) -> Option<T> {
    value.filter(|v| *v != T::from(-1))
}

impl TuningConfig {
    /// Reads a `tuningConfig` for a task of `task_type`; error paths are relative to it.
    pub fn from_json(
        v: Option<&serde_json::Value>,
        task_type: IngestionTaskType,
    ) -> Result<TuningConfig, SpecError> {
        let obj = Obj::optional(v, "a tuningConfig")?;
        let parallel = task_type != IngestionTaskType::Index;
        match obj.string("type")? {
            None | Some("index_parallel") => {}
            Some("index") if !parallel => {}
            Some(other) => {
                let class = if parallel {
                    "ParallelIndexTuningConfig"
                } else {
                    "IndexTuningConfig"
                };
                return Err(SpecError::new(
                    "type",
                    format!("Could not resolve type id '{other}' as a subtype of `{class}`"),
                ));
            }
        }
        let int = |key: &str| obj.typed::<i32>(key);
        let long = |key: &str| obj.typed::<i64>(key);
        let flag = |key: &str| obj.bool(key);

        let force_guaranteed_rollup = flag("forceGuaranteedRollup")?.unwrap_or(false);
        let partitions_spec = partitions(&obj, force_guaranteed_rollup, parallel)?;

        let report_parse_exceptions = flag("reportParseExceptions")?.unwrap_or(false);
        let saved = int("maxSavedParseExceptions")?;
        let (max_parse_exceptions, max_saved_parse_exceptions) = if report_parse_exceptions {
            (0, saved.unwrap_or(0).min(1))
        } else {
            (
                int("maxParseExceptions")?.unwrap_or(i32::MAX),
                saved.unwrap_or(0),
            )
        };
        let push_timeout = match long("pushTimeout")? {
            Some(t) => t,
            None if !parallel => long("publishTimeout")?.unwrap_or(0),
            None => 0,
        };
        let max_rows_in_memory = match int("maxRowsInMemory")? {
            Some(n) => n,
            None if !parallel => int("rowFlushBoundary")?.unwrap_or(1_000_000),
            None => 1_000_000,
        };

        let max_num_sub_tasks = int("maxNumSubTasks")?;
        let max_num_concurrent = int("maxNumConcurrentSubTasks")?;
        if parallel && max_num_sub_tasks.is_some() && max_num_concurrent.is_some() {
            return Err(SpecError::new(
                "maxNumSubTasks",
                "Can't use both maxNumSubTasks and maxNumConcurrentSubTasks. Use maxNumConcurrentSubTasks instead",
            ));
        }
        let positive = |key: &str, value: i32| {
            if value > 0 {
                Ok(value)
            } else {
                Err(SpecError::new(key, format!("{key} must be positive")))
            }
        };
        let max_num_concurrent_sub_tasks = positive(
            "maxNumConcurrentSubTasks",
            max_num_concurrent.or(max_num_sub_tasks).unwrap_or(1),
        )?;
        let max_num_segments_to_merge = positive(
            "maxNumSegmentsToMerge",
            int("maxNumSegmentsToMerge")?.unwrap_or(100),
        )?;
        let total_num_merge_tasks = positive(
            "totalNumMergeTasks",
            int("totalNumMergeTasks")?.unwrap_or(10),
        )?;
        let chat_handler_timeout = match obj.string("chatHandlerTimeout")? {
            None => Duration::from_secs(10),
            Some(p) => steward_model::time::parse_period(p)
                .map_err(|e| SpecError::new("chatHandlerTimeout", e))?,
        };
        let split_hint_spec = obj
            .get("splitHintSpec")
            .map(split_hint)
            .transpose()
            .map_err(|e| within(e, "splitHintSpec"))?
            .unwrap_or_default();

        Ok(TuningConfig {
            max_rows_in_memory,
            max_bytes_in_memory: long("maxBytesInMemory")?.unwrap_or(0),
            skip_bytes_in_memory_overhead_check: flag("skipBytesInMemoryOverheadCheck")?
                .unwrap_or(false),
            partitions_spec,
            force_guaranteed_rollup,
            max_pending_persists: int("maxPendingPersists")?.unwrap_or(0),
            push_timeout,
            max_parse_exceptions,
            max_saved_parse_exceptions,
            log_parse_exceptions: flag("logParseExceptions")?.unwrap_or(false),
            max_columns_to_merge: int("maxColumnsToMerge")?.unwrap_or(-1),
            await_segment_availability_timeout_millis: long(
                "awaitSegmentAvailabilityTimeoutMillis",
            )?
            .filter(|t| *t >= 0)
            .unwrap_or(0),
            num_persist_threads: int("numPersistThreads")?.unwrap_or(1).max(1),
            index_spec: obj.get("indexSpec").cloned(),
            index_spec_for_intermediate_persists: obj
                .get("indexSpecForIntermediatePersists")
                .cloned(),
            max_num_concurrent_sub_tasks,
            max_retry: int("maxRetry")?.unwrap_or(3),
            task_status_check_period_ms: long("taskStatusCheckPeriodMs")?.unwrap_or(1000),
            chat_handler_timeout,
            chat_handler_num_retries: int("chatHandlerNumRetries")?.unwrap_or(5),
            max_num_segments_to_merge,
            total_num_merge_tasks,
            max_allowed_lock_count: int("maxAllowedLockCount")?.unwrap_or(-1),
            split_hint_spec,
        })
    }
}

/// Druid's `IndexTuningConfig.getPartitionsSpec`, then its default for the rollup mode.
fn partitions(
    obj: &Obj,
    force_guaranteed_rollup: bool,
    parallel: bool,
) -> Result<PartitionsSpec, SpecError> {
    let target_partition_size: Option<i32> = obj.typed("targetPartitionSize")?;
    let legacy_max_rows: Option<i32> = obj.typed("maxRowsPerSegment")?;
    if target_partition_size.is_some() && legacy_max_rows.is_some() {
        return Err(SpecError::new(
            "targetPartitionSize",
            "Can't use targetPartitionSize and maxRowsPerSegment together",
        ));
    }
    if let Some(given) = obj.get("partitionsSpec") {
        let spec = partitions_spec(given).map_err(|e| within(e, "partitionsSpec"))?;
        return match (&spec, force_guaranteed_rollup) {
            (PartitionsSpec::Dynamic { .. }, true) => Err(SpecError::new(
                "partitionsSpec",
                "DynamicPartitionsSpec cannot be used for perfect rollup",
            )),
            (PartitionsSpec::Hashed(_), false) => Err(SpecError::new(
                "partitionsSpec",
                "DynamicPartitionsSpec must be used for best-effort rollup",
            )),
            _ => Ok(spec),
        };
    }
    let max_rows = match (legacy_max_rows, target_partition_size) {
        (Some(n), _) => Some(("maxRowsPerSegment", n)),
        (None, Some(n)) => Some(("targetPartitionSize", n)),
        (None, None) => None,
    };
    let max_total_rows: Option<i64> = obj.typed("maxTotalRows")?;
    let num_shards: Option<i32> = obj.typed("numShards")?;
    // `index_parallel` has no top-level partitionDimensions.
    let partition_dimensions: Vec<String> = if parallel {
        Vec::new()
    } else {
        obj.typed("partitionDimensions")?.unwrap_or_default()
    };
    if force_guaranteed_rollup {
        hashed(max_rows, num_shards, partition_dimensions, None).map(PartitionsSpec::Hashed)
    } else {
        dynamic(max_rows.map(|(_, n)| n), max_total_rows)
    }
}

fn partitions_spec(v: &serde_json::Value) -> Result<PartitionsSpec, SpecError> {
    let obj = Obj::new(v, "a partitionsSpec")?;
    match obj.type_name(Some("hashed"))? {
        "dynamic" => dynamic(obj.typed("maxRowsPerSegment")?, obj.typed("maxTotalRows")?),
        "hashed" => {
            let target_rows: Option<i32> = effectively_set(obj.typed("targetRowsPerSegment")?);
            let target_size: Option<i32> = effectively_set(obj.typed("targetPartitionSize")?);
            let max_rows: Option<i32> = effectively_set(obj.typed("maxRowsPerSegment")?);
            let num_shards: Option<i32> = effectively_set(obj.typed("numShards")?);
            let mut target: Option<(&str, i32)> = None;
            for (name, value) in [
                ("targetRowsPerSegment", target_rows),
                ("targetPartitionSize", target_size),
                ("maxRowsPerSegment", max_rows),
            ] {
                if let Some(value) = value {
                    if let Some((first, _)) = target {
                        return Err(SpecError::new(
                            name,
                            format!("At most one of [{first}] or [{name}] must be present"),
                        ));
                    }
                    target = Some((name, value));
                }
            }
            if let (Some((name, _)), Some(_)) = (target, num_shards) {
                return Err(SpecError::new(
                    "numShards",
                    format!("At most one of [{name}] or [numShards] must be present"),
                ));
            }
            let function = match obj.string("partitionFunction")? {
                None => None,
                Some(f) if f.eq_ignore_ascii_case("murmur3_32_abs") => {
                    Some(HashPartitionFunction::Murmur3_32Abs)
                }
                Some(other) => {
                    return Err(SpecError::new(
                        "partitionFunction",
                        format!("Unknown partitionFunction [{other}]: expected murmur3_32_abs"),
                    ))
                }
            };
            let dimensions = obj.typed("partitionDimensions")?.unwrap_or_default();
            hashed(target, num_shards, dimensions, function).map(PartitionsSpec::Hashed)
        }
        "single_dim" | "dimension" | "range" => Err(SpecError::new(
            "type",
            format!(
                "partitionsSpec type [{}] is not supported yet; use dynamic or hashed",
                obj.string("type")?.unwrap_or_default()
            ),
        )),
        other => Err(SpecError::new(
            "type",
            format!(
                "Could not resolve type id '{other}' as a subtype of `PartitionsSpec`: known type ids = [dimension, dynamic, hashed, range, single_dim]"
            ),
        )),
    }
}

fn dynamic(
    max_rows: Option<i32>,
    max_total_rows: Option<i64>,
) -> Result<PartitionsSpec, SpecError> {
    let max_rows = effectively_set(max_rows);
    let max_total_rows = effectively_set(max_total_rows);
    if max_rows.is_some_and(|n| n <= 0) {
        return Err(SpecError::new(
            "maxRowsPerSegment",
            "maxRowsPerSegment must be greater than 0",
        ));
    }
    if max_total_rows.is_some_and(|n| n <= 0) {
        return Err(SpecError::new(
            "maxTotalRows",
            "maxTotalRows must be greater than 0",
        ));
    }
    Ok(PartitionsSpec::Dynamic {
        max_rows_per_segment: max_rows.unwrap_or(DEFAULT_MAX_ROWS_PER_SEGMENT),
        max_total_rows: max_total_rows.unwrap_or(DEFAULT_MAX_TOTAL_ROWS),
    })
}

/// The checks of Druid's `HashedPartitionsSpec` constructor; `target` is the row target with
/// the name it was given under, which the error names.
fn hashed(
    target: Option<(&str, i32)>,
    num_shards: Option<i32>,
    partition_dimensions: Vec<String>,
    function: Option<HashPartitionFunction>,
) -> Result<HashedPartitionsSpec, SpecError> {
    let target = target.filter(|(_, t)| *t != -1);
    let num_shards = effectively_set(num_shards);
    if let Some((name, t)) = target.filter(|(_, t)| *t <= 0) {
        return Err(SpecError::new(
            name,
            format!("{name}[{t}] should be positive"),
        ));
    }
    if let Some(n) = num_shards.filter(|n| *n <= 0) {
        return Err(SpecError::new(
            "numShards",
            format!("numShards[{n}] should be positive"),
        ));
    }
    let max_rows_per_segment = match target {
        Some((_, t)) => Some(t),
        None if num_shards.is_none() => Some(DEFAULT_MAX_ROWS_PER_SEGMENT),
        None => None,
    };
    Ok(HashedPartitionsSpec {
        max_rows_per_segment,
        num_shards,
        partition_dimensions,
        partition_function: function.unwrap_or(HashPartitionFunction::Murmur3_32Abs),
    })
}

fn split_hint(v: &serde_json::Value) -> Result<SplitHintSpec, SpecError> {
    let obj = Obj::new(v, "a splitHintSpec")?;
    let count = |key: &str, default: u32| -> Result<u32, SpecError> {
        match obj.typed::<i64>(key)? {
            None => Ok(default),
            Some(n) if n > 0 => {
                u32::try_from(n).map_err(|_| SpecError::new(key, format!("{key} is too large")))
            }
            Some(_) => Err(SpecError::new(
                key,
                format!("{key} should be larger than 0"),
            )),
        }
    };
    let bytes = |key: &str| -> Result<Option<u64>, SpecError> {
        obj.get(key)
            .map(|v| human_readable_bytes(v).map_err(|e| SpecError::new(key, e)))
            .transpose()
    };
    match obj.type_name(None)? {
        "maxSize" => {
            let max_split_size = bytes("maxSplitSize")?.unwrap_or(DEFAULT_MAX_SPLIT_SIZE);
            if max_split_size == 0 {
                return Err(SpecError::new(
                    "maxSplitSize",
                    "maxSplitSize should be larger than 0",
                ));
            }
            Ok(SplitHintSpec::MaxSize {
                max_split_size,
                max_num_files: count("maxNumFiles", DEFAULT_MAX_NUM_FILES)?,
            })
        }
        "segments" => Ok(SplitHintSpec::Segments {
            max_input_segment_bytes_per_task: bytes("maxInputSegmentBytesPerTask")?
                .unwrap_or(DEFAULT_MAX_SPLIT_SIZE),
            max_num_segments: count("maxNumSegments", 1000)?,
        }),
        other => Err(SpecError::new(
            "type",
            format!(
                "Could not resolve type id '{other}' as a subtype of `SplitHintSpec`: known type ids = [maxSize, segments]"
            ),
        )),
    }
}

/// Druid's `HumanReadableBytes`: a number of bytes, or text such as `500MiB`, `1GiB`, `10k`,
/// `1g` (decimal units without `i`, binary with `i` or `iB`).
fn human_readable_bytes(v: &serde_json::Value) -> Result<u64, String> {
    let text = match v {
        serde_json::Value::Number(n) => {
            return n.as_u64().ok_or_else(|| {
                format!("Invalid format of number: {n}. Negative value is not allowed.")
            })
        }
        serde_json::Value::String(s) => s.trim(),
        other => return Err(format!("Expected a number of bytes, not {other}")),
    };
    let bad = || format!("Invalid format of number: {text}");
    if text.is_empty() {
        return Err("Invalid format of number: number is blank".into());
    }
    if text.starts_with('-') {
        return Err(format!(
            "Invalid format of number: {text}. Negative value is not allowed."
        ));
    }
    let lower = text.to_ascii_lowercase();
    let (number, unit, binary) = if let Some(rest) = lower.strip_suffix("ib") {
        let (n, u) = rest.split_at(rest.len().checked_sub(1).ok_or_else(bad)?);
        (n, u, true)
    } else if let Some(rest) = lower.strip_suffix('i') {
        let (n, u) = rest.split_at(rest.len().checked_sub(1).ok_or_else(bad)?);
        (n, u, true)
    } else if lower.ends_with(|c: char| c.is_ascii_alphabetic()) {
        let (n, u) = lower.split_at(lower.len() - 1);
        (n, u, false)
    } else {
        (lower.as_str(), "", false)
    };
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return Err(bad()),
    };
    let base: u64 = if binary { 1024 } else { 1000 };
    let value: u64 = number.trim().parse().map_err(|_| bad())?;
    base.checked_pow(power)
        .and_then(|scale| value.checked_mul(scale))
        .ok_or_else(|| format!("Number overflow: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn index(v: serde_json::Value) -> Result<TuningConfig, SpecError> {
        TuningConfig::from_json(Some(&v), IngestionTaskType::Index)
    }

    fn parallel(v: serde_json::Value) -> Result<TuningConfig, SpecError> {
        TuningConfig::from_json(Some(&v), IngestionTaskType::IndexParallel)
    }

    #[test]
    fn defaults_are_druids() {
        let t = TuningConfig::from_json(None, IngestionTaskType::Index).unwrap();
        assert_eq!(t.max_rows_in_memory, 1_000_000);
        assert_eq!(t.max_bytes_in_memory, 0);
        assert_eq!(
            t.partitions_spec,
            PartitionsSpec::Dynamic {
                max_rows_per_segment: 5_000_000,
                max_total_rows: 20_000_000
            }
        );
        assert!(!t.force_guaranteed_rollup);
        assert_eq!(t.max_parse_exceptions, i32::MAX);
        assert_eq!(t.max_saved_parse_exceptions, 0);
        assert!(!t.log_parse_exceptions);
        assert_eq!(t.max_num_concurrent_sub_tasks, 1);
        assert_eq!(t.max_retry, 3);
        assert_eq!(t.split_hint_spec, SplitHintSpec::default());
        assert_eq!(t.chat_handler_timeout, Duration::from_secs(10));
        let hashed = index(json!({"forceGuaranteedRollup": true})).unwrap();
        assert_eq!(
            hashed.partitions_spec,
            PartitionsSpec::Hashed(HashedPartitionsSpec {
                max_rows_per_segment: Some(5_000_000),
                num_shards: None,
                partition_dimensions: vec![],
                partition_function: HashPartitionFunction::Murmur3_32Abs,
            })
        );
    }

    #[test]
    fn legacy_top_level_properties_build_the_partitions_spec() {
        let t = index(json!({"type": "index", "targetPartitionSize": 10000})).unwrap();
        assert_eq!(t.partitions_spec.max_rows_per_segment(), Some(10000));
        let t = index(json!({"maxRowsPerSegment": 7, "maxTotalRows": 9})).unwrap();
        assert_eq!(
            t.partitions_spec,
            PartitionsSpec::Dynamic {
                max_rows_per_segment: 7,
                max_total_rows: 9
            }
        );
        let t = index(json!({"forceGuaranteedRollup": true, "numShards": 3,
                             "partitionDimensions": ["page"]}))
        .unwrap();
        let PartitionsSpec::Hashed(h) = t.partitions_spec else {
            panic!("hashed")
        };
        assert_eq!((h.num_shards, h.max_rows_per_segment), (Some(3), None));
        assert_eq!(h.partition_dimensions, ["page"]);
        let t =
            index(json!({"reportParseExceptions": true, "maxSavedParseExceptions": 5})).unwrap();
        assert_eq!(
            (t.max_parse_exceptions, t.max_saved_parse_exceptions),
            (0, 1)
        );
    }

    #[test]
    fn hashed_specs_resolve_their_aliases() {
        let spec = |v| match parallel(json!({"forceGuaranteedRollup": true, "partitionsSpec": v}))
            .unwrap()
            .partitions_spec
        {
            PartitionsSpec::Hashed(h) => h,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            spec(json!({"type": "hashed", "targetRowsPerSegment": 100})).max_rows_per_segment,
            Some(100)
        );
        assert_eq!(
            spec(json!({"targetPartitionSize": 100})).max_rows_per_segment,
            Some(100)
        );
        assert_eq!(
            spec(json!({"type": "hashed", "numShards": -1, "maxRowsPerSegment": -1}))
                .max_rows_per_segment,
            Some(5_000_000)
        );
        let h =
            spec(json!({"type": "hashed", "numShards": 2, "partitionFunction": "MURMUR3_32_ABS"}));
        assert_eq!((h.num_shards, h.max_rows_per_segment), (Some(2), None));
    }

    // Table: each bad tuning config, the field Druid's error is about, and its message.
    #[test]
    fn validation_errors_name_the_field() {
        for (task_type, spec, path, message) in [
            (
                IngestionTaskType::Index,
                json!({"partitionsSpec": {"type": "dynamic", "maxRowsPerSegment": 0}}),
                "partitionsSpec.maxRowsPerSegment",
                "maxRowsPerSegment must be greater than 0",
            ),
            (
                IngestionTaskType::Index,
                json!({"partitionsSpec": {"type": "dynamic", "maxTotalRows": -5}}),
                "partitionsSpec.maxTotalRows",
                "maxTotalRows must be greater than 0",
            ),
            (
                IngestionTaskType::Index,
                json!({"partitionsSpec": {"type": "hashed"}}),
                "partitionsSpec",
                "DynamicPartitionsSpec must be used for best-effort rollup",
            ),
            (
                IngestionTaskType::Index,
                json!({"forceGuaranteedRollup": true, "partitionsSpec": {"type": "dynamic"}}),
                "partitionsSpec",
                "DynamicPartitionsSpec cannot be used for perfect rollup",
            ),
            (
                IngestionTaskType::Index,
                json!({"forceGuaranteedRollup": true, "partitionsSpec": {"type": "hashed", "numShards": 2, "targetRowsPerSegment": 5}}),
                "partitionsSpec.numShards",
                "At most one of [targetRowsPerSegment] or [numShards] must be present",
            ),
            (
                IngestionTaskType::Index,
                json!({"forceGuaranteedRollup": true, "partitionsSpec": {"type": "hashed", "targetRowsPerSegment": 5, "maxRowsPerSegment": 5}}),
                "partitionsSpec.maxRowsPerSegment",
                "At most one of [targetRowsPerSegment] or [maxRowsPerSegment] must be present",
            ),
            (
                IngestionTaskType::Index,
                json!({"forceGuaranteedRollup": true, "partitionsSpec": {"type": "hashed", "numShards": 0}}),
                "partitionsSpec.numShards",
                "numShards[0] should be positive",
            ),
            (
                IngestionTaskType::Index,
                json!({"forceGuaranteedRollup": true, "partitionsSpec": {"type": "hashed", "targetRowsPerSegment": 0}}),
                "partitionsSpec.targetRowsPerSegment",
                "targetRowsPerSegment[0] should be positive",
            ),
            (
                IngestionTaskType::Index,
                json!({"forceGuaranteedRollup": true, "partitionsSpec": {"type": "hashed", "partitionFunction": "md5"}}),
                "partitionsSpec.partitionFunction",
                "Unknown partitionFunction [md5]",
            ),
            (
                IngestionTaskType::IndexParallel,
                json!({"forceGuaranteedRollup": true, "partitionsSpec": {"type": "range", "partitionDimensions": ["a"]}}),
                "partitionsSpec.type",
                "partitionsSpec type [range] is not supported yet",
            ),
            (
                IngestionTaskType::Index,
                json!({"partitionsSpec": {"type": "magic"}}),
                "partitionsSpec.type",
                "Could not resolve type id 'magic'",
            ),
            (
                IngestionTaskType::Index,
                json!({"targetPartitionSize": 5, "maxRowsPerSegment": 5}),
                "targetPartitionSize",
                "Can't use targetPartitionSize and maxRowsPerSegment together",
            ),
            (
                IngestionTaskType::Index,
                json!({"maxRowsPerSegment": 0}),
                "maxRowsPerSegment",
                "maxRowsPerSegment must be greater than 0",
            ),
            (
                IngestionTaskType::Index,
                json!({"maxRowsInMemory": "lots"}),
                "maxRowsInMemory",
                "invalid type",
            ),
            (
                IngestionTaskType::Index,
                json!({"maxRowsInMemory": 3000000000i64}),
                "maxRowsInMemory",
                "invalid value",
            ),
            (
                IngestionTaskType::IndexParallel,
                json!({"type": "index"}),
                "type",
                "Could not resolve type id 'index' as a subtype of `ParallelIndexTuningConfig`",
            ),
            (
                IngestionTaskType::Index,
                json!({"type": "hadoop"}),
                "type",
                "Could not resolve type id 'hadoop'",
            ),
            (
                IngestionTaskType::IndexParallel,
                json!({"maxNumConcurrentSubTasks": 0}),
                "maxNumConcurrentSubTasks",
                "maxNumConcurrentSubTasks must be positive",
            ),
            (
                IngestionTaskType::IndexParallel,
                json!({"maxNumConcurrentSubTasks": 2, "maxNumSubTasks": 2}),
                "maxNumSubTasks",
                "Can't use both maxNumSubTasks and maxNumConcurrentSubTasks",
            ),
            (
                IngestionTaskType::IndexParallel,
                json!({"splitHintSpec": {"type": "maxSize", "maxSplitSize": 0}}),
                "splitHintSpec.maxSplitSize",
                "maxSplitSize should be larger than 0",
            ),
            (
                IngestionTaskType::IndexParallel,
                json!({"splitHintSpec": {"type": "maxSize", "maxNumFiles": 0}}),
                "splitHintSpec.maxNumFiles",
                "maxNumFiles should be larger than 0",
            ),
            (
                IngestionTaskType::IndexParallel,
                json!({"splitHintSpec": {"type": "maxSize", "maxSplitSize": "1XB"}}),
                "splitHintSpec.maxSplitSize",
                "Invalid format of number: 1XB",
            ),
            (
                IngestionTaskType::IndexParallel,
                json!({"splitHintSpec": {"maxSplitSize": 5}}),
                "splitHintSpec.type",
                "Missing type id",
            ),
            (
                IngestionTaskType::IndexParallel,
                json!({"chatHandlerTimeout": "soon"}),
                "chatHandlerTimeout",
                "Invalid ISO-8601 period",
            ),
        ] {
            let err = TuningConfig::from_json(Some(&spec), task_type).unwrap_err();
            assert_eq!(err.path, path, "{spec}");
            assert!(err.message.contains(message), "{spec}: {}", err.message);
        }
    }

    #[test]
    fn split_hint_sizes_read_like_human_readable_bytes() {
        let size = |v| match parallel(
            json!({"splitHintSpec": {"type": "maxSize", "maxSplitSize": v, "maxNumFiles": 7}}),
        )
        .unwrap()
        .split_hint_spec
        {
            SplitHintSpec::MaxSize {
                max_split_size,
                max_num_files,
            } => {
                assert_eq!(max_num_files, 7);
                max_split_size
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(size(json!(1234)), 1234);
        assert_eq!(size(json!("500MiB")), 500 << 20);
        assert_eq!(size(json!("1GiB")), 1 << 30);
        assert_eq!(size(json!("2gi")), 2 << 30);
        assert_eq!(size(json!("10k")), 10_000);
        assert_eq!(size(json!(" 7 ")), 7);
    }
}
