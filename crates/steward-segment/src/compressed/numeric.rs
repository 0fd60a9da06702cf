//! Compressed numeric columns: `CompressedColumnarLongsSupplier`,
//! `CompressedColumnarFloatsSupplier`, `CompressedColumnarDoublesSuppliers` (read) and
//! `BlockLayoutColumnar{Longs,Floats,Doubles}Serializer` with LZ4 and the "longs" encoding
//! (write; Druid's defaults).
//!
//! ```text
//! byte  version (0x1 = LZF era, 0x2)
//! int   number of values                (big-endian)
//! int   values per block                (8192 longs or doubles, 16384 floats: 64 KiB)
//! byte  compression id; for longs, an id below 0xFE carries the encoding flag and is followed
//!       by the encoding id (0x0 delta, 0x1 table, 0xFF longs) and its metadata
//! ..    GenericIndexed of compressed blocks, or with compression "none" the values themselves
//! ```
//!
//! Values are in the column's byte order (Druid writes the platform's, little-endian); the
//! "delta" and "table" encodings bit-pack offsets most-significant-bit first (`VSizeLongSerde`).

use std::io::Write;
use std::path::Path;

use crate::buffer::{ByteOrder, Cursor};
use crate::compressed::blocks::{read_blocks, BlockWriter};
use crate::compression::{CompressionStrategy, BUFFER_SIZE};
use crate::error::{Result, SegmentError};
use crate::generic_indexed::GenericIndexed;
use crate::smoosh::SmooshedFiles;

const LZF_VERSION: u8 = 0x1;
const VERSION: u8 = 0x2;
const DELTA: u8 = 0x0;
const TABLE: u8 = 0x1;
const LONGS: u8 = 0xFF;
const ENCODING_VERSION: u8 = 0x1;
const MAX_TABLE_SIZE: i32 = 256;

struct Header {
    count: usize,
    size_per: usize,
    compression: CompressionStrategy,
    encoding: u8,
}

fn read_header(cur: &mut Cursor<'_>, longs: bool) -> Result<Header> {
    let version = cur.u8()?;
    if version != LZF_VERSION && version != VERSION {
        return Err(cur.error(format!("unknown compressed column version [{version}]")));
    }
    let count = cur.count("value count")?;
    let size_per = cur.count("values per block")?;
    if size_per == 0 && count > 0 {
        return Err(cur.error("zero values per block"));
    }
    let mut encoding = LONGS;
    let compression = if version == LZF_VERSION {
        CompressionStrategy::Lzf
    } else {
        let mut id = cur.u8()?;
        // CompressionFactory.hasEncodingFlag: ids below 0xFE (as signed bytes) carry the flag.
        if longs && (id as i8) < (0xFEu8 as i8) {
            encoding = cur.u8()?;
            id = (id as i8).wrapping_add(126) as u8;
        }
        CompressionStrategy::from_id(id)?
    };
    Ok(Header {
        count,
        size_per,
        compression,
        encoding,
    })
}

/// Reads fixed-width values: whole in "none", else in blocks of `size_per` values.
fn read_fixed<'a>(
    cur: &mut Cursor<'a>,
    files: Option<&'a SmooshedFiles>,
    h: &Header,
    width: usize,
) -> Result<Vec<u8>> {
    let total = h
        .count
        .checked_mul(width)
        .ok_or_else(|| cur.error("value count overflows"))?;
    if h.compression == CompressionStrategy::None {
        return Ok(cur.take(total)?.to_vec());
    }
    let block_bytes = h
        .size_per
        .checked_mul(width)
        .filter(|b| *b <= BUFFER_SIZE)
        .ok_or_else(|| cur.error(format!("{} values per block exceed 64 KiB", h.size_per)))?;
    read_blocks(cur, files, h.compression, block_bytes, total)
}

/// Reads a compressed long column (any encoding Druid writes).
pub fn read_longs<'a>(
    cur: &mut Cursor<'a>,
    order: ByteOrder,
    files: Option<&'a SmooshedFiles>,
) -> Result<Vec<i64>> {
    let h = read_header(cur, true)?;
    match h.encoding {
        LONGS => {
            let bytes = read_fixed(cur, files, &h, 8)?;
            Ok(bytes
                .chunks_exact(8)
                .map(|c| order.u64(c.try_into().expect("8 bytes")) as i64)
                .collect())
        }
        DELTA | TABLE => read_packed_longs(cur, files, &h),
        other => Err(cur.error(format!("unknown long encoding [{other:#04x}]"))),
    }
}

/// "delta" (base + offset) and "table" (index into up to 256 distinct values) encodings.
fn read_packed_longs<'a>(
    cur: &mut Cursor<'a>,
    files: Option<&'a SmooshedFiles>,
    h: &Header,
) -> Result<Vec<i64>> {
    let version = cur.u8()?;
    if version != ENCODING_VERSION {
        return Err(cur.error(format!("unknown long encoding version [{version}]")));
    }
    let (bits, decode): (u32, Box<dyn Fn(u64) -> Option<i64>>) = if h.encoding == DELTA {
        let base = cur.i64_be()?;
        let bits = cur.i32_be()?;
        (
            check_bits(cur, bits)?,
            Box::new(move |v| Some(base.wrapping_add(v as i64))),
        )
    } else {
        let size = cur.i32_be()?;
        if !(0..=MAX_TABLE_SIZE).contains(&size) {
            return Err(cur.error(format!("invalid table size [{size}]")));
        }
        let table: Vec<i64> = (0..size).map(|_| cur.i64_be()).collect::<Result<_>>()?;
        let bits = bits_for_max(size as u64);
        (bits, Box::new(move |v| table.get(v as usize).copied()))
    };
    let mut out = Vec::with_capacity(h.count.min(1 << 24));
    let mut push_block = |packed: &[u8], n: usize, cur: &Cursor<'_>| -> Result<()> {
        if (n * bits as usize).div_ceil(8) > packed.len() {
            return Err(cur.error("packed block shorter than its values"));
        }
        for i in 0..n {
            let v = read_bits(packed, i * bits as usize, bits);
            out.push(
                decode(v).ok_or_else(|| cur.error(format!("table index [{v}] out of range")))?,
            );
        }
        Ok(())
    };
    if h.compression == CompressionStrategy::None {
        let rest = cur.rest();
        push_block(rest, h.count, cur)?;
        cur.take(rest.len())?;
    } else {
        let blocks = GenericIndexed::read(cur, files)?;
        let mut block = Vec::new();
        let mut left = h.count;
        for i in 0..blocks.len() {
            let raw = blocks
                .get(i)
                .ok_or_else(|| cur.error(format!("block {i} is null")))?;
            h.compression.decompress(raw, &mut block, cur.what())?;
            let n = left.min(h.size_per);
            push_block(&block, n, cur)?;
            left -= n;
        }
        if left > 0 {
            return Err(cur.error(format!(
                "blocks hold {} values, the header promises {}",
                h.count - left,
                h.count
            )));
        }
    }
    Ok(out)
}

fn check_bits(cur: &Cursor<'_>, bits: i32) -> Result<u32> {
    match bits {
        1 | 2 | 4 | 8 | 12 | 16 | 20 | 24 | 32 | 40 | 48 | 56 | 64 => Ok(bits as u32),
        other => Err(cur.error(format!("unsupported bits per value [{other}]"))),
    }
}

/// `VSizeLongSerde.getBitsForMax`.
fn bits_for_max(value: u64) -> u32 {
    const SIZES: [u32; 13] = [1, 2, 4, 8, 12, 16, 20, 24, 32, 40, 48, 56, 64];
    SIZES
        .into_iter()
        .find(|&b| b >= 63 || value <= 1u64 << b)
        .unwrap_or(64)
}

/// `bits` bits at bit position `at`, most significant bit first.
fn read_bits(packed: &[u8], at: usize, bits: u32) -> u64 {
    let first = at / 8;
    let mut window = [0u8; 16];
    let avail = packed.len().saturating_sub(first).min(16);
    window[..avail].copy_from_slice(&packed[first..first + avail]);
    let word = u128::from_be_bytes(window);
    let shift = 128 - (at % 8) as u32 - bits;
    ((word >> shift) & ((1u128 << bits) - 1)) as u64
}

pub fn read_floats<'a>(
    cur: &mut Cursor<'a>,
    order: ByteOrder,
    files: Option<&'a SmooshedFiles>,
) -> Result<Vec<f32>> {
    let h = read_header(cur, false)?;
    let bytes = read_fixed(cur, files, &h, 4)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_bits(order.u32(c.try_into().expect("4 bytes"))))
        .collect())
}

pub fn read_doubles<'a>(
    cur: &mut Cursor<'a>,
    order: ByteOrder,
    files: Option<&'a SmooshedFiles>,
) -> Result<Vec<f64>> {
    let h = read_header(cur, false)?;
    let bytes = read_fixed(cur, files, &h, 8)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| f64::from_bits(order.u64(c.try_into().expect("8 bytes"))))
        .collect())
}

/// Writes longs, floats or doubles little-endian in LZ4 blocks of 64 KiB.
pub struct NumericWriter {
    width: usize,
    count: u32,
    blocks: BlockWriter,
}

impl NumericWriter {
    /// For longs (8 bytes) and doubles; floats use `new(4, ..)`.
    pub fn new(width: usize, work_dir: Option<&Path>) -> Self {
        NumericWriter {
            width,
            count: 0,
            blocks: BlockWriter::new(BUFFER_SIZE, work_dir),
        }
    }

    #[inline]
    pub fn push_long(&mut self, v: i64) -> Result<()> {
        self.push(&v.to_le_bytes())
    }

    #[inline]
    pub fn push_float(&mut self, v: f32) -> Result<()> {
        self.push(&v.to_le_bytes())
    }

    #[inline]
    pub fn push_double(&mut self, v: f64) -> Result<()> {
        self.push(&v.to_le_bytes())
    }

    #[inline]
    fn push(&mut self, bytes: &[u8]) -> Result<()> {
        debug_assert_eq!(bytes.len(), self.width);
        self.count = self
            .count
            .checked_add(1)
            .filter(|c| *c <= i32::MAX as u32)
            .ok_or_else(|| SegmentError::Invalid("more than 2^31-1 rows in a column".into()))?;
        self.blocks.push(bytes)
    }

    pub fn finish(&mut self) -> Result<()> {
        self.blocks.finish()
    }

    /// Size after `finish`.
    pub fn serialized_size(&self) -> u64 {
        10 + self.blocks.serialized_size()
    }

    pub fn write_to(&mut self, out: &mut dyn Write, what: &Path) -> Result<()> {
        let mut head = [0u8; 10];
        head[0] = VERSION;
        head[1..5].copy_from_slice(&self.count.to_be_bytes());
        head[5..9].copy_from_slice(&((BUFFER_SIZE / self.width) as u32).to_be_bytes());
        head[9] = CompressionStrategy::Lz4.id();
        out.write_all(&head)
            .map_err(|e| SegmentError::io(what, e))?;
        self.blocks.write_to(out, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(mut w: NumericWriter) -> Vec<u8> {
        w.finish().unwrap();
        let mut out = Vec::new();
        w.write_to(&mut out, Path::new("t")).unwrap();
        assert_eq!(out.len() as u64, w.serialized_size());
        out
    }

    /// BlockLayoutColumnarLongsSerializer's header: version 2, count, 8192 per block, LZ4 (no
    /// encoding flag for "longs"), then a GenericIndexed of one block.
    #[test]
    fn golden_long_header_and_round_trip_across_blocks() {
        let mut w = NumericWriter::new(8, None);
        w.push_long(-1).unwrap();
        let bytes = written(w);
        assert_eq!(&bytes[..10], &[2, 0, 0, 0, 1, 0, 0, 0x20, 0, 1]);
        assert_eq!(&bytes[10..12], &[1, 0], "GenericIndexed v1, not sorted");
        let mut cur = Cursor::new(&bytes, "t");
        assert_eq!(
            read_longs(&mut cur, ByteOrder::LittleEndian, None).unwrap(),
            vec![-1]
        );
        assert!(!cur.has_remaining());

        let values: Vec<i64> = (0..20_000).map(|i| i * 1_000_003 - 7).collect();
        let mut w = NumericWriter::new(8, None);
        for v in &values {
            w.push_long(*v).unwrap();
        }
        let bytes = written(w);
        assert_eq!(
            read_longs(&mut Cursor::new(&bytes, "t"), ByteOrder::LittleEndian, None).unwrap(),
            values
        );
    }

    #[test]
    fn floats_and_doubles_round_trip() {
        let fs: Vec<f32> = (0..40_000).map(|i| i as f32 * 0.5).collect();
        let mut w = NumericWriter::new(4, None);
        fs.iter().for_each(|v| w.push_float(*v).unwrap());
        let bytes = written(w);
        assert_eq!(&bytes[5..9], &16384u32.to_be_bytes());
        assert_eq!(
            read_floats(&mut Cursor::new(&bytes, "t"), ByteOrder::LittleEndian, None).unwrap(),
            fs
        );
        let ds = [f64::MIN, 0.0, -0.0, 1e300, f64::INFINITY];
        let mut w = NumericWriter::new(8, None);
        ds.iter().for_each(|v| w.push_double(*v).unwrap());
        let bytes = written(w);
        let back =
            read_doubles(&mut Cursor::new(&bytes, "t"), ByteOrder::LittleEndian, None).unwrap();
        assert_eq!(
            back.iter().map(|d| d.to_bits()).collect::<Vec<_>>(),
            ds.iter().map(|d| d.to_bits()).collect::<Vec<_>>()
        );
    }

    /// Layouts of DeltaLongEncodingWriter / TableLongEncodingWriter with compression "none"
    /// (EntireLayoutColumnarLongsSerializer), bit-packed as VSizeLongSerde does.
    #[test]
    fn reads_delta_and_table_encodings() {
        // delta: base 100, 4 bits: values 100, 115, 103 -> offsets 0, 15, 3 -> 0x0F 0x30
        let mut b = vec![2, 0, 0, 0, 3, 0, 0, 0, 3];
        b.push((0xFEu8 as i8 - 126) as u8); // "none" with the encoding flag
        b.push(DELTA);
        b.push(ENCODING_VERSION);
        b.extend_from_slice(&100i64.to_be_bytes());
        b.extend_from_slice(&4i32.to_be_bytes());
        b.extend_from_slice(&[0x0F, 0x30, 0, 0, 0, 0]);
        assert_eq!(
            read_longs(&mut Cursor::new(&b, "t"), ByteOrder::LittleEndian, None).unwrap(),
            vec![100, 115, 103]
        );
        // table of [7, -9], 1 bit per value... getBitsForMax(2) = 1: rows 7, -9, -9 -> 0b011
        let mut b = vec![2, 0, 0, 0, 3, 0, 0, 0, 3];
        b.push((0xFEu8 as i8 - 126) as u8);
        b.push(TABLE);
        b.push(ENCODING_VERSION);
        b.extend_from_slice(&2i32.to_be_bytes());
        b.extend_from_slice(&7i64.to_be_bytes());
        b.extend_from_slice(&(-9i64).to_be_bytes());
        b.extend_from_slice(&[0b0110_0000, 0, 0, 0, 0]);
        assert_eq!(
            read_longs(&mut Cursor::new(&b, "t"), ByteOrder::LittleEndian, None).unwrap(),
            vec![7, -9, -9]
        );
        assert_eq!(bits_for_max(256), 8);
        assert_eq!(bits_for_max(257), 12);
        assert_eq!(read_bits(&[0xAB, 0xCD, 0xEF], 4, 12), 0xBCD);
    }

    #[test]
    fn refuses_bad_headers() {
        assert!(read_longs(&mut Cursor::new(&[9], "t"), ByteOrder::LittleEndian, None).is_err());
        // promises 5 values, holds none
        let b = [
            2, 0, 0, 0, 5, 0, 0, 0x20, 0, 1, 1, 0, 0, 0, 0, 4, 0, 0, 0, 0,
        ];
        let err = read_longs(
            &mut Cursor::new(&b, "col.longs"),
            ByteOrder::LittleEndian,
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("col.longs"), "{err}");
    }
}
