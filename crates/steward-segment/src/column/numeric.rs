//! Numeric columns: `LongNumericColumnPartSerdeV2` (and the float and double ones), written by
//! `LongColumnSerializerV2` and friends:
//!
//! ```text
//! int   size of the compressed values (big-endian)
//! ..    compressed values (a null row stores 0)
//! ..    only when some row is null: int size, then the bitmap of null rows
//! ```
//!
//! The legacy `long`/`float`/`double` parts are the compressed values alone, never null.

use std::io::Write;
use std::path::Path;

use crate::bitmap::{roaring, BitmapSerdeFactory};
use crate::buffer::{ByteOrder, Cursor};
use crate::column::descriptor::NumericKind;
use crate::compressed::numeric::{read_doubles, read_floats, read_longs, NumericWriter};
use crate::error::{Result, SegmentError};
use crate::smoosh::SmooshedFiles;

/// Values of a numeric column.
#[derive(Clone, Debug, PartialEq)]
pub enum NumericValues {
    Long(Vec<i64>),
    Float(Vec<f32>),
    Double(Vec<f64>),
}

impl NumericValues {
    pub fn len(&self) -> usize {
        match self {
            NumericValues::Long(v) => v.len(),
            NumericValues::Float(v) => v.len(),
            NumericValues::Double(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NumericColumn {
    pub values: NumericValues,
    /// Rows that are null (ascending).
    pub nulls: Vec<u32>,
}

fn read_values<'a>(
    cur: &mut Cursor<'a>,
    kind: NumericKind,
    order: ByteOrder,
    files: &'a SmooshedFiles,
) -> Result<NumericValues> {
    Ok(match kind {
        NumericKind::Long => NumericValues::Long(read_longs(cur, order, Some(files))?),
        NumericKind::Float => NumericValues::Float(read_floats(cur, order, Some(files))?),
        NumericKind::Double => NumericValues::Double(read_doubles(cur, order, Some(files))?),
    })
}

pub(crate) fn read_v2<'a>(
    cur: &mut Cursor<'a>,
    kind: NumericKind,
    order: ByteOrder,
    bitmaps: BitmapSerdeFactory,
    files: &'a SmooshedFiles,
) -> Result<NumericColumn> {
    let size = cur.count("values size")?;
    let mut values_cur = Cursor::new(cur.take(size)?, cur.what());
    let values = read_values(&mut values_cur, kind, order, files)?;
    if values_cur.has_remaining() {
        return Err(values_cur.error(format!("{} bytes after the values", values_cur.remaining())));
    }
    let nulls = if cur.has_remaining() {
        let len = cur.i32_be()?;
        bitmaps.deserialize(cur.take_len(len, "null bitmap size")?)?
    } else {
        Vec::new()
    };
    if cur.has_remaining() {
        return Err(cur.error(format!("{} bytes after the null bitmap", cur.remaining())));
    }
    if nulls.last().is_some_and(|r| *r as usize >= values.len()) {
        return Err(cur.error(format!(
            "null bitmap names rows past the {} rows",
            values.len()
        )));
    }
    Ok(NumericColumn { values, nulls })
}

pub(crate) fn read_legacy<'a>(
    cur: &mut Cursor<'a>,
    kind: NumericKind,
    order: ByteOrder,
    files: &'a SmooshedFiles,
) -> Result<NumericColumn> {
    let values = read_values(cur, kind, order, files)?;
    if cur.has_remaining() {
        return Err(cur.error(format!("{} bytes after the values", cur.remaining())));
    }
    Ok(NumericColumn {
        values,
        nulls: Vec::new(),
    })
}

/// A numeric V2 part being written: LZ4 values and the null rows seen.
pub(crate) struct NumericPartWriter {
    pub values: NumericWriter,
    pub nulls: Vec<u32>,
    null_bitmap: Vec<u8>,
}

impl NumericPartWriter {
    pub fn new(kind: NumericKind, work_dir: &Path) -> Self {
        let width = if kind == NumericKind::Float { 4 } else { 8 };
        NumericPartWriter {
            values: NumericWriter::new(width, Some(work_dir)),
            nulls: Vec::new(),
            null_bitmap: Vec::new(),
        }
    }

    /// Closes the values and serializes the null bitmap; call once, before sizing.
    pub fn finish(&mut self) -> Result<()> {
        self.values.finish()?;
        roaring::serialize_sorted(&self.nulls, &mut self.null_bitmap);
        Ok(())
    }

    pub fn serialized_size(&self) -> u64 {
        let bitmap = if self.nulls.is_empty() {
            0
        } else {
            4 + self.null_bitmap.len() as u64
        };
        4 + self.values.serialized_size() + bitmap
    }

    pub fn write_to(&mut self, out: &mut dyn Write, what: &Path) -> Result<()> {
        let size = u32::try_from(self.values.serialized_size())
            .map_err(|_| SegmentError::Unsupported("a numeric column larger than 2 GiB".into()))?;
        out.write_all(&size.to_be_bytes())
            .map_err(|e| SegmentError::io(what, e))?;
        self.values.write_to(out, what)?;
        if !self.nulls.is_empty() {
            out.write_all(&(self.null_bitmap.len() as u32).to_be_bytes())
                .map_err(|e| SegmentError::io(what, e))?;
            out.write_all(&self.null_bitmap)
                .map_err(|e| SegmentError::io(what, e))?;
        }
        Ok(())
    }
}
