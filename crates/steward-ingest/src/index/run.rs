//! Spilled runs: sorted rows on disk, read back one at a time for the merge.
//!
//! Druid persists each full in-memory index as a small segment and merges those; a run here is
//! leaner: rows in sort order with their values inline (no dictionaries to hold while merging),
//! in LZ4-compressed blocks of about 64 KiB, so that reading a run costs one block of memory.
//! Within a block a row stores its time as a delta from the row before, and a dimension whose
//! value repeats the previous row's as one byte, which sorted rows make frequent. A row is:
//!
//! ```text
//! varint zigzag(time - previous time)
//! per dimension: 0 null | 1 same as previous row | 2 varint len, UTF-8 |
//!                3 varint count, per element (varint 0: null | varint len+1, UTF-8) | 4 u64 LE bits
//! the aggregator state words, u64 LE each
//! ```
//!
//! A block is `u32 LE compressed length, u32 LE length, LZ4 block`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;

const BLOCK_SIZE: usize = 64 * 1024;

const TAG_NULL: u8 = 0;
const TAG_SAME: u8 = 1;
const TAG_STRING: u8 = 2;
const TAG_STRINGS: u8 = 3;
const TAG_NUMBER: u8 = 4;

/// A run file on disk; removed when dropped.
#[derive(Debug)]
pub struct Run {
    path: PathBuf,
    /// Dimensions per row (the index may discover more later: those are null here).
    dims: usize,
    rows: u64,
    bytes: u64,
}

impl Run {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // The spill directory belongs to the task; a file left behind is only wasted space.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes rows, in order, into a new run file.
pub struct RunWriter {
    file: BufWriter<File>,
    path: PathBuf,
    dims: usize,
    block: Vec<u8>,
    compressed: Vec<u8>,
    /// Per dimension, where the previous row of the block wrote its value.
    previous: Vec<Option<(usize, usize)>>,
    previous_time: i64,
    dim: usize,
    rows: u64,
    bytes: u64,
}

impl RunWriter {
    pub fn create(path: PathBuf, dims: usize) -> io::Result<RunWriter> {
        let file = BufWriter::with_capacity(256 * 1024, File::create(&path)?);
        Ok(RunWriter {
            file,
            path,
            dims,
            block: Vec::with_capacity(BLOCK_SIZE + 4096),
            compressed: Vec::new(),
            previous: vec![None; dims],
            previous_time: 0,
            dim: 0,
            rows: 0,
            bytes: 0,
        })
    }

    pub fn begin_row(&mut self, time: i64) -> io::Result<()> {
        if self.block.len() >= BLOCK_SIZE {
            self.flush_block()?;
        }
        write_varint(
            &mut self.block,
            zigzag(time.wrapping_sub(self.previous_time)),
        );
        self.previous_time = time;
        self.dim = 0;
        Ok(())
    }

    pub fn null(&mut self) {
        let start = self.block.len();
        self.block.push(TAG_NULL);
        self.end_value(start);
    }

    pub fn string(&mut self, value: &str) {
        let start = self.block.len();
        self.block.push(TAG_STRING);
        write_varint(&mut self.block, value.len() as u64);
        self.block.extend_from_slice(value.as_bytes());
        self.end_value(start);
    }

    pub fn strings<'a>(&mut self, count: usize, elements: impl Iterator<Item = Option<&'a str>>) {
        let start = self.block.len();
        self.block.push(TAG_STRINGS);
        write_varint(&mut self.block, count as u64);
        for element in elements {
            match element {
                None => self.block.push(0),
                Some(s) => {
                    write_varint(&mut self.block, s.len() as u64 + 1);
                    self.block.extend_from_slice(s.as_bytes());
                }
            }
        }
        self.end_value(start);
    }

    pub fn number(&mut self, bits: u64) {
        let start = self.block.len();
        self.block.push(TAG_NUMBER);
        self.block.extend_from_slice(&bits.to_le_bytes());
        self.end_value(start);
    }

    /// Replaces a value equal to the previous row's by the one-byte tag.
    fn end_value(&mut self, start: usize) {
        let end = self.block.len();
        let d = self.dim;
        self.dim += 1;
        if let Some((s, e)) = self.previous[d] {
            if self.block[s..e] == self.block[start..end] {
                self.block.truncate(start);
                self.block.push(TAG_SAME);
                return;
            }
        }
        self.previous[d] = Some((start, end));
    }

    pub fn end_row(&mut self, states: &[u64]) {
        debug_assert_eq!(self.dim, self.dims, "every dimension written");
        for word in states {
            self.block.extend_from_slice(&word.to_le_bytes());
        }
        self.rows += 1;
    }

    fn flush_block(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        self.compressed.resize(
            lz4_flex::block::get_maximum_output_size(self.block.len()),
            0,
        );
        let n = lz4_flex::block::compress_into(&self.block, &mut self.compressed)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.file.write_all(&(n as u32).to_le_bytes())?;
        self.file
            .write_all(&(self.block.len() as u32).to_le_bytes())?;
        self.file.write_all(&self.compressed[..n])?;
        self.bytes += 8 + n as u64;
        self.block.clear();
        self.previous.fill(None);
        self.previous_time = 0;
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<Run> {
        self.flush_block()?;
        self.file.flush()?;
        Ok(Run {
            path: std::mem::take(&mut self.path),
            dims: self.dims,
            rows: self.rows,
            bytes: self.bytes,
        })
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        // Only a writer abandoned on an error still has its path: remove its partial file.
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A dimension value of a decoded row; strings are ranges of the reader's block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slot {
    Null,
    String {
        start: u32,
        len: u32,
    },
    /// `count` elements encoded from `start`.
    Strings {
        start: u32,
        count: u32,
    },
    Number(u64),
}

/// Reads a run's rows in order.
pub struct RunReader {
    file: BufReader<File>,
    block: Vec<u8>,
    compressed: Vec<u8>,
    pos: usize,
    previous_time: i64,
    time: i64,
    run_dims: usize,
    slots: Vec<Slot>,
    states: Vec<u64>,
}

impl RunReader {
    /// Opens a run whose rows carry `stride` state words, to read rows of `dims` dimensions
    /// (at least the run's; those it lacks are null).
    pub fn open(run: &Run, dims: usize, stride: usize) -> io::Result<RunReader> {
        Ok(RunReader {
            file: BufReader::with_capacity(64 * 1024, File::open(&run.path)?),
            block: Vec::new(),
            compressed: Vec::new(),
            pos: 0,
            previous_time: 0,
            time: 0,
            run_dims: run.dims,
            slots: vec![Slot::Null; dims.max(run.dims)],
            states: vec![0; stride],
        })
    }

    pub fn time(&self) -> i64 {
        self.time
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub fn states(&self) -> &[u64] {
        &self.states
    }

    pub fn block(&self) -> &[u8] {
        &self.block
    }

    /// Moves to the next row; `false` at the end of the run.
    pub fn advance(&mut self) -> io::Result<bool> {
        if self.pos >= self.block.len() && !self.read_block()? {
            return Ok(false);
        }
        let mut cursor = Cursor {
            buf: &self.block,
            pos: self.pos,
        };
        self.time = self.previous_time.wrapping_add(unzigzag(cursor.varint()?));
        self.previous_time = self.time;
        for slot in self.slots.iter_mut().take(self.run_dims) {
            let tag = cursor.byte()?;
            *slot = match tag {
                TAG_NULL => Slot::Null,
                TAG_SAME => *slot,
                TAG_STRING => {
                    let len = cursor.varint()? as usize;
                    let start = cursor.pos;
                    cursor.utf8(len)?;
                    Slot::String {
                        start: start as u32,
                        len: len as u32,
                    }
                }
                TAG_STRINGS => {
                    let count = cursor.varint()?;
                    let start = cursor.pos;
                    for _ in 0..count {
                        let len = cursor.varint()?;
                        if len > 0 {
                            cursor.utf8(len as usize - 1)?;
                        }
                    }
                    Slot::Strings {
                        start: start as u32,
                        count: count as u32,
                    }
                }
                TAG_NUMBER => Slot::Number(u64::from_le_bytes(cursor.array()?)),
                other => return Err(corrupt(format!("unknown value tag {other}"))),
            };
        }
        for word in &mut self.states {
            *word = u64::from_le_bytes(cursor.array()?);
        }
        self.pos = cursor.pos;
        Ok(true)
    }

    fn read_block(&mut self) -> io::Result<bool> {
        let mut header = [0u8; 8];
        match self.file.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(e),
        }
        let compressed = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let raw = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if compressed > lz4_flex::block::get_maximum_output_size(raw) {
            return Err(corrupt(format!("block sizes {compressed}/{raw}")));
        }
        self.compressed.resize(compressed, 0);
        self.file.read_exact(&mut self.compressed)?;
        self.block.resize(raw, 0);
        let n = lz4_flex::block::decompress_into(&self.compressed, &mut self.block)
            .map_err(|e| corrupt(e.to_string()))?;
        if n != raw {
            return Err(corrupt(format!("block holds {n} bytes, not {raw}")));
        }
        self.pos = 0;
        self.previous_time = 0;
        // A block starts afresh: no value repeats one of the previous block.
        self.slots.fill(Slot::Null);
        Ok(true)
    }
}

fn corrupt(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt spill run: {what}"),
    )
}

/// Bounds-checked reads from a block.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> io::Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| corrupt("row runs past its block".into()))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> io::Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt("varint too long".into()))
    }

    fn take(&mut self, len: usize) -> io::Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| corrupt("value runs past its block".into()))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn utf8(&mut self, len: usize) -> io::Result<()> {
        std::str::from_utf8(self.take(len)?)
            .map(|_| ())
            .map_err(|_| corrupt("a string is not UTF-8".into()))
    }

    fn array(&mut self) -> io::Result<[u8; 8]> {
        let mut out = [0u8; 8];
        out.copy_from_slice(self.take(8)?);
        Ok(out)
    }
}

/// The elements of a [`Slot::Strings`], already checked when the row was decoded.
pub fn elements(block: &[u8], start: u32, count: u32) -> impl Iterator<Item = Option<&str>> + '_ {
    let mut cursor = Cursor {
        buf: block,
        pos: start as usize,
    };
    (0..count).map(move |_| {
        let len = cursor.varint().unwrap_or(0);
        (len > 0).then(|| {
            let bytes = cursor.take(len as usize - 1).unwrap_or_default();
            std::str::from_utf8(bytes).unwrap_or_default()
        })
    })
}

/// The string of a [`Slot::String`], already checked when the row was decoded.
pub fn string(block: &[u8], start: u32, len: u32) -> &str {
    std::str::from_utf8(bytes(block, start, len)).unwrap_or_default()
}

/// The UTF-8 bytes of a [`Slot::String`].
pub fn bytes(block: &[u8], start: u32, len: u32) -> &[u8] {
    block
        .get(start as usize..start as usize + len as usize)
        .unwrap_or_default()
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_as_written_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RunWriter::create(dir.path().join("r"), 3).unwrap();
        let n = 20_000i64;
        for i in 0..n {
            w.begin_row(i / 7 - 1000).unwrap();
            if i % 3 == 0 {
                w.null();
            } else {
                w.string(&format!("value-{}", i / 10));
            }
            w.strings(2, [None, Some("é\u{10000}")].into_iter());
            w.number((i * 31) as u64);
            w.end_row(&[i as u64, u64::MAX]);
        }
        let run = w.finish().unwrap();
        assert_eq!(run.rows(), n as u64);
        assert!(run.bytes() > 0);
        // Read with one more dimension than the run has: it stays null.
        let mut r = RunReader::open(&run, 4, 2).unwrap();
        for i in 0..n {
            assert!(r.advance().unwrap());
            assert_eq!(r.time(), i / 7 - 1000);
            let expected = format!("value-{}", i / 10);
            match r.slots()[0] {
                Slot::Null => assert_eq!(i % 3, 0),
                Slot::String { start, len } => assert_eq!(string(r.block(), start, len), expected),
                other => panic!("{other:?}"),
            }
            let Slot::Strings { start, count } = r.slots()[1] else {
                panic!()
            };
            let got: Vec<_> = elements(r.block(), start, count).collect();
            assert_eq!(got, [None, Some("é\u{10000}")]);
            assert_eq!(r.slots()[2], Slot::Number((i * 31) as u64));
            assert_eq!(r.slots()[3], Slot::Null);
            assert_eq!(r.states(), &[i as u64, u64::MAX]);
        }
        assert!(!r.advance().unwrap());
        let path = run.path().to_path_buf();
        drop(r);
        drop(run);
        assert!(!path.exists(), "a dropped run removes its file");
    }

    #[test]
    fn a_corrupt_run_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RunWriter::create(dir.path().join("r"), 1).unwrap();
        w.begin_row(1).unwrap();
        w.string("abc");
        w.end_row(&[1]);
        let run = w.finish().unwrap();
        let mut bytes = std::fs::read(run.path()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        bytes.truncate(last - 2);
        std::fs::write(run.path(), &bytes).unwrap();
        let mut r = RunReader::open(&run, 1, 1).unwrap();
        assert!(r.advance().is_err());
    }
}
