//! Dictionary-encoded string columns (`DictionaryEncodedColumnPartSerde`,
//! `StringDimensionMergerV9`):
//!
//! ```text
//! byte   version: 0 uncompressed single, 1 uncompressed multi, 2 compressed, 3 uncompressed + flags
//! int    flags (versions 2 and 3): 1 MULTI_VALUE, 2 MULTI_VALUE_V3, 4 NO_BITMAP_INDEX
//! ..     dictionary: GenericIndexed of UTF-8, sorted, null first when present
//! ..     ids: VSize ints / compressed VSize ints / VSize multi ints / V3 compressed multi ints
//! ..     bitmaps: GenericIndexed, one bitmap per dictionary id (unless NO_BITMAP_INDEX)
//! ```

use std::io::Write;
use std::path::Path;

use crate::bitmap::BitmapSerdeFactory;
use crate::buffer::{ByteOrder, Cursor};
use crate::compressed::ints::{
    read_multi_ints, read_vsize_ints, MultiInts, V3MultiIntsWriter, VSizeIntsWriter,
};
use crate::error::{Result, SegmentError};
use crate::generic_indexed::{GenericIndexed, GenericIndexedWriter};
use crate::smoosh::SmooshedFiles;
use crate::vsize::{read_vsize_columnar_ints, read_vsize_columnar_multi_ints};

const UNCOMPRESSED_SINGLE_VALUE: u8 = 0;
const UNCOMPRESSED_MULTI_VALUE: u8 = 1;
const COMPRESSED: u8 = 2;
const UNCOMPRESSED_WITH_FLAGS: u8 = 3;
const MULTI_VALUE: i32 = 1;
const MULTI_VALUE_V3: i32 = 2;
const NO_BITMAP_INDEX: i32 = 4;
/// `EncodedStringDictionaryWriter.VERSION`: a front-coded dictionary follows.
const ENCODED_DICTIONARY: u8 = 0x7F;

/// The rows of a string column, as dictionary ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StringRows {
    Single(Vec<u32>),
    Multi(MultiInts),
}

impl StringRows {
    pub fn len(&self) -> usize {
        match self {
            StringRows::Single(ids) => ids.len(),
            StringRows::Multi(m) => m.rows(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids of one row (one id for a single-value column).
    pub fn row(&self, i: usize) -> &[u32] {
        match self {
            StringRows::Single(ids) => std::slice::from_ref(&ids[i]),
            StringRows::Multi(m) => m.row(i),
        }
    }
}

/// A bitmap as stored, and the rows it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBitmap {
    pub bytes: Vec<u8>,
    pub rows: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StringColumn {
    /// Sorted values, `None` (null) first when present.
    pub dictionary: Vec<Option<String>>,
    pub rows: StringRows,
    /// One bitmap per dictionary id, unless the column was written without bitmap indexes.
    pub bitmaps: Option<Vec<StoredBitmap>>,
    pub multi_value: bool,
}

pub(crate) fn read<'a>(
    cur: &mut Cursor<'a>,
    order: ByteOrder,
    bitmap_serde: BitmapSerdeFactory,
    files: &'a SmooshedFiles,
) -> Result<StringColumn> {
    let version = cur.u8()?;
    let flags = match version {
        COMPRESSED | UNCOMPRESSED_WITH_FLAGS => cur.i32_be()?,
        UNCOMPRESSED_MULTI_VALUE => MULTI_VALUE,
        UNCOMPRESSED_SINGLE_VALUE => 0,
        v => return Err(cur.error(format!("unsupported dictionary column version [{v}]"))),
    };
    let multi_value = flags & (MULTI_VALUE | MULTI_VALUE_V3) != 0;
    if cur.rest().first() == Some(&ENCODED_DICTIONARY) {
        return Err(SegmentError::Unsupported(
            "front-coded string dictionaries".into(),
        ));
    }
    let dictionary = GenericIndexed::read(cur, Some(files))?.strings(cur.what())?;
    let rows = if multi_value {
        match version {
            COMPRESSED => StringRows::Multi(read_multi_ints(cur, order, Some(files))?),
            _ => StringRows::Multi(read_vsize_columnar_multi_ints(cur)?),
        }
    } else if version == COMPRESSED {
        StringRows::Single(read_vsize_ints(cur, order, Some(files))?)
    } else {
        StringRows::Single(read_vsize_columnar_ints(cur)?)
    };
    let bitmaps = if flags & NO_BITMAP_INDEX == 0 {
        let indexed = GenericIndexed::read(cur, Some(files))?;
        let mut out = Vec::with_capacity(indexed.len());
        for i in 0..indexed.len() {
            let bytes = indexed.get(i).unwrap_or_default();
            out.push(StoredBitmap {
                rows: bitmap_serde.deserialize(bytes)?,
                bytes: bytes.to_vec(),
            });
        }
        Some(out)
    } else {
        None
    };
    if cur.has_remaining() {
        return Err(SegmentError::Unsupported("spatial indexes".into()));
    }
    let column = StringColumn {
        dictionary,
        rows,
        bitmaps,
        multi_value,
    };
    column.validate(cur)?;
    Ok(column)
}

impl StringColumn {
    /// Ids within the dictionary, one bitmap per id, and bitmaps that hold exactly the rows of
    /// their id (plus, for a dictionary starting with null, the rows with no value; segments
    /// written with Druid's legacy null handling stored null as "").
    fn validate(&self, cur: &Cursor<'_>) -> Result<()> {
        let card = self.dictionary.len() as u32;
        let null_first = matches!(self.dictionary.first(), Some(None))
            || matches!(self.dictionary.first(), Some(Some(s)) if s.is_empty());
        let mut expected: Vec<Vec<u32>> = vec![Vec::new(); self.dictionary.len()];
        for r in 0..self.rows.len() {
            let ids = self.rows.row(r);
            if ids.is_empty() && null_first {
                expected[0].push(r as u32);
            }
            for &id in ids {
                if id >= card {
                    return Err(cur.error(format!(
                        "row {r} has id {id}, the dictionary has {card} values"
                    )));
                }
                let e = &mut expected[id as usize];
                if e.last() != Some(&(r as u32)) {
                    e.push(r as u32);
                }
            }
        }
        if let Some(bitmaps) = &self.bitmaps {
            if bitmaps.len() != self.dictionary.len() {
                return Err(cur.error(format!(
                    "{} bitmaps for {} dictionary values",
                    bitmaps.len(),
                    self.dictionary.len()
                )));
            }
            for (id, (b, e)) in bitmaps.iter().zip(&expected).enumerate() {
                if &b.rows != e {
                    return Err(cur.error(format!(
                        "bitmap of value {:?} holds {} rows, the ids say {}",
                        self.dictionary[id],
                        b.rows.len(),
                        e.len()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The ids of a string column being written.
pub(crate) enum IdsWriter {
    Single(VSizeIntsWriter),
    Multi(V3MultiIntsWriter),
}

impl IdsWriter {
    fn serialized_size(&self) -> u64 {
        match self {
            IdsWriter::Single(w) => w.serialized_size(),
            IdsWriter::Multi(w) => w.serialized_size(),
        }
    }

    fn write_to(&mut self, out: &mut dyn Write, what: &Path) -> Result<()> {
        match self {
            IdsWriter::Single(w) => w.write_to(out, what),
            IdsWriter::Multi(w) => w.write_to(out, what),
        }
    }
}

/// A finished string column part: compressed (version 2), with bitmaps, flags
/// `MULTI_VALUE_V3` for multi-value columns.
pub(crate) struct StringPartWriter {
    pub dictionary: GenericIndexedWriter,
    pub ids: IdsWriter,
    pub bitmaps: GenericIndexedWriter,
}

impl StringPartWriter {
    pub fn serialized_size(&self) -> u64 {
        5 + self.dictionary.serialized_size()
            + self.ids.serialized_size()
            + self.bitmaps.serialized_size()
    }

    pub fn write_to(&mut self, out: &mut dyn Write, what: &Path) -> Result<()> {
        let flags = match self.ids {
            IdsWriter::Single(_) => 0i32,
            IdsWriter::Multi(_) => MULTI_VALUE_V3,
        };
        let mut head = vec![COMPRESSED];
        head.extend_from_slice(&flags.to_be_bytes());
        out.write_all(&head)
            .map_err(|e| SegmentError::io(what, e))?;
        self.dictionary.write_to(out, what)?;
        self.ids.write_to(out, what)?;
        self.bitmaps.write_to(out, what)
    }
}
