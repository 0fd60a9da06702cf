//! The k-way merge of spilled runs, and the rows it hands out.
//!
//! Druid's `IndexMergerV9` merges its persisted indexes with a priority queue over their
//! current rows, combining rows of equal keys with the aggregators' combiners
//! (`RowCombiningTimeAndDimsIterator`). Runs here compare by value: time, then each dimension as
//! the in-memory index sorts (strings in UTF-16 order, lists element by element then by length,
//! numbers numerically, null first). On equal keys the earlier run comes first, which keeps rows
//! stable without rollup and gives first/last ties to the earlier run, as Druid does.

use std::cmp::Ordering;
use std::io;

use super::dimension::{compare_double, compare_float, compare_long, Component, DimensionIndexer};
use super::facts::Facts;
use super::java::{compare_utf16, compare_utf16_bytes};
use super::metrics::{MetricLayout, MetricValue};
use super::run::{self, Run, RunReader, RunWriter, Slot};
use crate::dimensions::DimensionType;

/// A dimension value of an output row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DimValue<'a> {
    Null,
    String(&'a str),
    /// A multi-value row of a string dimension (two or more elements).
    Strings(MultiValue<'a>),
    Long(i64),
    Float(f32),
    Double(f64),
}

/// The elements of a multi-value row; an element may be null.
#[derive(Debug, Clone, Copy)]
pub struct MultiValue<'a>(Elements<'a>);

#[derive(Clone, Copy)]
enum Elements<'a> {
    Ids {
        indexer: &'a DimensionIndexer,
        ids: &'a [u32],
    },
    Encoded {
        block: &'a [u8],
        start: u32,
        count: u32,
    },
}

impl std::fmt::Debug for Elements<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(MultiValue(*self).iter()).finish()
    }
}

impl PartialEq for MultiValue<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'a> MultiValue<'a> {
    pub fn len(&self) -> usize {
        match self.0 {
            Elements::Ids { ids, .. } => ids.len(),
            Elements::Encoded { count, .. } => count as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Option<&'a str>> + 'a {
        let (ids, encoded) = match self.0 {
            Elements::Ids { indexer, ids } => (Some((indexer, ids)), None),
            Elements::Encoded {
                block,
                start,
                count,
            } => (None, Some(run::elements(block, start, count))),
        };
        let from_ids = ids
            .into_iter()
            .flat_map(|(indexer, ids)| ids.iter().map(move |&id| indexer.string(id)));
        from_ids.chain(encoded.into_iter().flatten())
    }
}

/// One row of the merged stream: its time, then dimension and metric values by position.
pub struct MergedRow<'a> {
    pub(super) time: i64,
    pub(super) dims: RowDims<'a>,
    pub(super) states: &'a [u64],
    pub(super) layout: &'a MetricLayout,
}

pub(super) enum RowDims<'a> {
    Memory {
        indexers: &'a [DimensionIndexer],
        facts: &'a Facts,
        row: usize,
    },
    Run {
        kinds: &'a [DimensionType],
        slots: &'a [Slot],
        block: &'a [u8],
    },
}

impl<'a> MergedRow<'a> {
    /// The row's time: the input time truncated to the query granularity.
    pub fn time(&self) -> i64 {
        self.time
    }

    /// The value of dimension `dim` (in [`super::MergedRows::dimensions`] order).
    pub fn dimension(&self, dim: usize) -> DimValue<'a> {
        match self.dims {
            RowDims::Memory {
                indexers,
                facts,
                row,
            } => {
                let indexer = &indexers[dim];
                match indexer.component(facts.component(row, dim)) {
                    Component::Null => DimValue::Null,
                    Component::String(s) => DimValue::String(s),
                    Component::Strings(ids) => {
                        DimValue::Strings(MultiValue(Elements::Ids { indexer, ids }))
                    }
                    Component::Number(bits) => number(indexer_kind(indexer), bits),
                }
            }
            RowDims::Run {
                kinds,
                slots,
                block,
            } => match slots.get(dim).copied().unwrap_or(Slot::Null) {
                Slot::Null => DimValue::Null,
                Slot::String { start, len } => DimValue::String(run::string(block, start, len)),
                Slot::Strings { start, count } => {
                    DimValue::Strings(MultiValue(Elements::Encoded {
                        block,
                        start,
                        count,
                    }))
                }
                Slot::Number(bits) => number(kinds[dim], bits),
            },
        }
    }

    /// The value of metric `metric` (in metrics spec order).
    pub fn metric(&self, metric: usize) -> MetricValue {
        self.layout.value(self.states, metric)
    }
}

fn indexer_kind(indexer: &DimensionIndexer) -> DimensionType {
    match indexer {
        DimensionIndexer::String { .. } => DimensionType::String,
        DimensionIndexer::Long(_) => DimensionType::Long,
        DimensionIndexer::Float(_) => DimensionType::Float,
        DimensionIndexer::Double(_) => DimensionType::Double,
    }
}

fn number(kind: DimensionType, bits: u64) -> DimValue<'static> {
    match kind {
        DimensionType::Long => DimValue::Long(bits as i64),
        DimensionType::Float => DimValue::Float(f32::from_bits(bits as u32)),
        DimensionType::Double => DimValue::Double(f64::from_bits(bits)),
        DimensionType::String => DimValue::Null,
    }
}

struct Source {
    reader: RunReader,
    /// Kept so that the file lives as long as it is read (and read again on a rewind), and
    /// goes with the merge.
    run: Run,
}

/// Merges runs into one sorted stream, combining equal keys when rolling up.
pub struct Merger {
    sources: Vec<Source>,
    heap: Vec<usize>,
    kinds: Vec<DimensionType>,
    layout: MetricLayout,
    rollup: bool,
    acc: Vec<u64>,
    /// The source whose row was handed out last, advanced on the next call.
    pending: Option<usize>,
}

impl Merger {
    pub fn new(
        runs: Vec<Run>,
        kinds: Vec<DimensionType>,
        layout: MetricLayout,
        rollup: bool,
    ) -> io::Result<Merger> {
        let mut sources = Vec::with_capacity(runs.len());
        for run in runs {
            let reader = RunReader::open(&run, kinds.len(), layout.stride())?;
            sources.push(Source { reader, run });
        }
        let mut merger = Merger {
            heap: Vec::with_capacity(sources.len()),
            sources,
            acc: vec![0; layout.stride()],
            kinds,
            layout,
            rollup,
            pending: None,
        };
        merger.start()?;
        Ok(merger)
    }

    /// Goes back to the first row: each run is read again from its start.
    pub fn rewind(&mut self) -> io::Result<()> {
        for source in &mut self.sources {
            source.reader = RunReader::open(&source.run, self.kinds.len(), self.layout.stride())?;
        }
        self.heap.clear();
        self.pending = None;
        self.start()
    }

    /// Puts every run's first row on the heap.
    fn start(&mut self) -> io::Result<()> {
        for i in 0..self.sources.len() {
            if self.sources[i].reader.advance()? {
                self.push(i);
            }
        }
        Ok(())
    }

    /// The next merged row's source (its dimensions) — its metrics are [`Merger::states`].
    pub fn next(&mut self) -> io::Result<Option<usize>> {
        if let Some(p) = self.pending.take() {
            if self.sources[p].reader.advance()? {
                self.push(p);
            }
        }
        let Some(top) = self.pop() else {
            return Ok(None);
        };
        self.acc.copy_from_slice(self.sources[top].reader.states());
        if self.rollup {
            while let Some(&next) = self.heap.first() {
                if self.compare_rows(top, next) != Ordering::Equal {
                    break;
                }
                self.pop();
                self.layout
                    .combine(&mut self.acc, self.sources[next].reader.states());
                if self.sources[next].reader.advance()? {
                    self.push(next);
                }
            }
        }
        self.pending = Some(top);
        Ok(Some(top))
    }

    pub fn row(&self, source: usize) -> MergedRow<'_> {
        let reader = &self.sources[source].reader;
        MergedRow {
            time: reader.time(),
            dims: RowDims::Run {
                kinds: &self.kinds,
                slots: reader.slots(),
                block: reader.block(),
            },
            states: &self.acc,
            layout: &self.layout,
        }
    }

    /// Writes the whole merged stream into a new run.
    pub fn write_to(mut self, mut writer: RunWriter) -> io::Result<Run> {
        while let Some(source) = self.next()? {
            let reader = &self.sources[source].reader;
            writer.begin_row(reader.time())?;
            for dim in 0..self.kinds.len() {
                match reader.slots().get(dim).copied().unwrap_or(Slot::Null) {
                    Slot::Null => writer.null(),
                    Slot::String { start, len } => {
                        writer.string(run::string(reader.block(), start, len))
                    }
                    Slot::Strings { start, count } => {
                        writer.strings(count as usize, run::elements(reader.block(), start, count))
                    }
                    Slot::Number(bits) => writer.number(bits),
                }
            }
            writer.end_row(&self.acc);
        }
        writer.finish()
    }

    /// Orders sources by their current rows, the earlier source first on equal rows.
    fn less(&self, a: usize, b: usize) -> bool {
        self.compare_rows(a, b).then(a.cmp(&b)) == Ordering::Less
    }

    fn compare_rows(&self, a: usize, b: usize) -> Ordering {
        let (ra, rb) = (&self.sources[a].reader, &self.sources[b].reader);
        ra.time().cmp(&rb.time()).then_with(|| {
            self.kinds
                .iter()
                .enumerate()
                .map(|(d, &kind)| {
                    let sa = ra.slots().get(d).copied().unwrap_or(Slot::Null);
                    let sb = rb.slots().get(d).copied().unwrap_or(Slot::Null);
                    compare_slots(kind, sa, ra.block(), sb, rb.block())
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
    }

    fn push(&mut self, source: usize) {
        self.heap.push(source);
        let mut i = self.heap.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.less(self.heap[i], self.heap[parent]) {
                break;
            }
            self.heap.swap(i, parent);
            i = parent;
        }
    }

    fn pop(&mut self) -> Option<usize> {
        if self.heap.is_empty() {
            return None;
        }
        let top = self.heap.swap_remove(0);
        let mut i = 0;
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut smallest = i;
            if l < self.heap.len() && self.less(self.heap[l], self.heap[smallest]) {
                smallest = l;
            }
            if r < self.heap.len() && self.less(self.heap[r], self.heap[smallest]) {
                smallest = r;
            }
            if smallest == i {
                break;
            }
            self.heap.swap(i, smallest);
            i = smallest;
        }
        Some(top)
    }
}

/// Compares two values of one dimension as the in-memory sort does.
fn compare_slots(
    kind: DimensionType,
    a: Slot,
    block_a: &[u8],
    b: Slot,
    block_b: &[u8],
) -> Ordering {
    match (a, b) {
        (Slot::Null, Slot::Null) => Ordering::Equal,
        (Slot::Number(x), Slot::Number(y)) => match kind {
            DimensionType::Long => compare_long(x, y),
            DimensionType::Float => compare_float(x, y),
            _ => compare_double(x, y),
        },
        (Slot::Null, Slot::Number(_)) => Ordering::Less,
        (Slot::Number(_), Slot::Null) => Ordering::Greater,
        (Slot::String { start: s1, len: l1 }, Slot::String { start: s2, len: l2 }) => {
            compare_utf16_bytes(run::bytes(block_a, s1, l1), run::bytes(block_b, s2, l2))
        }
        _ => {
            let (mut x, mut y) = (slot_elements(a, block_a), slot_elements(b, block_b));
            loop {
                match (x.next(), y.next()) {
                    (None, None) => return Ordering::Equal,
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some(p), Some(q)) => {
                        let o = match (p, q) {
                            (None, None) => Ordering::Equal,
                            (None, Some(_)) => Ordering::Less,
                            (Some(_), None) => Ordering::Greater,
                            (Some(p), Some(q)) => compare_utf16(p, q),
                        };
                        if o.is_ne() {
                            return o;
                        }
                    }
                }
            }
        }
    }
}

/// A string value as its list of elements: null is `[null]`, a single value a list of one.
fn slot_elements(slot: Slot, block: &[u8]) -> impl Iterator<Item = Option<&str>> {
    let (single, list) = match slot {
        Slot::Strings { start, count } => (None, Some(run::elements(block, start, count))),
        Slot::String { start, len } => (Some(Some(run::string(block, start, len))), None),
        _ => (Some(None), None),
    };
    single.into_iter().chain(list.into_iter().flatten())
}
