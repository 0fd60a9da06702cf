//! The rollup index: Druid's `IncrementalIndex` with bounded memory, spills and a merge.
//!
//! [`RollupIndex::add`] does what Druid's `OnheapIncrementalIndex.add` does with a row: its time
//! is truncated to the query granularity, each dimension's value becomes a key component
//! (discovering string dimensions from the row when the dimensions spec asks for it), and the
//! metrics aggregate into the row of that key (a new row per input row when rollup is off). A
//! value a dimension or an aggregator cannot take is Druid's `processedWithError`: the row is
//! still added, with that value null, and the error is returned for the caller to count.
//!
//! Memory is bounded the way Druid's appenderator bounds it: once the rows in memory reach
//! `maxRowsInMemory`, or Druid's estimate of their heap size reaches `maxBytesInMemory`, the
//! rows are sorted and spilled to a run file and memory is cleared (Druid persists an
//! intermediate segment). [`RollupIndex::finish`] merges the runs (at most [`MERGE_FAN_IN`] at a
//! time, in passes) into one sorted, rolled-up stream, [`MergedRows`]; with no spill the rows
//! come straight from memory.
//!
//! The order is Druid's: time, then the dimensions in order, strings by UTF-16 code units
//! (Java's `String.compareTo`) with null first, multi-value rows element by element then by
//! length, numbers numerically with null first. Dimensions keep the order they were listed or
//! first seen in, which is the order Druid's `IndexMerger` keeps when every spill's dimensions
//! extend the previous spill's, as they do here.

mod dictionary;
mod dimension;
mod facts;
pub(crate) mod java;
mod merge;
mod metrics;
mod run;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use hashbrown::HashMap;
use jiff::Timestamp;
use steward_model::granularity::Granularity;

use self::dimension::{DimensionIndexer, Scratch, MULTI_FLAG};
use self::facts::{make_key, Facts};
use self::java::{string_to_number, JavaValue, Number};
use self::merge::{Merger, RowDims};
use self::metrics::{Input, MetricLayout};
use self::run::{Run, RunWriter};
use crate::aggregate::AggregatorFactory;
use crate::dimensions::{DimensionSchema, DimensionType, DimensionsSpec, Exclusions};
use crate::row::{InputRow, Value};
use crate::ParseError;

pub use self::merge::{DimValue, MergedRow, MultiValue};
pub use self::metrics::MetricValue;

/// The heap Druid would divide for `maxBytesInMemory: 0`: Druid takes a sixth of the JVM heap;
/// a task here budgets 512 MiB.
pub const DEFAULT_HEAP_BUDGET: u64 = 512 << 20;
/// `maxBytesInMemory` when the tuning config says 0.
pub const DEFAULT_MAX_BYTES_IN_MEMORY: u64 = DEFAULT_HEAP_BUDGET / 6;
/// Druid's `maxRowsInMemory` default for batch tasks.
pub const DEFAULT_MAX_ROWS_IN_MEMORY: usize = 1_000_000;
/// The most runs merged at once; more are merged in passes.
pub const MERGE_FAN_IN: usize = 64;

/// Druid's per-row overhead of the facts map entry (`ROUGH_OVERHEAD_PER_MAP_ENTRY`).
const ROUGH_OVERHEAD_PER_MAP_ENTRY: u64 = 5 * 8 + 4;
/// A dictionary nearing the id space (ids share 32 bits with the multi-value flag) spills;
/// rows in memory are bounded by the same.
const MAX_DICTIONARY_SIZE: usize = 1 << 30;

/// What the index makes of rows.
#[derive(Debug, Clone)]
pub struct IndexSchema {
    /// As given in the spec; resolved (and discovered) by the index.
    pub dimensions: DimensionsSpec,
    pub metrics: Vec<AggregatorFactory>,
    pub query_granularity: Granularity,
    pub rollup: bool,
    /// The timestamp spec's column, which never becomes a discovered dimension.
    pub timestamp_column: String,
    /// Druid's `minTimestamp` (the segment interval's start): earlier rows are refused and
    /// truncated times never go below it.
    pub min_timestamp: Option<i64>,
}

/// The tuning config's memory bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    pub max_rows_in_memory: usize,
    /// Druid's meaning: 0 is [`DEFAULT_MAX_BYTES_IN_MEMORY`], negative is no limit.
    pub max_bytes_in_memory: i64,
}

impl Default for MemoryLimits {
    fn default() -> MemoryLimits {
        MemoryLimits {
            max_rows_in_memory: DEFAULT_MAX_ROWS_IN_MEMORY,
            max_bytes_in_memory: 0,
        }
    }
}

impl MemoryLimits {
    fn max_bytes(&self) -> u64 {
        match self.max_bytes_in_memory {
            0 => DEFAULT_MAX_BYTES_IN_MEMORY,
            n if n < 0 => u64::MAX,
            n => n as u64,
        }
    }
}

/// What adding one row did.
#[derive(Debug, Clone, PartialEq)]
pub struct AddOutcome {
    /// Druid's `processedWithError`: the row was added, these values as null.
    pub parse_error: Option<ParseError>,
}

/// Counters of an index's work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub rows_added: u64,
    pub rows_in_memory_peak: usize,
    pub spills: u64,
    pub rows_spilled: u64,
    /// Bytes written to run files, by spills and by merge passes.
    pub bytes_spilled: u64,
    /// Merge passes before the final merge (when there were more than [`MERGE_FAN_IN`] runs).
    pub merge_passes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("rollup index spill files in [{dir}]: {source}")]
    Spill { dir: PathBuf, source: io::Error },
    #[error("row timestamp [{0}] is outside the time range the query granularity can bucket")]
    Timestamp(i64),
    #[error("cannot add a row at [{time}] to an index whose minimum timestamp is [{min}]")]
    BeforeMinTimestamp { time: i64, min: i64 },
}

/// A field of the row is not read.
const IGNORED: u32 = u32::MAX;
/// A slot no field of the row filled.
const NO_FIELD: u32 = u32::MAX;

/// Maps a row's field names to the input slots the dimensions and aggregators read.
#[derive(Default)]
struct FieldRouter {
    slots: HashMap<Box<str>, u32>,
    /// The name and slot of the field at each position of the previous row: readers reuse
    /// their names, so most rows are routed without hashing.
    cache: Vec<Option<(Arc<str>, u32)>>,
    count: u32,
}

impl FieldRouter {
    /// The slot reading `name`, made if new.
    fn slot(&mut self, name: &str) -> u32 {
        if let Some(&slot) = self.slots.get(name) {
            return slot;
        }
        let slot = self.count;
        self.count += 1;
        self.slots.insert(name.into(), slot);
        slot
    }
}

/// The in-memory index: Druid's `IncrementalIndex`, spilling when full.
pub struct RollupIndex {
    rollup: bool,
    granularity: Granularity,
    bucket: Option<(i64, i64)>,
    min_timestamp: i64,
    dimensions: Vec<DimensionSchema>,
    indexers: Vec<DimensionIndexer>,
    multi_valued: Vec<bool>,
    discovery: Option<Exclusions>,
    metrics: Vec<AggregatorFactory>,
    layout: MetricLayout,
    router: FieldRouter,
    dim_slots: Vec<u32>,
    /// Per metric: the slot of its field (`None` for count).
    metric_slots: Vec<Option<u32>>,
    /// Per metric: the slot of its time column (`None`: the row's own time).
    time_slots: Vec<Option<u32>>,
    facts: Facts,
    max_rows: usize,
    max_bytes: u64,
    bytes_in_memory: u64,
    spill_dir: PathBuf,
    runs: Vec<Run>,
    stats: IndexStats,
    field_of_slot: Vec<u32>,
    components: Vec<u32>,
    key: Vec<u32>,
    scratch: Scratch,
    errors: Vec<String>,
}

/// Makes run file names unique among the indexes of a process sharing a directory.
static RUN_NUMBER: AtomicU64 = AtomicU64::new(0);

impl RollupIndex {
    /// An empty index spilling into `spill_dir` (which must exist).
    pub fn new(
        schema: IndexSchema,
        limits: MemoryLimits,
        spill_dir: &Path,
    ) -> Result<RollupIndex, IndexError> {
        let resolved = schema
            .dimensions
            .resolve(&schema.timestamp_column, &schema.metrics);
        let layout = MetricLayout::new(&schema.metrics);
        let mut router = FieldRouter::default();
        let dim_slots = resolved
            .fixed
            .iter()
            .map(|d| router.slot(&d.name))
            .collect();
        let metric_slots = schema
            .metrics
            .iter()
            .map(|m| m.field_name.as_deref().map(|f| router.slot(f)))
            .collect();
        let time_slots = schema
            .metrics
            .iter()
            .map(|m| {
                let column = m.time_column();
                (m.kind.is_first_last() && column != crate::row::TIME_COLUMN)
                    .then(|| router.slot(column))
            })
            .collect();
        let indexers = resolved
            .fixed
            .iter()
            .map(|d| DimensionIndexer::new(d.kind, d.multi_value_handling))
            .collect();
        if !spill_dir.is_dir() {
            return Err(IndexError::Spill {
                dir: spill_dir.to_path_buf(),
                source: io::Error::new(io::ErrorKind::NotFound, "not a directory"),
            });
        }
        Ok(RollupIndex {
            rollup: schema.rollup,
            granularity: schema.query_granularity,
            bucket: None,
            min_timestamp: schema.min_timestamp.unwrap_or(i64::MIN),
            multi_valued: vec![false; resolved.fixed.len()],
            dimensions: resolved.fixed,
            indexers,
            discovery: resolved.discovery,
            facts: Facts::new(&layout, schema.rollup),
            metrics: schema.metrics,
            layout,
            router,
            dim_slots,
            metric_slots,
            time_slots,
            // Row numbers and ids are 32-bit.
            max_rows: limits.max_rows_in_memory.clamp(1, MAX_DICTIONARY_SIZE),
            max_bytes: limits.max_bytes(),
            bytes_in_memory: 0,
            spill_dir: spill_dir.to_path_buf(),
            runs: Vec::new(),
            stats: IndexStats::default(),
            field_of_slot: Vec::new(),
            components: Vec::new(),
            key: Vec::new(),
            scratch: Scratch::default(),
            errors: Vec::new(),
        })
    }

    /// Adds one row; spills first if the rows in memory are at a limit.
    pub fn add(&mut self, row: &InputRow) -> Result<AddOutcome, IndexError> {
        let time = self.truncate(row.timestamp)?;
        self.stats.rows_added += 1;
        self.route_fields(row);
        self.errors.clear();
        self.components.clear();
        let mut key_size = 0;
        for d in 0..self.indexers.len() {
            let value = field(row, &self.field_of_slot, self.dim_slots[d]);
            let (component, size) = self.indexers[d].encode(
                &self.dimensions[d].name,
                value,
                &mut self.scratch,
                &mut self.errors,
            );
            self.multi_valued[d] |= component & MULTI_FLAG != 0;
            self.components.push(component);
            key_size += size;
        }
        make_key(&mut self.key, time, &self.components);
        let (r, new) = self.facts.row_for(&self.key, &self.layout);
        let states = self.facts.states_mut(r);
        for (m, metric) in self.metrics.iter().enumerate() {
            let input = match self.metric_slots[m] {
                None => Input::Null,
                Some(slot) => {
                    let value = field(row, &self.field_of_slot, slot);
                    number_input(value, metric.field_name.as_deref(), &mut self.errors)
                }
            };
            let time = if !metric.kind.is_first_last() {
                None
            } else {
                match self.time_slots[m] {
                    None => Some(row.timestamp),
                    Some(slot) => {
                        let value = field(row, &self.field_of_slot, slot);
                        match number_input(value, Some(metric.time_column()), &mut self.errors) {
                            Input::Value(n) => Some(n.to_long()),
                            Input::Null | Input::Unparseable => None,
                        }
                    }
                }
            };
            self.layout.aggregate(states, m, input, time);
        }
        if new {
            // Druid's estimate: the key (time, the dims array and references), the aggregators,
            // and the facts map entry.
            self.bytes_in_memory += 8
                + 4 * self.indexers.len() as u64
                + 16
                + key_size
                + self.layout.estimated_size()
                + ROUGH_OVERHEAD_PER_MAP_ENTRY;
        }
        self.stats.rows_in_memory_peak = self.stats.rows_in_memory_peak.max(self.facts.len());
        let parse_error = (!self.errors.is_empty()).then(|| self.parse_error(row));
        if self.facts.len() >= self.max_rows
            || self.bytes_in_memory >= self.max_bytes
            || self.indexers.iter().any(|i| i.len() >= MAX_DICTIONARY_SIZE)
        {
            self.spill()?;
        }
        Ok(AddOutcome { parse_error })
    }

    /// The rows in memory now.
    pub fn rows_in_memory(&self) -> usize {
        self.facts.len()
    }

    /// Druid's estimate of the bytes the rows in memory take.
    pub fn bytes_in_memory(&self) -> u64 {
        self.bytes_in_memory
    }

    pub fn stats(&self) -> &IndexStats {
        &self.stats
    }

    /// The dimensions so far: listed ones, then discovered ones in order of discovery.
    pub fn dimensions(&self) -> &[DimensionSchema] {
        &self.dimensions
    }

    /// Sorts and merges everything added into one stream.
    pub fn finish(mut self) -> Result<MergedRows, IndexError> {
        let kinds: Vec<DimensionType> = self.dimensions.iter().map(|d| d.kind).collect();
        let source = if self.runs.is_empty() {
            let order = self.facts.sorted(&self.indexers);
            RowSource::Memory {
                facts: std::mem::replace(&mut self.facts, Facts::new(&self.layout, self.rollup)),
                indexers: std::mem::take(&mut self.indexers),
                order,
                next: 0,
            }
        } else {
            self.spill()?;
            // Free the in-memory index before the merge takes its buffers.
            self.facts = Facts::new(&self.layout, self.rollup);
            self.indexers = Vec::new();
            let mut runs = std::mem::take(&mut self.runs);
            while runs.len() > MERGE_FAN_IN {
                runs = self.merge_pass(runs, &kinds)?;
                self.stats.merge_passes += 1;
            }
            let merger = Merger::new(runs, kinds, self.layout.clone(), self.rollup)
                .map_err(|e| spill_error(&self.spill_dir, e))?;
            RowSource::Merge(merger)
        };
        Ok(MergedRows {
            layout: self.layout,
            dimensions: self.dimensions,
            multi_valued: self.multi_valued,
            metrics: self.metrics,
            stats: self.stats,
            spill_dir: self.spill_dir,
            source,
        })
    }

    /// Merges consecutive groups of runs, keeping their order.
    fn merge_pass(
        &mut self,
        runs: Vec<Run>,
        kinds: &[DimensionType],
    ) -> Result<Vec<Run>, IndexError> {
        let mut merged = Vec::with_capacity(runs.len().div_ceil(MERGE_FAN_IN));
        let mut runs = runs.into_iter().peekable();
        while runs.peek().is_some() {
            let group: Vec<Run> = runs.by_ref().take(MERGE_FAN_IN).collect();
            let path = self.next_run_path();
            let run = Merger::new(group, kinds.to_vec(), self.layout.clone(), self.rollup)
                .and_then(|m| m.write_to(RunWriter::create(path, kinds.len())?))
                .map_err(|e| spill_error(&self.spill_dir, e))?;
            self.stats.bytes_spilled += run.bytes();
            merged.push(run);
        }
        Ok(merged)
    }

    fn next_run_path(&self) -> PathBuf {
        let n = RUN_NUMBER.fetch_add(1, AtomicOrdering::Relaxed);
        self.spill_dir
            .join(format!("rollup-{}-{n}.run", std::process::id()))
    }

    /// Sorts the rows in memory into a run file and clears memory.
    fn spill(&mut self) -> Result<(), IndexError> {
        if self.facts.is_empty() {
            return Ok(());
        }
        let order = self.facts.sorted(&self.indexers);
        let path = self.next_run_path();
        let run = self
            .write_run(&order, path)
            .map_err(|e| spill_error(&self.spill_dir, e))?;
        self.stats.spills += 1;
        self.stats.rows_spilled += run.rows();
        self.stats.bytes_spilled += run.bytes();
        self.runs.push(run);
        self.facts.clear();
        self.indexers.iter_mut().for_each(DimensionIndexer::clear);
        self.bytes_in_memory = 0;
        Ok(())
    }

    fn write_run(&self, order: &[u32], path: PathBuf) -> io::Result<Run> {
        let mut writer = RunWriter::create(path, self.indexers.len())?;
        for &row in order {
            let row = row as usize;
            writer.begin_row(self.facts.time(row))?;
            for (d, indexer) in self.indexers.iter().enumerate() {
                match indexer.component(self.facts.component(row, d)) {
                    dimension::Component::Null => writer.null(),
                    dimension::Component::String(s) => writer.string(s),
                    dimension::Component::Strings(ids) => {
                        writer.strings(ids.len(), ids.iter().map(|&id| indexer.string(id)))
                    }
                    dimension::Component::Number(bits) => writer.number(bits),
                }
            }
            writer.end_row(self.facts.states(row));
        }
        writer.finish()
    }

    /// The row's time truncated to the query granularity (the bucket is cached: rows come in
    /// runs of one bucket).
    fn truncate(&mut self, time: i64) -> Result<i64, IndexError> {
        if time < self.min_timestamp {
            return Err(IndexError::BeforeMinTimestamp {
                time,
                min: self.min_timestamp,
            });
        }
        let start = match (&self.granularity, self.bucket) {
            (Granularity::None, _) => time,
            (_, Some((start, end))) if start <= time && time < end => start,
            (granularity, _) => {
                let at =
                    Timestamp::from_millisecond(time).map_err(|_| IndexError::Timestamp(time))?;
                let bucket = granularity.bucket(at);
                let (start, end) = (bucket.start.as_millisecond(), bucket.end.as_millisecond());
                self.bucket = Some((start, end));
                start
            }
        };
        Ok(start.max(self.min_timestamp))
    }

    /// Fills `field_of_slot` with the position of the field each slot reads, discovering
    /// dimensions from new fields when the spec asks for it.
    fn route_fields(&mut self, row: &InputRow) {
        self.field_of_slot.clear();
        self.field_of_slot
            .resize(self.router.count as usize, NO_FIELD);
        for (position, (name, _)) in row.fields.iter().enumerate() {
            let cached = self.router.cache.get(position).and_then(|c| c.as_ref());
            let slot = match cached {
                Some((known, slot)) if Arc::ptr_eq(known, name) || **known == **name => *slot,
                _ => {
                    let slot = self.slot_of_new_name(name);
                    if self.router.cache.len() <= position {
                        self.router.cache.resize(position + 1, None);
                    }
                    self.router.cache[position] = Some((name.clone(), slot));
                    slot
                }
            };
            if slot != IGNORED && self.field_of_slot[slot as usize] == NO_FIELD {
                self.field_of_slot[slot as usize] = position as u32;
            }
        }
    }

    fn slot_of_new_name(&mut self, name: &str) -> u32 {
        if let Some(&slot) = self.router.slots.get(name) {
            return slot;
        }
        let discovered = self.discovery.as_ref().is_some_and(|ex| !ex.contains(name));
        if !discovered {
            self.router.slots.insert(name.into(), IGNORED);
            return IGNORED;
        }
        let slot = self.router.slot(name);
        self.field_of_slot.push(NO_FIELD);
        self.dim_slots.push(slot);
        self.dimensions.push(DimensionSchema::string(name));
        self.indexers.push(DimensionIndexer::new(
            DimensionType::String,
            Default::default(),
        ));
        self.multi_valued.push(false);
        slot
    }

    /// Druid's `UnparseableColumnsParseException` message for the row's errors.
    fn parse_error(&self, row: &InputRow) -> ParseError {
        let mut event = String::from("{");
        for (i, (name, value)) in row.fields.iter().enumerate() {
            if i > 0 {
                event.push_str(", ");
            }
            let _ = write!(event, "{name}={}", JavaValue(value));
        }
        event.push('}');
        ParseError::new(format!(
            "Found unparseable columns in row: [{event}], exceptions: [{}]",
            self.errors.join(",")
        ))
    }
}

fn spill_error(dir: &Path, source: io::Error) -> IndexError {
    IndexError::Spill {
        dir: dir.to_path_buf(),
        source,
    }
}

/// The value of the field a slot reads, `None` when the row lacks it.
fn field<'r>(row: &'r InputRow, field_of_slot: &[u32], slot: u32) -> Option<&'r Value> {
    match field_of_slot.get(slot as usize) {
        Some(&position) if position != NO_FIELD => Some(&row.fields[position as usize].1),
        _ => None,
    }
}

/// An aggregator's input, as Druid's `Rows.objectToNumber` reads it.
fn number_input(value: Option<&Value>, field: Option<&str>, errors: &mut Vec<String>) -> Input {
    let field = field.unwrap_or_default();
    match value {
        None | Some(Value::Null) => Input::Null,
        Some(Value::Long(n)) => Input::Value(Number::Long(*n)),
        Some(Value::Double(d)) => Input::Value(Number::Double(*d)),
        Some(Value::String(s)) => match string_to_number(s) {
            Some(n) => Input::Value(n),
            None => {
                errors.push(format!("Unable to parse value[{s}] for field[{field}]"));
                Input::Unparseable
            }
        },
        Some(Value::Array(_)) => {
            errors.push(format!(
                "Unknown type[class java.util.ArrayList] for field[{field}]"
            ));
            Input::Unparseable
        }
    }
}

enum RowSource {
    Memory {
        facts: Facts,
        indexers: Vec<DimensionIndexer>,
        order: Vec<u32>,
        next: usize,
    },
    Merge(Merger),
}

/// Everything added to an index, sorted and rolled up: the rows a segment is made of.
pub struct MergedRows {
    dimensions: Vec<DimensionSchema>,
    multi_valued: Vec<bool>,
    metrics: Vec<AggregatorFactory>,
    layout: MetricLayout,
    stats: IndexStats,
    spill_dir: PathBuf,
    source: RowSource,
}

impl MergedRows {
    /// The final dimensions, listed then discovered, with their types.
    pub fn dimensions(&self) -> &[DimensionSchema] {
        &self.dimensions
    }

    /// Whether any row of string dimension `dim` held several values.
    pub fn has_multiple_values(&self, dim: usize) -> bool {
        self.multi_valued.get(dim).copied().unwrap_or(false)
    }

    pub fn metrics(&self) -> &[AggregatorFactory] {
        &self.metrics
    }

    pub fn stats(&self) -> &IndexStats {
        &self.stats
    }

    /// Starts the stream again from its first row, for a caller that reads it twice (hashed
    /// partitioning counts a chunk's rows before it writes them). Spilled runs are merged
    /// again; rows in memory are only walked again.
    pub fn rewind(&mut self) -> Result<(), IndexError> {
        match &mut self.source {
            RowSource::Memory { next, .. } => {
                *next = 0;
                Ok(())
            }
            RowSource::Merge(merger) => {
                merger.rewind().map_err(|e| spill_error(&self.spill_dir, e))
            }
        }
    }

    /// The next row in Druid's order; `None` at the end.
    pub fn next_row(&mut self) -> Result<Option<MergedRow<'_>>, IndexError> {
        match &mut self.source {
            RowSource::Memory {
                facts,
                indexers,
                order,
                next,
            } => {
                let Some(&row) = order.get(*next) else {
                    return Ok(None);
                };
                *next += 1;
                let row = row as usize;
                Ok(Some(MergedRow {
                    time: facts.time(row),
                    dims: RowDims::Memory {
                        indexers,
                        facts,
                        row,
                    },
                    states: facts.states(row),
                    layout: &self.layout,
                }))
            }
            RowSource::Merge(merger) => {
                match merger.next().map_err(|e| spill_error(&self.spill_dir, e))? {
                    None => Ok(None),
                    Some(source) => Ok(Some(merger.row(source))),
                }
            }
        }
    }
}
