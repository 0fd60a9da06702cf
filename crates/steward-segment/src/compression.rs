//! `CompressionStrategy`: how each block of a compressed column is stored, by id byte.
//! Druid's default, and the only one this crate writes, is LZ4 (raw LZ4 block format, no frame;
//! Druid compresses with lz4-java's high compressor, which produces the same format).

use crate::error::{Result, SegmentError};

/// `CompressedPools.BUFFER_SIZE`: every block decompresses into at most 64 KiB.
pub const BUFFER_SIZE: usize = 0x10000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompressionStrategy {
    Lzf,
    Lz4,
    Zstd,
    /// Blocks stored as they are.
    Uncompressed,
    /// No blocks at all: the values follow the header directly (`EntireLayout*` suppliers).
    None,
}

impl CompressionStrategy {
    pub fn from_id(id: u8) -> Result<Self> {
        Ok(match id {
            0x0 => CompressionStrategy::Lzf,
            0x1 => CompressionStrategy::Lz4,
            0x2 => CompressionStrategy::Zstd,
            0xFF => CompressionStrategy::Uncompressed,
            0xFE => CompressionStrategy::None,
            other => {
                return Err(SegmentError::corrupt(
                    "compression strategy",
                    format!("unknown id [{other:#04x}]"),
                ))
            }
        })
    }

    pub fn id(self) -> u8 {
        match self {
            CompressionStrategy::Lzf => 0x0,
            CompressionStrategy::Lz4 => 0x1,
            CompressionStrategy::Zstd => 0x2,
            CompressionStrategy::Uncompressed => 0xFF,
            CompressionStrategy::None => 0xFE,
        }
    }

    /// Decompresses one block into `out` (cleared first).
    pub fn decompress(self, block: &[u8], out: &mut Vec<u8>, what: &str) -> Result<()> {
        out.clear();
        match self {
            CompressionStrategy::Lz4 => {
                out.resize(BUFFER_SIZE, 0);
                let n = lz4_flex::block::decompress_into(block, out).map_err(|e| {
                    SegmentError::corrupt(what, format!("LZ4 block does not decompress: {e}"))
                })?;
                out.truncate(n);
                Ok(())
            }
            CompressionStrategy::Uncompressed => {
                out.extend_from_slice(block);
                Ok(())
            }
            other => Err(SegmentError::Unsupported(format!(
                "{what}: blocks compressed with {other:?}"
            ))),
        }
    }
}

/// LZ4-compresses `block` into `out` (cleared first), as `CompressionStrategy.LZ4Compressor`.
pub fn compress_lz4(block: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.resize(lz4_flex::block::get_maximum_output_size(block.len()), 0);
    let n = lz4_flex::block::compress_into(block, out).expect("output sized for the worst case");
    out.truncate(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_lz4_blocks_decompress() {
        for id in [0x0, 0x1, 0x2, 0xFF, 0xFE] {
            assert_eq!(CompressionStrategy::from_id(id).unwrap().id(), id);
        }
        assert!(CompressionStrategy::from_id(0x7).is_err());
        let data: Vec<u8> = (0..BUFFER_SIZE).map(|i| (i % 7) as u8).collect();
        let mut packed = Vec::new();
        compress_lz4(&data, &mut packed);
        assert!(packed.len() < data.len());
        let mut back = Vec::new();
        CompressionStrategy::Lz4
            .decompress(&packed, &mut back, "t")
            .unwrap();
        assert_eq!(back, data);
        assert!(CompressionStrategy::Lz4
            .decompress(&[0xF0, 1], &mut back, "t")
            .is_err());
        assert!(CompressionStrategy::Lzf
            .decompress(&[], &mut back, "t")
            .is_err());
    }
}
