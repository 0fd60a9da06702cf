//! Compressed dictionary ids: `CompressedVSizeColumnarIntsSupplier` (one id per row, each
//! stored in as few bytes as the largest id needs), `CompressedColumnarIntsSupplier` (plain
//! 4-byte ints; the row offsets of a multi-value column) and
//! `V3CompressedVSizeColumnarMultiIntsSupplier` (multi-value rows: offsets then values; its
//! version-2 predecessor stored the offsets as VSize ints).
//!
//! ```text
//! VSize:   byte 0x2, byte numBytes, int count, int valuesPerBlock, byte compression, blocks
//! Ints:    byte 0x2,                int count, int valuesPerBlock, byte compression, blocks
//! V3:      byte 0x3, Ints of count+1 row start offsets, VSize of all values
//! ```

use std::io::Write;
use std::path::Path;

use crate::buffer::{ByteOrder, Cursor};
use crate::compressed::blocks::{read_blocks, BlockWriter};
use crate::compression::{CompressionStrategy, BUFFER_SIZE};
use crate::error::{Result, SegmentError};
use crate::smoosh::SmooshedFiles;

const VERSION: u8 = 0x2;
const V3_VERSION: u8 = 0x3;
/// `CompressedColumnarIntsSupplier.MAX_INTS_IN_BUFFER`.
const MAX_INTS_IN_BUFFER: usize = BUFFER_SIZE / 4;

/// `VSizeColumnarInts.getNumBytesForMax`.
pub fn num_bytes_for_max(max_value: u32) -> usize {
    match max_value {
        0..=0xFF => 1,
        0x100..=0xFFFF => 2,
        0x1_0000..=0xFF_FFFF => 3,
        _ => 4,
    }
}

/// `CompressedVSizeColumnarIntsSupplier.maxIntsInBufferForBytes`: the largest power of two
/// that fits a 64 KiB block (3-byte values leave one byte of padding for 4-byte reads).
fn max_ints_in_buffer(num_bytes: usize) -> usize {
    let padding = if num_bytes == 3 { 1 } else { 0 };
    let max = (BUFFER_SIZE - padding) / num_bytes;
    1 << (usize::BITS - 1 - max.leading_zeros())
}

fn read_int_values(bytes: &[u8], width: usize, order: ByteOrder) -> Vec<u32> {
    bytes
        .chunks_exact(width)
        .map(|c| {
            let mut w = [0u8; 4];
            match order {
                ByteOrder::LittleEndian => {
                    w[..width].copy_from_slice(c);
                    u32::from_le_bytes(w)
                }
                ByteOrder::BigEndian => {
                    w[4 - width..].copy_from_slice(c);
                    u32::from_be_bytes(w)
                }
            }
        })
        .collect()
}

/// Reads `CompressedVSizeColumnarIntsSupplier`.
pub fn read_vsize_ints<'a>(
    cur: &mut Cursor<'a>,
    order: ByteOrder,
    files: Option<&'a SmooshedFiles>,
) -> Result<Vec<u32>> {
    let version = cur.u8()?;
    if version != VERSION {
        return Err(cur.error(format!("unknown compressed ints version [{version}]")));
    }
    let num_bytes = cur.u8()? as usize;
    if !(1..=4).contains(&num_bytes) {
        return Err(cur.error(format!("bad bytes per value [{num_bytes}]")));
    }
    read_ints_body(cur, order, files, num_bytes)
}

/// Reads `CompressedColumnarIntsSupplier`.
pub fn read_ints<'a>(
    cur: &mut Cursor<'a>,
    order: ByteOrder,
    files: Option<&'a SmooshedFiles>,
) -> Result<Vec<u32>> {
    let version = cur.u8()?;
    if version != VERSION {
        return Err(cur.error(format!("unknown compressed ints version [{version}]")));
    }
    read_ints_body(cur, order, files, 4)
}

fn read_ints_body<'a>(
    cur: &mut Cursor<'a>,
    order: ByteOrder,
    files: Option<&'a SmooshedFiles>,
    width: usize,
) -> Result<Vec<u32>> {
    let count = cur.count("value count")?;
    let size_per = cur.count("values per block")?;
    let compression = CompressionStrategy::from_id(cur.u8()?)?;
    if !size_per.is_power_of_two() || size_per * width > BUFFER_SIZE {
        return Err(cur.error(format!("bad values per block [{size_per}]")));
    }
    let total = count
        .checked_mul(width)
        .ok_or_else(|| cur.error("count overflows"))?;
    let bytes = read_blocks(cur, files, compression, size_per * width, total)?;
    Ok(read_int_values(&bytes, width, order))
}

/// Multi-value rows as Druid's offsets + values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MultiInts {
    /// `rows + 1` offsets into `values`.
    pub offsets: Vec<u32>,
    pub values: Vec<u32>,
}

impl MultiInts {
    pub fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn row(&self, i: usize) -> &[u32] {
        &self.values[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Checks offsets start at 0, never decrease and end at the number of values.
    pub(crate) fn validate(&self, cur: &Cursor<'_>) -> Result<()> {
        let ok = self.offsets.first() == Some(&0)
            && self.offsets.windows(2).all(|w| w[0] <= w[1])
            && self.offsets.last().map(|l| *l as usize) == Some(self.values.len());
        if ok {
            Ok(())
        } else {
            Err(cur.error(format!(
                "row offsets do not describe {} values",
                self.values.len()
            )))
        }
    }
}

/// Reads `V3CompressedVSizeColumnarMultiIntsSupplier` (version 3: plain int offsets) or its
/// predecessor `CompressedVSizeColumnarMultiIntsSupplier` (version 2: VSize offsets).
pub fn read_multi_ints<'a>(
    cur: &mut Cursor<'a>,
    order: ByteOrder,
    files: Option<&'a SmooshedFiles>,
) -> Result<MultiInts> {
    let version = cur.u8()?;
    let offsets = match version {
        V3_VERSION => read_ints(cur, order, files)?,
        VERSION => read_vsize_ints(cur, order, files)?,
        v => return Err(cur.error(format!("unknown multi-value version [{v}]"))),
    };
    let values = read_vsize_ints(cur, order, files)?;
    let multi = MultiInts { offsets, values };
    multi.validate(cur)?;
    Ok(multi)
}

/// Writes `CompressedVSizeColumnarIntsSerializer` (little-endian, LZ4). Druid sizes the values by
/// the dictionary cardinality (`maxValue` = cardinality, not cardinality - 1).
pub struct VSizeIntsWriter {
    num_bytes: usize,
    size_per: usize,
    count: u32,
    blocks: BlockWriter,
}

impl VSizeIntsWriter {
    pub fn new(max_value: u32, work_dir: Option<&Path>) -> Self {
        let num_bytes = num_bytes_for_max(max_value);
        let size_per = max_ints_in_buffer(num_bytes);
        VSizeIntsWriter {
            num_bytes,
            size_per,
            count: 0,
            blocks: BlockWriter::new(size_per * num_bytes, work_dir),
        }
    }

    #[inline]
    pub fn push(&mut self, v: u32) -> Result<()> {
        self.count += 1;
        self.blocks.push(&v.to_le_bytes()[..self.num_bytes])
    }

    pub fn finish(&mut self) -> Result<()> {
        self.blocks.finish()
    }

    pub fn serialized_size(&self) -> u64 {
        11 + self.blocks.serialized_size()
    }

    pub fn write_to(&mut self, out: &mut dyn Write, what: &Path) -> Result<()> {
        let mut head = [0u8; 11];
        head[0] = VERSION;
        head[1] = self.num_bytes as u8;
        head[2..6].copy_from_slice(&self.count.to_be_bytes());
        head[6..10].copy_from_slice(&(self.size_per as u32).to_be_bytes());
        head[10] = CompressionStrategy::Lz4.id();
        out.write_all(&head)
            .map_err(|e| SegmentError::io(what, e))?;
        self.blocks.write_to(out, what)
    }
}

/// Writes `V3CompressedVSizeColumnarMultiIntsSerializer`: the row offsets as
/// `CompressedColumnarIntsSerializer` (16384 per block), then the values.
pub struct V3MultiIntsWriter {
    offsets_count: u32,
    offsets: BlockWriter,
    values: VSizeIntsWriter,
    offset: u32,
}

impl V3MultiIntsWriter {
    pub fn new(max_value: u32, work_dir: Option<&Path>) -> Self {
        V3MultiIntsWriter {
            offsets_count: 0,
            offsets: BlockWriter::new(MAX_INTS_IN_BUFFER * 4, work_dir),
            values: VSizeIntsWriter::new(max_value, work_dir),
            offset: 0,
        }
    }

    /// Starts a row; its values follow with `push_value`.
    pub fn start_row(&mut self) -> Result<()> {
        self.push_offset()
    }

    fn push_offset(&mut self) -> Result<()> {
        self.offsets_count += 1;
        self.offsets.push(&self.offset.to_le_bytes())
    }

    #[inline]
    pub fn push_value(&mut self, v: u32) -> Result<()> {
        self.offset = self
            .offset
            .checked_add(1)
            .filter(|o| *o <= i32::MAX as u32)
            .ok_or_else(|| {
                SegmentError::Invalid("more than 2^31-1 values in a multi-value column".into())
            })?;
        self.values.push(v)
    }

    /// Writes the closing offset and the last blocks.
    pub fn finish(&mut self) -> Result<()> {
        self.push_offset()?;
        self.offsets.finish()?;
        self.values.finish()
    }

    pub fn serialized_size(&self) -> u64 {
        1 + 10 + self.offsets.serialized_size() + self.values.serialized_size()
    }

    pub fn write_to(&mut self, out: &mut dyn Write, what: &Path) -> Result<()> {
        let mut head = [0u8; 11];
        head[0] = V3_VERSION;
        head[1] = VERSION;
        head[2..6].copy_from_slice(&self.offsets_count.to_be_bytes());
        head[6..10].copy_from_slice(&(MAX_INTS_IN_BUFFER as u32).to_be_bytes());
        head[10] = CompressionStrategy::Lz4.id();
        out.write_all(&head)
            .map_err(|e| SegmentError::io(what, e))?;
        self.offsets.write_to(out, what)?;
        self.values.write_to(out, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_druid() {
        assert_eq!(num_bytes_for_max(255), 1);
        assert_eq!(num_bytes_for_max(256), 2);
        assert_eq!(num_bytes_for_max(0x1_0000), 3);
        assert_eq!(num_bytes_for_max(0x100_0000), 4);
        assert_eq!(max_ints_in_buffer(1), 65536);
        assert_eq!(max_ints_in_buffer(2), 32768);
        assert_eq!(max_ints_in_buffer(3), 16384);
        assert_eq!(max_ints_in_buffer(4), 16384);
    }

    /// CompressedVSizeColumnarIntsSerializer's header for 3 ids with cardinality 2.
    #[test]
    fn golden_vsize_header_and_round_trips() {
        let mut w = VSizeIntsWriter::new(2, None);
        for v in [0, 1, 1] {
            w.push(v).unwrap();
        }
        w.finish().unwrap();
        let mut bytes = Vec::new();
        w.write_to(&mut bytes, Path::new("t")).unwrap();
        assert_eq!(bytes.len() as u64, w.serialized_size());
        assert_eq!(&bytes[..11], &[2, 1, 0, 0, 0, 3, 0, 1, 0, 0, 1]);
        assert_eq!(
            read_vsize_ints(&mut Cursor::new(&bytes, "t"), ByteOrder::LittleEndian, None).unwrap(),
            vec![0, 1, 1]
        );

        for max in [300u32, 70_000, 20_000_000] {
            let vals: Vec<u32> = (0..100_000u32).map(|i| (i * 7919) % (max + 1)).collect();
            let mut w = VSizeIntsWriter::new(max, None);
            vals.iter().for_each(|v| w.push(*v).unwrap());
            w.finish().unwrap();
            let mut bytes = Vec::new();
            w.write_to(&mut bytes, Path::new("t")).unwrap();
            assert_eq!(
                read_vsize_ints(&mut Cursor::new(&bytes, "t"), ByteOrder::LittleEndian, None)
                    .unwrap(),
                vals
            );
        }
    }

    #[test]
    fn v3_multi_value_round_trip_with_empty_rows() {
        let rows: Vec<Vec<u32>> = (0..50_000u32)
            .map(|i| (0..(i % 4)).map(|k| (i + k) % 500).collect())
            .collect();
        let mut w = V3MultiIntsWriter::new(500, None);
        for r in &rows {
            w.start_row().unwrap();
            r.iter().for_each(|v| w.push_value(*v).unwrap());
        }
        w.finish().unwrap();
        let mut bytes = Vec::new();
        w.write_to(&mut bytes, Path::new("t")).unwrap();
        assert_eq!(bytes.len() as u64, w.serialized_size());
        let mut cur = Cursor::new(&bytes, "t");
        let m = read_multi_ints(&mut cur, ByteOrder::LittleEndian, None).unwrap();
        assert!(!cur.has_remaining());
        assert_eq!(m.rows(), rows.len());
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(m.row(i), r.as_slice());
        }
    }

    #[test]
    fn refuses_offsets_past_the_values() {
        let m = MultiInts {
            offsets: vec![0, 3],
            values: vec![1],
        };
        assert!(m.validate(&Cursor::new(&[], "t")).is_err());
    }
}
