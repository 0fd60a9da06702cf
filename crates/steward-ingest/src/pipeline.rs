//! One ingestion from input to segment files: read, parse, transform, filter, roll up, then
//! cut the sorted rows into segments and write them (Druid's `InputSourceProcessor` feeding an
//! appenderator, then `IndexMergerV9`).
//!
//! Rows are read once. Each goes through the transform spec and the granularity spec's
//! intervals (rows outside them are Druid's `thrownAway`) into the rollup index, which keeps
//! memory within the tuning config by spilling sorted runs. The merged stream comes out in
//! time order, so segments are cut as it passes: at each segment-granularity bucket's end and
//! every `maxRowsPerSegment` rows (dynamic partitioning). The segments are plain directories
//! under the work directory; naming, pushing and publishing them is the task's business.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;
use serde_json::{json, Value};
use steward_model::{Granularity, Interval};
use steward_segment::{ColumnSchema, ColumnType, ColumnValue, SegmentSchema, SegmentWriter};

use crate::aggregate::{MetricType, NumericType};
use crate::dimensions::DimensionType;
use crate::index::{
    DimValue, IndexSchema, MemoryLimits, MergedRow, MergedRows, MetricValue, RollupIndex,
};
use crate::input::{open_reader, InputSourceSpec, ReaderOptions};
use crate::meters::{ParseExceptionHandler, RowIngestionMeters};
use crate::read_ahead::{Outcome, ReadAhead};
use crate::spec::{IngestionSpec, PartitionsSpec};

/// Rows written between two looks at the cancel flag.
const CHECK_EVERY: u64 = 4096;

/// What to ingest and where to report.
pub struct BuildRequest<'a> {
    pub spec: &'a IngestionSpec,
    /// The whole source, or one split of it (a sub-task's).
    pub input: &'a InputSourceSpec,
    /// Spills and segments go here; created if missing.
    pub work_dir: &'a Path,
    pub meters: &'a RowIngestionMeters,
    pub parse_exceptions: &'a ParseExceptionHandler,
    /// Set when the task is stopped: the build ends at the next check.
    pub cancel: &'a AtomicBool,
}

/// One segment written to disk, not yet named: its bucket, files and columns.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltSegment {
    pub bucket: Interval,
    pub dir: PathBuf,
    pub num_rows: u64,
    pub size_bytes: u64,
    pub dimensions: Vec<String>,
    pub metrics: Vec<String>,
}

/// Why a build failed; the task fails with this message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

impl BuildError {
    fn of(e: impl std::fmt::Display) -> BuildError {
        BuildError(e.to_string())
    }
}

/// Reads `req.input` and writes its segments, in bucket order.
pub fn build_segments(req: BuildRequest<'_>) -> Result<Vec<BuiltSegment>, BuildError> {
    let spec = req.spec;
    let schema = &spec.data_schema;
    let granularity = &schema.granularity_spec;
    let max_rows_per_segment = match &spec.tuning_config.partitions_spec {
        PartitionsSpec::Dynamic {
            max_rows_per_segment,
            ..
        } => u64::try_from(*max_rows_per_segment)
            .unwrap_or(u64::MAX)
            .max(1),
        PartitionsSpec::Hashed(_) => {
            return Err(BuildError(
                "hashed partitionsSpec is not supported by Steward yet; use dynamic".into(),
            ))
        }
    };
    let spill_dir = req.work_dir.join("spill");
    std::fs::create_dir_all(&spill_dir)
        .map_err(|e| BuildError(format!("Cannot create [{}]: {e}", spill_dir.display())))?;
    let transformer = schema.transform_spec.compile().map_err(BuildError::of)?;
    let mut index = RollupIndex::new(
        IndexSchema {
            dimensions: schema.dimensions_spec.clone(),
            metrics: schema.metrics_spec.clone(),
            query_granularity: granularity.query_granularity.clone(),
            rollup: granularity.rollup,
            timestamp_column: schema.timestamp_spec.column.clone(),
            min_timestamp: None,
        },
        MemoryLimits {
            max_rows_in_memory: usize::try_from(spec.tuning_config.max_rows_in_memory)
                .unwrap_or(usize::MAX)
                .max(1),
            max_bytes_in_memory: spec.tuning_config.max_bytes_in_memory,
        },
        &spill_dir,
    )
    .map_err(BuildError::of)?;

    let options = ReaderOptions {
        temp_dir: Some(req.work_dir.to_path_buf()),
        ..ReaderOptions::default()
    };
    let reader = open_reader(
        req.input,
        &spec.io_config.input_format,
        &schema.timestamp_spec,
        &options,
    )
    .map_err(BuildError::of)?;
    std::thread::scope(|scope| {
        let mut outcomes = ReadAhead {
            reader,
            transformer: &transformer,
            intervals: &granularity.intervals,
            meters: req.meters,
            cancel: req.cancel,
        }
        .spawn(scope);
        while let Some(batch) = outcomes.next_batch() {
            if req.cancel.load(Ordering::Relaxed) {
                return Err(BuildError("Canceled".into()));
            }
            for outcome in &batch {
                match outcome {
                    Outcome::Row(row) => {
                        match index.add(row).map_err(BuildError::of)?.parse_error {
                            None => req.meters.add_processed(1),
                            Some(e) => req
                                .parse_exceptions
                                .processed_with_error(req.meters, vec![e.message], None)
                                .map_err(BuildError::of)?,
                        }
                    }
                    Outcome::Unparseable(e) => req
                        .parse_exceptions
                        .unparseable(req.meters, e, None)
                        .map_err(BuildError::of)?,
                    Outcome::ThrownAway => req.meters.add_thrown_away(1),
                    Outcome::Fatal(e) => return Err(BuildError(e.clone())),
                }
            }
            outcomes.recycle(batch);
        }
        // The reader also stops at the flag, which ends the batches early.
        match req.cancel.load(Ordering::Relaxed) {
            true => Err(BuildError("Canceled".into())),
            false => Ok(()),
        }
    })?;
    let merged = index.finish().map_err(BuildError::of)?;
    let segment_granularity = granularity
        .segment_granularity
        .clone()
        .unwrap_or(Granularity::All);
    let metadata = metadata_json(spec);
    SegmentCutter {
        work_dir: req.work_dir,
        cancel: req.cancel,
        segment_granularity,
        max_rows_per_segment,
        metadata,
    }
    .cut(merged)
}

/// Cuts the merged rows into segments and writes them.
struct SegmentCutter<'a> {
    work_dir: &'a Path,
    cancel: &'a AtomicBool,
    segment_granularity: Granularity,
    max_rows_per_segment: u64,
    metadata: Value,
}

impl SegmentCutter<'_> {
    fn cut(&self, mut merged: MergedRows) -> Result<Vec<BuiltSegment>, BuildError> {
        let schema = segment_schema(&merged);
        let mut built = Vec::new();
        let mut open: Option<(Interval, SegmentWriter, u64)> = None;
        let mut written = 0u64;
        while let Some(row) = merged.next_row().map_err(BuildError::of)? {
            written += 1;
            if written.is_multiple_of(CHECK_EVERY) && self.cancel.load(Ordering::Relaxed) {
                return Err(BuildError("Canceled".into()));
            }
            let time = row.time();
            let full = open.as_ref().is_some_and(|(bucket, _, n)| {
                !contains_millis(bucket, time) || *n >= self.max_rows_per_segment
            });
            if full {
                let (bucket, writer, _) = open.take().expect("an open segment");
                built.push(self.finish(bucket, writer, built.len())?);
            }
            if open.is_none() {
                let bucket = self.bucket(time)?;
                let dir = self.work_dir.join(format!("build_{}", built.len()));
                let writer = SegmentWriter::new(&dir, schema.clone()).map_err(BuildError::of)?;
                open = Some((bucket, writer, 0));
            }
            let (_, writer, n) = open.as_mut().expect("an open segment");
            let multi = multi_values(&row, schema.dimensions.len());
            let values = row_values(&row, &schema, &multi);
            writer.add_row(time, &values).map_err(BuildError::of)?;
            *n += 1;
        }
        if let Some((bucket, writer, _)) = open {
            built.push(self.finish(bucket, writer, built.len())?);
        }
        Ok(built)
    }

    fn bucket(&self, time: i64) -> Result<Interval, BuildError> {
        let t = Timestamp::from_millisecond(time)
            .map_err(|e| BuildError(format!("Row time [{time}] is out of range: {e}")))?;
        Ok(self.segment_granularity.bucket(t))
    }

    fn finish(
        &self,
        bucket: Interval,
        writer: SegmentWriter,
        ordinal: usize,
    ) -> Result<BuiltSegment, BuildError> {
        let dir = self.work_dir.join(format!("segment_{ordinal}"));
        let span = (bucket.start.as_millisecond(), bucket.end.as_millisecond());
        let written = writer
            .finish(&dir, span, &self.metadata)
            .map_err(BuildError::of)?;
        Ok(BuiltSegment {
            bucket,
            dir,
            num_rows: written.num_rows,
            size_bytes: written.size_bytes,
            dimensions: written.dimensions,
            metrics: written.metrics,
        })
    }
}

/// The columns of every segment of this ingestion: the index's final dimensions, then its
/// metrics.
fn segment_schema(merged: &MergedRows) -> SegmentSchema {
    let dimensions = merged
        .dimensions()
        .iter()
        .enumerate()
        .map(|(i, d)| ColumnSchema {
            name: d.name.clone(),
            kind: match d.kind {
                DimensionType::String => ColumnType::String {
                    multi_value: merged.has_multiple_values(i),
                },
                DimensionType::Long => ColumnType::Long,
                DimensionType::Float => ColumnType::Float,
                DimensionType::Double => ColumnType::Double,
            },
        })
        .collect();
    let metrics = merged
        .metrics()
        .iter()
        .map(|m| ColumnSchema {
            name: m.name().to_string(),
            kind: match m.metric_type() {
                MetricType::Numeric(NumericType::Long) => ColumnType::Long,
                MetricType::Numeric(NumericType::Float) => ColumnType::Float,
                MetricType::Numeric(NumericType::Double) => ColumnType::Double,
                MetricType::Pair(_) => unreachable!("first/last metrics are refused at submit"),
            },
        })
        .collect();
    SegmentSchema {
        dimensions,
        metrics,
    }
}

/// The elements of the row's multi-value dimensions, by dimension (empty for the others).
fn multi_values<'r>(row: &MergedRow<'r>, dimensions: usize) -> Vec<Vec<Option<&'r str>>> {
    (0..dimensions)
        .map(|i| match row.dimension(i) {
            DimValue::Strings(elements) => elements.iter().collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// The row's values in schema order: dimensions, then metrics.
fn row_values<'r>(
    row: &MergedRow<'r>,
    schema: &SegmentSchema,
    multi: &'r [Vec<Option<&'r str>>],
) -> Vec<ColumnValue<'r>> {
    let mut values = Vec::with_capacity(schema.dimensions.len() + schema.metrics.len());
    for (i, elements) in multi.iter().enumerate() {
        values.push(match row.dimension(i) {
            DimValue::Null => ColumnValue::Null,
            DimValue::String(s) => ColumnValue::String(s),
            DimValue::Strings(_) => ColumnValue::Strings(elements),
            DimValue::Long(v) => ColumnValue::Long(v),
            DimValue::Float(v) => ColumnValue::Float(v),
            DimValue::Double(v) => ColumnValue::Double(v),
        });
    }
    for i in 0..schema.metrics.len() {
        values.push(match row.metric(i) {
            MetricValue::Null => ColumnValue::Null,
            MetricValue::Long(v) => ColumnValue::Long(v),
            MetricValue::Float(v) => ColumnValue::Float(v),
            MetricValue::Double(v) => ColumnValue::Double(v),
            MetricValue::LongPair(..)
            | MetricValue::FloatPair(..)
            | MetricValue::DoublePair(..) => {
                unreachable!("first/last metrics are refused at submit")
            }
        });
    }
    values
}

/// Druid's `Metadata` for `metadata.drd`: the combining aggregators, the timestamp spec, the
/// query granularity and rollup.
fn metadata_json(spec: &IngestionSpec) -> Value {
    let schema = &spec.data_schema;
    json!({
        "container": {},
        "aggregators": schema.metrics_spec.iter().map(|m| m.combining_json()).collect::<Vec<_>>(),
        "timestampSpec": schema.timestamp_spec,
        "queryGranularity": schema.granularity_spec.query_granularity.to_json(),
        "rollup": schema.granularity_spec.rollup,
    })
}

fn contains_millis(interval: &Interval, t: i64) -> bool {
    interval.start.as_millisecond() <= t && t < interval.end.as_millisecond()
}
