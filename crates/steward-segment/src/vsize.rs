//! Uncompressed dictionary ids of older segments: `VSizeColumnarInts` (one id per row) and
//! `VSizeColumnarMultiInts` (rows of ids). Values are big-endian, `numBytes` wide, and a value
//! area ends with `4 - numBytes` bytes of padding so Druid can read each value with `getInt`.
//!
//! ```text
//! VSizeColumnarInts:      byte 0x0, byte numBytes, int size, values + padding
//! VSizeColumnarMultiInts: byte 0x1, byte numBytes, int size (bytes after it), int rows,
//!                         int[] end offsets of each row, values + padding
//! ```

use crate::buffer::Cursor;
use crate::compressed::ints::MultiInts;
use crate::error::Result;

const INTS_VERSION: u8 = 0x0;
const MULTI_VERSION: u8 = 0x1;

fn be_values(bytes: &[u8], width: usize) -> impl Iterator<Item = u32> + '_ {
    bytes.chunks_exact(width).map(move |c| {
        let mut w = [0u8; 4];
        w[4 - width..].copy_from_slice(c);
        u32::from_be_bytes(w)
    })
}

fn num_bytes(cur: &mut Cursor<'_>) -> Result<usize> {
    let n = cur.u8()? as usize;
    if (1..=4).contains(&n) {
        Ok(n)
    } else {
        Err(cur.error(format!("bad bytes per value [{n}]")))
    }
}

pub fn read_vsize_columnar_ints(cur: &mut Cursor<'_>) -> Result<Vec<u32>> {
    let version = cur.u8()?;
    if version != INTS_VERSION {
        return Err(cur.error(format!("unknown VSizeColumnarInts version [{version}]")));
    }
    let width = num_bytes(cur)?;
    let size = cur.count("size")?;
    let body = cur.take(size)?;
    let padding = 4 - width;
    if body.len() < padding || !(body.len() - padding).is_multiple_of(width) {
        return Err(cur.error(format!("{size} bytes are not whole {width}-byte values")));
    }
    Ok(be_values(&body[..body.len() - padding], width).collect())
}

pub fn read_vsize_columnar_multi_ints(cur: &mut Cursor<'_>) -> Result<MultiInts> {
    let version = cur.u8()?;
    if version != MULTI_VERSION {
        return Err(cur.error(format!(
            "unknown VSizeColumnarMultiInts version [{version}]"
        )));
    }
    let width = num_bytes(cur)?;
    let size = cur.count("size")?;
    let mut body = Cursor::new(cur.take(size)?, cur.what());
    let rows = body.count("row count")?;
    let mut ends = Vec::with_capacity(rows.min(body.remaining() / 4));
    for _ in 0..rows {
        ends.push(body.count("row end offset")?);
    }
    let values_area = body.rest();
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0u32);
    let mut values = Vec::new();
    let mut start = 0usize;
    for (i, &end) in ends.iter().enumerate() {
        if end < start || end > values_area.len() || !(end - start).is_multiple_of(width) {
            return Err(cur.error(format!("row {i} ends at [{end}], outside its values")));
        }
        values.extend(be_values(&values_area[start..end], width));
        offsets.push(values.len() as u32);
        start = end;
    }
    Ok(MultiInts { offsets, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// VSizeColumnarInts.fromIndexedInts([1, 2, 300], 300): 2 bytes each + 2 bytes of padding.
    #[test]
    fn reads_golden_vsize_ints() {
        let b = [0, 2, 0, 0, 0, 8, 0, 1, 0, 2, 1, 44, 0, 0];
        assert_eq!(
            read_vsize_columnar_ints(&mut Cursor::new(&b, "t")).unwrap(),
            vec![1, 2, 300]
        );
        assert!(
            read_vsize_columnar_ints(&mut Cursor::new(&[0, 2, 0, 0, 0, 3, 0, 1, 0], "t")).is_err()
        );
    }

    /// VSizeColumnarMultiInts of rows [1, 2], [], [3] with 1-byte values.
    #[test]
    fn reads_golden_vsize_multi_ints() {
        let mut b = vec![1, 1];
        let body: Vec<u8> = [
            &3i32.to_be_bytes()[..],
            &2i32.to_be_bytes(),
            &2i32.to_be_bytes(),
            &3i32.to_be_bytes(),
            &[1, 2, 3, 0, 0, 0],
        ]
        .concat();
        b.extend_from_slice(&(body.len() as i32).to_be_bytes());
        b.extend_from_slice(&body);
        let m = read_vsize_columnar_multi_ints(&mut Cursor::new(&b, "t")).unwrap();
        assert_eq!(m.rows(), 3);
        assert_eq!(m.row(0), &[1, 2]);
        assert!(m.row(1).is_empty());
        assert_eq!(m.row(2), &[3]);
    }
}
