//! Writing a segment the way `IndexMergerV9` lays it out, streaming: rows arrive sorted, numeric
//! values go straight into LZ4 blocks spooled to the work directory, string values become
//! provisional dictionary ids spooled likewise. `finish` sorts each dictionary, rewrites the ids,
//! builds one roaring bitmap per value (a counting sort of the rows, one column at a time) and
//! smooshes everything into `out_dir`.
//!
//! Druid's choices followed here (defaults of `IndexSpec` and SQL-compatible null handling):
//! dictionaries sorted by Java's `String.compareTo` with null first (`GenericIndexed.STRING_STRATEGY`,
//! the comparator `StringDimensionMergerV9` merges with), ids as LZ4 `CompressedVSizeColumnarInts`
//! sized by the cardinality, multi-value columns as `V3CompressedVSizeColumnarMultiInts` (only when
//! some row really has two or more values, as Druid's column capabilities decide), numeric columns
//! as `longV2`/`floatV2`/`doubleV2` with a null-row bitmap when a row is null (storing 0), an empty
//! multi-value row as a row of no ids that adds null to the dictionary and to null's bitmap, a
//! dimension null in every row as a `null` part listed only in `index.drd`'s second lists, and
//! metrics ordered by name as `IndexMerger.mergeIndexed` sorts them.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::bitmap::{roaring, BitmapSerdeFactory};
use crate::buffer::ByteOrder;
use crate::column::descriptor::{ColumnDescriptor, NumericKind, PartSerde};
use crate::column::numeric::NumericPartWriter;
use crate::column::string::{IdsWriter, StringPartWriter};
use crate::compressed::ints::{V3MultiIntsWriter, VSizeIntsWriter};
use crate::error::{Result, SegmentError};
use crate::generic_indexed::GenericIndexedWriter;
use crate::index_drd::IndexDrd;
use crate::reader::{TIME_COLUMN, V9_VERSION};
use crate::smoosh::{FileSmoosher, DEFAULT_MAX_CHUNK_SIZE};
use crate::spool::{IntSpool, Spool};
use crate::string_order::{compare_java, compare_java_nulls_first};

/// The type of a dimension or metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    String { multi_value: bool },
    Long,
    Float,
    Double,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSchema {
    pub name: String,
    pub kind: ColumnType,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSchema {
    pub dimensions: Vec<ColumnSchema>,
    pub metrics: Vec<ColumnSchema>,
}

/// One value of a row, in schema order (dimensions, then metrics).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColumnValue<'a> {
    Null,
    String(&'a str),
    /// A multi-value row, already sorted/deduplicated as the column's multiValueHandling asks.
    /// A null element is Druid's null, like a null row.
    Strings(&'a [Option<&'a str>]),
    Long(i64),
    Float(f32),
    Double(f64),
}

/// What `finish` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenSegment {
    pub num_rows: u64,
    /// Total bytes of the files written into the output directory.
    pub size_bytes: u64,
    pub dimensions: Vec<String>,
    /// Metric names in the segment's order (sorted by name).
    pub metrics: Vec<String>,
}

/// Streams rows into a v9 segment (the output of Druid's `IndexMergerV9`).
pub struct SegmentWriter {
    work: tempfile::TempDir,
    schema: SegmentSchema,
    time: NumericPartWriter,
    last_time: i64,
    columns: Vec<ColumnWriter>,
    rows: u32,
}

enum ColumnWriter {
    Numeric(NumericKind, Box<NumericPartWriter>),
    String(Box<StringColumnWriter>),
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

struct StringColumnWriter {
    multi_value: bool,
    ids: FastMap<Box<str>, u32>,
    /// Provisional id -> value (`None` is null).
    values: Vec<Option<Box<str>>>,
    null_id: Option<u32>,
    /// Single-value: one id per row. Multi-value: per row its length, then its ids.
    spool: IntSpool,
    saw_many: bool,
}

impl StringColumnWriter {
    #[inline]
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.values.len() as u32;
        self.values.push(Some(s.into()));
        self.ids.insert(s.into(), id);
        id
    }

    fn value_id(&mut self, s: Option<&str>) -> u32 {
        match s {
            Some(s) => self.intern(s),
            None => self.null(),
        }
    }

    fn null(&mut self) -> u32 {
        *self.null_id.get_or_insert_with(|| {
            self.values.push(None);
            self.values.len() as u32 - 1
        })
    }

    fn add(&mut self, name: &str, v: &ColumnValue<'_>) -> Result<()> {
        let one = match v {
            ColumnValue::Null => Some(self.null()),
            ColumnValue::String(s) => Some(self.intern(s)),
            ColumnValue::Strings([]) => None,
            ColumnValue::Strings([s]) => Some(self.value_id(*s)),
            ColumnValue::Strings(many) => {
                if !self.multi_value {
                    return Err(SegmentError::Invalid(format!(
                        "dimension [{name}] is single-valued, got {} values",
                        many.len()
                    )));
                }
                self.saw_many = true;
                self.spool.push(many.len() as u32)?;
                for s in many.iter() {
                    let id = self.value_id(*s);
                    self.spool.push(id)?;
                }
                return Ok(());
            }
            other => {
                return Err(SegmentError::Invalid(format!(
                    "dimension [{name}] is a string column, got {other:?}"
                )))
            }
        };
        // An empty row adds null to the dictionary (StringDimensionIndexer) and has no ids.
        let id = match one {
            Some(id) => id,
            None => {
                let null = self.null();
                if !self.multi_value {
                    return self.spool.push(null);
                }
                return self.spool.push(0);
            }
        };
        if self.multi_value {
            self.spool.push(1)?;
        }
        self.spool.push(id)
    }
}

impl SegmentWriter {
    /// Starts a segment; temporary files go in a fresh directory under `work_dir`.
    pub fn new(work_dir: &Path, schema: SegmentSchema) -> Result<SegmentWriter> {
        let mut seen = std::collections::HashSet::new();
        for c in schema.dimensions.iter().chain(&schema.metrics) {
            if c.name == TIME_COLUMN || c.name.contains(',') || !seen.insert(c.name.as_str()) {
                return Err(SegmentError::Invalid(format!(
                    "column name [{}] is reserved, repeated or holds a comma",
                    c.name
                )));
            }
            if matches!(c.kind, ColumnType::String { .. }) && schema.metrics.contains(c) {
                return Err(SegmentError::Invalid(format!(
                    "metric [{}] cannot be a string column",
                    c.name
                )));
            }
        }
        std::fs::create_dir_all(work_dir).map_err(|e| SegmentError::io(work_dir, e))?;
        let work = tempfile::Builder::new()
            .prefix("segment-writer-")
            .tempdir_in(work_dir)
            .map_err(|e| SegmentError::io(work_dir, e))?;
        let columns = schema
            .dimensions
            .iter()
            .chain(&schema.metrics)
            .map(|c| match c.kind {
                ColumnType::String { multi_value } => {
                    ColumnWriter::String(Box::new(StringColumnWriter {
                        multi_value,
                        ids: FastMap::default(),
                        values: Vec::new(),
                        null_id: None,
                        spool: IntSpool::in_dir(work.path()),
                        saw_many: false,
                    }))
                }
                ColumnType::Long => ColumnWriter::Numeric(
                    NumericKind::Long,
                    Box::new(NumericPartWriter::new(NumericKind::Long, work.path())),
                ),
                ColumnType::Float => ColumnWriter::Numeric(
                    NumericKind::Float,
                    Box::new(NumericPartWriter::new(NumericKind::Float, work.path())),
                ),
                ColumnType::Double => ColumnWriter::Numeric(
                    NumericKind::Double,
                    Box::new(NumericPartWriter::new(NumericKind::Double, work.path())),
                ),
            })
            .collect();
        Ok(SegmentWriter {
            time: NumericPartWriter::new(NumericKind::Long, work.path()),
            work,
            schema,
            last_time: i64::MIN,
            columns,
            rows: 0,
        })
    }

    /// Rows arrive already sorted (time, then dims); values in schema order: dims then metrics.
    pub fn add_row(&mut self, time_ms: i64, values: &[ColumnValue<'_>]) -> Result<()> {
        if values.len() != self.columns.len() {
            return Err(SegmentError::Invalid(format!(
                "row has {} values, the schema {} columns",
                values.len(),
                self.columns.len()
            )));
        }
        if time_ms < self.last_time {
            return Err(SegmentError::Invalid(format!(
                "rows must arrive sorted by time: {time_ms} after {}",
                self.last_time
            )));
        }
        if self.rows == i32::MAX as u32 {
            return Err(SegmentError::Invalid(
                "more than 2^31-1 rows in a segment".into(),
            ));
        }
        let row = self.rows;
        let names = self.schema.dimensions.iter().chain(&self.schema.metrics);
        for ((column, value), schema) in self.columns.iter_mut().zip(values).zip(names) {
            match column {
                ColumnWriter::String(w) => w.add(&schema.name, value)?,
                ColumnWriter::Numeric(kind, w) => add_numeric(&schema.name, *kind, w, row, value)?,
            }
        }
        self.time.values.push_long(time_ms)?;
        self.last_time = time_ms;
        self.rows += 1;
        Ok(())
    }

    /// Writes version.bin, factory.json, meta.smoosh and the smoosh chunks into `out_dir`.
    pub fn finish(
        mut self,
        out_dir: &Path,
        interval: (i64, i64),
        metadata: &Value,
    ) -> Result<WrittenSegment> {
        if self.rows == 0 {
            return Err(SegmentError::Invalid(
                "cannot write a segment with no rows".into(),
            ));
        }
        std::fs::create_dir_all(out_dir).map_err(|e| SegmentError::io(out_dir, e))?;
        let version = out_dir.join("version.bin");
        std::fs::write(&version, V9_VERSION.to_be_bytes())
            .map_err(|e| SegmentError::io(&version, e))?;
        let factory = out_dir.join("factory.json");
        std::fs::write(&factory, br#"{"type":"mMapSegmentFactory"}"#)
            .map_err(|e| SegmentError::io(&factory, e))?;
        let mut smoosher = FileSmoosher::new(out_dir, DEFAULT_MAX_CHUNK_SIZE);

        self.time.finish()?;
        let time_size = self.time.serialized_size();
        let time = &mut self.time;
        add_column(
            &mut smoosher,
            out_dir,
            TIME_COLUMN,
            &numeric_descriptor(NumericKind::Long),
            |out, p| time.write_to(out, p),
            time_size,
        )?;

        let num_dims = self.schema.dimensions.len();
        let mut metric_order: Vec<usize> = (0..self.schema.metrics.len()).collect();
        metric_order.sort_by(|a, b| {
            compare_java(&self.schema.metrics[*a].name, &self.schema.metrics[*b].name)
        });
        let metrics: Vec<String> = metric_order
            .iter()
            .map(|i| self.schema.metrics[*i].name.clone())
            .collect();
        for &m in &metric_order {
            let name = self.schema.metrics[m].name.clone();
            self.write_column(&mut smoosher, out_dir, num_dims + m, &name)?;
        }
        let mut null_only = Vec::new();
        for d in 0..num_dims {
            let name = self.schema.dimensions[d].name.clone();
            if !self.write_column(&mut smoosher, out_dir, d, &name)? {
                null_only.push(name);
            }
        }

        let dimensions: Vec<String> = self
            .schema
            .dimensions
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let drd = IndexDrd {
            columns: metrics.iter().chain(&dimensions).cloned().collect(),
            dimensions: dimensions.clone(),
            interval,
            bitmap_serde: BitmapSerdeFactory::Roaring,
        };
        let index = drd.write(&null_only)?;
        add_bytes(&mut smoosher, "index.drd", &index)?;
        let meta = serde_json::to_vec(metadata)
            .map_err(|e| SegmentError::Invalid(format!("metadata: {e}")))?;
        add_bytes(&mut smoosher, "metadata.drd", &meta)?;
        let chunks = smoosher.close()?;
        let meta_len = std::fs::metadata(out_dir.join("meta.smoosh"))
            .map_err(|e| SegmentError::io(out_dir.join("meta.smoosh"), e))?
            .len();
        Ok(WrittenSegment {
            num_rows: u64::from(self.rows),
            size_bytes: chunks + meta_len + 4 + std::fs::metadata(&factory).map_or(0, |m| m.len()),
            dimensions,
            metrics,
        })
    }

    /// Writes one column; false when it is a dimension null in every row (then only its
    /// descriptor with a `null` part is written).
    fn write_column(
        &mut self,
        smoosher: &mut FileSmoosher,
        out_dir: &Path,
        i: usize,
        name: &str,
    ) -> Result<bool> {
        let rows = self.rows;
        let work = self.work.path().to_path_buf();
        match &mut self.columns[i] {
            ColumnWriter::Numeric(kind, w) => {
                w.finish()?;
                let size = w.serialized_size();
                add_column(
                    smoosher,
                    out_dir,
                    name,
                    &numeric_descriptor(*kind),
                    |out, p| w.write_to(out, p),
                    size,
                )?;
                Ok(true)
            }
            ColumnWriter::String(w) => {
                if w.values.iter().all(Option::is_none) {
                    let desc = ColumnDescriptor {
                        value_type: "STRING".into(),
                        has_multiple_values: false,
                        parts: vec![PartSerde::Null {
                            num_rows: rows as usize,
                        }],
                    };
                    add_column(smoosher, out_dir, name, &desc, |_, _| Ok(()), 0)?;
                    return Ok(false);
                }
                let mut part = build_string_part(w, rows, &work)?;
                let desc = ColumnDescriptor {
                    value_type: "STRING".into(),
                    has_multiple_values: matches!(part.ids, IdsWriter::Multi(_)),
                    parts: vec![PartSerde::StringDictionary {
                        bitmaps: BitmapSerdeFactory::Roaring,
                        order: ByteOrder::LittleEndian,
                    }],
                };
                let size = part.serialized_size();
                add_column(
                    smoosher,
                    out_dir,
                    name,
                    &desc,
                    |out, p| part.write_to(out, p),
                    size,
                )?;
                Ok(true)
            }
        }
    }
}

fn add_numeric(
    name: &str,
    kind: NumericKind,
    w: &mut NumericPartWriter,
    row: u32,
    v: &ColumnValue<'_>,
) -> Result<()> {
    let as_f64 = match *v {
        ColumnValue::Null => {
            w.nulls.push(row);
            0.0
        }
        ColumnValue::Long(x) if kind == NumericKind::Long => return w.values.push_long(x),
        ColumnValue::Long(x) => x as f64,
        ColumnValue::Float(x) if kind == NumericKind::Float => return w.values.push_float(x),
        ColumnValue::Float(x) => f64::from(x),
        ColumnValue::Double(x) => x,
        ColumnValue::String(_) | ColumnValue::Strings(_) => {
            return Err(SegmentError::Invalid(format!(
                "column [{name}] is {kind:?}, got {v:?}"
            )))
        }
    };
    match kind {
        NumericKind::Long => w.values.push_long(as_f64 as i64),
        NumericKind::Float => w.values.push_float(as_f64 as f32),
        NumericKind::Double => w.values.push_double(as_f64),
    }
}

fn numeric_descriptor(kind: NumericKind) -> ColumnDescriptor {
    ColumnDescriptor {
        value_type: match kind {
            NumericKind::Long => "LONG",
            NumericKind::Float => "FLOAT",
            NumericKind::Double => "DOUBLE",
        }
        .into(),
        has_multiple_values: false,
        parts: vec![PartSerde::NumericV2 {
            kind,
            order: ByteOrder::LittleEndian,
            bitmaps: BitmapSerdeFactory::Roaring,
        }],
    }
}

/// `IndexMergerV9.makeColumn`: the descriptor JSON (int length + UTF-8), then the part.
fn add_column(
    smoosher: &mut FileSmoosher,
    out_dir: &Path,
    name: &str,
    desc: &ColumnDescriptor,
    write_part: impl FnOnce(&mut dyn Write, &Path) -> Result<()>,
    part_size: u64,
) -> Result<()> {
    let json = desc.to_json();
    let mut head = Vec::with_capacity(json.len() + 4);
    crate::buffer::put_string(&mut head, &json);
    let path: PathBuf = out_dir.join(name);
    smoosher.add(name, head.len() as u64 + part_size, |out| {
        out.write_all(&head)
            .map_err(|e| SegmentError::io(&path, e))?;
        write_part(out, &path)
    })
}

fn add_bytes(smoosher: &mut FileSmoosher, name: &str, bytes: &[u8]) -> Result<()> {
    smoosher.add(name, bytes.len() as u64, |out| {
        out.write_all(bytes).map_err(|e| SegmentError::io(name, e))
    })
}

/// Sorts the dictionary, rewrites the spooled ids with final ids and builds the bitmaps.
fn build_string_part(
    w: &mut StringColumnWriter,
    rows: u32,
    work: &Path,
) -> Result<StringPartWriter> {
    let card = w.values.len();
    let mut order: Vec<u32> = (0..card as u32).collect();
    order.sort_by(|a, b| {
        compare_java_nulls_first(
            w.values[*a as usize].as_deref(),
            w.values[*b as usize].as_deref(),
        )
    });
    let mut remap = vec![0u32; card];
    for (sorted, &prov) in order.iter().enumerate() {
        remap[prov as usize] = sorted as u32;
    }
    let mut dictionary = GenericIndexedWriter::strings(Spool::in_dir(work));
    for &prov in &order {
        dictionary.write_str(w.values[prov as usize].as_deref())?;
    }
    // Provisional ids are no longer needed once remapped; free the map before the big arrays.
    w.ids = FastMap::default();

    let multi = w.saw_many;
    let max_value = card as u32;
    let mut ids = if multi {
        IdsWriter::Multi(V3MultiIntsWriter::new(max_value, Some(work)))
    } else {
        IdsWriter::Single(VSizeIntsWriter::new(max_value, Some(work)))
    };
    // Pass 1: final ids out, and how many rows each id has. An empty row counts towards id 0,
    // which is null whenever an empty row exists.
    let mut counts = vec![0u32; card];
    let mut row_ids: Vec<u32> = Vec::new();
    replay(w, |row| {
        match &mut ids {
            IdsWriter::Single(s) => s.push(row.first().map_or(0, |p| remap[*p as usize]))?,
            IdsWriter::Multi(m) => {
                m.start_row()?;
                for p in row {
                    m.push_value(remap[*p as usize])?;
                }
            }
        }
        count_row(row, &remap, &mut row_ids, |id| counts[id as usize] += 1);
        Ok(())
    })?;
    match &mut ids {
        IdsWriter::Single(s) => s.finish()?,
        IdsWriter::Multi(m) => m.finish()?,
    }
    // Pass 2: a counting sort of row numbers by id.
    let mut starts = Vec::with_capacity(card + 1);
    let mut total = 0usize;
    for c in &counts {
        starts.push(total);
        total += *c as usize;
    }
    starts.push(total);
    let mut fill = starts.clone();
    let mut by_id = vec![0u32; total];
    let mut row_no = 0u32;
    replay(w, |row| {
        count_row(row, &remap, &mut row_ids, |id| {
            by_id[fill[id as usize]] = row_no;
            fill[id as usize] += 1;
        });
        row_no += 1;
        Ok(())
    })?;
    debug_assert_eq!(row_no, rows);
    let mut bitmaps = GenericIndexedWriter::unsorted(Spool::in_dir(work));
    let mut bytes = Vec::new();
    for id in 0..card {
        bytes.clear();
        roaring::serialize_sorted(&by_id[starts[id]..starts[id + 1]], &mut bytes);
        bitmaps.write(Some(&bytes))?;
    }
    Ok(StringPartWriter {
        dictionary,
        ids,
        bitmaps,
    })
}

/// Calls `f` once per distinct final id of a row (id 0 for an empty row).
fn count_row(row: &[u32], remap: &[u32], scratch: &mut Vec<u32>, mut f: impl FnMut(u32)) {
    match row {
        [] => return f(0),
        [one] => return f(remap[*one as usize]),
        _ => {}
    }
    scratch.clear();
    for p in row {
        let id = remap[*p as usize];
        if !scratch.contains(&id) {
            scratch.push(id);
            f(id);
        }
    }
}

/// Replays the spooled provisional ids row by row.
fn replay(w: &mut StringColumnWriter, mut f: impl FnMut(&[u32]) -> Result<()>) -> Result<()> {
    let multi_spool = w.multi_value;
    let mut row: Vec<u32> = Vec::new();
    let mut left: Option<u32> = None;
    w.spool.for_each(|v| {
        if !multi_spool {
            row.clear();
            row.push(v);
            return f(&row);
        }
        match left {
            None => {
                row.clear();
                if v == 0 {
                    return f(&row);
                }
                left = Some(v);
            }
            Some(n) => {
                row.push(v);
                left = if n == 1 { None } else { Some(n - 1) };
                if left.is_none() {
                    return f(&row);
                }
            }
        }
        Ok(())
    })
}
