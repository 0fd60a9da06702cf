//! The blocks under every compressed column (`GenericIndexedWriter.ofCompressedByteBuffers` and
//! `DecompressingByteBufferObjectStrategy`): a `GenericIndexed`, not sorted, whose values are the
//! compressed blocks. Every block but the last holds exactly the column's block size.

use std::io::Write;
use std::path::Path;

use crate::buffer::Cursor;
use crate::compression::{compress_lz4, CompressionStrategy};
use crate::error::Result;
use crate::generic_indexed::{GenericIndexed, GenericIndexedWriter};
use crate::smoosh::SmooshedFiles;
use crate::spool::Spool;

/// Reads the blocks at the cursor and returns their decompressed bytes concatenated, checking
/// each full block holds `block_bytes` and the whole holds `total_bytes`.
pub fn read_blocks<'a>(
    cur: &mut Cursor<'a>,
    files: Option<&'a SmooshedFiles>,
    compression: CompressionStrategy,
    block_bytes: usize,
    total_bytes: usize,
) -> Result<Vec<u8>> {
    let what = cur.what();
    let blocks = GenericIndexed::read(cur, files)?;
    let mut out = Vec::with_capacity(total_bytes.min(blocks.len().saturating_mul(block_bytes)));
    let mut block = Vec::new();
    for i in 0..blocks.len() {
        let raw = blocks
            .get(i)
            .ok_or_else(|| cur.error(format!("block {i} is null")))?;
        compression.decompress(raw, &mut block, what)?;
        let last = i + 1 == blocks.len();
        if block.len() > block_bytes || (!last && block.len() != block_bytes) {
            return Err(cur.error(format!(
                "block {i} holds {} bytes, blocks hold {block_bytes}",
                block.len()
            )));
        }
        out.extend_from_slice(&block);
    }
    if out.len() < total_bytes {
        return Err(cur.error(format!(
            "blocks hold {} bytes, the header promises {total_bytes}",
            out.len()
        )));
    }
    out.truncate(total_bytes);
    Ok(out)
}

/// Collects values into blocks of `block_bytes` and LZ4-compresses each full block into a
/// spooled `GenericIndexed`.
pub struct BlockWriter {
    block: Vec<u8>,
    block_bytes: usize,
    scratch: Vec<u8>,
    out: GenericIndexedWriter,
}

impl BlockWriter {
    pub fn new(block_bytes: usize, work_dir: Option<&Path>) -> Self {
        let spool = work_dir.map_or_else(Spool::memory, Spool::in_dir);
        BlockWriter {
            block: Vec::with_capacity(block_bytes),
            block_bytes,
            scratch: Vec::new(),
            out: GenericIndexedWriter::unsorted(spool),
        }
    }

    /// Appends one value's bytes; a value never straddles two blocks because block sizes are
    /// multiples of the value width.
    #[inline]
    pub fn push(&mut self, bytes: &[u8]) -> Result<()> {
        self.block.extend_from_slice(bytes);
        if self.block.len() >= self.block_bytes {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        compress_lz4(&self.block, &mut self.scratch);
        self.out.write(Some(&self.scratch))?;
        self.block.clear();
        Ok(())
    }

    /// Compresses the last, partial block.
    pub fn finish(&mut self) -> Result<()> {
        if !self.block.is_empty() {
            self.flush()?;
        }
        Ok(())
    }

    pub fn serialized_size(&self) -> u64 {
        self.out.serialized_size()
    }

    pub fn write_to(&mut self, out: &mut dyn Write, what: &Path) -> Result<()> {
        self.out.write_to(out, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_with_a_partial_last_block() {
        let mut w = BlockWriter::new(8, None);
        for v in 0u16..7 {
            w.push(&v.to_le_bytes()).unwrap();
        }
        w.finish().unwrap();
        let mut bytes = Vec::new();
        w.write_to(&mut bytes, Path::new("t")).unwrap();
        assert_eq!(bytes.len() as u64, w.serialized_size());
        let back = read_blocks(
            &mut Cursor::new(&bytes, "t"),
            None,
            CompressionStrategy::Lz4,
            8,
            14,
        )
        .unwrap();
        let expected: Vec<u8> = (0u16..7).flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(back, expected);
        // A header promising more values than the blocks hold is refused.
        assert!(read_blocks(
            &mut Cursor::new(&bytes, "t"),
            None,
            CompressionStrategy::Lz4,
            8,
            16
        )
        .is_err());
        // A full block of the wrong size is refused.
        assert!(read_blocks(
            &mut Cursor::new(&bytes, "t"),
            None,
            CompressionStrategy::Lz4,
            4,
            14
        )
        .is_err());
    }
}
