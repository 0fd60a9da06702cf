//! Reads the entries of a segment's `index.zip` (as deep storage holds it): the central
//! directory, then each entry stored or deflated. ZIP64 archives and other methods are refused.

use std::io::Read;
use std::path::Path;

use crate::error::{Result, SegmentError};

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]) as usize)
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")) as usize)
}

/// Every file entry of the archive: (name, contents).
pub fn read_entries(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let bytes = std::fs::read(path).map_err(|e| SegmentError::io(path, e))?;
    let what = path.display().to_string();
    let bad = |m: &str| SegmentError::corrupt(what.clone(), m.to_string());
    let eocd = (0..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| bad("no zip end-of-central-directory record"))?;
    let count = u16_at(&bytes, eocd + 10).ok_or_else(|| bad("truncated zip"))?;
    let mut at = u32_at(&bytes, eocd + 16).ok_or_else(|| bad("truncated zip"))?;
    if count == 0xFFFF || at == 0xFFFF_FFFF {
        return Err(SegmentError::Unsupported(format!("{what}: ZIP64 archives")));
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        if bytes.get(at..at + 4) != Some(&[0x50, 0x4b, 0x01, 0x02][..]) {
            return Err(bad("bad central directory entry"));
        }
        let field = |off: usize, four: bool| {
            if four {
                u32_at(&bytes, at + off)
            } else {
                u16_at(&bytes, at + off)
            }
            .ok_or_else(|| bad("truncated central directory"))
        };
        let method = field(10, false)?;
        let compressed = field(20, true)?;
        let size = field(24, true)?;
        let (name_len, extra_len, comment_len) =
            (field(28, false)?, field(30, false)?, field(32, false)?);
        let local = field(42, true)?;
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or_else(|| bad("truncated entry name"))?;
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') {
            continue;
        }
        if bytes.get(local..local + 4) != Some(&[0x50, 0x4b, 0x03, 0x04][..]) {
            return Err(bad(&format!("bad local header for [{name}]")));
        }
        let start = local
            + 30
            + u16_at(&bytes, local + 26).ok_or_else(|| bad("truncated"))?
            + u16_at(&bytes, local + 28).ok_or_else(|| bad("truncated"))?;
        let data = bytes
            .get(start..start + compressed)
            .ok_or_else(|| bad(&format!("truncated data of [{name}]")))?;
        let contents = match method {
            0 => data.to_vec(),
            8 => {
                let mut out = Vec::with_capacity(size);
                flate2::read::DeflateDecoder::new(data)
                    .read_to_end(&mut out)
                    .map_err(|e| bad(&format!("[{name}] does not inflate: {e}")))?;
                out
            }
            m => {
                return Err(SegmentError::Unsupported(format!(
                    "{what}: zip compression method {m} for [{name}]"
                )))
            }
        };
        if contents.len() != size {
            return Err(bad(&format!(
                "[{name}] inflates to {} bytes, the directory says {size}",
                contents.len()
            )));
        }
        entries.push((name, contents));
    }
    Ok(entries)
}
