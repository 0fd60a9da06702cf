//! Rows of a published segment, for Druid's `druid` input source (`DruidInputSource`, the
//! re-indexing source): each row of the segment within the source's interval becomes an input
//! row with `__time` (milliseconds) and the chosen dimensions and metrics as the segment stores
//! them, so a new spec can roll them up again, drop columns or change granularities.
//!
//! Only the windows where the datasource's timeline shows the segment are read: a segment
//! partly overshadowed by a newer version gives only its still-visible rows. Segments are read
//! whole with the segment reader. A column of a complex type (a sketch,
//! `hyperUnique`) has no row values the pipeline could aggregate again, so choosing one fails
//! the read with a message naming it rather than ingesting nulls.

use std::path::Path;
use std::sync::Arc;

use steward_segment::column::ColumnData;
use steward_segment::QueryableIndex;

use super::names::Interner;
use super::InputError;
use crate::row::{Value, TIME_COLUMN};

/// The rows of one segment, in the segment's order.
pub(crate) struct SegmentRows {
    index: QueryableIndex,
    /// The chosen columns: their shared names and their places in `index.columns()`.
    columns: Vec<(Arc<str>, usize)>,
    /// Half-open `[start, end)` millisecond windows: the parts of the segment the source
    /// reads (where the timeline shows it, within the source's interval); other rows are
    /// skipped.
    windows: Vec<(i64, i64)>,
    next: usize,
}

impl SegmentRows {
    /// Opens the segment at `path`, choosing `dimensions` and `metrics` (all of the segment's
    /// when `None`; a chosen column the segment lacks is left out of its rows, as Druid does,
    /// and one named twice is read once).
    pub(crate) fn open(
        path: &Path,
        windows: Vec<(i64, i64)>,
        dimensions: Option<&[String]>,
        metrics: Option<&[String]>,
        names: &mut Interner,
    ) -> Result<SegmentRows, InputError> {
        let index = QueryableIndex::open(path).map_err(|e| {
            InputError::new(format!("Cannot read segment [{}]: {e}", path.display()))
        })?;
        let all_metrics: Vec<String> = index
            .column_names
            .iter()
            .filter(|c| !index.dimensions.contains(c))
            .cloned()
            .collect();
        let chosen = dimensions
            .unwrap_or(&index.dimensions)
            .iter()
            .chain(metrics.unwrap_or(&all_metrics));
        let mut columns: Vec<(Arc<str>, usize)> = Vec::new();
        for name in chosen {
            // `__time` is every row's own field already.
            if name == TIME_COLUMN || columns.iter().any(|(n, _)| **n == **name) {
                continue;
            }
            let Some(place) = index.columns().iter().position(|c| c.name == *name) else {
                continue;
            };
            if let ColumnData::Complex { type_name, .. } = &index.columns()[place].data {
                return Err(InputError::new(format!(
                    "Column [{name}] of segment [{}] is of complex type [{type_name}], which the druid input source cannot read yet; leave it out with [dimensions] and [metrics]",
                    path.display()
                )));
            }
            columns.push((names.get(name), place));
        }
        Ok(SegmentRows {
            index,
            columns,
            windows,
            next: 0,
        })
    }

    /// Rows of the segment passed so far.
    pub(crate) fn record(&self) -> u64 {
        self.next as u64
    }

    /// Fills `out` with the next row in a window; `false` at the end.
    pub(crate) fn next_row(
        &mut self,
        names: &mut Interner,
        out: &mut Vec<(Arc<str>, Value)>,
    ) -> bool {
        let times = self.index.times();
        while self.next < self.index.num_rows {
            let row = self.next;
            self.next += 1;
            let time = times[row];
            if !self
                .windows
                .iter()
                .any(|(start, end)| *start <= time && time < *end)
            {
                continue;
            }
            out.clear();
            out.push((names.get(TIME_COLUMN), Value::Long(time)));
            let columns = self.index.columns();
            for (name, place) in &self.columns {
                out.push((name.clone(), value_of(columns[*place].value(row))));
            }
            return true;
        }
        false
    }
}

/// A stored value as an input value: whole numbers stay longs, strings and multi-value rows
/// keep their shape.
fn value_of(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::String(b.to_string()),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(long) => Value::Long(long),
            None => n.as_f64().map_or(Value::Null, Value::Double),
        },
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(items) => Value::Array(items.into_iter().map(value_of).collect()),
        serde_json::Value::Object(_) => Value::String(v.to_string()),
    }
}
