//! Roaring bitmaps in the portable serialization RoaringBitmap (Java) writes and Druid stores
//! (`RoaringBitmapSerdeFactory`, `WrappedRoaringBitmap.toBytes`), all little-endian:
//!
//! ```text
//! with run containers:    u32 cookie 12347 | (containers - 1) << 16, run flags (1 bit each)
//! without run containers: u32 cookie 12346, u32 containers
//! per container:          u16 key (high 16 bits), u16 cardinality - 1
//! offsets:                u32 per container (omitted when there are runs and < 4 containers)
//! containers:             array (u16 values), bitmap (1024 u64 words) or run (u16 count,
//!                         then u16 start, u16 length - 1 per run)
//! ```
//!
//! Written here rather than with the `roaring` crate so the choice of container matches Java's
//! byte for byte: Druid builds containers as arrays (up to 4096 values) or bitmaps and then calls
//! `runOptimize`, which turns an array into runs when `2 + 4 * runs < 2 * cardinality` and a
//! bitmap into runs when `2 + 4 * runs < 8192`. An empty bitmap is stored as zero bytes.

use crate::error::{Result, SegmentError};

const SERIAL_COOKIE_NO_RUNCONTAINER: u32 = 12346;
const SERIAL_COOKIE: u32 = 12347;
const NO_OFFSET_THRESHOLD: usize = 4;
const ARRAY_MAX: usize = 4096;
const BITMAP_BYTES: usize = 8192;

enum Kind {
    Array,
    Bitmap,
    Run,
}

struct Container<'a> {
    key: u16,
    lows: &'a [u32],
    runs: usize,
    kind: Kind,
}

impl Container<'_> {
    fn size(&self) -> usize {
        match self.kind {
            Kind::Array => 2 * self.lows.len(),
            Kind::Bitmap => BITMAP_BYTES,
            Kind::Run => 2 + 4 * self.runs,
        }
    }
}

/// Serializes strictly increasing row numbers, appending to `out`.
pub fn serialize_sorted(rows: &[u32], out: &mut Vec<u8>) {
    debug_assert!(
        rows.windows(2).all(|w| w[0] < w[1]),
        "rows must be strictly increasing"
    );
    if rows.is_empty() {
        return;
    }
    let mut containers = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let key = rows[start] >> 16;
        let end = start + rows[start..].partition_point(|r| r >> 16 == key);
        let lows = &rows[start..end];
        let runs = 1 + lows.windows(2).filter(|w| w[1] != w[0] + 1).count();
        let run_size = 2 + 4 * runs;
        let kind = if lows.len() <= ARRAY_MAX {
            if run_size < 2 * lows.len() {
                Kind::Run
            } else {
                Kind::Array
            }
        } else if run_size < BITMAP_BYTES {
            Kind::Run
        } else {
            Kind::Bitmap
        };
        containers.push(Container {
            key: key as u16,
            lows,
            runs,
            kind,
        });
        start = end;
    }
    let n = containers.len();
    let has_run = containers.iter().any(|c| matches!(c.kind, Kind::Run));
    let header_start = out.len();
    if has_run {
        out.extend_from_slice(&(SERIAL_COOKIE | ((n as u32 - 1) << 16)).to_le_bytes());
        let mut flags = vec![0u8; n.div_ceil(8)];
        for (i, c) in containers.iter().enumerate() {
            if matches!(c.kind, Kind::Run) {
                flags[i / 8] |= 1 << (i % 8);
            }
        }
        out.extend_from_slice(&flags);
    } else {
        out.extend_from_slice(&SERIAL_COOKIE_NO_RUNCONTAINER.to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
    for c in &containers {
        out.extend_from_slice(&c.key.to_le_bytes());
        out.extend_from_slice(&((c.lows.len() - 1) as u16).to_le_bytes());
    }
    if !has_run || n >= NO_OFFSET_THRESHOLD {
        let mut offset = out.len() - header_start + 4 * n;
        for c in &containers {
            out.extend_from_slice(&(offset as u32).to_le_bytes());
            offset += c.size();
        }
    }
    for c in &containers {
        match c.kind {
            Kind::Array => c
                .lows
                .iter()
                .for_each(|v| out.extend_from_slice(&(*v as u16).to_le_bytes())),
            Kind::Bitmap => {
                let mut words = [0u64; 1024];
                for v in c.lows {
                    let low = (*v & 0xFFFF) as usize;
                    words[low / 64] |= 1 << (low % 64);
                }
                words
                    .iter()
                    .for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
            }
            Kind::Run => {
                out.extend_from_slice(&(c.runs as u16).to_le_bytes());
                let mut i = 0;
                while i < c.lows.len() {
                    let mut j = i;
                    while j + 1 < c.lows.len() && c.lows[j + 1] == c.lows[j] + 1 {
                        j += 1;
                    }
                    out.extend_from_slice(&((c.lows[i] & 0xFFFF) as u16).to_le_bytes());
                    out.extend_from_slice(&((j - i) as u16).to_le_bytes());
                    i = j + 1;
                }
            }
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
}

/// Deserializes a bitmap into its row numbers (ascending), checking every length and offset.
pub fn deserialize(bytes: &[u8]) -> Result<Vec<u32>> {
    let bad = |m: &str| SegmentError::corrupt("roaring bitmap", m.to_string());
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let cookie = u32_at(bytes, 0).ok_or_else(|| bad("shorter than its cookie"))?;
    let (n, run_flags, mut pos) = if cookie & 0xFFFF == SERIAL_COOKIE {
        let n = (cookie >> 16) as usize + 1;
        let flags = bytes
            .get(4..4 + n.div_ceil(8))
            .ok_or_else(|| bad("truncated run flags"))?;
        (n, Some(flags), 4 + n.div_ceil(8))
    } else if cookie == SERIAL_COOKIE_NO_RUNCONTAINER {
        let n = u32_at(bytes, 4).ok_or_else(|| bad("truncated size"))? as usize;
        if n > 1 << 16 {
            return Err(bad("more than 65536 containers"));
        }
        (n, None, 8)
    } else {
        return Err(bad(&format!("unknown cookie [{cookie}]")));
    };
    let header = pos;
    pos += 4 * n;
    if run_flags.is_none() || n >= NO_OFFSET_THRESHOLD {
        pos += 4 * n;
    }
    let mut rows = Vec::new();
    let mut prev_key: Option<u16> = None;
    for i in 0..n {
        let key = u16_at(bytes, header + 4 * i).ok_or_else(|| bad("truncated keys"))?;
        if prev_key.is_some_and(|p| p >= key) {
            return Err(bad("container keys not increasing"));
        }
        prev_key = Some(key);
        let card =
            u16_at(bytes, header + 4 * i + 2).ok_or_else(|| bad("truncated keys"))? as usize + 1;
        let high = u32::from(key) << 16;
        let is_run = run_flags.is_some_and(|f| f[i / 8] & (1 << (i % 8)) != 0);
        if is_run {
            let runs = u16_at(bytes, pos).ok_or_else(|| bad("truncated run container"))? as usize;
            pos += 2;
            for _ in 0..runs {
                let start =
                    u16_at(bytes, pos).ok_or_else(|| bad("truncated run container"))? as u32;
                let len =
                    u16_at(bytes, pos + 2).ok_or_else(|| bad("truncated run container"))? as u32;
                if start + len > 0xFFFF {
                    return Err(bad("run past the end of its container"));
                }
                rows.extend((start..=start + len).map(|v| high | v));
                pos += 4;
            }
        } else if card > ARRAY_MAX {
            let words = bytes
                .get(pos..pos + BITMAP_BYTES)
                .ok_or_else(|| bad("truncated bitmap container"))?;
            for (w, chunk) in words.chunks_exact(8).enumerate() {
                let mut word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                while word != 0 {
                    let bit = word.trailing_zeros();
                    rows.push(high | (w as u32 * 64 + bit));
                    word &= word - 1;
                }
            }
            pos += BITMAP_BYTES;
        } else {
            let values = bytes
                .get(pos..pos + 2 * card)
                .ok_or_else(|| bad("truncated array container"))?;
            rows.extend(
                values
                    .chunks_exact(2)
                    .map(|c| high | u32::from(u16::from_le_bytes([c[0], c[1]]))),
            );
            pos += 2 * card;
        }
    }
    if pos != bytes.len() {
        return Err(bad(&format!(
            "{} bytes left after the last container",
            bytes.len() as i64 - pos as i64
        )));
    }
    if rows.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad("values not increasing"));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(rows: &[u32]) -> Vec<u8> {
        let mut bytes = Vec::new();
        serialize_sorted(rows, &mut bytes);
        assert_eq!(deserialize(&bytes).unwrap(), rows);
        bytes
    }

    /// RoaringBitmap's portable format for {1, 2, 3, 7}: one array container (runs would take
    /// 2 + 4*2 = 10 bytes, the array 8), so no run flags and offsets present.
    #[test]
    fn golden_array_container() {
        let bytes = round_trip(&[1, 2, 3, 7]);
        #[rustfmt::skip]
        let expected = [
            0x3A, 0x30, 0, 0,  1, 0, 0, 0,   // cookie 12346, 1 container
            0, 0, 3, 0,                      // key 0, cardinality 4
            16, 0, 0, 0,                     // offset of the container
            1, 0, 2, 0, 3, 0, 7, 0,
        ];
        assert_eq!(bytes, expected);
    }

    /// {0..=99, 65536}: the first container becomes one run (6 bytes < 200), so the cookie
    /// carries the container count, run flags follow, and (with fewer than 4 containers) no offsets.
    #[test]
    fn golden_run_container() {
        let mut rows: Vec<u32> = (0..100).collect();
        rows.push(65536);
        let bytes = round_trip(&rows);
        #[rustfmt::skip]
        let expected = [
            0x3B, 0x30, 1, 0,                // cookie 12347 | (2 - 1) << 16
            0b01,                            // container 0 is a run container
            0, 0, 99, 0,  1, 0, 0, 0,        // keys and cardinalities - 1
            1, 0, 0, 0, 99, 0,               // 1 run: start 0, length - 1 = 99
            0, 0,                            // array container {0}
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn bitmap_containers_and_many_containers_round_trip() {
        let sparse: Vec<u32> = (0..70_000).map(|i| i * 2).collect();
        let bytes = round_trip(&sparse);
        assert_eq!(
            u32_at(&bytes, 0),
            Some(SERIAL_COOKIE_NO_RUNCONTAINER),
            "every other row is no run"
        );
        let mixed: Vec<u32> = (0..10)
            .flat_map(|k| (0..5000).map(move |i| k * 65536 + if k % 2 == 0 { i } else { i * 3 }))
            .collect();
        round_trip(&mixed);
        assert!(round_trip(&[]).is_empty());
        round_trip(&[u32::MAX - 1, u32::MAX]);
    }

    #[test]
    fn refuses_truncated_and_trailing_bytes() {
        let bytes = round_trip(&[1, 2, 3, 7]);
        assert!(deserialize(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(deserialize(&longer).is_err());
        assert!(deserialize(&[1, 2, 3, 4]).is_err());
    }
}
