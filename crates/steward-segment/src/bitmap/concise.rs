//! Concise bitmaps (`ConciseBitmapSerdeFactory`, `WrappedImmutableConciseBitmap`,
//! `ImmutableConciseSet`), read only: older segments use them, Druid writes roaring by default.
//!
//! A Concise bitmap is a sequence of 32-bit big-endian words, each covering blocks of 31 rows:
//! a literal word (top bit 1) holds 31 rows as bits; a sequence word (top bit 0) stands for
//! `(word & 0x01FFFFFF) + 1` blocks all zero (bit 30 clear) or all one (bit 30 set), except that
//! bits 25..29, when not zero, name one bit (value - 1) flipped in the first block.

use crate::error::{Result, SegmentError};

pub fn deserialize(bytes: &[u8]) -> Result<Vec<u32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(SegmentError::corrupt(
            "concise bitmap",
            format!("{} bytes are not whole 32-bit words", bytes.len()),
        ));
    }
    let mut rows = Vec::new();
    let mut base: u64 = 0;
    for w in bytes.chunks_exact(4) {
        let word = u32::from_be_bytes(w.try_into().expect("4 bytes"));
        if word & 0x8000_0000 != 0 {
            push_literal(&mut rows, base, word & 0x7FFF_FFFF)?;
            base += 31;
        } else {
            let blocks = u64::from(word & 0x01FF_FFFF) + 1;
            let flipped = ((word >> 25) & 0x1F) as i32 - 1;
            let ones = word & 0x4000_0000 != 0;
            let first = match (ones, flipped) {
                (false, f) if f >= 0 => 1u32 << f,
                (false, _) => 0,
                (true, f) if f >= 0 => 0x7FFF_FFFF & !(1u32 << f),
                (true, _) => 0x7FFF_FFFF,
            };
            push_literal(&mut rows, base, first)?;
            if ones {
                let start = base + 31;
                let end = base + 31 * blocks;
                if end > u64::from(u32::MAX) {
                    return Err(SegmentError::corrupt("concise bitmap", "rows past 2^32"));
                }
                rows.extend((start..end).map(|r| r as u32));
            }
            base += 31 * blocks;
        }
    }
    Ok(rows)
}

fn push_literal(rows: &mut Vec<u32>, base: u64, bits: u32) -> Result<()> {
    let mut bits = bits;
    while bits != 0 {
        let row = base + u64::from(bits.trailing_zeros());
        rows.push(
            u32::try_from(row)
                .map_err(|_| SegmentError::corrupt("concise bitmap", "rows past 2^32"))?,
        );
        bits &= bits - 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[u32]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    /// ConciseSet encodings: a literal; a zero sequence of 2 blocks whose first block has bit 3
    /// set, then a literal; a one sequence of 2 blocks with bit 0 flipped off.
    #[test]
    fn decodes_literals_and_sequences() {
        assert_eq!(
            deserialize(&words(&[0x8000_0000 | 0b1011])).unwrap(),
            vec![0, 1, 3]
        );
        let zero_seq = (4 << 25) | 1; // flipped bit 3, 2 blocks
        assert_eq!(
            deserialize(&words(&[zero_seq, 0x8000_0001])).unwrap(),
            vec![3, 62]
        );
        let one_seq = 0x4000_0000 | (1 << 25) | 1; // ones, bit 0 flipped off, 2 blocks
        let rows = deserialize(&words(&[one_seq])).unwrap();
        assert_eq!(rows, (1..62).collect::<Vec<u32>>());
        assert!(deserialize(&[0, 0, 1]).is_err());
        assert!(deserialize(&[]).unwrap().is_empty());
    }
}
