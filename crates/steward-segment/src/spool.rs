//! Append-only byte storage that stays in memory while small and spills to an anonymous temp file
//! in the writer's work directory once large, so a segment writer's memory is bounded by its
//! buffers, not by the number of rows (Druid's `SegmentWriteOutMedium` plays this role).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, SegmentError};

/// Bytes held in memory before they go to the temp file.
const SPILL_AT: usize = 1 << 20;

pub struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
    dir: Option<PathBuf>,
    len: u64,
}

impl Spool {
    /// A spool that never touches the disk (for small structures such as `index.drd`).
    pub fn memory() -> Self {
        Spool {
            memory: Vec::new(),
            file: None,
            dir: None,
            len: 0,
        }
    }

    /// A spool that spills into an anonymous file in `dir` past 1 MiB.
    pub fn in_dir(dir: &Path) -> Self {
        Spool {
            dir: Some(dir.to_path_buf()),
            ..Spool::memory()
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.memory.extend_from_slice(bytes);
        self.len += bytes.len() as u64;
        if self.memory.len() >= SPILL_AT {
            if let Some(dir) = &self.dir {
                if self.file.is_none() {
                    self.file =
                        Some(tempfile::tempfile_in(dir).map_err(|e| SegmentError::io(dir, e))?);
                }
                let file = self.file.as_mut().expect("just created");
                file.write_all(&self.memory)
                    .map_err(|e| spool_error(dir, e))?;
                self.memory.clear();
            }
        }
        Ok(())
    }

    /// Streams everything written so far, in order, to `f` in chunks (each a multiple of
    /// `unit` bytes, so fixed-size records never straddle two chunks).
    pub fn for_each_chunk(
        &mut self,
        unit: usize,
        mut f: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        if let Some(file) = self.file.as_mut() {
            let dir = self.dir.as_deref().unwrap_or(Path::new("."));
            file.seek(SeekFrom::Start(0))
                .map_err(|e| spool_error(dir, e))?;
            let on_disk = self.len - self.memory.len() as u64;
            let mut reader = BufReader::new(file.take(on_disk));
            let chunk = (SPILL_AT / unit).max(1) * unit;
            let mut buf = vec![0u8; chunk];
            loop {
                let mut filled = 0;
                while filled < chunk {
                    let n = reader
                        .read(&mut buf[filled..])
                        .map_err(|e| spool_error(dir, e))?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                if filled == 0 {
                    break;
                }
                f(&buf[..filled])?;
                if filled < chunk {
                    break;
                }
            }
            file.seek(SeekFrom::End(0))
                .map_err(|e| spool_error(dir, e))?;
        }
        if !self.memory.is_empty() {
            f(&self.memory)?;
        }
        Ok(())
    }

    pub fn copy_to(&mut self, out: &mut dyn Write, what: &Path) -> Result<()> {
        self.for_each_chunk(1, |chunk| {
            out.write_all(chunk).map_err(|e| SegmentError::io(what, e))
        })
    }
}

fn spool_error(dir: &Path, e: std::io::Error) -> SegmentError {
    SegmentError::io(dir.join("(temp spool)"), e)
}

/// A spool of `u32`s (dictionary ids, row lengths), little-endian.
pub struct IntSpool {
    bytes: Spool,
}

impl IntSpool {
    pub fn in_dir(dir: &Path) -> Self {
        IntSpool {
            bytes: Spool::in_dir(dir),
        }
    }

    pub fn push(&mut self, v: u32) -> Result<()> {
        self.bytes.write(&v.to_le_bytes())
    }

    pub fn for_each(&mut self, mut f: impl FnMut(u32) -> Result<()>) -> Result<()> {
        self.bytes.for_each_chunk(4, |chunk| {
            for w in chunk.chunks_exact(4) {
                f(u32::from_le_bytes(w.try_into().expect("4 bytes")))?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_past_the_threshold_and_replays_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut ints = IntSpool::in_dir(dir.path());
        let n = (SPILL_AT / 4 * 3 + 17) as u32;
        for i in 0..n {
            ints.push(i).unwrap();
        }
        for _ in 0..2 {
            let mut next = 0u32;
            ints.for_each(|v| {
                assert_eq!(v, next);
                next += 1;
                Ok(())
            })
            .unwrap();
            assert_eq!(next, n);
        }
    }
}
