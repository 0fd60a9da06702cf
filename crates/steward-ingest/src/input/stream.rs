//! The bytes of one entity: a file, the inline text or an HTTP body, decompressed when its
//! name ends in `.gz` (several gzip members in a row are read as one stream, as `gzip` and
//! Druid do). Other compressions Druid recognises by name are refused rather than read as text.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use super::source::Entity;
use super::{InputError, ReaderOptions};

/// Opens the entity's raw bytes.
pub(crate) fn open_raw(
    entity: Entity,
    options: &ReaderOptions,
) -> Result<Box<dyn Read + Send>, InputError> {
    Ok(match entity {
        Entity::File(path) => {
            Box::new(File::open(&path).map_err(|e| {
                InputError::new(format!("Cannot open file [{}]: {e}", path.display()))
            })?)
        }
        Entity::Inline(data) => Box::new(Cursor::new(data.into_bytes())),
        Entity::Http { uri, source } => super::http::open(&uri, &source, options.http_timeout)?,
        Entity::Segment { file, .. } => {
            return Err(InputError::new(format!(
                "Segment [{}] is read as a segment, not as bytes",
                file.path.display()
            )))
        }
    })
}

/// A reader that adds the bytes read through it to a shared count: how much of its input, as
/// stored, a reader has consumed.
pub(crate) struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> Counted<R> {
    pub(crate) fn new(inner: R, count: Arc<AtomicU64>) -> Counted<R> {
        Counted { inner, count }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Wraps `raw` in the decompressor its name calls for.
pub(crate) fn decompress(
    name: &str,
    raw: Box<dyn Read + Send>,
) -> Result<Box<dyn Read + Send>, InputError> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".gz") {
        return Ok(Box::new(MultiGzDecoder::new(BufReader::with_capacity(
            64 * 1024,
            raw,
        ))));
    }
    for suffix in [".bz2", ".xz", ".zip", ".sz", ".zst"] {
        if lower.ends_with(suffix) {
            return Err(InputError::new(format!(
                "Input [{name}] is compressed as [{suffix}], which is not supported yet; only .gz is"
            )));
        }
    }
    Ok(raw)
}

/// Reads all of `reader` into a temporary file (Parquet needs random access), returning the
/// file and its length.
pub(crate) fn spool(
    mut reader: Box<dyn Read + Send>,
    options: &ReaderOptions,
) -> Result<(File, u64), InputError> {
    let io_error =
        |e: io::Error| InputError::new(format!("Cannot spool input to a temporary file: {e}"));
    let mut file = match &options.temp_dir {
        Some(dir) => tempfile::tempfile_in(dir),
        None => tempfile::tempfile(),
    }
    .map_err(io_error)?;
    let length = io::copy(&mut reader, &mut file).map_err(io_error)?;
    Ok((file, length))
}
