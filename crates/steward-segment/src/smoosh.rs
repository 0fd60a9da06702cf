//! Druid's smoosh container (`FileSmoosher` / `SmooshedFileMapper`): many logical files
//! concatenated into chunk files `00000.smoosh`, `00001.smoosh`, .. of at most `maxChunkSize`
//! bytes each, and a text index `meta.smoosh`:
//!
//! ```text
//! v1,<maxChunkSize>,<numChunks>
//! <name>,<chunk>,<startOffset>,<endOffset>     (one line per file, sorted by name)
//! ```
//!
//! A logical file never spans two chunks; a file that does not fit in the current chunk starts
//! the next one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, SegmentError};
use crate::string_order::compare_java;

/// `FileSmoosher`'s default chunk size (`Integer.MAX_VALUE`).
pub const DEFAULT_MAX_CHUNK_SIZE: u32 = i32::MAX as u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    chunk: usize,
    start: usize,
    end: usize,
}

/// The files of a smooshed directory, held in memory (the counterpart of `SmooshedFileMapper`).
pub struct SmooshedFiles {
    chunks: Vec<Vec<u8>>,
    files: BTreeMap<String, Entry>,
}

impl SmooshedFiles {
    /// Loads `meta.smoosh` and its chunks from a directory.
    pub fn load(dir: &Path) -> Result<Self> {
        let meta_path = dir.join("meta.smoosh");
        let meta =
            std::fs::read_to_string(&meta_path).map_err(|e| SegmentError::io(&meta_path, e))?;
        let num_chunks = parse_header(&meta)?.1;
        let mut chunks = Vec::with_capacity(num_chunks);
        for i in 0..num_chunks {
            let path = dir.join(chunk_name(i));
            chunks.push(std::fs::read(&path).map_err(|e| SegmentError::io(&path, e))?);
        }
        Self::from_parts(&meta, chunks)
    }

    /// Builds from the text of `meta.smoosh` and the chunk contents (e.g. read from a zip).
    pub fn from_parts(meta: &str, chunks: Vec<Vec<u8>>) -> Result<Self> {
        let (_, num_chunks) = parse_header(meta)?;
        if chunks.len() != num_chunks {
            return Err(SegmentError::corrupt(
                "meta.smoosh",
                format!("names {num_chunks} chunks, {} given", chunks.len()),
            ));
        }
        let mut files = BTreeMap::new();
        for line in meta.lines().skip(1).filter(|l| !l.is_empty()) {
            let parts: Vec<&str> = line.split(',').collect();
            if parts.len() != 4 {
                return Err(SegmentError::corrupt(
                    "meta.smoosh",
                    format!("wrong number of fields [{}] in line [{line}]", parts.len()),
                ));
            }
            let num = |s: &str| {
                s.parse::<usize>().map_err(|_| {
                    SegmentError::corrupt(
                        "meta.smoosh",
                        format!("bad number [{s}] in line [{line}]"),
                    )
                })
            };
            let entry = Entry {
                chunk: num(parts[1])?,
                start: num(parts[2])?,
                end: num(parts[3])?,
            };
            let chunk_len = chunks.get(entry.chunk).map(Vec::len).ok_or_else(|| {
                SegmentError::corrupt(
                    "meta.smoosh",
                    format!("line [{line}] names a missing chunk"),
                )
            })?;
            if entry.start > entry.end || entry.end > chunk_len {
                return Err(SegmentError::corrupt(
                    "meta.smoosh",
                    format!(
                        "line [{line}] lies outside {} ({chunk_len} bytes)",
                        chunk_name(entry.chunk)
                    ),
                ));
            }
            if files.insert(parts[0].to_string(), entry).is_some() {
                return Err(SegmentError::corrupt(
                    "meta.smoosh",
                    format!("file [{}] listed twice", parts[0]),
                ));
            }
        }
        Ok(SmooshedFiles { chunks, files })
    }

    /// The bytes of one logical file.
    pub fn map_file(&self, name: &str) -> Result<&[u8]> {
        let e = self.files.get(name).ok_or_else(|| {
            SegmentError::corrupt("meta.smoosh", format!("no file named [{name}]"))
        })?;
        Ok(&self.chunks[e.chunk][e.start..e.end])
    }

    pub fn contains(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }
}

fn parse_header(meta: &str) -> Result<(u64, usize)> {
    let first = meta.lines().next().ok_or_else(|| {
        SegmentError::corrupt(
            "meta.smoosh",
            "empty; first line should be v1,maxChunkSize,numChunks",
        )
    })?;
    let parts: Vec<&str> = first.split(',').collect();
    if parts[0] != "v1" {
        return Err(SegmentError::corrupt(
            "meta.smoosh",
            format!("unknown version [{}], v1 is the only one", parts[0]),
        ));
    }
    if parts.len() != 3 {
        return Err(SegmentError::corrupt(
            "meta.smoosh",
            format!("wrong number of fields in line [{first}]"),
        ));
    }
    let bad = || SegmentError::corrupt("meta.smoosh", format!("bad numbers in line [{first}]"));
    Ok((
        parts[1].parse().map_err(|_| bad())?,
        parts[2].parse().map_err(|_| bad())?,
    ))
}

fn chunk_name(i: usize) -> String {
    format!("{i:05}.smoosh")
}

/// Writes a smooshed directory (the counterpart of `FileSmoosher`): each logical file is
/// declared with its exact size and streamed into the current chunk.
pub struct FileSmoosher {
    dir: PathBuf,
    max_chunk_size: u32,
    current: Option<(BufWriter<File>, PathBuf)>,
    num_chunks: usize,
    offset: u64,
    files: Vec<(String, Entry)>,
}

impl FileSmoosher {
    pub fn new(dir: &Path, max_chunk_size: u32) -> Self {
        FileSmoosher {
            dir: dir.to_path_buf(),
            max_chunk_size,
            current: None,
            num_chunks: 0,
            offset: 0,
            files: Vec::new(),
        }
    }

    /// Adds a file of `size` bytes whose content `write` produces; refuses names with a comma
    /// (the `meta.smoosh` separator), duplicates, files larger than a chunk, and a `write` that
    /// produces a different number of bytes than declared.
    pub fn add(
        &mut self,
        name: &str,
        size: u64,
        write: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<()> {
        if name.contains(',') || name.contains('\n') {
            return Err(SegmentError::Invalid(format!(
                "a smoosh file name cannot contain a comma or newline, got [{name}]"
            )));
        }
        if self.files.iter().any(|(n, _)| n == name) {
            return Err(SegmentError::Invalid(format!("file [{name}] added twice")));
        }
        if size > u64::from(self.max_chunk_size) {
            return Err(SegmentError::Unsupported(format!(
                "file [{name}] of {size} bytes is larger than the chunk size {}",
                self.max_chunk_size
            )));
        }
        if self.current.is_none() || self.offset + size > u64::from(self.max_chunk_size) {
            self.next_chunk()?;
        }
        let (out, path) = self.current.as_mut().expect("chunk open");
        let mut counting = CountingWriter {
            inner: out,
            count: 0,
        };
        write(&mut counting)?;
        if counting.count != size {
            return Err(SegmentError::corrupt(
                name,
                format!(
                    "declared {size} bytes but wrote {} into {}",
                    counting.count,
                    path.display()
                ),
            ));
        }
        let entry = Entry {
            chunk: self.num_chunks - 1,
            start: self.offset as usize,
            end: (self.offset + size) as usize,
        };
        self.offset += size;
        self.files.push((name.to_string(), entry));
        Ok(())
    }

    fn next_chunk(&mut self) -> Result<()> {
        self.close_chunk()?;
        let path = self.dir.join(chunk_name(self.num_chunks));
        let file = File::create(&path).map_err(|e| SegmentError::io(&path, e))?;
        self.current = Some((BufWriter::with_capacity(1 << 16, file), path));
        self.num_chunks += 1;
        self.offset = 0;
        Ok(())
    }

    fn close_chunk(&mut self) -> Result<()> {
        if let Some((mut out, path)) = self.current.take() {
            out.flush().map_err(|e| SegmentError::io(&path, e))?;
        }
        Ok(())
    }

    /// Flushes the last chunk and writes `meta.smoosh`; returns the total bytes of the chunks.
    pub fn close(mut self) -> Result<u64> {
        self.close_chunk()?;
        self.files.sort_by(|a, b| compare_java(&a.0, &b.0));
        let mut meta = format!("v1,{},{}\n", self.max_chunk_size, self.num_chunks);
        let mut total = 0u64;
        for (name, e) in &self.files {
            meta.push_str(&format!("{name},{},{},{}\n", e.chunk, e.start, e.end));
            total += (e.end - e.start) as u64;
        }
        let path = self.dir.join("meta.smoosh");
        std::fs::write(&path, meta).map_err(|e| SegmentError::io(&path, e))?;
        Ok(total)
    }
}

struct CountingWriter<'a, W: Write> {
    inner: &'a mut W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(s: &mut FileSmoosher, name: &str, bytes: &[u8]) {
        s.add(name, bytes.len() as u64, |w| {
            w.write_all(bytes).map_err(|e| SegmentError::io(name, e))
        })
        .unwrap();
    }

    /// Mirrors FileSmoosherTest: files fill a chunk until the next does not fit.
    #[test]
    fn round_trip_with_chunk_rollover_and_golden_meta() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileSmoosher::new(dir.path(), 10);
        add(&mut s, "b", b"12345");
        add(&mut s, "a", b"6789");
        add(&mut s, "c", b"abcdef");
        add(&mut s, "empty", b"");
        assert_eq!(s.close().unwrap(), 15);
        let meta = std::fs::read_to_string(dir.path().join("meta.smoosh")).unwrap();
        assert_eq!(meta, "v1,10,2\na,0,5,9\nb,0,0,5\nc,1,0,6\nempty,1,6,6\n");
        let files = SmooshedFiles::load(dir.path()).unwrap();
        assert_eq!(files.map_file("a").unwrap(), b"6789");
        assert_eq!(files.map_file("b").unwrap(), b"12345");
        assert_eq!(files.map_file("c").unwrap(), b"abcdef");
        assert_eq!(files.map_file("empty").unwrap(), b"");
        assert!(files.map_file("d").is_err());
    }

    #[test]
    fn refuses_bad_names_sizes_and_liars() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileSmoosher::new(dir.path(), 10);
        assert!(s.add("a,b", 0, |_| Ok(())).is_err());
        assert!(s.add("big", 11, |_| Ok(())).is_err());
        let err = s
            .add("liar", 3, |w| {
                w.write_all(b"1").map_err(|e| SegmentError::io("x", e))
            })
            .unwrap_err();
        assert!(err.to_string().contains("liar"), "{err}");
    }

    #[test]
    fn refuses_entries_outside_their_chunk() {
        let err = SmooshedFiles::from_parts("v1,10,1\na,0,0,5\n", vec![vec![0; 3]])
            .err()
            .unwrap();
        assert!(err.to_string().contains("meta.smoosh"), "{err}");
        assert!(SmooshedFiles::from_parts("v2,10,1\n", vec![vec![]]).is_err());
        assert!(SmooshedFiles::from_parts("v1,10,1\na,0,0\n", vec![vec![]]).is_err());
    }
}
