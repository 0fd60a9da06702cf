//! One ingestion from input to segment files: read, parse, transform, filter, roll up, then
//! cut the sorted rows into segments and write them (Druid's `InputSourceProcessor` feeding an
//! appenderator, then `IndexMergerV9`).
//!
//! Rows are read once. Each goes through the transform spec and the granularity spec's
//! intervals (rows outside them are Druid's `thrownAway`) into the rollup index, which keeps
//! memory within the tuning config by spilling sorted runs. The merged stream comes out in
//! time order, so segments are cut as it passes, at each segment-granularity bucket's end:
//! dynamic partitioning starts a new segment every `maxRowsPerSegment` rows; hashed
//! partitioning (perfect rollup) writes each row of a chunk into the segment of its hash
//! bucket, one segment per non-empty bucket. Given `numShards`, every chunk has that many
//! buckets; given only a row target, Druid estimates each chunk's rolled-up rows with a
//! HyperLogLog sketch over a first read of the input, whereas here a first pass over the merged
//! stream counts them exactly, and the chunk gets `ceil(rows / target)` buckets. The segments
//! are plain directories under the work directory; naming, pushing and publishing them is the
//! task's business.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Value};
use steward_model::Interval;
use steward_segment::{ColumnSchema, ColumnType, ColumnValue, SegmentSchema, SegmentWriter};

use crate::aggregate::{MetricType, NumericType};
use crate::dimensions::DimensionType;
use crate::hash_partitioner::HashPartitioner;
use crate::index::{
    DimValue, IndexSchema, MemoryLimits, MergedRow, MergedRows, MetricValue, RollupIndex,
};
use crate::input::{open_reader, InputSourceSpec, ReaderOptions};
use crate::meters::{ParseExceptionHandler, RowIngestionMeters};
use crate::read_ahead::{Outcome, ReadAhead};
use crate::spec::tuning::HashPartitionFunction;
use crate::spec::GranularitySpec;
use crate::spec::{HashedPartitionsSpec, IngestionSpec, PartitionsSpec};

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
    /// The hash bucket it holds, under hashed partitioning.
    pub hash_bucket: Option<HashBucket>,
}

/// Which hash bucket of its time chunk a segment holds: what its `hashed` shard spec says. Its
/// JSON is Druid's `HashBucketShardSpec` (`bucket_hash`), a bucket not yet numbered, as a
/// hash-partitioned ingestion's first phase reports its partial segments.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename = "bucket_hash", rename_all = "camelCase")]
pub struct HashBucket {
    pub bucket_id: u32,
    pub num_buckets: u32,
    #[serde(default)]
    pub partition_dimensions: Vec<String>,
    pub partition_function: HashPartitionFunction,
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
        spec.io_config.input_format.as_ref(),
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
    let mut cutter = SegmentCutter {
        work_dir: req.work_dir,
        cancel: req.cancel,
        granularity,
        metadata: metadata_json(spec),
        schema: segment_schema(&merged),
        built: Vec::new(),
        opened: 0,
    };
    match &spec.tuning_config.partitions_spec {
        PartitionsSpec::Dynamic {
            max_rows_per_segment,
            ..
        } => {
            let max_rows = u64::try_from(*max_rows_per_segment)
                .unwrap_or(u64::MAX)
                .max(1);
            cutter.cut_dynamic(merged, max_rows)?;
        }
        PartitionsSpec::Hashed(hashed) => cutter.cut_hashed(merged, hashed)?,
    }
    Ok(cutter.built)
}

/// Cuts the merged rows into segments and writes them.
struct SegmentCutter<'a> {
    work_dir: &'a Path,
    cancel: &'a AtomicBool,
    /// Cuts at its segment granularity's buckets, or an `arbitrary` spec's intervals.
    granularity: &'a GranularitySpec,
    metadata: Value,
    schema: SegmentSchema,
    /// In bucket order, and by hash bucket within a time chunk.
    built: Vec<BuiltSegment>,
    /// Writers started so far, for their work directories' names.
    opened: usize,
}

/// A segment being written.
struct OpenSegment {
    writer: SegmentWriter,
    rows: u64,
}

impl SegmentCutter<'_> {
    /// Dynamic partitioning: a new segment at each chunk's end and every `max_rows` rows.
    fn cut_dynamic(&mut self, mut merged: MergedRows, max_rows: u64) -> Result<(), BuildError> {
        let mut open: Option<(Interval, OpenSegment)> = None;
        let mut seen = 0u64;
        while let Some(row) = merged.next_row().map_err(BuildError::of)? {
            self.check_cancel(&mut seen)?;
            let time = row.time();
            let full = open.as_ref().is_some_and(|(chunk, segment)| {
                !contains_millis(chunk, time) || segment.rows >= max_rows
            });
            if full {
                let (chunk, segment) = open.take().expect("an open segment");
                self.finish(chunk, segment, None)?;
            }
            let (_, segment) = match &mut open {
                Some(open) => open,
                None => open.insert((self.chunk(time)?, self.open()?)),
            };
            self.add(segment, &row)?;
        }
        if let Some((chunk, segment)) = open {
            self.finish(chunk, segment, None)?;
        }
        Ok(())
    }

    /// Hashed partitioning: each chunk's rows go to the segments of their hash buckets.
    fn cut_hashed(
        &mut self,
        mut merged: MergedRows,
        spec: &HashedPartitionsSpec,
    ) -> Result<(), BuildError> {
        let mut count = match spec.num_shards {
            Some(shards) => BucketCount::Shards(u32::try_from(shards).unwrap_or(1).max(1)),
            None => BucketCount::Counted {
                chunks: self.count_chunk_rows(&mut merged)?.into_iter(),
                target_rows: spec
                    .max_rows_per_segment
                    .map_or(1, |t| u64::try_from(t).unwrap_or(1).max(1)),
            },
        };
        let mut partitioner = HashPartitioner::new(
            spec.partition_function,
            &spec.partition_dimensions,
            merged.dimensions(),
        );
        // The current chunk, its bucket count and its buckets' segments (`None`: no row yet).
        let mut chunk: Option<(Interval, u32)> = None;
        let mut buckets: Vec<Option<OpenSegment>> = Vec::new();
        let mut seen = 0u64;
        while let Some(row) = merged.next_row().map_err(BuildError::of)? {
            self.check_cancel(&mut seen)?;
            let time = row.time();
            let num_buckets = match chunk {
                Some((interval, n)) if contains_millis(&interval, time) => n,
                _ => {
                    if let Some((interval, n)) = chunk.take() {
                        self.finish_buckets(interval, n, &mut buckets, spec)?;
                    }
                    let interval = self.chunk(time)?;
                    let n = count.next_chunk(interval)?;
                    buckets.clear();
                    buckets.resize_with(n as usize, || None);
                    chunk = Some((interval, n));
                    n
                }
            };
            let bucket = match num_buckets {
                1 => 0,
                n => partitioner.bucket(&row, n) as usize,
            };
            let segment = match &mut buckets[bucket] {
                Some(segment) => segment,
                slot => slot.insert(self.open()?),
            };
            self.add(segment, &row)?;
        }
        if let Some((interval, n)) = chunk {
            self.finish_buckets(interval, n, &mut buckets, spec)?;
        }
        Ok(())
    }

    /// The rolled-up rows of each chunk, in order; leaves `merged` rewound.
    fn count_chunk_rows(
        &self,
        merged: &mut MergedRows,
    ) -> Result<Vec<(Interval, u64)>, BuildError> {
        let mut counts: Vec<(Interval, u64)> = Vec::new();
        let mut seen = 0u64;
        while let Some(row) = merged.next_row().map_err(BuildError::of)? {
            self.check_cancel(&mut seen)?;
            let time = row.time();
            match counts.last_mut() {
                Some((chunk, rows)) if contains_millis(chunk, time) => *rows += 1,
                _ => counts.push((self.chunk(time)?, 1)),
            }
        }
        merged.rewind().map_err(BuildError::of)?;
        Ok(counts)
    }

    /// Writes the chunk's non-empty buckets, in bucket order.
    fn finish_buckets(
        &mut self,
        chunk: Interval,
        num_buckets: u32,
        buckets: &mut [Option<OpenSegment>],
        spec: &HashedPartitionsSpec,
    ) -> Result<(), BuildError> {
        for (bucket_id, segment) in (0..num_buckets).zip(buckets.iter_mut()) {
            if let Some(segment) = segment.take() {
                let hash_bucket = HashBucket {
                    bucket_id,
                    num_buckets,
                    partition_dimensions: spec.partition_dimensions.clone(),
                    partition_function: spec.partition_function,
                };
                self.finish(chunk, segment, Some(hash_bucket))?;
            }
        }
        Ok(())
    }

    fn check_cancel(&self, seen: &mut u64) -> Result<(), BuildError> {
        *seen += 1;
        if seen.is_multiple_of(CHECK_EVERY) && self.cancel.load(Ordering::Relaxed) {
            return Err(BuildError("Canceled".into()));
        }
        Ok(())
    }

    fn chunk(&self, time: i64) -> Result<Interval, BuildError> {
        self.granularity.bucket_interval(time).ok_or_else(|| {
            // Rows reach the cutter with their time truncated to the query granularity.
            BuildError(format!(
                "A row's time [{time}], truncated to the query granularity, falls outside the spec's intervals: use a query granularity that does not reach past them"
            ))
        })
    }

    fn open(&mut self) -> Result<OpenSegment, BuildError> {
        let dir = self.work_dir.join(format!("build_{}", self.opened));
        self.opened += 1;
        let writer = SegmentWriter::new(&dir, self.schema.clone()).map_err(BuildError::of)?;
        Ok(OpenSegment { writer, rows: 0 })
    }

    fn add(&self, segment: &mut OpenSegment, row: &MergedRow<'_>) -> Result<(), BuildError> {
        let multi = multi_values(row, self.schema.dimensions.len());
        let values = row_values(row, &self.schema, &multi);
        segment
            .writer
            .add_row(row.time(), &values)
            .map_err(BuildError::of)?;
        segment.rows += 1;
        Ok(())
    }

    fn finish(
        &mut self,
        chunk: Interval,
        segment: OpenSegment,
        hash_bucket: Option<HashBucket>,
    ) -> Result<(), BuildError> {
        let dir = self.work_dir.join(format!("segment_{}", self.built.len()));
        let span = (chunk.start.as_millisecond(), chunk.end.as_millisecond());
        let written = segment
            .writer
            .finish(&dir, span, &self.metadata)
            .map_err(BuildError::of)?;
        self.built.push(BuiltSegment {
            bucket: chunk,
            dir,
            num_rows: written.num_rows,
            size_bytes: written.size_bytes,
            dimensions: written.dimensions,
            metrics: written.metrics,
            hash_bucket,
        });
        Ok(())
    }
}

/// How many hash buckets each time chunk gets.
enum BucketCount {
    /// `numShards`.
    Shards(u32),
    /// Druid's `ceil(rows / targetRowsPerSegment)` of each chunk's rolled-up rows, counted by
    /// a first pass, in chunk order.
    Counted {
        chunks: std::vec::IntoIter<(Interval, u64)>,
        target_rows: u64,
    },
}

impl BucketCount {
    /// The bucket count of the next chunk, `chunk`.
    fn next_chunk(&mut self, chunk: Interval) -> Result<u32, BuildError> {
        match self {
            BucketCount::Shards(n) => Ok(*n),
            BucketCount::Counted {
                chunks,
                target_rows,
            } => match chunks.next() {
                Some((counted, rows)) if counted == chunk => {
                    let n = rows.div_ceil(*target_rows).max(1);
                    Ok(u32::try_from(n).unwrap_or(u32::MAX).min(i32::MAX as u32))
                }
                _ => Err(BuildError(format!(
                    "The rows of chunk [{chunk}] were not counted before they were written"
                ))),
            },
        }
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

#[cfg(test)]
mod tests;
